//! `${VAR}` and `${VAR:-default}` interpolation, applied to string values only, at load time.
//!
//! The seed interpolated the whole file text, comments included, and looked runtime names up
//! in the environment. Here interpolation runs inside the deserializer of each string value,
//! so comments and keys are never touched, and runtime variables (`${REQUEST_ID}`...) are left
//! for the request template.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// The runtime variables: written into requests as they are sent, never looked up in the
/// environment. `plan::template::Var` resolves each of these names.
pub const RUNTIME_VARS: [&str; 2] = ["REQUEST_ID", "TIMESTAMP_MS"];

/// A config string with environment variables already substituted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvString(pub String);

impl<'de> Deserialize<'de> for EnvString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        interpolate(&raw, |name| std::env::var(name).ok())
            .map(EnvString)
            .map_err(serde::de::Error::custom)
    }
}

/// A config string that becomes a request template: environment variables are substituted,
/// and a `${name}` the environment does not set is kept for the plan, which resolves it to
/// a value some scenario extracts or reports it (naming the key) when none does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplateString(pub String);

impl<'de> Deserialize<'de> for TemplateString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        interpolate_with(&raw, |name| std::env::var(name).ok(), true)
            .map(TemplateString)
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for EnvString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Substitutes `${VAR}` / `${VAR:-default}` using `lookup`; runtime variables are kept as
/// written. An unset variable without a default is an error naming it.
pub fn interpolate(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    interpolate_with(text, lookup, false)
}

/// [`interpolate`]; with `keep_unset`, an unset name without a default stays as written.
fn interpolate_with(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
    keep_unset: bool,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!(
                "unterminated `${{` in {text:?}: add the closing brace"
            ));
        };
        let expr = &after[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        if RUNTIME_VARS.contains(&name) {
            out.push_str(&rest[pos..pos + 2 + end + 1]);
        } else {
            match (lookup(name), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) if keep_unset => out.push_str(&rest[pos..pos + 2 + end + 1]),
                (None, None) => {
                    return Err(format!(
                        "environment variable {name} is not set: export it, or write ${{{name}:-default}}"
                    ));
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "abc".to_string())
    }

    #[test]
    fn substitutes_and_defaults() {
        assert_eq!(interpolate("Bearer ${TOKEN}", env).unwrap(), "Bearer abc");
        assert_eq!(
            interpolate("${HOST:-localhost}:80", env).unwrap(),
            "localhost:80"
        );
        assert_eq!(interpolate("${TOKEN:-x}", env).unwrap(), "abc");
        assert_eq!(interpolate("no vars", env).unwrap(), "no vars");
    }

    #[test]
    fn runtime_variables_are_kept() {
        assert_eq!(
            interpolate("/i/${REQUEST_ID}?t=${TIMESTAMP_MS}", env).unwrap(),
            "/i/${REQUEST_ID}?t=${TIMESTAMP_MS}"
        );
    }

    #[test]
    fn unset_is_an_error_naming_it() {
        let e = interpolate("${MISSING}", env).unwrap_err();
        assert!(e.contains("MISSING"), "{e}");
    }
}
