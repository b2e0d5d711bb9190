//! One request as the plan describes it: method, path, headers and body as templates, and
//! the origin. The bytes on the wire are the transport's business: each protocol compiles
//! its own encoder from this, once (`transport::http1::Http1Request`,
//! `transport::h2::H2Request`).

use http::{HeaderName, Method};

use super::template::Template;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// Path and query, possibly with runtime variables.
    pub path: Template,
    /// User headers in order (names lower-cased), possibly with runtime variables.
    pub headers: Vec<(HeaderName, Template)>,
    pub body: Template,
    pub scheme: http::uri::Scheme,
    /// The `Host` header value (`:authority` in HTTP/2).
    pub authority: http::uri::Authority,
    /// `false` adds `Connection: close` to HTTP/1.1 requests.
    pub keepalive: bool,
    /// Whether the encoders add `user-agent: kaioken/…` when the user gave none. A replay
    /// turns it off: each record brings its own (the reader adds ours where it has none).
    pub default_user_agent: bool,
    is_static: bool,
}

impl Request {
    /// Whether every request is identical (no runtime variables anywhere).
    pub fn is_static(&self) -> bool {
        self.is_static
    }

    pub fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }

    pub fn compile(
        method: Method,
        scheme: http::uri::Scheme,
        authority: http::uri::Authority,
        path: Template,
        headers: Vec<(HeaderName, Template)>,
        body: Template,
        keepalive: bool,
    ) -> Request {
        let is_static =
            path.is_static() && body.is_static() && headers.iter().all(|(_, v)| v.is_static());
        Request {
            method,
            path,
            headers,
            body,
            scheme,
            authority,
            keepalive,
            default_user_agent: true,
            is_static,
        }
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
}
