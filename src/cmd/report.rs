//! `kaioken report RESULT.json -o FILE`: re-render a saved result in any format.

use super::Exit;
use crate::cli::ReportArgs;
use crate::plan::{Format, output_formats};
use crate::results::load::{Document, load_document};
use crate::sink::report;

pub fn report(args: &ReportArgs) -> anyhow::Result<Exit> {
    let files = output_formats(
        &args.output,
        args.format.and_then(|f| Format::from_name(f.name())),
    )?;
    match load_document(&args.result)? {
        Document::Run(results) => report::write_all(&files, &results)?,
        Document::Capacity(doc) => report::capacity::write_all(&files, &doc)?,
    }
    Ok(Exit::Success)
}
