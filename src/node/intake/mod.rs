//! The intake: chains that arrive from the network (Redis messages, the root's
//! `GET /api/blocks`, `POST /api/chain`) become validated
//! [`Candidate`](crate::node::state::Candidate)s for the writer, or a counted, logged
//! [`Rejection`].
//!
//! Why a queue and a blocking task: the Redis listener must never stall (Redis drops a
//! subscriber whose unread output grows past its limit), so it only checks the size
//! and hands the bytes over. One intake task takes them in order and parses and
//! validates each on tokio's blocking pool (validation hashes every block).
//!
//! - [`verdict`]: where a chain came from, what became of it, why it was refused, and
//!   the counters.
//! - [`queue`]: the producers' [`IntakeSender`] and the task ([`spawn_intake`]) that
//!   examines each message and offers the survivors to the writer.
//! - [`examine`](mod@examine): the pure examination of one message against our
//!   snapshot, with its two shortcuts (the fork-choice estimate before validation,
//!   and only the new blocks of an extension of ours validated).
//! - [`replay`]: the digests of refused messages, so a replay costs one hash.

pub mod examine;
pub mod queue;
pub mod replay;
pub mod verdict;

pub use self::examine::{Examined, examine};
pub use self::queue::{IntakeSender, RawMessage, spawn_intake};
pub use self::verdict::{REASONS, RecentMessage, Rejection, Source, SyncStats, Verdict};
pub use crate::node::config::INTAKE_QUEUE;
