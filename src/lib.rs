//! minichain: a proof-of-work blockchain node that speaks the original Python
//! `mini_blockchain` protocol byte for byte, and mines on every core.
//!
//! # Layout
//!
//! - [`chain`]: blocks, the Python-`str()` preimage and hash, proof of work,
//!   difficulty, validation and fork choice. Knows nothing of mining or the node.
//! - [`miner`]: the reference miner (the oracle) and the parallel miner with its
//!   SHA-256 kernels and cancel token.
//! - [`node`]: the node: the HTTP API on axum, Redis sync with the original's
//!   network, the one chain writer and its snapshots, and the mining queue.
//! - [`store`]: the chain on disk (redb), written by the node's chain writer and read
//!   back, fully checked, when a node starts. Knows only [`chain`] (and the helpers
//!   [`clip`] and [`whole_file`]).
//! - [`clip`]: attacker strings cut short for errors, logs and status.
//! - [`whole_file`]: output files written whole or not at all (beside, then renamed).

pub mod chain;
pub mod clip;
pub mod miner;
pub mod node;
pub mod store;
pub mod whole_file;
