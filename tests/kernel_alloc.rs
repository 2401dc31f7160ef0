//! The kernels' search never allocates: a counting global allocator (this test binary's
//! own) sees zero allocations during a million attempts of each available kernel.
//!
//! Only the test's own thread is counted: the test harness allocates on its threads
//! meanwhile (its "running for over 60 seconds" notice, for one, which an unoptimised
//! build on a busy machine reaches), and those are not the kernels'.
//!
//! Run with `cargo test --test kernel_alloc` (`--release` makes it quick).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use minichain::miner::kernel::available_kernels;
use minichain::miner::layout::MiningTemplate;

/// The system allocator, counting every allocation and reallocation made on a thread
/// whose [`COUNTED`] is set.
struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this thread's allocations are counted (const-initialised: reading it
    /// never allocates).
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

/// Counts one allocation if the calling thread is counted.
fn count() {
    if COUNTED.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees hold; the counter is a plain atomic.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded from our caller, who upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded from our caller, who upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded from our caller, who upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from our caller, who upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// A million attempts per kernel, at a difficulty no counter meets, allocate nothing;
/// a search that hits (difficulty 0, and above 32 where further words are checked)
/// allocates nothing either.
#[test]
fn search_does_not_allocate() {
    COUNTED.with(|counted| counted.set(true));
    let template = MiningTemplate::new(&[b'q'; 150], b"250", 7).expect("valid template");
    for kind in available_kernels() {
        let unreachable = kind.prepare(&template, 256);
        let easy = kind.prepare(&template, 0);
        let hard = kind.prepare(&template, 33);
        // Preparation may allocate nothing (its tables are shared); prove the counter
        // works with an allocation of our own.
        let counted = ALLOCATIONS.load(Ordering::Relaxed);
        drop(std::hint::black_box(Vec::<u64>::with_capacity(4)));
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        assert!(before > counted, "the counter sees allocations");
        let none = unreachable.search(99_990_000, 1_000_003);
        let first = easy.search(12_345, 10);
        let rare = hard.search(0, 1_000);
        let after = ALLOCATIONS.load(Ordering::Relaxed);
        assert_eq!(
            (none, first, rare),
            (None, Some(12_345), None),
            "kernel {kind}"
        );
        assert_eq!(after - before, 0, "kernel {kind} allocated during search");
    }
}
