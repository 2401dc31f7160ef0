//! Raw rates: the chained `compress256` baseline, and the miner's peak attempts per
//! second at a difficulty no hash meets; with the job and the timed cancel that the
//! other measurements share.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::block_api::compress256;

use crate::chain::{Block, Difficulty, DifficultyPolicy, Json, RawJson, genesis};
use crate::miner::{CancelToken, MineJob, Miner};

/// The benchmark job: a block on `prev` at a pinned difficulty, the same data every
/// time, so that every measurement (and the criterion benches) mines the same shape of
/// block.
pub fn pinned_job(prev: Block, difficulty: Difficulty) -> MineJob {
    MineJob {
        prev,
        data: RawJson::from(Json::String("minichain bench".into())),
        policy: DifficultyPolicy::default(),
        fixed_difficulty: Some(difficulty),
    }
}

/// Runs `work` with `token`, and cancels the token after `slice` (or when `work` ends):
/// how a benchmark gives a search that runs until cancelled a fixed time.
pub fn cancel_after<T>(slice: Duration, token: &CancelToken, work: impl FnOnce() -> T) -> T {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let _ = done_rx.recv_timeout(slice);
            token.cancel();
        });
        let result = work();
        drop(done_tx);
        result
    })
}

/// Compressions per second of a chained `compress256` loop on the calling thread (each
/// compression's state feeds the next, so none can be skipped): the yardstick for the
/// miner's attempts per second.
pub fn baseline_compress_per_s(duration: Duration) -> f64 {
    let mut state = [0x6a09_e667u32; 8];
    let block = [0x5au8; 64];
    let batch = 4096;
    let mut compressions: u64 = 0;
    let started = Instant::now();
    loop {
        for _ in 0..batch {
            compress256(
                &mut state,
                core::slice::from_ref(std::hint::black_box(&block)),
            );
        }
        compressions += batch;
        let elapsed = started.elapsed();
        if elapsed >= duration {
            std::hint::black_box(state);
            return compressions as f64 / elapsed.as_secs_f64();
        }
    }
}

/// The miner's attempts per second over `slice` at a difficulty no hash meets (every
/// attempt runs; epochs still restart every 100 ms as in real mining).
pub fn peak_attempts_per_s(miner: &Miner, slice: Duration) -> f64 {
    let job = pinned_job(genesis(), Difficulty::new(256));
    let token = CancelToken::new();
    let progress = miner.progress();
    let before = progress.total_attempts();
    let started = Instant::now();
    cancel_after(slice, &token, || miner.mine(&job, &token));
    let secs = started.elapsed().as_secs_f64();
    (progress.total_attempts() - before) as f64 / secs
}
