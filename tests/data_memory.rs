//! A block's `data` costs memory in proportion to its text, however it is written: a
//! tracking global allocator (this test binary's own) notes the most bytes held at
//! once while a hostile `data` is read and compared, against the size of its text.
//!
//! A [`Json`](minichain::chain::Json) tree costs some thirty times its text, so these
//! fail as soon as a tree of the whole value is built on the way.
//!
//! Run with `cargo test --release --test data_memory`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use minichain::chain::RawJson;
use minichain::chain::genesis;
use minichain::chain::validate::{RuleSet, check_chain};

/// The system allocator, tracking the bytes held by allocations made on a thread
/// whose [`COUNTED`] is set, and the most held at once.
struct TrackingAllocator;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are tracked (const-initialised: reading it
    /// never allocates).
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn grow(bytes: usize) {
    if COUNTED.with(Cell::get) {
        let held = HELD.fetch_add(bytes, Ordering::Relaxed) + bytes;
        PEAK.fetch_max(held, Ordering::Relaxed);
    }
}

fn shrink(bytes: usize) {
    if COUNTED.with(Cell::get) {
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

#[global_allocator]
static GLOBAL: TrackingAllocator = TrackingAllocator;

/// The most bytes `f` holds at once (allocations on this thread only; the tests of
/// this binary share the counters, so they run one at a time under a lock).
fn peak_bytes<T>(f: impl FnOnce() -> T) -> (usize, T) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    HELD.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    COUNTED.with(|c| c.set(true));
    let out = f();
    COUNTED.with(|c| c.set(false));
    (PEAK.load(Ordering::Relaxed), out)
}

/// `[0,0,...,0]` with `n` items.
fn zeros(n: usize) -> String {
    let mut text = String::with_capacity(2 * n + 2);
    text.push('[');
    for i in 0..n {
        if i > 0 {
            text.push(',');
        }
        text.push('0');
    }
    text.push(']');
    text
}

/// The most a `data` text may cost to read or compare, in multiples of its size: its
/// `str()` is 1.5 times the text here, and buffers grow by doubling.
const MAX_BYTES_PER_TEXT_BYTE: usize = 8;

/// An object that repeats a key is rendered (first place, last value) without a tree:
/// a 4 MB value holds at most a few times 4 MB while read.
#[test]
fn repeated_keys_are_rendered_without_a_tree() {
    let text = format!("{{\"a\": 0, \"b\": 1, \"a\": {}}}", zeros(2_000_000));
    let (peak, raw) = peak_bytes(|| RawJson::parse(&text));
    let raw = raw.expect("JSON");
    assert!(raw.python_str().starts_with("{'a': [0, 0, "));
    assert!(raw.python_str().ends_with("0], 'b': 1}"));
    assert!(
        peak <= MAX_BYTES_PER_TEXT_BYTE * text.len(),
        "reading {} bytes held {peak} bytes at once",
        text.len()
    );
}

/// A block 0 whose `data` is a large value other than `[]` is refused as genesis
/// without building a tree of that value.
#[test]
fn genesis_data_is_compared_without_a_tree() {
    let mut block = genesis();
    let text = zeros(2_000_000);
    block.data = RawJson::parse(&text).expect("JSON");
    let chain = vec![block];
    let (peak, verdict) = peak_bytes(|| check_chain(&chain, RuleSet::Seed, 0));
    assert_eq!(verdict.map_err(|e| e.rule.name()), Err("genesis"));
    assert!(
        peak <= MAX_BYTES_PER_TEXT_BYTE * text.len(),
        "comparing {} bytes held {peak} bytes at once",
        text.len()
    );
}
