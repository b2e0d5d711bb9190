//! Reading a saved result back: one line that names the file and what is wrong with it.

use std::path::Path;

use super::capacity::{CAPACITY_SCHEMA, CapacityResult};
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

/// A saved file of either kind kaioken writes.
pub enum Document {
    /// `kaioken run -o FILE.json`.
    Run(Box<Results>),
    /// `kaioken capacity -o FILE.json`.
    Capacity(Box<CapacityResult>),
}

/// Reads a run result or a capacity result, by its schema.
pub fn load_document(path: &Path) -> Result<Document, LoadError> {
    let shown = path.display().to_string();
    let value = read_json(path)?;
    if value.get("schema").and_then(|s| s.as_str()) == Some(CAPACITY_SCHEMA) {
        return serde_json::from_value(value)
            .map(|c| Document::Capacity(Box::new(c)))
            .map_err(|e| LoadError::Invalid {
                path: shown,
                reason: e.to_string(),
            });
    }
    load_value(path, value).map(|r| Document::Run(Box::new(r)))
}

fn read_json(path: &Path) -> Result<serde_json::Value, LoadError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::Read {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| LoadError::NotJson {
        path: shown,
        reason: e.to_string(),
    })
}

/// Reads a result written by `kaioken run -o FILE.json`, refusing any other schema before
/// the fields are parsed so the message names the version rather than a missing field.
pub fn load(path: &Path) -> Result<Results, LoadError> {
    let value = read_json(path)?;
    load_value(path, value)
}

fn load_value(path: &Path, value: serde_json::Value) -> Result<Results, LoadError> {
    let shown = path.display().to_string();
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
