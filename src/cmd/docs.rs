//! `kaioken completions SHELL` and `kaioken man`, both generated from the clap definitions so
//! they can never drift from the real flags.

use std::io::Write;

use anyhow::Context;
use clap::CommandFactory;

use super::{Exit, Usage};
use crate::cli::{Cli, ManArgs};
use crate::results::atomic_write;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<Exit> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kaioken", &mut out);
    std::io::stdout()
        .write_all(&out)
        .context("writing to stdout")?;
    Ok(Exit::Success)
}

/// One page per command: the top-level page lists the subcommands as `kaioken-run(1)` and so
/// on, so each of those pages must exist, each with every flag of its subcommand.
pub fn man(args: &ManArgs) -> anyhow::Result<Exit> {
    let pages = pages();
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("dir = {}: cannot create it", dir.display()))?;
        for (name, page) in &pages {
            let path = dir.join(format!("{name}.1"));
            atomic_write::write(&path, page)?;
            println!("{}", path.display());
        }
        return Ok(Exit::Success);
    }
    let wanted = match &args.command {
        Some(sub) => format!("kaioken-{sub}"),
        None => "kaioken".to_string(),
    };
    let Some((_, page)) = pages.iter().find(|(name, _)| *name == wanted) else {
        let names: Vec<&str> = pages
            .iter()
            .filter_map(|(n, _)| n.strip_prefix("kaioken-"))
            .collect();
        return Err(Usage::wrap(anyhow::anyhow!(
            "man {}: no such subcommand; one of {}",
            args.command.as_deref().unwrap_or_default(),
            names.join(", ")
        )));
    };
    std::io::stdout()
        .write_all(page)
        .context("writing to stdout")?;
    Ok(Exit::Success)
}

/// Every page, the top-level one first, as (name, roff).
fn pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // build() gives each subcommand its display name, `kaioken-run`, used in titles.
    cmd.build();
    let mut pages = Vec::new();
    let mut render = |c: clap::Command| {
        let mut out = Vec::new();
        let name = c
            .get_display_name()
            .unwrap_or_else(|| c.get_name())
            .to_string();
        // Rendering into a Vec cannot fail on I/O; a page that did fail is left out and
        // `man` reports it as missing.
        if clap_mangen::Man::new(c).render(&mut out).is_ok() {
            pages.push((name, out));
        }
    };
    render(cmd.clone());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        render(sub.clone());
    }
    pages
}
