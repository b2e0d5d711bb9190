//! HTTP/2 on our own lean client (see `conn` for why not the `h2` crate): one connection
//! carries many VUs' requests as streams, and its driver runs as a task on the worker's own
//! runtime, so the streams of a thread never cross threads.

mod conn;
pub mod hpack;
mod huffman;
mod request;

pub use conn::{Conn, Pacing, StreamError, StreamRead, drive, exchange};
pub use request::{H2Request, http_request};
