//! minichain: a proof-of-work blockchain node that speaks the original Python
//! `mini_blockchain` protocol byte for byte, and mines on every core.
//!
//! # Layout
//!
//! - [`chain`]: blocks, the Python-`str()` preimage and hash, proof of work,
//!   difficulty, validation and fork choice. Knows nothing of mining or the node.
//! - [`miner`]: the reference miner (the oracle) and the parallel miner with its
//!   SHA-256 kernels and cancel token.
//! - [`cli`]: the command-line front end's library half (what `main.rs` calls).

pub mod chain;
pub mod miner;
