//! Where the load goes: the target's URL, split and checked, and the parts of a request
//! (method, header) that `plan::build` checks the same way.

use std::path::PathBuf;

use http::{HeaderName, Method};

use super::template::{self, Template};
use super::{PlanError, problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// TLS files the user gave: read and checked by the transport when it builds the
/// connector, before any traffic (the plan holds paths, never key material).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// Extra trusted CAs (`--cacert`).
    pub cacert: Option<PathBuf>,
    /// Client certificate chain and its key, for mTLS (`--cert`, `--key`).
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Where the load goes. `url` is what the user wrote; use [`Target::redacted_url`] to show it.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
}

impl Target {
    /// The URL with userinfo passwords and secret-looking query values replaced.
    pub fn redacted_url(&self) -> String {
        crate::plan::redact::url(&self.url)
    }
}

pub(super) fn parse_header_parts(
    field: &str,
    name: &str,
    value: &str,
    names: &dyn template::Names,
) -> Result<(HeaderName, Template), PlanError> {
    let name_ok = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        problem(
            field,
            format!("{name:?}"),
            "header names are tokens without spaces or colons, e.g. X-Api-Key",
        )
    })?;
    let t = Template::parse_with(value, names)
        .map_err(|e| problem(field, format!("{value:?}"), e.to_string()))?;
    http::HeaderValue::from_bytes(&t.sample()).map_err(|_| {
        problem(
            field,
            format!("{value:?}"),
            "header values must not contain control characters",
        )
    })?;
    Ok((name_ok, t))
}

/// Whether `url` has the target's scheme, host and port.
pub(super) fn same_origin(target: &Target, url: &str) -> bool {
    parse_url_with("url", url, &template::Builtins).is_ok_and(|(t, _, _)| {
        t.scheme == target.scheme
            && t.host.eq_ignore_ascii_case(&target.host)
            && t.port == target.port
    })
}

pub(super) fn parse_method(field: &str, text: &str) -> Result<Method, PlanError> {
    Method::from_bytes(text.to_ascii_uppercase().as_bytes()).map_err(|_| {
        problem(
            field,
            text,
            "must be an HTTP method token such as GET or POST",
        )
    })
}

/// Splits and validates an http(s) URL. Variables are allowed in the path and query.
pub(super) fn parse_url_with(
    field: &str,
    url: &str,
    names: &dyn template::Names,
) -> Result<(Target, http::uri::Authority, Template), PlanError> {
    let fix_form = "write a full URL such as http://127.0.0.1:8080/path";
    let (scheme_s, rest) = url
        .split_once("://")
        .ok_or_else(|| problem(field, url, fix_form))?;
    let scheme = match scheme_s.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => {
            return Err(problem(
                "url",
                url,
                format!("unsupported scheme `{other}`: kaioken speaks http:// and https://"),
            ));
        }
    };
    let (auth_s, path_s) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path_s = if path_s.starts_with('?') {
        format!("/{path_s}")
    } else {
        path_s.to_string()
    };
    // Userinfo is not sent (use -a / a header); strip it from the authority.
    let host_port = auth_s.rsplit_once('@').map_or(auth_s, |(_, h)| h);
    if host_port.is_empty() || host_port.contains("${") {
        return Err(problem(
            "url",
            url,
            format!("missing or variable host; {fix_form}"),
        ));
    }
    let authority: http::uri::Authority = host_port
        .parse()
        .map_err(|_| problem(field, url, format!("malformed host or port; {fix_form}")))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = match authority.port_u16() {
        Some(p) => p,
        None if host_port
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.is_empty() && !p.ends_with(']')) =>
        {
            return Err(problem(
                "url",
                url,
                format!("malformed host or port (ports are 1-65535); {fix_form}"),
            ));
        }
        None if host_port.ends_with(':') => {
            return Err(problem(field, url, "empty port; write host:port"));
        }
        None => match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        },
    };
    let path =
        Template::parse_with(&path_s, names).map_err(|e| problem(field, url, e.to_string()))?;
    http::uri::PathAndQuery::try_from(path.sample()).map_err(|_| {
        problem(
            "url",
            url,
            "the path has characters that must be percent-encoded",
        )
    })?;
    Ok((
        Target {
            url: url.to_string(),
            scheme,
            host,
            port,
        },
        authority,
        path,
    ))
}
