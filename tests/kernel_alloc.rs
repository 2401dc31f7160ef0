//! The kernels' search never allocates: a counting global allocator (this test binary's
//! own) sees zero allocations during 100,003 attempts of each available kernel, across
//! eleven blocks of 10^4 counters (each block's set-up is where a search would allocate,
//! if anywhere).
//!
//! Only the test's own thread is counted (see `common/tracking_alloc.rs`).
//!
//! Run with `cargo test --test kernel_alloc` (`--release` makes it quick).

use minichain::miner::kernel::available_kernels;
use minichain::miner::layout::MiningTemplate;

#[path = "common/tracking_alloc.rs"]
mod tracking_alloc;

use tracking_alloc::{TrackingAllocator, allocations, track_this_thread};

#[global_allocator]
static GLOBAL: TrackingAllocator = TrackingAllocator;

/// 100,003 attempts per kernel, at a difficulty no counter meets, allocate nothing;
/// a search that hits (difficulty 0, and above 32 where further words are checked)
/// allocates nothing either.
#[test]
fn search_does_not_allocate() {
    track_this_thread(true);
    let template = MiningTemplate::new(&[b'q'; 150], b"250", 7).expect("valid template");
    for kind in available_kernels() {
        let unreachable = kind.prepare(&template, 256);
        let easy = kind.prepare(&template, 0);
        let hard = kind.prepare(&template, 33);
        // Preparation may allocate nothing (its tables are shared); prove the counter
        // works with an allocation of our own.
        let counted = allocations();
        drop(std::hint::black_box(Vec::<u64>::with_capacity(4)));
        let before = allocations();
        assert!(before > counted, "the counter sees allocations");
        let none = unreachable.search(99_990_000, 100_003);
        let first = easy.search(12_345, 10);
        let rare = hard.search(0, 1_000);
        let after = allocations();
        assert_eq!(
            (none, first, rare),
            (None, Some(12_345), None),
            "kernel {kind}"
        );
        assert_eq!(after - before, 0, "kernel {kind} allocated during search");
    }
}
