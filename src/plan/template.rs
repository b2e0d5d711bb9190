//! Request templates, compiled once when the plan is built.
//!
//! A template is a list of literal byte runs and runtime variables. When a request has no
//! variables it is rendered once, at plan time, into the exact bytes sent on every request;
//! otherwise only the variable parts are written per request, into a buffer the connection
//! reuses. Nothing is parsed per request.

use std::fmt;

/// A value known only when the request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// Unique across the run's threads: `counter × threads + thread`.
    RequestId,
    /// Wall-clock time in milliseconds since the Unix epoch.
    TimestampMs,
}

impl Var {
    pub const NAMES: [&'static str; 2] = ["REQUEST_ID", "TIMESTAMP_MS"];

    fn from_name(name: &str) -> Option<Var> {
        match name {
            "REQUEST_ID" => Some(Var::RequestId),
            "TIMESTAMP_MS" => Some(Var::TimestampMs),
            _ => None,
        }
    }

    /// Whether `${name}` is a runtime variable (and so must not be looked up in the env).
    pub fn is_runtime(name: &str) -> bool {
        Var::from_name(name).is_some()
    }
}

/// The values of the runtime variables for one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vars {
    pub request_id: u64,
    pub timestamp_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(Vec<u8>),
    Var(Var),
}

/// A string with `${VAR}` runtime placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// A `${...}` that is not a runtime variable, or an unterminated one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown variable ${{{name}}}: runtime variables are {known}")]
    UnknownVar { name: String, known: String },
    #[error("unterminated ${{ (add the closing brace)")]
    Unterminated,
}

impl Template {
    /// Compiles `text`. `$${` is not special: only `${NAME}` with a known NAME is a variable.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut lit = Vec::new();
        let mut rest = text;
        while let Some(pos) = rest.find("${") {
            lit.extend_from_slice(&rest.as_bytes()[..pos]);
            let after = &rest[pos + 2..];
            let end = after.find('}').ok_or(TemplateError::Unterminated)?;
            let name = &after[..end];
            let var = Var::from_name(name).ok_or_else(|| TemplateError::UnknownVar {
                name: name.to_string(),
                known: Var::NAMES.map(|n| format!("${{{n}}}")).join(", "),
            })?;
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut lit)));
            }
            pieces.push(Piece::Var(var));
            rest = &after[end + 1..];
        }
        lit.extend_from_slice(rest.as_bytes());
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Template { pieces })
    }

    /// A template of raw bytes with no variables (for `--body-file`).
    pub fn literal(bytes: Vec<u8>) -> Template {
        if bytes.is_empty() {
            return Template::default();
        }
        Template {
            pieces: vec![Piece::Lit(bytes)],
        }
    }

    pub fn is_static(&self) -> bool {
        self.pieces.iter().all(|p| matches!(p, Piece::Lit(_)))
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Appends the rendered bytes to `out`. Allocation-free once `out` has grown to size.
    pub fn render(&self, vars: &Vars, out: &mut Vec<u8>) {
        for p in &self.pieces {
            match p {
                Piece::Lit(b) => out.extend_from_slice(b),
                Piece::Var(Var::RequestId) => {
                    out.extend_from_slice(itoa::Buffer::new().format(vars.request_id).as_bytes())
                }
                Piece::Var(Var::TimestampMs) => {
                    out.extend_from_slice(itoa::Buffer::new().format(vars.timestamp_ms).as_bytes())
                }
            }
        }
    }

    /// Renders with sample values, for validation and display.
    pub fn sample(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.render(&Vars::default(), &mut out);
        out
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.pieces {
            match p {
                Piece::Lit(b) => f.write_str(&String::from_utf8_lossy(b))?,
                Piece::Var(Var::RequestId) => f.write_str("${REQUEST_ID}")?,
                Piece::Var(Var::TimestampMs) => f.write_str("${TIMESTAMP_MS}")?,
            }
        }
        Ok(())
    }
}

/// The full HTTP/1.1 request: head pieces, then a computed Content-Length, then the body.
#[derive(Debug, Clone)]
pub struct Http1Request {
    /// Request line and headers, without the Content-Length line and the final CRLF.
    head: Template,
    body: Template,
    /// Whether to send `Content-Length` (always when there is a body, or the method expects one).
    send_length: bool,
    /// The whole request when nothing varies: sent as is.
    fixed: Option<Vec<u8>>,
}

impl Http1Request {
    pub fn new(head: Template, body: Template, send_length: bool) -> Http1Request {
        let mut req = Http1Request {
            head,
            body,
            send_length,
            fixed: None,
        };
        if req.head.is_static() && req.body.is_static() {
            let mut out = Vec::new();
            req.render_into(&Vars::default(), &mut out, &mut Vec::new());
            req.fixed = Some(out);
        }
        req
    }

    /// The bytes when the request never varies.
    pub fn fixed(&self) -> Option<&[u8]> {
        self.fixed.as_deref()
    }

    /// Renders into `out` (cleared first), using `scratch` for the body.
    pub fn render_into(&self, vars: &Vars, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
        out.clear();
        scratch.clear();
        self.body.render(vars, scratch);
        self.head.render(vars, out);
        if self.send_length {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(scratch.len()).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_vars() {
        let t = Template::parse("/items/${REQUEST_ID}?t=${TIMESTAMP_MS}").unwrap();
        assert!(!t.is_static());
        let mut out = Vec::new();
        t.render(
            &Vars {
                request_id: 42,
                timestamp_ms: 7,
            },
            &mut out,
        );
        assert_eq!(out, b"/items/42?t=7");
        assert_eq!(t.to_string(), "/items/${REQUEST_ID}?t=${TIMESTAMP_MS}");
    }

    #[test]
    fn unknown_and_unterminated() {
        assert!(matches!(
            Template::parse("a${NOPE}"),
            Err(TemplateError::UnknownVar { name, .. }) if name == "NOPE"
        ));
        assert_eq!(Template::parse("a${REQ"), Err(TemplateError::Unterminated));
        assert!(Template::parse("a $ {x} $").unwrap().is_static());
    }

    #[test]
    fn http1_request_computes_length_per_render() {
        let head = Template::parse("POST / HTTP/1.1\r\nhost: x\r\n").unwrap();
        let body = Template::parse("{\"id\":${REQUEST_ID}}").unwrap();
        let r = Http1Request::new(head, body, true);
        assert!(r.fixed().is_none());
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        let vars = Vars {
            request_id: 12345,
            timestamp_ms: 0,
        };
        r.render_into(&vars, &mut out, &mut scratch);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 12\r\n\r\n{\"id\":12345}"
        );
    }

    #[test]
    fn static_request_is_prerendered() {
        let head = Template::parse("GET / HTTP/1.1\r\nhost: x\r\n").unwrap();
        let r = Http1Request::new(head, Template::default(), false);
        assert_eq!(r.fixed().unwrap(), b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    }
}
