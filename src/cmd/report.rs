//! `kaioken report RESULT.json -o FILE`: re-render a saved result in any format.

use anyhow::{Context, anyhow};

use super::Exit;
use crate::cli::ReportArgs;
use crate::plan::output_formats;
use crate::results::{Results, SCHEMA};
use crate::sink::report;

pub fn report(args: &ReportArgs) -> anyhow::Result<Exit> {
    let files = output_formats(&args.output, args.format)?;
    let text = std::fs::read_to_string(&args.result)
        .with_context(|| format!("cannot read {}", args.result.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        anyhow!(
            "{}: not JSON ({e}); give a file written by `kaioken run -o FILE.json`",
            args.result.display()
        )
    })?;
    let schema = value
        .get("schema")
        .and_then(|s| s.as_str())
        .unwrap_or("(none)");
    if schema != SCHEMA {
        return Err(anyhow!(
            "{}: schema = {schema}: this kaioken reads {SCHEMA} results only",
            args.result.display()
        ));
    }
    let results: Results = serde_json::from_value(value).map_err(|e| {
        anyhow!(
            "{}: not a valid {SCHEMA} result ({e})",
            args.result.display()
        )
    })?;
    report::write_all(&files, &results)?;
    Ok(Exit::Success)
}
