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

/// The 1-based line where a dotted `field` (`thresholds.p99_latncy`, `load.duration`) is set
/// in TOML `text`: the key's line inside its `[table]`. Errors found after parsing (a value
/// that deserialized but means nothing) are located this way; `None` when the field is not
/// written as `key = ` under that table header (inline tables, YAML, flags).
pub fn locate(text: &str, field: &str) -> Option<usize> {
    let (table, key) = field.split_once('.')?;
    let header = format!("[{table}]");
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            inside = l == header;
            continue;
        }
        if !inside {
            continue;
        }
        if key_of(l).as_deref() == Some(key) {
            return Some(i + 1);
        }
    }
    None
}

/// The key of a `key = value` line: bare, "basic" (with \" escapes) or 'literal'.
fn key_of(line: &str) -> Option<String> {
    if let Some(rest) = line.strip_prefix('"') {
        let mut key = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => key.push(chars.next()?),
                '"' => return chars.as_str().trim_start().starts_with('=').then_some(key),
                c => key.push(c),
            }
        }
        return None;
    }
    if let Some(rest) = line.strip_prefix('\'') {
        let (key, after) = rest.split_once('\'')?;
        return after.trim_start().starts_with('=').then(|| key.to_string());
    }
    line.split_once('=').map(|(k, _)| k.trim().to_string())
}
#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn locate_finds_the_key_in_its_table_only() {
        let text = "[load]\nduration = \"1s\"\n\n[thresholds]\n\"p99{a=\\\"b\\\"}\" = \"< 1\"\nerror_rate = \"< 1\"\n'rps' = \"> 1\"\n[other]\nerror_rate = 1\n";
        assert_eq!(locate(text, "load.duration"), Some(2));
        assert_eq!(locate(text, "thresholds.p99{a=\"b\"}"), Some(5));
        // The first table's key, not [other]'s.
        assert_eq!(locate(text, "thresholds.error_rate"), Some(6));
        assert_eq!(locate(text, "thresholds.rps"), Some(7));
        assert_eq!(locate(text, "thresholds.duration"), None);
        assert_eq!(locate(text, "duration"), None);
    }
}
