//! Request templates, compiled once when the plan is built.
//!
//! A template is a list of literal byte runs and runtime variables. When a request has no
//! variables it is rendered once, at plan time, into the exact bytes sent on every request;
//! otherwise only the variable parts are written per request, into a buffer the connection
//! reuses. Nothing is parsed per request: names are resolved to slots when the plan is built.

use std::fmt;
use std::sync::Arc;

use rand::SeedableRng;

/// A value known only when the request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// Unique across the run's threads: `counter × threads + thread`.
    RequestId,
    /// Wall-clock time in milliseconds since the Unix epoch.
    TimestampMs,
    /// A value a scenario extracted from a response, by slot (per VU).
    Value(u16),
}

impl Var {
    pub const NAMES: [&'static str; 2] = crate::config::env::RUNTIME_VARS;

    fn builtin(name: &str) -> Option<Var> {
        match name {
            "REQUEST_ID" => Some(Var::RequestId),
            "TIMESTAMP_MS" => Some(Var::TimestampMs),
            _ => None,
        }
    }

    /// Whether `${name}` is a runtime variable (and so must not be looked up in the env).
    pub fn is_runtime(name: &str) -> bool {
        Var::builtin(name).is_some()
    }
}

/// The values of the runtime variables for one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vars<'a> {
    pub request_id: u64,
    pub timestamp_ms: u64,
    /// The VU's extracted values, by slot; a missing one renders as nothing (the engine
    /// never sends a request whose values are missing).
    pub values: &'a [Vec<u8>],
}

#[derive(Debug, Clone)]
enum Piece {
    Lit(Vec<u8>),
    Var(Var),
    /// An extracted value: its slot and its name (for display).
    Value(u16, String),
    /// One line of a file per request, in a run-wide round-robin order (`--urls-from-file`,
    /// `--body-lines`): line `request_id mod n`, so threads share one order without a lock.
    Lines {
        label: String,
        lines: Arc<[Box<[u8]>]>,
    },
    /// A string sampled from a regex per request (`--rand-regex-url`), seeded by the
    /// request id so a run is repeatable.
    Random {
        label: String,
        regex: Arc<rand_regex::Regex>,
    },
}

impl PartialEq for Piece {
    fn eq(&self, other: &Piece) -> bool {
        match (self, other) {
            (Piece::Lit(a), Piece::Lit(b)) => a == b,
            (Piece::Var(a), Piece::Var(b)) => a == b,
            (Piece::Value(a, _), Piece::Value(b, _)) => a == b,
            (Piece::Lines { lines: a, .. }, Piece::Lines { lines: b, .. }) => Arc::ptr_eq(a, b),
            (Piece::Random { regex: a, .. }, Piece::Random { regex: b, .. }) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// A string with `${VAR}` runtime placeholders.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// A `${...}` that is not a runtime variable, or an unterminated one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{known}")]
    UnknownVar { name: String, known: String },
    #[error("unterminated ${{ (add the closing brace)")]
    Unterminated,
}

/// Resolves `${name}` to a variable when the plan is built.
pub trait Names {
    fn resolve(&self, name: &str) -> Option<Var>;
    /// Why `name` is unknown and what the user may write instead.
    fn known(&self, name: &str) -> String;
}

/// Only the built-in runtime variables.
pub struct Builtins;

impl Names for Builtins {
    fn resolve(&self, name: &str) -> Option<Var> {
        Var::builtin(name)
    }
    fn known(&self, name: &str) -> String {
        format!(
            "unknown variable ${{{name}}}: runtime variables are {}",
            Var::NAMES.map(|n| format!("${{{n}}}")).join(", ")
        )
    }
}

impl Template {
    /// Compiles `text` with the built-in variables only.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        Template::parse_with(text, &Builtins)
    }

    /// Compiles `text`. `$${` is not special: only `${NAME}` with a known NAME is a variable.
    pub fn parse_with(text: &str, names: &dyn Names) -> Result<Template, TemplateError> {
        let mut t = Template::default();
        let mut rest = text;
        while let Some(pos) = rest.find("${") {
            t.push_lit(&rest.as_bytes()[..pos]);
            let after = &rest[pos + 2..];
            let end = after.find('}').ok_or(TemplateError::Unterminated)?;
            let name = &after[..end];
            let var = names
                .resolve(name)
                .ok_or_else(|| TemplateError::UnknownVar {
                    name: name.to_string(),
                    known: names.known(name),
                })?;
            t.pieces.push(match var {
                Var::Value(s) => Piece::Value(s, name.to_string()),
                v => Piece::Var(v),
            });
            rest = &after[end + 1..];
        }
        t.push_lit(rest.as_bytes());
        Ok(t)
    }

    /// A template of raw bytes with no variables (for `--body-file`).
    pub fn literal(bytes: Vec<u8>) -> Template {
        let mut t = Template::default();
        t.push_lit(&bytes);
        t
    }

    /// One line of `lines` per request (round-robin over the run).
    pub fn lines(label: String, lines: Arc<[Box<[u8]>]>) -> Template {
        Template {
            pieces: vec![Piece::Lines { label, lines }],
        }
    }

    /// A fresh sample of `regex` per request.
    pub fn random(label: String, regex: Arc<rand_regex::Regex>) -> Template {
        Template {
            pieces: vec![Piece::Random { label, regex }],
        }
    }

    /// Appends literal bytes.
    pub fn push_lit(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(Piece::Lit(last)) = self.pieces.last_mut() {
            last.extend_from_slice(bytes);
        } else {
            self.pieces.push(Piece::Lit(bytes.to_vec()));
        }
    }

    /// Appends another template.
    pub fn push(&mut self, other: &Template) {
        for p in &other.pieces {
            match p {
                Piece::Lit(b) => self.push_lit(b),
                p => self.pieces.push(p.clone()),
            }
        }
    }

    pub fn is_static(&self) -> bool {
        self.pieces.iter().all(|p| matches!(p, Piece::Lit(_)))
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The extracted-value slots this template reads.
    pub fn slots(&self) -> impl Iterator<Item = u16> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Value(s, _) => Some(*s),
            _ => None,
        })
    }

    /// Appends the rendered bytes to `out`. Allocation-free once `out` has grown to size
    /// (except a regex sample, which builds its string).
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
                Piece::Value(s, _) | Piece::Var(Var::Value(s)) => {
                    if let Some(v) = vars.values.get(usize::from(*s)) {
                        out.extend_from_slice(v);
                    }
                }
                Piece::Lines { lines, .. } => {
                    let i = (vars.request_id % lines.len() as u64) as usize;
                    out.extend_from_slice(&lines[i]);
                }
                Piece::Random { regex, .. } => {
                    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(vars.request_id);
                    let s: String = rand::Rng::sample(&mut rng, &**regex);
                    out.extend_from_slice(s.as_bytes());
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
                Piece::Value(_, name) => write!(f, "${{{name}}}")?,
                Piece::Var(Var::Value(s)) => write!(f, "${{#{s}}}")?,
                Piece::Lines { label, .. } | Piece::Random { label, .. } => f.write_str(label)?,
            }
        }
        Ok(())
    }
}

/// Per-request changes to a compiled request: a redirect's method and path, whether the body
/// is still sent, and the cookie jar's `Cookie` value.
#[derive(Debug, Clone, Copy)]
pub struct RenderOpts<'a> {
    pub method: Option<&'a http::Method>,
    /// Path and query replacing the template's (a redirect target).
    pub path: Option<&'a [u8]>,
    pub body: bool,
    /// `Cookie` header value; empty for none.
    pub cookie: &'a [u8],
    /// Header lines (`name: value\r\n`) added after the request's own: a replayed record's.
    pub headers: &'a [u8],
    /// A body replacing the template's (a replayed record's), when `body` is true.
    pub body_bytes: Option<&'a [u8]>,
}

impl Default for RenderOpts<'_> {
    fn default() -> Self {
        RenderOpts {
            method: None,
            path: None,
            body: true,
            cookie: &[],
            headers: &[],
            body_bytes: None,
        }
    }
}

impl RenderOpts<'_> {
    /// Whether these options leave the compiled request unchanged.
    pub fn is_plain(&self) -> bool {
        self.method.is_none()
            && self.path.is_none()
            && self.body
            && self.cookie.is_empty()
            && self.headers.is_empty()
            && self.body_bytes.is_none()
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
                values: &[],
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
}
