//! Secrets never leave the process unredacted: URL passwords, secret-looking query values,
//! and credential headers are replaced before anything is printed or written.

const MASK: &str = "[redacted]";

/// Header names whose values are credentials.
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    ) || [
        "token", "secret", "password", "api-key", "apikey", "session",
    ]
    .iter()
    .any(|s| n.contains(s))
}

fn is_secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "passwd",
        "key",
        "signature",
        "sig",
        "auth",
        "session",
        "credential",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// Redacts a URL's password and secret-looking query values.
pub fn url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some(p) => p,
        None => return url.to_string(),
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (auth, tail) = rest.split_at(auth_end);
    let auth = match auth.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((u, _)) => format!("{u}:{MASK}@{host}"),
            None => format!("{user}@{host}"),
        },
        None => auth.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, frag) = match query.split_once('#') {
                Some((q, f)) => (q, format!("#{f}")),
                None => (query, String::new()),
            };
            let q: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if is_secret_param(k) => format!("{k}={MASK}"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}{frag}", q.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{auth}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_and_query_secrets() {
        assert_eq!(
            url("https://bob:hunter2@api.x/p?api_key=abc&page=2&token=t#f"),
            "https://bob:[redacted]@api.x/p?api_key=[redacted]&page=2&token=[redacted]#f"
        );
        assert_eq!(url("http://h:80/a?b=c"), "http://h:80/a?b=c");
    }

    #[test]
    fn secret_headers() {
        assert!(is_secret_header("Authorization"));
        assert!(is_secret_header("X-Api-Key"));
        assert!(is_secret_header("Cookie"));
        assert!(!is_secret_header("Content-Type"));
    }
}
