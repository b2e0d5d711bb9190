//! `kaioken report RESULT.json -o FILE`: re-render a saved result in any format.

use super::Exit;
use crate::cli::ReportArgs;
use crate::plan::{Format, output_formats};
use crate::results::load::load;
use crate::sink::report;

pub fn report(args: &ReportArgs) -> anyhow::Result<Exit> {
    let files = output_formats(
        &args.output,
        args.format.and_then(|f| Format::from_name(f.name())),
    )?;
    let results = load(&args.result)?;
    report::write_all(&files, &results)?;
    Ok(Exit::Success)
}
