//! Which proxy, if any, a run's connections go through: `-x/--proxy` (and `[target] proxy`),
//! else the proxy environment variables as curl reads them, unless `--no-proxy-env`.
//!
//! The choice is made once, before the run: a run has one origin, so one answer. The
//! transport turns it into a tunnel (CONNECT, SOCKS5) or absolute-form requests; the plan
//! only says where the proxy is and who the user is there.

use std::fmt;
use std::net::IpAddr;

use percent_encoding::percent_decode_str;

use super::{Scheme, Target};

/// How the proxy is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// `http://`: absolute-form requests for http:// targets, CONNECT for https://.
    Http,
    /// `https://`: TLS to the proxy, then as `Http`.
    Https,
    /// `socks5://`: the target's name is resolved here and its address sent.
    Socks5,
    /// `socks5h://`: the target's name is sent and the proxy resolves it.
    Socks5h,
}

impl ProxyKind {
    fn scheme(self) -> &'static str {
        match self {
            ProxyKind::Http => "http",
            ProxyKind::Https => "https",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
        }
    }
}

/// A user name and password for the proxy. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub pass: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({:?}, ***)", self.user)
    }
}

/// Where the proxy setting came from: shown beside it, so a proxy picked up from the
/// environment is never a surprise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxySource {
    /// `-x/--proxy` or `[target] proxy`.
    Given,
    /// This environment variable.
    Env(&'static str),
}

/// The proxy a run goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    pub kind: ProxyKind,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    pub auth: Option<Credentials>,
    pub source: ProxySource,
}

const FIX: &str = "write SCHEME://[USER:PASSWORD@]HOST[:PORT] with scheme http, https, socks5 or \
                   socks5h, e.g. http://127.0.0.1:3128";

impl Proxy {
    /// Parses a proxy URL as curl does: no scheme means `http://`; the port defaults to
    /// 1080 (443 for `https://`); user and password are percent-decoded.
    pub fn parse(text: &str, source: ProxySource) -> Result<Proxy, String> {
        let text = text.trim();
        let with_scheme = if text.contains("://") {
            text.to_string()
        } else {
            format!("http://{text}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|e| format!("{e}; {FIX}"))?;
        let kind = match url.scheme() {
            "http" => ProxyKind::Http,
            "https" => ProxyKind::Https,
            "socks5" => ProxyKind::Socks5,
            "socks5h" => ProxyKind::Socks5h,
            other => return Err(format!("unknown proxy scheme {other:?}; {FIX}")),
        };
        let host = match url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => String::new(),
        };
        if host.is_empty() {
            return Err(format!("no proxy host; {FIX}"));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err(format!("a proxy URL has no path or query; {FIX}"));
        }
        let port = url.port().unwrap_or(match kind {
            ProxyKind::Https => 443,
            _ => 1080,
        });
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let auth = (!url.username().is_empty()).then(|| Credentials {
            user: decode(url.username()),
            pass: decode(url.password().unwrap_or("")),
        });
        Ok(Proxy {
            kind,
            host,
            port,
            auth,
            source,
        })
    }

    /// The proxy as a URL with the password replaced: what every output shows.
    pub fn redacted(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let user = match &self.auth {
            Some(c) if c.pass.is_empty() => format!("{}@", c.user),
            Some(c) => format!("{}:***@", c.user),
            None => String::new(),
        };
        format!("{}://{user}{host}:{}", self.kind.scheme(), self.port)
    }

    /// Where the setting came from, for the dry run and the summary.
    pub fn origin(&self) -> String {
        match self.source {
            ProxySource::Given => "--proxy".to_string(),
            ProxySource::Env(var) => format!("the {var} environment variable"),
        }
    }
}

/// What the environment says for a request to `target`, as curl reads it: `http_proxy`
/// for http:// (lower case only under CGI, where `HTTP_PROXY` is a request header:
/// "httpoxy"), `https_proxy` or `HTTPS_PROXY` for https://, else `all_proxy` or
/// `ALL_PROXY`; none when `no_proxy`/`NO_PROXY` matches the host. The lower-case name wins
/// when both are set.
///
/// Returns the variable's name and value, or `None`.
pub fn from_env(
    target: &Target,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(&'static str, String)> {
    let set = |name: &'static str| {
        env(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (name, v))
    };
    let cgi = env("REQUEST_METHOD").is_some();
    let specific = match target.scheme {
        Scheme::Http => set("http_proxy").or_else(|| (!cgi).then(|| set("HTTP_PROXY")).flatten()),
        Scheme::Https => set("https_proxy").or_else(|| set("HTTPS_PROXY")),
    };
    let chosen = specific.or_else(|| set("all_proxy").or_else(|| set("ALL_PROXY")))?;
    let no_proxy = env("no_proxy")
        .or_else(|| env("NO_PROXY"))
        .unwrap_or_default();
    (!no_proxy_matches(&no_proxy, &target.host)).then_some(chosen)
}

/// Whether `host` is excluded by a `NO_PROXY` list, as curl reads one: comma-separated
/// entries; `*` alone excludes every host; a name excludes itself and its subdomains (a
/// leading dot is ignored); an IP address excludes itself and a CIDR block its addresses.
/// Names compare without case; ports in entries are ignored, as curl does.
pub fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let host_ip: Option<IpAddr> = host.parse().ok();
    list.split(',')
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = strip_port(entry).to_ascii_lowercase();
            if let (Some(ip), Some((net, bits))) = (host_ip, entry.split_once('/')) {
                return match (net.parse::<IpAddr>(), bits.parse::<u8>()) {
                    (Ok(net), Ok(bits)) => in_cidr(ip, net, bits),
                    _ => false,
                };
            }
            if let (Some(ip), Ok(e)) = (host_ip, entry.parse::<IpAddr>()) {
                return ip == e;
            }
            let name = entry.trim_start_matches('.');
            !name.is_empty()
                && (host == name
                    || host
                        .strip_suffix(name)
                        .is_some_and(|rest| rest.ends_with('.')))
        })
}

/// `host:port` → `host`, `[v6]:port` → `v6`; a bare IPv6 address is left whole.
fn strip_port(entry: &str) -> &str {
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => entry,
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        let https = url.starts_with("https");
        let rest = url.split("://").nth(1).unwrap();
        let host = rest.split([':', '/']).next().unwrap().to_string();
        Target {
            url: url.to_string(),
            scheme: if https { Scheme::Https } else { Scheme::Http },
            host,
            port: if https { 443 } else { 80 },
            websocket: false,
        }
    }

    #[test]
    fn parses_curl_forms() {
        let p = Proxy::parse("proxy.corp:3128", ProxySource::Given).unwrap();
        assert_eq!(
            (p.kind, p.host.as_str(), p.port, p.auth),
            (ProxyKind::Http, "proxy.corp", 3128, None)
        );
        let p = Proxy::parse("socks5h://u%40x:p%3Aw@[::1]", ProxySource::Given).unwrap();
        assert_eq!(
            (p.kind, p.host.as_str(), p.port),
            (ProxyKind::Socks5h, "::1", 1080)
        );
        let c = p.auth.clone().unwrap();
        assert_eq!((c.user.as_str(), c.pass.as_str()), ("u@x", "p:w"));
        assert_eq!(p.redacted(), "socks5h://u@x:***@[::1]:1080");
        assert!(!format!("{p:?}").contains("p:w"));
        assert_eq!(
            Proxy::parse("https://h", ProxySource::Given).unwrap().port,
            443
        );
        for bad in [
            "ftp://h:21",
            "http://",
            "http://h:3128/path",
            "socks4://h",
            "http://h:99999",
        ] {
            assert!(Proxy::parse(bad, ProxySource::Given).is_err(), "{bad}");
        }
    }

    #[test]
    fn environment_is_read_as_curl_reads_it() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let http = target("http://api.example.test/");
        let https = target("https://api.example.test/");
        let env = vars(&[("HTTP_PROXY", "h:1"), ("HTTPS_PROXY", "s:2")]);
        assert_eq!(from_env(&http, &env).unwrap().0, "HTTP_PROXY");
        assert_eq!(from_env(&https, &env).unwrap().0, "HTTPS_PROXY");
        // Under CGI, HTTP_PROXY may come from a request header: ignored.
        let cgi = vars(&[("HTTP_PROXY", "h:1"), ("REQUEST_METHOD", "GET")]);
        assert_eq!(from_env(&http, &cgi), None);
        let env = vars(&[("http_proxy", "a:1"), ("HTTP_PROXY", "b:1")]);
        assert_eq!(from_env(&http, &env).unwrap().1, "a:1");
        let env = vars(&[("ALL_PROXY", "socks5://x")]);
        assert_eq!(from_env(&https, &env).unwrap().0, "ALL_PROXY");
        let env = vars(&[("ALL_PROXY", "socks5://x"), ("NO_PROXY", ".example.test")]);
        assert_eq!(from_env(&https, &env), None);
        let env = vars(&[("https_proxy", "")]);
        assert_eq!(from_env(&https, &env), None);
    }

    #[test]
    fn no_proxy_entries() {
        assert!(no_proxy_matches("*", "anything"));
        assert!(no_proxy_matches("example.test", "api.example.test"));
        assert!(no_proxy_matches(" .Example.test ", "example.test"));
        assert!(!no_proxy_matches("example.test", "badexample.test"));
        assert!(no_proxy_matches("localhost,127.0.0.1", "127.0.0.1"));
        assert!(no_proxy_matches("127.0.0.0/8", "127.1.2.3"));
        assert!(!no_proxy_matches("127.0.0.0/8", "10.0.0.1"));
        assert!(no_proxy_matches("::1", "[::1]"));
        assert!(no_proxy_matches("[::1]:8080", "::1"));
        assert!(no_proxy_matches("fd00::/8", "fd12::1"));
        assert!(no_proxy_matches("api.test:443", "api.test"));
        assert!(!no_proxy_matches("", "x"));
        assert!(!no_proxy_matches("10.0.0.0/33", "10.0.0.1"));
        assert!(no_proxy_matches("0.0.0.0/0", "8.8.8.8"));
    }
}
