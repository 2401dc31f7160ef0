//! The cancel token a running search checks every few thousand attempts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared flag: the node (or a test, or the CLI's Ctrl-C) cancels, the searching
/// thread sees it within 1,536 attempts (tens of microseconds; `SLICE` in the kernels), the
/// helpers a batch of lanes later, and the search returns
/// [`MineOutcome::Cancelled`](super::MineOutcome::Cancelled).
///
/// One token per job: cloning shares the flag; a new job takes a new token.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        CancelToken::default()
    }

    /// Asks every search holding this token to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
