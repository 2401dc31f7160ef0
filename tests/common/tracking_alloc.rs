//! A global allocator for a test binary that watches the allocations of the threads
//! that ask it to: how many there are (the kernels must make none) and the most bytes
//! held at once (a block's `data` must cost memory in proportion to its text).
//!
//! A binary declares it as its own (`#[global_allocator] static GLOBAL:
//! TrackingAllocator = TrackingAllocator;`). Only tracked threads count: the test
//! harness allocates on its threads meanwhile (its "running for over 60 seconds"
//! notice, for one), and those are not the code under test.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The system allocator, counting allocations (reallocations included) and the bytes
/// held by them on tracked threads.
pub struct TrackingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are tracked (const-initialised: reading it
    /// never allocates).
    static TRACKED: Cell<bool> = const { Cell::new(false) };
}

fn grow(bytes: usize) {
    if TRACKED.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        let held = HELD.fetch_add(bytes, Ordering::Relaxed) + bytes;
        PEAK.fetch_max(held, Ordering::Relaxed);
    }
}

fn shrink(bytes: usize) {
    if TRACKED.with(Cell::get) {
        HELD.fetch_sub(bytes, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees hold; the counters are plain atomics.
unsafe impl GlobalAlloc for TrackingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: forwarded from our caller, who upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: forwarded from our caller, who upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the move it may be: both blocks are held for a moment.
        grow(new_size);
        shrink(layout.size());
        // SAFETY: forwarded from our caller, who upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        // SAFETY: forwarded from our caller, who upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Tracks (or stops tracking) the calling thread's allocations.
pub fn track_this_thread(on: bool) {
    TRACKED.with(|tracked| tracked.set(on));
}

/// Allocations made on tracked threads so far.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// The most bytes `f` holds at once (allocations on this thread only; the binary's
/// tests share the counters, so measurements run one at a time under a lock).
pub fn peak_bytes<T>(f: impl FnOnce() -> T) -> (usize, T) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    HELD.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    track_this_thread(true);
    let out = f();
    track_this_thread(false);
    (PEAK.load(Ordering::Relaxed), out)
}
