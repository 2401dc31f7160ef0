//! The bad-input catalog: hostile inputs against a real node over real sockets and a
//! real `redis-server`. Each module is a table of rows (a name, the input, the expected
//! outcome: the status code, the counted rejection reason or the closed connection),
//! after which the node must still serve, its chain must be unchanged, and every error
//! body, log line and status field must be short. The tables print their outcomes and
//! the node's peak RSS (`--nocapture`).
//!
//! - [`hostile_rows`]: hostile messages and bodies over HTTP and Redis (malformed JSON,
//!   wrong types, huge numbers, deep nesting, 100 MB inputs, invalid and forked chains,
//!   replays, another genesis, data a Python node cannot take, attacker-sized strings).
//! - [`slow_clients`]: slow and greedy HTTP clients (half headers, trickling and huge
//!   bodies, idle connections, upload and mining floods).
//!
//! Run with `cargo test --test bad_input -- --nocapture` (needs `redis-server`).

#[path = "common/mod.rs"]
mod common;

#[path = "bad_input/hostile_rows.rs"]
mod hostile_rows;

#[path = "bad_input/slow_clients.rs"]
mod slow_clients;
