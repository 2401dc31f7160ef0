//! Criterion: cancel latency, from `CancelToken::cancel` to `Miner::mine` returning
//! `Cancelled`, with every worker busy at a difficulty no hash meets. Each iteration
//! starts a search on a helper thread, waits until it runs and has gone a pseudo-random
//! 0.5 to 1.5 ms into its work (so cancels land anywhere in a chunk), then times the
//! cancel alone.
//!
//! Run with `cargo bench --bench cancel` (about 15 seconds).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use minichain::chain::{Difficulty, DifficultyPolicy, Json, genesis};
use minichain::miner::{CancelToken, MineJob, MineOutcome, Miner, MinerConfig};

fn busy_job() -> MineJob {
    MineJob {
        prev: genesis(),
        data: Json::String("cancel".into()),
        policy: DifficultyPolicy::default(),
        fixed_difficulty: Some(Difficulty(256)),
    }
}

/// One search started and cancelled; the time from `cancel()` to `mine` returning.
fn one_cancel(miner: &Miner, job: &MineJob, delay: Duration) -> Duration {
    let token = CancelToken::new();
    let progress = miner.progress();
    std::thread::scope(|scope| {
        let search = scope.spawn(|| {
            let outcome = miner.mine(job, &token);
            let returned = Instant::now();
            assert_eq!(outcome, MineOutcome::Cancelled);
            returned
        });
        let before = progress.total_attempts();
        while !(progress.is_mining() && progress.total_attempts() > before) {
            std::thread::sleep(Duration::from_micros(50));
        }
        std::thread::sleep(delay);
        let cancelled = Instant::now();
        token.cancel();
        let returned = search.join().expect("the search thread does not panic");
        returned.saturating_duration_since(cancelled)
    })
}

fn cancel_latency(c: &mut Criterion) {
    let miner = Miner::new(MinerConfig::default()).expect("the miner starts");
    let job = busy_job();
    let mut random = 0x2545_f491_4f6c_dd1du64;
    let mut group = c.benchmark_group("cancel");
    group.bench_function(
        BenchmarkId::new(
            "latency",
            format!("{}-{}-threads", miner.kernel(), miner.threads()),
        ),
        |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        random ^= random << 13;
                        random ^= random >> 7;
                        random ^= random << 17;
                        let delay = Duration::from_micros(500 + random % 1_000);
                        black_box(one_cancel(&miner, &job, delay))
                    })
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
