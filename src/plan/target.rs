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

/// `--connect-to`: connections for `host:port` go to `addr:to_port` instead; the Host
/// header and the TLS server name stay the URL's. `None` matches any host or port (curl's
/// empty field); `to_port: None` keeps the URL's port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub addr: String,
    pub to_port: Option<u16>,
}

impl ConnectTo {
    /// Parses curl's `HOST:PORT:ADDR:PORT` or the seed's `HOST:ADDR:PORT`; IPv6 addresses
    /// in brackets.
    pub fn parse(text: &str) -> Result<ConnectTo, String> {
        let fix = "write HOST:PORT:ADDR:PORT (curl's form, e.g. api.example.com:443:127.0.0.1:8443) \
                   or HOST:ADDR:PORT; IPv6 addresses in brackets";
        let parts = split_outside_brackets(text);
        let port = |p: &str| -> Result<Option<u16>, String> {
            if p.is_empty() {
                return Ok(None);
            }
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .map(Some)
                .ok_or_else(|| format!("port {p:?} is not 1-65535; {fix}"))
        };
        let name = |h: &str| -> Option<String> {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            (!h.is_empty()).then(|| h.to_ascii_lowercase())
        };
        let (host, from_port, addr, to_port) = match parts.as_slice() {
            [h, p, a, q] => (name(h), port(p)?, name(a), port(q)?),
            [h, a, q] => (name(h), None, name(a), port(q)?),
            _ => return Err(fix.to_string()),
        };
        let addr = addr.ok_or_else(|| format!("no address to connect to; {fix}"))?;
        Ok(ConnectTo {
            host,
            port: from_port,
            addr,
            to_port,
        })
    }

    /// Whether connections for `host:port` are redirected by this rule.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        self.host
            .as_deref()
            .is_none_or(|h| h.eq_ignore_ascii_case(host))
            && self.port.is_none_or(|p| p == port)
    }
}

/// How a host's addresses are used: which one each new connection takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DnsSelect {
    /// Always the first address.
    First,
    /// Each new connection the next address.
    #[default]
    RoundRobin,
    /// Each new connection an address at random.
    Random,
}

impl DnsSelect {
    pub fn parse(text: &str) -> Result<DnsSelect, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "first" => Ok(DnsSelect::First),
            "round-robin" | "roundrobin" | "round_robin" => Ok(DnsSelect::RoundRobin),
            "random" => Ok(DnsSelect::Random),
            _ => Err("one of first, round-robin, random".to_string()),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DnsSelect::First => "first",
            DnsSelect::RoundRobin => "round-robin",
            DnsSelect::Random => "random",
        }
    }
}

/// `--resolve HOST:PORT:ADDR[,ADDR...]` (curl's form): this answer instead of DNS's for
/// `host:port`. `port: None` is curl's `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    pub host: String,
    pub port: Option<u16>,
    pub addrs: Vec<std::net::IpAddr>,
}

impl Resolve {
    pub fn parse(text: &str) -> Result<Resolve, String> {
        let fix = "write HOST:PORT:ADDR[,ADDR...] (curl's form, e.g. \
                   api.example.com:443:10.0.0.1,10.0.0.2; PORT may be *); IPv6 addresses in \
                   brackets";
        let parts = split_outside_brackets(text);
        let [host, port, addrs] = parts.as_slice() else {
            return Err(fix.to_string());
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("no host; {fix}"));
        }
        let port = match *port {
            "*" => None,
            p => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("port {p:?} is not 1-65535 or *; {fix}"))?,
            ),
        };
        let addrs = addrs
            .split(',')
            .map(|a| {
                let a = a.trim().trim_start_matches('[').trim_end_matches(']');
                a.parse::<std::net::IpAddr>()
                    .map_err(|_| format!("{a:?} is not an IP address; {fix}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Resolve {
            host: host.to_ascii_lowercase(),
            port,
            addrs,
        })
    }

    /// The addresses for `host:port` when this rule answers for it.
    pub fn answer(&self, host: &str, port: u16) -> Option<Vec<std::net::SocketAddr>> {
        (self
            .host
            .eq_ignore_ascii_case(host.trim_start_matches('[').trim_end_matches(']'))
            && self.port.is_none_or(|p| p == port))
        .then(|| {
            self.addrs
                .iter()
                .map(|a| std::net::SocketAddr::new(*a, port))
                .collect()
        })
    }
}

/// Name resolution: which address each connection takes, how long an answer is kept, and
/// answers given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns {
    pub select: DnsSelect,
    /// How long an answer is used before a new connection resolves the name again; `None`
    /// keeps the first answer for the whole run.
    pub ttl: Option<std::time::Duration>,
    pub resolve: Vec<Resolve>,
}

impl Default for Dns {
    fn default() -> Dns {
        Dns {
            select: DnsSelect::RoundRobin,
            ttl: Some(std::time::Duration::from_secs(300)),
            resolve: Vec::new(),
        }
    }
}

/// Splits at `:` except inside `[...]`.
fn split_outside_brackets(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0u32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Where the load goes. `url` is what the user wrote; use [`Target::redacted_url`] to show it.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// `ws://` or `wss://`: a WebSocket over plain TCP or TLS (`scheme` says which).
    pub websocket: bool,
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
            && t.websocket == target.websocket
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
    let (scheme_s, rest) = url.split_once("://").ok_or_else(|| {
        // `k6 run script.js` habit, or a config given without -f.
        let fix = if url.ends_with(".js") || url.ends_with(".ts") {
            format!("{fix_form}; kaioken runs no k6 scripts: describe the requests in a config file ([[scenarios]]; `kaioken init` writes one) and give it with -f")
        } else if url.ends_with(".toml") || url.ends_with(".yaml") || url.ends_with(".yml") {
            format!("{fix_form}, or give the config file with -f {url}")
        } else {
            fix_form.to_string()
        };
        problem(field, url, fix)
    })?;
    let (scheme, websocket) = match scheme_s.to_ascii_lowercase().as_str() {
        "http" => (Scheme::Http, false),
        "https" => (Scheme::Https, false),
        "ws" => (Scheme::Http, true),
        "wss" => (Scheme::Https, true),
        other => {
            return Err(problem(
                "url",
                url,
                format!(
                    "unsupported scheme `{other}`: kaioken speaks http://, https://, ws:// and wss://"
                ),
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
            websocket,
        },
        authority,
        path,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_forms() {
        let r = Resolve::parse("API.test:443:10.0.0.1,[::1]").unwrap();
        assert_eq!(r.host, "api.test");
        assert_eq!(
            r.answer("api.test", 443).unwrap(),
            vec![
                "10.0.0.1:443".parse().unwrap(),
                "[::1]:443".parse().unwrap()
            ]
        );
        assert_eq!(r.answer("api.test", 80), None);
        assert_eq!(r.answer("other.test", 443), None);
        let any = Resolve::parse("h:*:127.0.0.2").unwrap();
        assert!(any.answer("h", 8080).is_some());
        for bad in [
            "h:443",
            ":443:1.2.3.4",
            "h:0:1.2.3.4",
            "h:443:nope",
            "h:443:",
        ] {
            assert!(Resolve::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(DnsSelect::parse("Round-Robin"), Ok(DnsSelect::RoundRobin));
        assert!(DnsSelect::parse("fastest").is_err());
    }

    #[test]
    fn connect_to_forms() {
        let c = ConnectTo::parse("API.example.test:443:127.0.0.1:8443").unwrap();
        assert_eq!(
            c,
            ConnectTo {
                host: Some("api.example.test".into()),
                port: Some(443),
                addr: "127.0.0.1".into(),
                to_port: Some(8443),
            }
        );
        assert!(c.matches("api.example.test", 443));
        assert!(!c.matches("api.example.test", 80));
        assert!(!c.matches("other.test", 443));
        // The seed's form: any port of the host.
        let s = ConnectTo::parse("api.example.test:10.0.0.5:8080").unwrap();
        assert_eq!(
            (s.port, s.addr.as_str(), s.to_port),
            (None, "10.0.0.5", Some(8080))
        );
        assert!(s.matches("API.EXAMPLE.TEST", 1));
        // curl's empty fields are wildcards; IPv6 in brackets.
        let w = ConnectTo::parse("::[::1]:").unwrap();
        assert_eq!(
            (w.host, w.port, w.addr.as_str(), w.to_port),
            (None, None, "::1", None)
        );
        let v6 = ConnectTo::parse("[2001:db8::1]:443:[::1]:9443").unwrap();
        assert_eq!(v6.host.as_deref(), Some("2001:db8::1"));
        assert_eq!(v6.addr, "::1");
        for bad in [
            "api.example.test",
            "a:b",
            "a:443:127.0.0.1:99999",
            "a:443::80",
            "a:1:2:3:4",
        ] {
            assert!(ConnectTo::parse(bad).is_err(), "{bad}");
        }
    }
}
