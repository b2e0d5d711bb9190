//! HTTP/1.1 with our own lean codec.
//!
//! Why not hyper's client: it hands every request to a connection task through channels and
//! tops out near 0.75× wrk per core. Here one virtual user owns one connection, writes each
//! request with a single `write`, parses the response head with `httparse` from a buffer it
//! reuses, and counts the body without copying it. No allocation happens per request once the
//! buffers have grown.
//!
//! `decode` is the pure framing logic (tested on byte slices split anywhere); `conn` drives
//! it over a socket.

mod conn;
pub mod decode;
mod request;

pub use conn::Http1Conn;
pub use request::{Forward, Http1Request};
