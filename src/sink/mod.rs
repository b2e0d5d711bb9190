//! Consumers of the live [`Snapshot`](crate::aggregate::Snapshot) and of the final
//! [`Results`](crate::results::Results). Sinks never reach back into the engine.

pub mod progress;
pub mod prometheus;
pub mod report;
pub mod sqlite;
pub mod style;
pub mod summary;
pub mod tui;
