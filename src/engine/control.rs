//! The one channel into a running engine.
//!
//! Adding a command: a variant here, its handling in `worker::control_task`, a sender in
//! whichever sink or service issues it, and a test that the engine really changes behaviour.

/// What the engine should be doing. Sent through a `watch` channel: the latest state wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    /// Send nothing until `Running` again; requests that fall due meanwhile are skipped, not
    /// queued, so resuming does not release a burst.
    Paused,
    /// Send nothing new; let in-flight requests finish within the graceful-stop period.
    Stopping,
    /// Stop now; in-flight requests are abandoned and counted as interrupted.
    Abort,
}
