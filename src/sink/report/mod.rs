//! File outputs, every one rendered from [`Results`] alone (never from live state), so
//! `kaioken report` reproduces exactly what `run -o` wrote.

pub mod capacity;
mod csv;
mod html;
mod junit;
mod markdown;
mod svg;

use std::path::{Path, PathBuf};

use crate::plan::Format;
use crate::results::{Results, ResultsError, atomic_write};

/// The files one output asks for: CSV writes the timeline and a `.summary.csv` beside it.
pub fn render(format: Format, path: &Path, r: &Results) -> Vec<(PathBuf, Vec<u8>)> {
    match format {
        Format::Json => vec![(path.to_path_buf(), r.to_json().into_bytes())],
        Format::Md => vec![(path.to_path_buf(), markdown::render(r).into_bytes())],
        Format::Html => vec![(path.to_path_buf(), html::render(r).into_bytes())],
        Format::Junit => vec![(path.to_path_buf(), junit::render(r).into_bytes())],
        Format::Csv => {
            let stem = path
                .file_stem()
                .map_or_else(|| "result".into(), |s| s.to_string_lossy().into_owned());
            let summary = path.with_file_name(format!("{stem}.summary.csv"));
            vec![
                (path.to_path_buf(), csv::timeline(r).into_bytes()),
                (summary, csv::summary(r).into_bytes()),
            ]
        }
    }
}

/// Writes every requested output atomically.
pub fn write_all(files: &[(PathBuf, Format)], r: &Results) -> Result<(), ResultsError> {
    for (path, format) in files {
        for (p, bytes) in render(*format, path, r) {
            atomic_write::write(&p, &bytes)?;
        }
    }
    Ok(())
}
