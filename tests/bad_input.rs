//! The catalog of hostile input: each module is a table of rows (a name, the input, the
//! expected outcome), run against a real node over real sockets, after which the node
//! must still serve and its chain must be unchanged.
//!
//! - [`slow_clients`]: slow and greedy HTTP clients (half headers, trickling and huge
//!   bodies, idle connections, upload and mining floods).
//!
//! Run with `cargo test --test bad_input`.

#[path = "common/mod.rs"]
mod common;

#[path = "bad_input/slow_clients.rs"]
mod slow_clients;
