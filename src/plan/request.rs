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

/// Headers an HTTP/2 request does not carry: `host` becomes `:authority`, and the
/// connection-specific ones are forbidden (RFC 9113 §8.2.2).
fn not_in_h2(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host" | "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade"
    )
}

/// The HTTP/2 request of a request without runtime variables, encoded once: its HPACK
/// header block and its body.
#[derive(Debug, Clone)]
struct H2Fixed {
    block: Vec<u8>,
    body: Vec<u8>,
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
            let (mut block, mut body) = (Vec::new(), Vec::new());
            req.h2_render(
                &Vars::default(),
                RenderOpts::default(),
                &mut block,
                &mut body,
                &mut Vec::new(),
            );
            req.h2_fixed = Some(H2Fixed { block, body });
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
            if not_in_h2(name) {
                continue;
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

    /// Encodes the HTTP/2 request for these variable values: its HPACK header block into
    /// `block` and its body into `body` (both cleared first; `scratch` is working space).
    fn h2_render(
        &self,
        vars: &Vars,
        opts: RenderOpts,
        block: &mut Vec<u8>,
        body: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) {
        use crate::transport::h2::hpack;
        block.clear();
        body.clear();
        scratch.clear();
        match opts.path {
            Some(p) => scratch.extend_from_slice(p),
            None => self.path.render(vars, scratch),
        }
        let method = opts.method.unwrap_or(&self.method);
        hpack::encode_start(
            block,
            method.as_str().as_bytes(),
            self.scheme == http::uri::Scheme::HTTPS,
            self.authority.as_str().as_bytes(),
            scratch,
        );
        let mut has_ua = false;
        for (name, value) in &self.headers {
            if not_in_h2(name) {
                continue;
            }
            has_ua |= name == http::header::USER_AGENT;
            scratch.clear();
            value.render(vars, scratch);
            hpack::encode_header(block, name.as_str().as_bytes(), scratch);
        }
        if !has_ua {
            hpack::encode_header(
                block,
                b"user-agent",
                concat!("kaioken/", env!("CARGO_PKG_VERSION")).as_bytes(),
            );
        }
        if !opts.cookie.is_empty() {
            hpack::encode_header(block, b"cookie", opts.cookie);
        }
        if opts.body {
            self.body.render(vars, body);
        }
    }

    /// The HTTP/2 header block and body for these variable values: the ones encoded at
    /// compile time when nothing varies, else rendered into `block` and `body`.
    pub fn h2_encoded<'a>(
        &'a self,
        vars: &Vars,
        opts: RenderOpts,
        block: &'a mut Vec<u8>,
        body: &'a mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> (&'a [u8], &'a [u8]) {
        match &self.h2_fixed {
            Some(f) if opts.is_plain() => (&f.block, &f.body),
            _ => {
                self.h2_render(vars, opts, block, body, scratch);
                (block, body)
            }
        }
    }

    /// Builds the HTTP/2 request as `http` types (for `--debug`, which goes through hyper).
    pub fn h2_request(
        &self,
        vars: &Vars,
        opts: RenderOpts,
        scratch: &mut Vec<u8>,
    ) -> (http::Request<()>, Option<Bytes>) {
        let (uri, headers, body) = self.h2_parts(vars, opts, scratch);
        let mut req = http::Request::new(());
        *req.method_mut() = opts.method.unwrap_or(&self.method).clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        (req, body)
    }
}
