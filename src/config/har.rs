//! HAR 1.2 (a browser's recorded session) → a kaioken config with one weighted scenario
//! per distinct request.
//!
//! Kept: method, URL, headers, body. Dropped: headers only a browser sends or that would
//! change what is measured (cookies, `sec-*`, HTTP/2 pseudo headers, `host`,
//! `content-length`, `connection`, `accept-encoding`, cache validators, `user-agent`).
//! Identical requests (method, URL, body) merge into one scenario whose weight is their
//! count. A request the browser made only because the previous response redirected to it
//! is dropped: kaioken follows redirects itself.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum HarError {
    #[error(
        "not a HAR file ({0}); export one from the browser's DevTools (Network → Save all as HAR)"
    )]
    NotHar(String),
    #[error("{field}: {fix}")]
    Invalid { field: String, fix: String },
}

#[derive(Deserialize)]
struct Har {
    log: Log,
}

#[derive(Deserialize)]
struct Log {
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    request: HarRequest,
    #[serde(default)]
    response: Option<HarResponse>,
}

#[derive(Deserialize)]
struct HarRequest {
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<NameValue>,
    #[serde(rename = "postData", default)]
    post_data: Option<PostData>,
}

#[derive(Deserialize)]
struct HarResponse {
    #[serde(rename = "redirectURL", default)]
    redirect_url: String,
}

#[derive(Deserialize)]
struct NameValue {
    name: String,
    value: String,
}

#[derive(Deserialize)]
struct PostData {
    #[serde(rename = "mimeType", default)]
    mime_type: String,
    #[serde(default)]
    text: Option<String>,
}

/// Headers a load test must not replay as recorded.
fn browser_only(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with(':')
        || n.starts_with("sec-")
        || matches!(
            n.as_str(),
            "cookie"
                | "host"
                | "content-length"
                | "connection"
                | "keep-alive"
                | "accept-encoding"
                | "upgrade-insecure-requests"
                | "user-agent"
                | "if-none-match"
                | "if-modified-since"
                | "priority"
                | "te"
                | "transfer-encoding"
        )
}

/// What [`to_config`] produced.
#[derive(Debug)]
pub struct Imported {
    pub toml: String,
    pub scenarios: usize,
    pub requests: usize,
    /// Entries left out, with why (other origin, filter, unsupported text).
    pub skipped: Vec<String>,
}

struct Scenario {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Option<String>,
    weight: u64,
}

fn origin_and_path(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let i = rest.find(['/', '?']).unwrap_or(rest.len());
    let path = &rest[i..];
    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Some((format!("{scheme}://{}", &rest[..i]), path))
}

/// Converts HAR text; `filter` keeps only URLs it matches.
pub fn to_config(text: &str, filter: Option<&regex::Regex>) -> Result<Imported, HarError> {
    let har: Har = serde_json::from_str(text).map_err(|e| HarError::NotHar(e.to_string()))?;
    let mut skipped = Vec::new();
    let mut kept: Vec<(&Entry, String, String)> = Vec::new();
    let mut redirected_to: Option<String> = None;
    for (i, e) in har.log.entries.iter().enumerate() {
        let url = e.request.url.trim();
        let follows_redirect = redirected_to.take().is_some_and(|r| r == url);
        redirected_to = e
            .response
            .as_ref()
            .filter(|r| !r.redirect_url.is_empty())
            .map(|r| absolute(url, &r.redirect_url));
        if follows_redirect {
            skipped.push(format!(
                "entry {i} ({url}): reached by a redirect, which kaioken follows itself"
            ));
            continue;
        }
        if filter.is_some_and(|f| !f.is_match(url)) {
            continue;
        }
        let Some((origin, path)) = origin_and_path(url) else {
            skipped.push(format!("entry {i} ({url}): not an http(s) URL"));
            continue;
        };
        kept.push((e, origin, path));
    }
    if kept.is_empty() {
        return Err(HarError::Invalid {
            field: "log.entries".into(),
            fix: if filter.is_some() {
                "no request matches --filter; loosen it".into()
            } else {
                "the HAR has no http(s) requests; record some traffic first".into()
            },
        });
    }
    // One run loads one origin: the most frequent one.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, o, _) in &kept {
        *counts.entry(o).or_default() += 1;
    }
    let origin = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(o, _)| o.to_string())
        .expect("kept is not empty");

    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut requests = 0;
    for (e, o, path) in &kept {
        if *o != origin {
            skipped.push(format!(
                "{} {}{path}: another origin than {origin}",
                e.request.method, o
            ));
            continue;
        }
        let body = e
            .request
            .post_data
            .as_ref()
            .and_then(|p| p.text.clone())
            .filter(|t| !t.is_empty());
        let mut headers: BTreeMap<String, String> = e
            .request
            .headers
            .iter()
            .filter(|h| !browser_only(&h.name))
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        if let Some(p) = &e.request.post_data
            && !p.mime_type.is_empty()
            && !headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("content-type"))
        {
            headers.insert("content-type".into(), p.mime_type.clone());
        }
        // `${` would be read as a variable; kaioken has no escape for it.
        let has_var = |t: &str| t.contains("${");
        if has_var(path)
            || body.as_deref().is_some_and(has_var)
            || headers.values().any(|v| has_var(v))
        {
            skipped.push(format!(
                "{} {path}: contains `${{`, which kaioken reads as a variable",
                e.request.method
            ));
            continue;
        }
        let method = e.request.method.to_ascii_uppercase();
        requests += 1;
        match scenarios
            .iter_mut()
            .find(|s| s.method == method && s.path == *path && s.body == body)
        {
            Some(s) => s.weight += 1,
            None => scenarios.push(Scenario {
                method,
                path: path.clone(),
                headers,
                body,
                weight: 1,
            }),
        }
    }
    Ok(Imported {
        toml: render(&origin, &scenarios, &skipped),
        scenarios: scenarios.len(),
        requests,
        skipped,
    })
}

/// `redirect` resolved against `url`.
fn absolute(url: &str, redirect: &str) -> String {
    if redirect.contains("://") {
        return redirect.to_string();
    }
    match origin_and_path(url) {
        Some((origin, _)) if redirect.starts_with('/') => format!("{origin}{redirect}"),
        Some((origin, path)) => {
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            format!("{origin}{dir}/{redirect}")
        }
        None => redirect.to_string(),
    }
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A scenario name from the method and path: `get_app_users`.
fn name_for(s: &Scenario, taken: &mut Vec<String>) -> String {
    let path = s.path.split('?').next().unwrap_or("");
    let mut base: String = format!("{}_{}", s.method, path)
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    while base.contains("__") {
        base = base.replace("__", "_");
    }
    let base = base.trim_matches('_').to_string();
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    taken.push(name.clone());
    name
}

fn render(origin: &str, scenarios: &[Scenario], skipped: &[String]) -> String {
    let mut out = String::new();
    out.push_str("# Imported from a HAR recording by `kaioken import`.\n");
    out.push_str(
        "# Each scenario is one distinct request; its weight is how often it was recorded.\n",
    );
    out.push_str("# Browser-only headers (cookies, sec-*, accept-encoding, cache validators) were dropped.\n");
    for s in skipped {
        out.push_str(&format!("# skipped: {s}\n"));
    }
    out.push_str(&format!(
        "\n[target]\nurl = {}\n",
        quote(&format!("{origin}/"))
    ));
    out.push_str("\n[load]\nconcurrency = 10\nduration = \"30s\"\n");
    let mut taken = Vec::new();
    for s in scenarios {
        out.push_str(&format!(
            "\n[[scenarios]]\nname = {}\nurl = {}\nmethod = {}\nweight = {}\n",
            quote(&name_for(s, &mut taken)),
            quote(&s.path),
            quote(&s.method),
            s.weight
        ));
        if let Some(b) = &s.body {
            out.push_str(&format!("body = {}\n", quote(b)));
        }
        if !s.headers.is_empty() {
            out.push_str("[scenarios.headers]\n");
            for (k, v) in &s.headers {
                out.push_str(&format!("{} = {}\n", quote(k), quote(v)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_cases() {
        let har = r#"{"log": {"version": "1.2", "entries": [
          {"request": {"method": "GET", "url": "https://api.test/v2/items?q=1",
             "headers": [{"name": ":authority", "value": "api.test"},
                         {"name": "Cookie", "value": "a=b"},
                         {"name": "sec-ch-ua", "value": "x"},
                         {"name": "Accept", "value": "application/json"}]},
           "response": {"status": 200, "redirectURL": ""}},
          {"request": {"method": "GET", "url": "https://api.test/v2/items?q=1", "headers": []}},
          {"request": {"method": "post", "url": "https://api.test/v2/items",
             "headers": [], "postData": {"mimeType": "application/json", "text": "{\"a\": \"q\\\"uote\"}"}},
           "response": {"status": 302, "redirectURL": "/v2/done"}},
          {"request": {"method": "GET", "url": "https://api.test/v2/done", "headers": []}},
          {"request": {"method": "GET", "url": "https://cdn.other/x.js", "headers": []}},
          {"request": {"method": "GET", "url": "https://api.test/v2/t?x=${y}", "headers": []}},
          {"request": {"method": "GET", "url": "data:image/png;base64,AAA", "headers": []}}
        ]}}"#;
        let imp = to_config(har, None).unwrap();
        assert_eq!((imp.scenarios, imp.requests), (2, 3));
        let c = crate::config::RawConfig::parse(&imp.toml, "imported.toml").unwrap();
        assert_eq!(c.target.unwrap().url.unwrap().0, "https://api.test/");
        let s = c.scenarios.unwrap();
        assert_eq!(s[0].url.as_ref().unwrap().0, "/v2/items?q=1");
        assert_eq!(s[0].weight, Some(2));
        let h = s[0].headers.as_ref().unwrap();
        assert_eq!(h.keys().collect::<Vec<_>>(), ["Accept"]);
        assert_eq!(s[1].method.as_ref().unwrap().0, "POST");
        assert_eq!(s[1].body.as_ref().unwrap().0, "{\"a\": \"q\\\"uote\"}");
        assert_eq!(
            s[1].headers.as_ref().unwrap()["content-type"].0,
            "application/json"
        );
        let skipped = imp.skipped.join("\n");
        assert!(skipped.contains("reached by a redirect"), "{skipped}");
        assert!(skipped.contains("another origin"), "{skipped}");
        assert!(skipped.contains("${"), "{skipped}");
        assert!(skipped.contains("not an http(s) URL"), "{skipped}");

        let f = regex::Regex::new("v2/items").unwrap();
        assert_eq!(to_config(har, Some(&f)).unwrap().scenarios, 2);
        let none = regex::Regex::new("nothing").unwrap();
        assert!(
            to_config(har, Some(&none))
                .unwrap_err()
                .to_string()
                .contains("--filter")
        );
    }

    #[test]
    fn malformed_har_is_one_line() {
        for bad in ["", "{}", "{\"log\": {}}", "[1,2]", "<html>"] {
            let e = to_config(bad, None).unwrap_err().to_string();
            assert!(e.starts_with("not a HAR file"), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
