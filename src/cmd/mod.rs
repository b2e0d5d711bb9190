//! Glue, one file per subcommand: the only module that imports every layer.

pub mod capacity;
pub mod compare;
pub mod debug;
pub mod demo;
pub mod docs;
pub mod habits;
pub mod import;
pub mod init;
pub mod report;
pub mod run;
pub mod serve;
pub mod simulate;

use std::process::ExitCode;

/// An error in what was typed on the command line (exit 2, as for clap's own usage errors)
/// rather than in a config file or at run time (exit 1).
#[derive(Debug)]
pub struct Usage(pub anyhow::Error);

impl Usage {
    /// The error, marked as a usage error for `main` to find with `downcast_ref`.
    pub fn wrap(e: anyhow::Error) -> anyhow::Error {
        anyhow::Error::new(Usage(e))
    }
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for Usage {}

/// How a command ended. Exit codes come from here, never from message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// Bad config or input, unreachable target, every request failed.
    Error,
    /// `compare` found a regression beyond noise.
    Regression,
    /// A threshold failed.
    ThresholdsFailed,
    /// `compare` of different load models without `--force`.
    ModelMismatch,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        match e {
            Exit::Success => ExitCode::SUCCESS,
            Exit::Error => ExitCode::from(1),
            Exit::Regression => ExitCode::from(3),
            Exit::ThresholdsFailed => ExitCode::from(4),
            Exit::ModelMismatch => ExitCode::from(5),
        }
    }
}
