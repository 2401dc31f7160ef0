//! Criterion: cancel latency, from `CancelToken::cancel` to `Miner::mine` returning
//! `Cancelled`, with every worker busy at a difficulty no hash meets, measured the one
//! way `minichain bench` measures it (`miner::bench::cancel_latencies`): each cancel
//! lands a pseudo-random 1 to 3 ms into a running search, so anywhere in a chunk, and
//! only the cancel is timed. An iteration is one cancel; criterion sums their
//! latencies.
//!
//! Run with `cargo bench --bench cancel` (about 15 seconds).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use minichain::miner::bench::{CancelQuota, cancel_latencies};
use minichain::miner::{Miner, MinerConfig};

fn cancel_latency(c: &mut Criterion) {
    let miner = Miner::new(MinerConfig::default()).expect("the miner starts");
    let mut group = c.benchmark_group("cancel");
    group.bench_function(
        BenchmarkId::new(
            "latency",
            format!("{}-{}-threads", miner.kernel(), miner.threads()),
        ),
        |b| {
            b.iter_custom(|iters| {
                let cancels = usize::try_from(iters).expect("criterion's iterations fit memory");
                black_box(cancel_latencies(&miner, CancelQuota::exactly(cancels)))
                    .into_iter()
                    .sum()
            });
        },
    );
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = cancel_latency
}
criterion_main!(benches);
