//! `kaioken import FILE.har`: a recorded browser session → a config `run -f` accepts.

use anyhow::bail;

use super::Exit;
use crate::cli::ImportArgs;
use crate::config::har;
use crate::results::atomic_write;

pub fn import(args: &ImportArgs) -> anyhow::Result<Exit> {
    let filter = match &args.filter {
        None => None,
        Some(f) => match regex::Regex::new(f) {
            Ok(re) => Some(re),
            Err(e) => {
                let reason = e.to_string();
                let reason = reason.lines().last().unwrap_or("invalid").trim();
                bail!("--filter = {f}: the regex does not compile ({reason})");
            }
        },
    };
    let file = args.file.display();
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => bail!("cannot read {file} ({e}); check the path"),
    };
    let imported = match har::to_config(&text, filter.as_ref()) {
        Ok(i) => i,
        Err(e) => bail!("{file}: {e}"),
    };
    let out = &args.output;
    if out.exists() && !args.force {
        bail!(
            "{} exists; pass --force to overwrite it or -o to write elsewhere",
            out.display()
        );
    }
    atomic_write::write(out, imported.toml.as_bytes())?;
    eprintln!(
        "kaioken: wrote {} ({} scenarios from {} requests, {} skipped); run it with `kaioken run -f {}`",
        out.display(),
        imported.scenarios,
        imported.requests,
        imported.skipped.len(),
        out.display()
    );
    Ok(Exit::Success)
}
