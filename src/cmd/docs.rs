//! `kaioken completions SHELL` and `kaioken man`, both generated from the clap definitions so
//! they can never drift from the real flags.

use std::io::Write;

use anyhow::Context;
use clap::CommandFactory;

use super::Exit;
use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<Exit> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kaioken", &mut out);
    std::io::stdout()
        .write_all(&out)
        .context("writing to stdout")?;
    Ok(Exit::Success)
}

pub fn man() -> anyhow::Result<Exit> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .context("rendering the man page")?;
    std::io::stdout()
        .write_all(&out)
        .context("writing to stdout")?;
    Ok(Exit::Success)
}
