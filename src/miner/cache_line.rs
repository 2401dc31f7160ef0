//! A value on a cache line of its own.

/// A value on a cache line of its own (two lines, against the adjacent-line prefetcher),
/// so that one core's writes to it never disturb another core's reads of its neighbours:
/// the workers' attempt counters, and the board the searching thread shares with its
/// helpers.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CacheLine<T>(pub(crate) T);
