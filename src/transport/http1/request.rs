//! The HTTP/1.1 request encoder: a compiled request rendered into the exact bytes sent. A
//! request without runtime variables is rendered once, when it is compiled; otherwise only
//! its variable parts are written per request, into a buffer the VU reuses.

use crate::plan::Request;
use crate::plan::template::{RenderOpts, Template, Vars};

/// The full HTTP/1.1 request: request line, header lines, a computed Content-Length, the body.
#[derive(Debug, Clone)]
pub struct Http1Request {
    method: http::Method,
    path: Template,
    /// Header lines (each ending in CRLF), without Content-Length and the final CRLF.
    headers: Template,
    body: Template,
    /// `http://authority` before the path: the absolute form an HTTP proxy is sent.
    origin: Option<Box<[u8]>>,
    /// The whole request when nothing varies: sent as is.
    fixed: Option<Vec<u8>>,
}

impl Http1Request {
    #[cfg(test)]
    pub(crate) fn new(
        method: http::Method,
        path: Template,
        headers: Template,
        body: Template,
    ) -> Http1Request {
        Http1Request::with_origin(method, None, path, headers, body)
    }

    fn with_origin(
        method: http::Method,
        origin: Option<Box<[u8]>>,
        path: Template,
        headers: Template,
        body: Template,
    ) -> Http1Request {
        let mut req = Http1Request {
            method,
            path,
            headers,
            body,
            origin,
            fixed: None,
        };
        if req.path.is_static() && req.headers.is_static() && req.body.is_static() {
            let mut out = Vec::new();
            req.render_into(
                &Vars::default(),
                RenderOpts::default(),
                &mut out,
                &mut Vec::new(),
            );
            req.fixed = Some(out);
        }
        req
    }

    /// The bytes when the request never varies.
    pub fn fixed(&self) -> Option<&[u8]> {
        self.fixed.as_deref()
    }

    /// Renders into `out` (cleared first), using `scratch` for the body.
    pub fn render_into(
        &self,
        vars: &Vars,
        opts: RenderOpts,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) {
        out.clear();
        scratch.clear();
        let method = opts.method.unwrap_or(&self.method);
        if opts.body {
            match opts.body_bytes {
                Some(b) => scratch.extend_from_slice(b),
                None => self.body.render(vars, scratch),
            }
        }
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        if let Some(origin) = &self.origin {
            out.extend_from_slice(origin);
        }
        match opts.path {
            Some(p) => out.extend_from_slice(p),
            None => self.path.render(vars, out),
        }
        out.extend_from_slice(b" HTTP/1.1\r\n");
        self.headers.render(vars, out);
        if !opts.cookie.is_empty() {
            out.extend_from_slice(b"cookie: ");
            out.extend_from_slice(opts.cookie);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(opts.headers);
        // Always with a body, and for methods that expect one (an empty POST says length 0).
        let send_length = !scratch.is_empty()
            || (opts.body
                && matches!(
                    *method,
                    http::Method::POST | http::Method::PUT | http::Method::PATCH
                ));
        if send_length {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(scratch.len()).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(scratch);
    }
}

impl Http1Request {
    /// Compiles `req`: `Host` and `User-Agent` unless given, the user's headers in order,
    /// and `Connection: close` when connections are not kept. Sent to an HTTP proxy
    /// (`via`), the request line carries the absolute URL and the proxy's credentials
    /// follow the user's headers.
    pub fn compile(req: &Request, via: Option<&Forward>) -> Http1Request {
        let has_host = req.headers.iter().any(|(n, _)| n == http::header::HOST);
        let has_ua = req
            .headers
            .iter()
            .any(|(n, _)| n == http::header::USER_AGENT);
        let mut lines = Template::default();
        if !has_host {
            lines.push_lit(format!("host: {}\r\n", req.authority).as_bytes());
        }
        if !has_ua && req.default_user_agent {
            lines.push_lit(
                concat!("user-agent: kaioken/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes(),
            );
        }
        for (name, value) in &req.headers {
            lines.push_lit(name.as_str().as_bytes());
            lines.push_lit(b": ");
            lines.push(value);
            lines.push_lit(b"\r\n");
        }
        if let Some(auth) = via.and_then(|v| v.proxy_authorization.as_deref()) {
            lines.push_lit(format!("proxy-authorization: {auth}\r\n").as_bytes());
        }
        if !req.keepalive {
            lines.push_lit(b"connection: close\r\n");
        }
        let origin = via.map(|_| format!("http://{}", req.authority).into_bytes().into());
        Http1Request::with_origin(
            req.method.clone(),
            origin,
            req.path.clone(),
            lines,
            req.body.clone(),
        )
    }
}

/// An HTTP proxy that requests are sent to in absolute form.
#[derive(Debug, Clone, Default)]
pub struct Forward {
    /// The `Proxy-Authorization` value, when the proxy has credentials.
    pub proxy_authorization: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_head_has_host_agent_and_user_headers() {
        let req = Request::compile(
            http::Method::GET,
            http::uri::Scheme::HTTP,
            "127.0.0.1:8080".parse().unwrap(),
            Template::parse("/x?y=1").unwrap(),
            vec![(
                http::HeaderName::from_static("x-a"),
                Template::parse("1").unwrap(),
            )],
            Template::default(),
            false,
        );
        assert_eq!(
            Http1Request::compile(&req, None).fixed().unwrap(),
            format!(
                "GET /x?y=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nuser-agent: kaioken/{}\r\nx-a: 1\r\nconnection: close\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
            .as_bytes()
        );
    }

    #[test]
    fn through_an_http_proxy_the_request_line_is_absolute_and_credentialed() {
        let req = Request::compile(
            http::Method::GET,
            http::uri::Scheme::HTTP,
            "127.0.0.1:8080".parse().unwrap(),
            Template::parse("/x?y=1").unwrap(),
            vec![],
            Template::default(),
            true,
        );
        let via = Forward {
            proxy_authorization: Some("Basic dTpw".into()),
        };
        assert_eq!(
            Http1Request::compile(&req, Some(&via)).fixed().unwrap(),
            format!(
                "GET http://127.0.0.1:8080/x?y=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nuser-agent: kaioken/{}\r\nproxy-authorization: Basic dTpw\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
            .as_bytes()
        );
    }

    #[test]
    fn http1_request_computes_length_per_render() {
        let headers = Template::parse("host: x\r\n").unwrap();
        let body = Template::parse("{\"id\":${REQUEST_ID}}").unwrap();
        let r = Http1Request::new(
            http::Method::POST,
            Template::parse("/").unwrap(),
            headers,
            body,
        );
        assert!(r.fixed().is_none());
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        let vars = Vars {
            request_id: 12345,
            ..Vars::default()
        };
        r.render_into(&vars, RenderOpts::default(), &mut out, &mut scratch);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 12\r\n\r\n{\"id\":12345}"
        );
    }

    #[test]
    fn static_request_is_prerendered() {
        let headers = Template::parse("host: x\r\n").unwrap();
        let r = Http1Request::new(
            http::Method::GET,
            Template::parse("/").unwrap(),
            headers,
            Template::default(),
        );
        assert_eq!(r.fixed().unwrap(), b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        // A redirect to GET drops the body and its length; a cookie is one more line.
        let mut out = Vec::new();
        r.render_into(
            &Vars::default(),
            RenderOpts {
                path: Some(b"/next"),
                cookie: b"a=1",
                ..RenderOpts::default()
            },
            &mut out,
            &mut Vec::new(),
        );
        assert_eq!(out, b"GET /next HTTP/1.1\r\nhost: x\r\ncookie: a=1\r\n\r\n");
    }
}
