//! The chain: what a block is, how it hashes, and which chains are valid and win.
//!
//! - [`json`]: JSON as Python nodes read and write it (values kept as they arrived).
//! - [`pyrepr`]: Python's `str()`/`repr()` of those values, the heart of the preimage.
//! - [`plain_str`]: `str()` of plainly written data, rendered from its text in one pass.
//! - [`data`]: [`RawJson`], a block's data kept as text with its `str()` rendered once.
//! - [`minable`]: [`check_minable`], whether data may be mined into a block.
//! - [`block`]: the seven fields, genesis, chain readers and writers.
//! - [`compact`]: [`ChainBlocks`](compact::ChainBlocks), a valid chain's blocks held compact
//!   and shared between versions.
//! - [`hash`]: the preimage and the block hash.
//! - [`hash_many`]: SHA-256 of up to 16 messages side by side (AVX-512), for checking
//!   a chain's hashes.
//! - [`pow`]: [`BlockHash`], [`Difficulty`], [`Work`].
//! - [`difficulty`]: the next block's difficulty under a [`DifficultyPolicy`].
//! - [`validate`]: the rules, [`ValidationError`], [`ValidChain`], and [`ValidSuffix`]
//!   (blocks checked against a fork point, joined to a chain in O(suffix)).
//! - [`validate_text`]: the same verdict on a valid chain straight from its text, fast.
//! - [`fork_choice`]: [`ForkChoice`], the one rule on which of two chains wins.

pub mod block;
pub mod compact;
pub mod data;
pub mod difficulty;
pub mod fork_choice;
pub mod hash;
pub mod hash_many;
pub mod json;
pub mod minable;
pub mod plain_str;
pub mod pow;
mod printable_table;
pub mod pyrepr;
pub mod validate;
pub mod validate_text;

pub use block::{Block, Nonce, genesis};
pub use data::RawJson;
pub use difficulty::{DifficultyPolicy, PolicyKind, next_difficulty};
pub use fork_choice::{ChainWeight, ForkChoice};
pub use hash::{BlockHasher, block_hash};
pub use json::Json;
pub use minable::{MinableError, check_minable, check_minable_raw};
pub use pow::{BlockHash, Difficulty, Work};
pub use validate::{RuleSet, ValidChain, ValidSuffix, ValidationError};
