//! Reading a saved result back: one line that names the file and what is wrong with it.

use std::path::Path;

use super::{Results, SCHEMA};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: not JSON ({reason}); give a file written by `kaioken run -o FILE.json`")]
    NotJson { path: String, reason: String },
    #[error(
        "{path}: schema = {found}: not a kaioken result (this kaioken reads {SCHEMA}; files of other tools cannot be compared)"
    )]
    Schema { path: String, found: String },
    #[error("{path}: not a valid {SCHEMA} result ({reason})")]
    Invalid { path: String, reason: String },
}

/// Reads a result written by `kaioken run -o FILE.json`, refusing any other schema before
/// the fields are parsed so the message names the version rather than a missing field.
pub fn load(path: &Path) -> Result<Results, LoadError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::Read {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| LoadError::NotJson {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let found = value
        .get("schema")
        .and_then(|s| s.as_str())
        .unwrap_or("(none)");
    if found != SCHEMA {
        return Err(LoadError::Schema {
            path: shown,
            found: found.to_string(),
        });
    }
    serde_json::from_value(value).map_err(|e| LoadError::Invalid {
        path: shown,
        reason: e.to_string(),
    })
}
