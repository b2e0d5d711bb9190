//! The HTTP/2 request encoder: a compiled request as an HPACK header block and a body. A
//! request without runtime variables is encoded once, when it is compiled; otherwise per
//! request into buffers the VU reuses. Also the same request as `http` types, for `--debug`.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

use super::hpack;
use crate::plan::Request;
use crate::plan::template::{RenderOpts, Vars};

/// Headers an HTTP/2 request does not carry: `host` becomes `:authority`, and the
/// connection-specific ones are forbidden (RFC 9113 §8.2.2).
fn not_in_h2(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host" | "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade"
    )
}

/// A request's HTTP/2 encoder.
#[derive(Debug, Clone)]
pub struct H2Request {
    /// The header block and body when nothing varies: sent as they are.
    fixed: Option<(Vec<u8>, Vec<u8>)>,
}

impl H2Request {
    pub fn compile(req: &Request) -> H2Request {
        let fixed = req.is_static().then(|| {
            let (mut block, mut body) = (Vec::new(), Vec::new());
            render(
                req,
                &Vars::default(),
                RenderOpts::default(),
                &mut block,
                &mut body,
                &mut Vec::new(),
            );
            (block, body)
        });
        H2Request { fixed }
    }

    /// The HTTP/2 header block and body for these variable values: the ones encoded at
    /// compile time when nothing varies, else rendered into `block` and `body`.
    pub fn encoded<'a>(
        &'a self,
        req: &Request,
        vars: &Vars,
        opts: RenderOpts,
        block: &'a mut Vec<u8>,
        body: &'a mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> (&'a [u8], &'a [u8]) {
        match &self.fixed {
            Some((b, d)) if opts.is_plain() => (b, d),
            _ => {
                render(req, vars, opts, block, body, scratch);
                (block, body)
            }
        }
    }
}

/// Encodes the HTTP/2 request for these variable values: its HPACK header block into
/// `block` and its body into `body` (both cleared first; `scratch` is working space).
fn render(
    req: &Request,
    vars: &Vars,
    opts: RenderOpts,
    block: &mut Vec<u8>,
    body: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) {
    block.clear();
    body.clear();
    scratch.clear();
    match opts.path {
        Some(p) => scratch.extend_from_slice(p),
        None => req.path.render(vars, scratch),
    }
    let method = opts.method.unwrap_or(&req.method);
    hpack::encode_start(
        block,
        method.as_str().as_bytes(),
        req.scheme == http::uri::Scheme::HTTPS,
        req.authority.as_str().as_bytes(),
        scratch,
    );
    let mut has_ua = false;
    for (name, value) in &req.headers {
        if not_in_h2(name) {
            continue;
        }
        has_ua |= name == http::header::USER_AGENT;
        scratch.clear();
        value.render(vars, scratch);
        hpack::encode_header(block, name.as_str().as_bytes(), scratch);
    }
    if !has_ua && req.default_user_agent {
        hpack::encode_header(
            block,
            b"user-agent",
            concat!("kaioken/", env!("CARGO_PKG_VERSION")).as_bytes(),
        );
    }
    if !opts.cookie.is_empty() {
        hpack::encode_header(block, b"cookie", opts.cookie);
    }
    for (name, value) in header_lines(opts.headers) {
        hpack::encode_header(block, name, value);
    }
    if opts.body {
        match opts.body_bytes {
            Some(b) => body.extend_from_slice(b),
            None => req.body.render(vars, body),
        }
    }
}

/// `name: value\r\n` lines (a replayed record's headers, already lower-cased and checked)
/// as name and value.
pub(crate) fn header_lines(lines: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    lines.split(|b| *b == b'\n').filter_map(|l| {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        let colon = l.iter().position(|b| *b == b':')?;
        let value = &l[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        Some((&l[..colon], value))
    })
}

fn parts(
    req: &Request,
    vars: &Vars,
    opts: RenderOpts,
    scratch: &mut Vec<u8>,
) -> (Uri, HeaderMap, Option<Bytes>) {
    scratch.clear();
    match opts.path {
        Some(p) => scratch.extend_from_slice(p),
        None => req.path.render(vars, scratch),
    }
    let path = http::uri::PathAndQuery::from_maybe_shared(Bytes::copy_from_slice(scratch))
        .unwrap_or_else(|_| http::uri::PathAndQuery::from_static("/"));
    let uri = Uri::builder()
        .scheme(req.scheme.clone())
        .authority(req.authority.clone())
        .path_and_query(path)
        .build()
        .expect("parts validated at plan time");
    let mut headers = HeaderMap::with_capacity(req.headers.len() + 1);
    for (name, value) in &req.headers {
        if not_in_h2(name) {
            continue;
        }
        scratch.clear();
        value.render(vars, scratch);
        if let Ok(v) = HeaderValue::from_bytes(scratch) {
            headers.append(name.clone(), v);
        }
    }
    for (name, value) in header_lines(opts.headers) {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(n, v);
        }
    }
    if !headers.contains_key(http::header::USER_AGENT) && req.default_user_agent {
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(concat!("kaioken/", env!("CARGO_PKG_VERSION"))),
        );
    }
    if !opts.cookie.is_empty()
        && let Ok(v) = HeaderValue::from_bytes(opts.cookie)
    {
        headers.append(http::header::COOKIE, v);
    }
    let body = if let (Some(b), true) = (opts.body_bytes, opts.body) {
        (!b.is_empty()).then(|| Bytes::copy_from_slice(b))
    } else if req.body.is_empty() || !opts.body {
        None
    } else {
        scratch.clear();
        req.body.render(vars, scratch);
        Some(Bytes::copy_from_slice(scratch))
    };
    (uri, headers, body)
}

/// Builds the HTTP/2 request as `http` types (for `--debug`, which goes through hyper).
pub fn http_request(
    req: &Request,
    vars: &Vars,
    opts: RenderOpts,
    scratch: &mut Vec<u8>,
) -> (http::Request<()>, Option<Bytes>) {
    let (uri, headers, body) = parts(req, vars, opts, scratch);
    let mut out = http::Request::new(());
    *out.method_mut() = opts.method.unwrap_or(&req.method).clone();
    *out.uri_mut() = uri;
    *out.headers_mut() = headers;
    (out, body)
}
