//! argv → command → exit code. The only place that turns errors into text for the user.

use std::process::ExitCode;

use clap::Parser;
use kaioken::cli::{Cli, Command};
use kaioken::cmd;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    // Another tool's flag gets one line naming ours (exit 2, a usage error).
    let parsed = match cmd::habits::misparsed(&argv) {
        Some(line) => Err(line),
        // clap's own message for anything else.
        None => Cli::try_parse().map_err(|e| cmd::habits::hint(&e).unwrap_or_else(|| e.exit())),
    };
    let cli = match parsed {
        Ok(cli) => cli,
        Err(line) => {
            eprintln!("kaioken: {line}");
            return ExitCode::from(2);
        }
    };
    let result = match &cli.command {
        Command::Run(args) => cmd::run::run(args),
        Command::Replay(args) => cmd::run::replay(args),
        Command::Capacity(args) => cmd::capacity::capacity(args),
        Command::Serve(args) => cmd::serve::serve(args),
        Command::Demo(args) => cmd::demo::demo(args),
        Command::Simulate(args) => cmd::simulate::simulate(args),
        Command::Completions { shell } => cmd::docs::completions(*shell),
        Command::Man(args) => cmd::docs::man(args),
        Command::Report(args) => cmd::report::report(args),
        Command::Compare(args) => cmd::compare::compare(args),
        Command::Init(args) => cmd::init::init(args),
        Command::Import(args) => cmd::import::import(args),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            // One line per problem, no Debug dump.
            for line in format!("{e:#}").lines() {
                eprintln!("kaioken: {line}");
            }
            let usage = e.downcast_ref::<cmd::Usage>().is_some();
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
