//! `ConfigError`: one line naming the file, position, key and the fix.

/// A config file that cannot be used as written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    /// `{location}` is `file:line:col` (or just the file), `{key}` the dotted key path.
    #[error("{location}: {key}{message}")]
    Invalid {
        location: String,
        key: String,
        message: String,
    },
}

impl ConfigError {
    /// Turns a toml/serde error into one line. `path` is the key path from
    /// `serde_path_to_error` when the failure happened while mapping values.
    pub fn from_toml(
        origin: &str,
        text: &str,
        err: &toml::de::Error,
        path: Option<String>,
    ) -> ConfigError {
        let location = match err.span() {
            Some(span) => {
                let (line, col) = line_col(text, span.start);
                format!("{origin}:{line}:{col}")
            }
            None => origin.to_string(),
        };
        let raw = err.message().trim().replace('\n', "; ");
        let key = match path.as_deref() {
            Some(p) if !p.is_empty() && p != "." => format!("{p}: "),
            _ => String::new(),
        };
        let message = nearest_key_message(&raw);
        ConfigError::Invalid {
            location,
            key,
            message,
        }
    }
}

/// Rewrites serde's unknown-field message to name the nearest valid key.
/// The candidate closest to a misspelt `word`, if any is close enough to be what was meant.
pub fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .copied()
        .min_by_key(|c| strsim::damerau_levenshtein(word, c))
        .filter(|c| strsim::damerau_levenshtein(word, c) <= 3.max(word.len() / 3))
}

pub(super) fn nearest_key_message(raw: &str) -> String {
    match unknown_field(raw) {
        Some((field, expected)) => {
            let candidates: Vec<&str> = expected.iter().map(String::as_str).collect();
            match nearest(&field, &candidates) {
                Some(n) => format!("unknown key `{field}` (did you mean `{n}`?)"),
                None => format!(
                    "unknown key `{field}` (valid keys: {})",
                    expected.join(", ")
                ),
            }
        }
        None => raw.to_string(),
    }
}

/// Parses serde's "unknown field `x`, expected one of `a`, `b`" message.
fn unknown_field(msg: &str) -> Option<(String, Vec<String>)> {
    // YAML errors put the key path before the message; TOML's start with it.
    let marker = "unknown field `";
    let rest = &msg[msg.find(marker)? + marker.len()..];
    let (field, rest) = rest.split_once('`')?;
    let expected = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((field.to_string(), expected))
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}
