//! kaioken: a load generator for HTTP/1.1 and HTTP/2.
//!
//! Data flows one way: `cli`/`config` → [`plan`] → [`engine`] → [`transport`] →
//! [`record`] → [`aggregate`] → [`sink`] and [`results`]. `cmd` wires them per subcommand.

pub mod aggregate;
pub mod cli;
pub mod cmd;
pub mod compare;
pub mod config;
pub mod engine;
pub mod plan;
pub mod record;
pub mod results;
pub mod sink;
pub mod target_server;
pub mod transport;
pub mod verdict;
