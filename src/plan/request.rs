//! The request to send, compiled once into the forms each transport writes.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use super::template::{Http1Request, RenderOpts, Template, Vars};

/// One request, ready for HTTP/1.1 (bytes) and HTTP/2 (`http::Request` parts).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// Path and query, possibly with runtime variables.
    pub path: Template,
    /// User headers in order (names lower-cased), possibly with runtime variables.
    pub headers: Vec<(HeaderName, Template)>,
    pub body: Template,
    pub http1: Http1Request,
    h2_fixed: Option<H2Fixed>,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
}

/// HTTP/2 parts that never vary, built once.
#[derive(Debug, Clone)]
struct H2Fixed {
    uri: Uri,
    headers: HeaderMap,
    body: Option<Bytes>,
}

impl Request {
    /// Whether every request is identical (no runtime variables anywhere).
    pub fn is_static(&self) -> bool {
        self.h2_fixed.is_some()
    }

    pub fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }

    /// Compiles the request. `authority` is the Host header value; `keepalive = false` adds
    /// `Connection: close` to HTTP/1.1 requests.
    pub fn compile(
        method: Method,
        scheme: http::uri::Scheme,
        authority: http::uri::Authority,
        path: Template,
        headers: Vec<(HeaderName, Template)>,
        body: Template,
        keepalive: bool,
    ) -> Request {
        let has_host = headers.iter().any(|(n, _)| n == http::header::HOST);
        let has_ua = headers.iter().any(|(n, _)| n == http::header::USER_AGENT);
        let mut lines = Template::default();
        if !has_host {
            lines.push_lit(format!("host: {authority}\r\n").as_bytes());
        }
        if !has_ua {
            lines.push_lit(
                concat!("user-agent: kaioken/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes(),
            );
        }
        for (name, value) in &headers {
            lines.push_lit(name.as_str().as_bytes());
            lines.push_lit(b": ");
            lines.push(value);
            lines.push_lit(b"\r\n");
        }
        if !keepalive {
            lines.push_lit(b"connection: close\r\n");
        }
        let http1 = Http1Request::new(method.clone(), path.clone(), lines, body.clone());

        let mut req = Request {
            method,
            path,
            headers,
            body,
            http1,
            h2_fixed: None,
            scheme,
            authority,
        };
        if req.path.is_static()
            && req.body.is_static()
            && req.headers.iter().all(|(_, v)| v.is_static())
        {
            let (uri, headers, body) =
                req.h2_parts(&Vars::default(), RenderOpts::default(), &mut Vec::new());
            req.h2_fixed = Some(H2Fixed { uri, headers, body });
        }
        req
    }

    /// The extracted-value slots this request reads.
    pub fn slots(&self) -> Vec<u16> {
        let mut s: Vec<u16> = self
            .path
            .slots()
            .chain(self.body.slots())
            .chain(self.headers.iter().flat_map(|(_, v)| v.slots()))
            .collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    fn h2_parts(
        &self,
        vars: &Vars,
        opts: RenderOpts,
        scratch: &mut Vec<u8>,
    ) -> (Uri, HeaderMap, Option<Bytes>) {
        scratch.clear();
        match opts.path {
            Some(p) => scratch.extend_from_slice(p),
            None => self.path.render(vars, scratch),
        }
        let path = http::uri::PathAndQuery::from_maybe_shared(Bytes::copy_from_slice(scratch))
            .unwrap_or_else(|_| http::uri::PathAndQuery::from_static("/"));
        let uri = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path)
            .build()
            .expect("parts validated at plan time");
        let mut headers = HeaderMap::with_capacity(self.headers.len() + 1);
        for (name, value) in &self.headers {
            if name == http::header::HOST || name == http::header::CONNECTION {
                continue; // HTTP/2 carries these as :authority / not at all.
            }
            scratch.clear();
            value.render(vars, scratch);
            if let Ok(v) = HeaderValue::from_bytes(scratch) {
                headers.append(name.clone(), v);
            }
        }
        if !headers.contains_key(http::header::USER_AGENT) {
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
        let body = if self.body.is_empty() || !opts.body {
            None
        } else {
            scratch.clear();
            self.body.render(vars, scratch);
            Some(Bytes::copy_from_slice(scratch))
        };
        (uri, headers, body)
    }

    /// Builds the HTTP/2 request for these variable values.
    pub fn h2_request(
        &self,
        vars: &Vars,
        opts: RenderOpts,
        scratch: &mut Vec<u8>,
    ) -> (http::Request<()>, Option<Bytes>) {
        let (uri, headers, body) = match &self.h2_fixed {
            Some(f) if opts.is_plain() => (f.uri.clone(), f.headers.clone(), f.body.clone()),
            _ => self.h2_parts(vars, opts, scratch),
        };
        let mut req = http::Request::new(());
        *req.method_mut() = opts.method.unwrap_or(&self.method).clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        (req, body)
    }
}
