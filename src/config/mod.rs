//! Files → raw, untrusted config: serde types that mirror the TOML format.
//!
//! Nothing here checks ranges or combinations; that is `plan::build`'s job. This module only
//! guarantees that the file parses, that every key is known, and that `${VAR}` references in
//! string values resolve. Errors carry the file, line/column where known, the key path and a
//! fix.

pub mod env;
mod error;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub use env::EnvString;
pub use error::ConfigError;

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub target: Option<RawTarget>,
    pub load: Option<RawLoad>,
}

/// `[target]`: what to send and how.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub url: Option<EnvString>,
    pub method: Option<EnvString>,
    pub timeout: Option<EnvString>,
    pub connect_timeout: Option<EnvString>,
    pub http2: Option<bool>,
    pub h2_streams: Option<i64>,
    pub insecure: Option<bool>,
    pub disable_keepalive: Option<bool>,
    pub body: Option<EnvString>,
    pub body_file: Option<EnvString>,
    pub headers: Option<BTreeMap<String, EnvString>>,
}

/// `[load]`: how much and for how long.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    pub concurrency: Option<i64>,
    pub duration: Option<EnvString>,
    pub max_requests: Option<Count>,
    pub threads: Option<i64>,
    pub graceful_stop: Option<EnvString>,
}

/// A count written as a number or as a string with a `k`/`m` suffix.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Count {
    Number(i64),
    Text(String),
}

impl RawConfig {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<RawConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
        let de = toml::Deserializer::parse(text)
            .map_err(|e| ConfigError::from_toml(origin, text, &e, None))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            ConfigError::from_toml(origin, text, e.inner(), Some(path))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_keys() {
        let c = RawConfig::parse(
            r#"
            # ${NOT_INTERPOLATED_IN_COMMENTS}
            [target]
            url = "http://127.0.0.1:8080/x"
            method = "POST"
            timeout = "5s"
            body = '{"id": ${REQUEST_ID}}'
            [target.headers]
            X-A = "${KAIOKEN_TEST_UNSET_VAR:-dflt}"
            [load]
            concurrency = 10
            duration = "3s"
            max_requests = "10k"
            "#,
            "t.toml",
        )
        .unwrap();
        let t = c.target.unwrap();
        assert_eq!(t.url.unwrap().0, "http://127.0.0.1:8080/x");
        assert_eq!(t.body.unwrap().0, r#"{"id": ${REQUEST_ID}}"#);
        assert_eq!(t.headers.unwrap()["X-A"].0, "dflt");
        assert!(matches!(c.load.unwrap().max_requests, Some(Count::Text(s)) if s == "10k"));
    }

    #[test]
    fn unknown_key_names_nearest() {
        let e = RawConfig::parse("[load]\nconcurency = 5\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("load.concurency"), "{e}");
        assert!(e.contains("did you mean `concurrency`"), "{e}");
        assert!(e.contains("t.toml:2"), "{e}");
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let e = RawConfig::parse("[load]\nconcurrency = = 5\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.toml:2:"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn unset_env_names_key() {
        let e = RawConfig::parse(
            "[target]\nurl = \"${KAIOKEN_TEST_SURELY_UNSET}\"\n",
            "t.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("target.url"), "{e}");
        assert!(e.contains("KAIOKEN_TEST_SURELY_UNSET"), "{e}");
    }
}
