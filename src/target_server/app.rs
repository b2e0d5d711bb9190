//! The built-in target's small application under `/app/`, for testing what a load test
//! does beyond one URL: a login that issues a token, a session cookie and a session header;
//! pages that require them; echo; redirects; a multipart upload that reports what arrived.
//! Everything it sees is counted for `GET /__kaioken/stats`, so tests assert server-side.
//!
//! - `POST /app/login`: `{"access_token":"tok-N","user":{"id":N}}`, `x-session-id: s-N`,
//!   `set-cookie: session=c-N; Path=/app; HttpOnly`.
//! - `GET /app/me[?expire_after=K]`: 200 with `Authorization: Bearer tok-N` of an issued
//!   token (401 after K uses of that token when asked), else 401.
//! - `GET /app/cart`: 200 with the cookie `session=c-N` of an issued session, else 401.
//! - `/app/echo`: the request body back; `x-echo-method` and `x-echo-content-type`.
//! - `/app/redirect/N`: 302 to `/app/redirect/N-1`; `/app/redirect/0` is 200.
//! - `POST /app/see-other`: 303 to `/app/echo`; `/app/offsite`: 302 to another origin.
//! - `POST /app/upload`: multipart/form-data; the parts' names, file names, sizes and
//!   FNV-1a hashes are kept for the stats.
//! - `GET /app/index.html`: a page whose script logs in and fetches `/app/me` with the
//!   token, as a browser session to record (HAR) and import.
//! - Anything else under `/app/`: 200 `ok`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

/// Logs in, then reads the profile with the token; the title says when it is done.
const INDEX_HTML: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>kaioken app</title></head>
<body><p id="me">…</p>
<script>
fetch("/app/login", {method: "POST", headers: {"content-type": "application/json"},
                     body: JSON.stringify({user: "demo", pass: "demo"})})
  .then(r => r.json())
  .then(j => fetch("/app/me", {headers: {"authorization": "Bearer " + j.access_token}}))
  .then(r => r.text())
  .then(t => { document.getElementById("me").textContent = t; document.title = "done"; });
</script></body></html>
"#;

/// What the app has seen.
#[derive(Default)]
pub struct AppState {
    issued: AtomicU64,
    token_uses: Mutex<HashMap<u64, u64>>,
    paths: Mutex<BTreeMap<String, u64>>,
    auth_ok: AtomicU64,
    auth_refused: AtomicU64,
    cookie_ok: AtomicU64,
    cookie_refused: AtomicU64,
    uploads: Mutex<BTreeMap<String, u64>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

fn reply(status: u16, body: impl Into<Bytes>) -> Reply {
    Reply {
        status: StatusCode::from_u16(status).expect("valid status"),
        headers: Vec::new(),
        body: body.into(),
    }
}

/// 64-bit FNV-1a: a stable digest for comparing uploaded bytes in tests.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn issued_number(value: &str, prefix: &str, issued: u64) -> Option<u64> {
    value
        .strip_prefix(prefix)?
        .parse::<u64>()
        .ok()
        .filter(|n| *n < issued)
}

impl AppState {
    pub fn handle(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
        *self
            .paths
            .lock()
            .expect("no panic while held")
            .entry(path.to_string())
            .or_default() += 1;
        let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        match path {
            "/app/login" if method == Method::POST => {
                let n = self.issued.fetch_add(1, Ordering::Relaxed);
                let mut r = reply(
                    200,
                    format!("{{\"access_token\":\"tok-{n}\",\"user\":{{\"id\":{n}}}}}"),
                );
                r.headers.push(("content-type", "application/json".into()));
                r.headers.push(("x-session-id", format!("s-{n}")));
                r.headers
                    .push(("set-cookie", format!("session=c-{n}; Path=/app; HttpOnly")));
                r
            }
            "/app/me" => {
                let issued = self.issued.load(Ordering::Relaxed);
                let token = header("authorization")
                    .and_then(|a| a.strip_prefix("Bearer "))
                    .and_then(|t| issued_number(t, "tok-", issued));
                let limit = query
                    .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("expire_after=")))
                    .and_then(|k| k.parse::<u64>().ok());
                let fresh = token.is_some_and(|t| {
                    let mut uses = self.token_uses.lock().expect("no panic while held");
                    let u = uses.entry(t).or_default();
                    *u += 1;
                    limit.is_none_or(|k| *u <= k)
                });
                if fresh {
                    self.auth_ok.fetch_add(1, Ordering::Relaxed);
                    reply(200, "me\n")
                } else {
                    self.auth_refused.fetch_add(1, Ordering::Relaxed);
                    reply(401, "unauthorized\n")
                }
            }
            "/app/cart" => {
                let issued = self.issued.load(Ordering::Relaxed);
                let ok = headers
                    .get_all("cookie")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(';'))
                    .filter_map(|c| c.trim().strip_prefix("session="))
                    .any(|v| issued_number(v, "c-", issued).is_some());
                if ok {
                    self.cookie_ok.fetch_add(1, Ordering::Relaxed);
                    reply(200, "cart\n")
                } else {
                    self.cookie_refused.fetch_add(1, Ordering::Relaxed);
                    reply(401, "no session\n")
                }
            }
            "/app/index.html" => {
                let mut r = reply(200, INDEX_HTML);
                r.headers
                    .push(("content-type", "text/html; charset=utf-8".into()));
                r
            }
            "/app/echo" => {
                let mut r = reply(200, Bytes::copy_from_slice(body));
                r.headers.push(("x-echo-method", method.to_string()));
                if let Some(ct) = header("content-type") {
                    r.headers.push(("x-echo-content-type", ct.to_string()));
                }
                r
            }
            "/app/see-other" => {
                let mut r = reply(303, "");
                r.headers.push(("location", "/app/echo".into()));
                r
            }
            "/app/offsite" => {
                let mut r = reply(302, "");
                r.headers
                    .push(("location", "http://offsite.invalid/elsewhere".into()));
                r
            }
            "/app/upload" => {
                let boundary = header("content-type")
                    .and_then(|ct| ct.split_once("boundary="))
                    .map(|(_, b)| b.trim_matches('"').to_string());
                match boundary.and_then(|b| multipart_parts(body, &b)) {
                    Some(parts) => {
                        let mut up = self.uploads.lock().expect("no panic while held");
                        for p in &parts {
                            *up.entry(p.clone()).or_default() += 1;
                        }
                        reply(200, parts.join("\n"))
                    }
                    None => reply(400, "not multipart/form-data\n"),
                }
            }
            p => match p.strip_prefix("/app/redirect/").map(str::parse::<u32>) {
                Some(Ok(0)) => reply(200, "done\n"),
                Some(Ok(n)) => {
                    let mut r = reply(302, "");
                    r.headers
                        .push(("location", format!("/app/redirect/{}", n - 1)));
                    r
                }
                _ => reply(200, "ok\n"),
            },
        }
    }

    /// The counts, as JSON fields for the stats document.
    pub fn stats(&self) -> serde_json::Value {
        serde_json::json!({
            "paths": *self.paths.lock().expect("no panic while held"),
            "logins": self.issued.load(Ordering::Relaxed),
            "auth_ok": self.auth_ok.load(Ordering::Relaxed),
            "auth_refused": self.auth_refused.load(Ordering::Relaxed),
            "cookie_ok": self.cookie_ok.load(Ordering::Relaxed),
            "cookie_refused": self.cookie_refused.load(Ordering::Relaxed),
            "uploads": *self.uploads.lock().expect("no panic while held"),
        })
    }
}

/// Each part as `name=N filename=F type=T size=S fnv=H`; `None` when the body is not
/// multipart with this boundary.
fn multipart_parts(body: &[u8], boundary: &str) -> Option<Vec<String>> {
    let delim = format!("--{boundary}");
    let mut out = Vec::new();
    let mut rest = body.strip_prefix(delim.as_bytes())?;
    loop {
        if rest.starts_with(b"--") {
            return Some(out);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let head_end = memchr::memmem::find(rest, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&rest[..head_end]).ok()?;
        let data_start = head_end + 4;
        let next = format!("\r\n{delim}");
        let data_len = memchr::memmem::find(&rest[data_start..], next.as_bytes())?;
        let data = &rest[data_start..data_start + data_len];
        let mut name = "";
        let mut filename = "";
        let mut ctype = "";
        for line in head.split("\r\n") {
            let (k, v) = line.split_once(':')?;
            match k.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    for attr in v.split(';').map(str::trim) {
                        if let Some(n) = attr.strip_prefix("name=") {
                            name = n.trim_matches('"');
                        } else if let Some(f) = attr.strip_prefix("filename=") {
                            filename = f.trim_matches('"');
                        }
                    }
                }
                "content-type" => ctype = v.trim(),
                _ => {}
            }
        }
        out.push(format!(
            "name={name} filename={filename} type={ctype} size={} fnv={:016x}",
            data.len(),
            fnv1a(data)
        ));
        rest = &rest[data_start + data_len + next.len()..];
    }
}
