//! The bad-input catalog: hostile inputs over HTTP and Redis against a real node
//! process (`minichain node`) on a real `redis-server`, each row with its name, its
//! input and its expected outcome (the status code or the counted rejection reason),
//! and after them all: the chain unchanged, the node still serving, every error body,
//! log line and status field short. Prints the table of outcomes and the node's peak
//! RSS (`--nocapture`).
//!
//! Run with `cargo test --test bad_input -- --nocapture` (needs `redis-server`).

mod common;
#[path = "bad_input/hostile_rows.rs"]
mod hostile_rows;
