//! The parallel miner's behaviour: the blocks it returns are valid under minichain's
//! strict rules and follow the difficulty policy, on 1 and 2 threads and every kernel
//! this CPU runs; a cancel returns `Cancelled` and leaves the miner ready for the next
//! job; progress counters move; timestamps and difficulties are re-evaluated at each
//! epoch; `mine_chain` mines the same valid chains block after block and stops when told.
//!
//! Run with `cargo test --release --test miner_blocks`.

use std::ops::ControlFlow;
use std::time::Duration;

use minichain::chain::validate::now_ms;
use minichain::chain::{
    Block, Difficulty, DifficultyPolicy, Json, Nonce, RuleSet, ValidChain, block_hash,
    next_difficulty,
};
use minichain::miner::kernel::available_kernels;
use minichain::miner::{CancelToken, KernelKind, MineJob, MineOutcome, Miner, MinerConfig};

fn miner(threads: usize, kernel: Option<KernelKind>) -> Miner {
    Miner::new(MinerConfig {
        threads: Some(threads),
        kernel,
    })
    .expect("the miner starts")
}

fn job(prev: &Block, data: Json, fixed: Option<u32>) -> MineJob {
    MineJob {
        prev: prev.clone(),
        data: data.into(),
        policy: DifficultyPolicy::default(),
        fixed_difficulty: fixed.map(Difficulty::new),
    }
}

fn found(outcome: MineOutcome) -> Block {
    match outcome {
        MineOutcome::Found(block) => block,
        MineOutcome::Cancelled => panic!("nothing cancelled this search"),
    }
}

/// Checks what a found block must satisfy, whoever mined it.
fn assert_valid_on(block: &Block, job: &MineJob, mined_from_ms: u64, mined_to_ms: u64) {
    let hash = block_hash(block);
    assert!(
        hash.matches_hex(&block.hash),
        "hash field is the block's hash"
    );
    assert!(
        block.difficulty.is_met_by(&hash),
        "hash meets the difficulty"
    );
    assert_eq!(block.block_no, job.prev.block_no + 1);
    assert_eq!(block.prev_hash, job.prev.hash);
    assert!(block.data == job.data, "data kept");
    let expected_difficulty = job.fixed_difficulty.unwrap_or_else(|| {
        next_difficulty(
            job.prev.difficulty,
            job.prev.timestamp,
            block.timestamp,
            &job.policy,
        )
    });
    assert_eq!(
        block.difficulty, expected_difficulty,
        "policy for the timestamp"
    );
    // The original reads `nonce` as any non-negative integer: canonical decimal.
    let digits = block.nonce.as_str();
    assert_eq!(Nonce::from_digits(digits).as_ref(), Ok(&block.nonce));
    assert!(
        digits == "0" || !digits.starts_with('0'),
        "canonical: {digits}"
    );
    assert!(
        (mined_from_ms..=mined_to_ms).contains(&block.timestamp),
        "timestamp {} taken while mining ({mined_from_ms}..={mined_to_ms})",
        block.timestamp
    );
    let reparsed = Block::parse(&block.to_json_string()).expect("its JSON parses");
    assert_eq!(&reparsed, block, "JSON round trip");
}

/// On 1 and 2 threads and every available kernel, a chain of blocks mined with the
/// difficulty following the policy is valid under the strict rules, block by block.
#[test]
fn mined_chains_are_valid_on_every_kernel_and_thread_count() {
    for kernel in available_kernels() {
        for threads in [1, 2] {
            let miner = miner(threads, Some(kernel));
            assert_eq!((miner.threads(), miner.kernel()), (threads, kernel));
            let mut chain = ValidChain::genesis();
            for i in 0..6 {
                let data = Json::parse(&format!(r#"{{"kernel": "{kernel}", "i": {i}}}"#))
                    .expect("valid JSON");
                let job = job(chain.tip(), data, None);
                let from = now_ms();
                let block = found(miner.mine(&job, &CancelToken::new()));
                assert_valid_on(&block, &job, from, now_ms());
                chain
                    .push(block, RuleSet::Strict, now_ms())
                    .unwrap_or_else(|e| panic!("{kernel}, {threads} threads: {e}"));
            }
        }
    }
}

/// Pinned difficulties are met exactly as pinned, including 0 and moderate ones.
#[test]
fn pinned_difficulties_are_met() {
    let miner = miner(2, None);
    let mut prev = ValidChain::genesis().tip().clone();
    for difficulty in [0, 1, 5, 12, 16] {
        let job = job(&prev, Json::String("pinned".into()), Some(difficulty));
        let from = now_ms();
        let block = found(miner.mine(&job, &CancelToken::new()));
        assert_valid_on(&block, &job, from, now_ms());
        assert_eq!(block.difficulty, Difficulty::new(difficulty));
        prev = block;
    }
}

/// Mining at a difficulty no one reaches, waiting until the search is under way.
fn busy_job() -> MineJob {
    job(
        ValidChain::genesis().tip(),
        Json::String("never".into()),
        Some(256),
    )
}

/// Runs `search` with a fresh token, and cancels the token once `miner` is mining and
/// its attempts have moved (every worker busy on the search).
fn cancelled_once_busy<T>(miner: &Miner, search: impl FnOnce(&CancelToken) -> T) -> T {
    let progress = miner.progress();
    let token = CancelToken::new();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let before = progress.total_attempts();
            wait_until(|| progress.is_mining() && progress.total_attempts() > before);
            token.cancel();
        });
        search(&token)
    })
}

fn wait_until(mut condition: impl FnMut() -> bool) {
    while !condition() {
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// A cancel while every worker is busy makes `mine` return `Cancelled`; the same miner
/// then mines the next job at once; a token cancelled before the call stops it at once.
#[test]
fn cancel_returns_cancelled_and_the_miner_is_reusable() {
    let miner = miner(2, None);
    let progress = miner.progress();
    for _ in 0..5 {
        let outcome = cancelled_once_busy(&miner, |token| miner.mine(&busy_job(), token));
        assert_eq!(outcome, MineOutcome::Cancelled);
        assert!(!progress.is_mining());

        let next = job(ValidChain::genesis().tip(), Json::Null, Some(10));
        let from = now_ms();
        let block = found(miner.mine(&next, &CancelToken::new()));
        assert_valid_on(&block, &next, from, now_ms());
    }

    let token = CancelToken::new();
    token.cancel();
    assert_eq!(miner.mine(&busy_job(), &token), MineOutcome::Cancelled);
}

/// Attempt counters grow with every search, per worker and in total; the found-block
/// count follows the blocks returned.
#[test]
fn progress_counters_increase() {
    let miner = miner(2, None);
    let progress = miner.progress();
    assert_eq!(progress.total_attempts(), 0);
    assert_eq!(progress.blocks_found(), 0);
    let mut last_total = 0;
    for i in 1..=3 {
        let job = job(ValidChain::genesis().tip(), Json::Null, Some(14));
        found(miner.mine(&job, &CancelToken::new()));
        let total = progress.total_attempts();
        assert!(total > last_total, "attempts grow");
        assert_eq!(progress.per_worker_attempts().iter().sum::<u64>(), total);
        assert_eq!(progress.blocks_found(), i);
        assert!(progress.epochs() >= i);
        assert!(!progress.is_mining());
        last_total = total;
    }

    // Both workers take part in a longer search.
    let before = progress.per_worker_attempts();
    let token = CancelToken::new();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            wait_until(|| {
                let now = progress.per_worker_attempts();
                now.iter().zip(&before).all(|(n, b)| n > b)
            });
            token.cancel();
        });
        assert_eq!(miner.mine(&busy_job(), &token), MineOutcome::Cancelled);
    });
}

/// The search starts a new epoch with a fresh timestamp again and again, and
/// re-evaluates the difficulty from the policy at each: on a tip stamped a second
/// less than one mine rate ago at an unreachable difficulty, the epochs move from one more than
/// the tip to one less once the mine rate has passed, as the original does.
#[test]
fn timestamp_and_difficulty_are_refreshed_each_epoch() {
    let miner = miner(2, None);
    let progress = miner.progress();
    let policy = DifficultyPolicy::default();
    let mut prev = ValidChain::genesis().tip().clone();
    prev.difficulty = Difficulty::new(100);
    prev.timestamp = now_ms() + 1_000 - policy.mine_rate_ms;
    let job = MineJob {
        prev: prev.clone(),
        data: Json::String("refresh".into()).into(),
        policy,
        fixed_difficulty: None,
    };
    let token = CancelToken::new();
    let mut seen = Vec::new();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut last_epoch = 0;
            loop {
                let epoch = progress.epoch();
                if epoch.number != last_epoch {
                    last_epoch = epoch.number;
                    seen.push((epoch.timestamp_ms, epoch.difficulty));
                }
                let dropped = seen.last().is_some_and(|&(_, d)| d == 99);
                let later_epochs = seen.iter().filter(|&&(_, d)| d == 99).count();
                if dropped && later_epochs >= 2 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            token.cancel();
        });
        assert_eq!(miner.mine(&job, &token), MineOutcome::Cancelled);
    });
    assert_eq!(seen.first().map(|&(_, d)| d), Some(101), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
    let mut timestamps: Vec<u64> = seen.iter().map(|&(t, _)| t).collect();
    timestamps.dedup();
    assert!(timestamps.len() >= 3, "fresh timestamps: {seen:?}");
    for &(timestamp, difficulty) in &seen {
        let expected = next_difficulty(prev.difficulty, prev.timestamp, timestamp, &policy);
        assert_eq!(difficulty, expected.bits(), "{seen:?}");
    }
}

/// A difficulty no SHA-256 hash can meet (over 256 bits) is searched by no one: the
/// miner waits for the cancel instead of spinning, and returns `Cancelled`.
#[test]
fn an_unmeetable_difficulty_waits_for_the_cancel() {
    let miner = miner(2, None);
    let progress = miner.progress();
    let job = job(ValidChain::genesis().tip(), Json::Null, Some(300));
    let token = CancelToken::new();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            wait_until(|| progress.epochs() >= 2);
            token.cancel();
        });
        assert_eq!(miner.mine(&job, &token), MineOutcome::Cancelled);
    });
    assert_eq!(progress.total_attempts(), 0);
}

/// `mine_chain` on 1 and 2 threads and every available kernel: each block is on the one
/// before, with the difficulty the policy gives its timestamp, valid under the strict
/// rules, and the chain ends at the block where `on_block` breaks.
#[test]
fn mine_chain_links_valid_blocks_on_every_kernel_and_thread_count() {
    for kernel in available_kernels() {
        for threads in [1, 2] {
            let miner = miner(threads, Some(kernel));
            let mut chain = ValidChain::genesis();
            let data = Json::parse(&format!(r#"{{"kernel": "{kernel}", "chained": true}}"#))
                .expect("valid JSON");
            let first = job(chain.tip(), data, None);
            let mut expected = first.clone();
            let from = now_ms();
            let mut blocks = Vec::new();
            let mined = miner.mine_chain(&first, &CancelToken::new(), |block| {
                blocks.push(block);
                if blocks.len() == 6 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            assert_eq!(mined, 6, "{kernel}, {threads} threads");
            assert_eq!(blocks.len(), 6);
            for block in blocks {
                assert_valid_on(&block, &expected, from, now_ms());
                expected.prev = block.clone();
                chain
                    .push(block, RuleSet::Strict, now_ms())
                    .unwrap_or_else(|e| panic!("{kernel}, {threads} threads: {e}"));
            }
            assert_eq!(miner.progress().blocks_found(), 6);
            assert!(!miner.progress().is_mining());
        }
    }
}

/// `mine_chain` returns the blocks up to the one where `on_block` breaks, and the miner
/// then mines the next job as before (the unit tests check that no job is left posted);
/// a cancel ends a chain that finds nothing.
#[test]
fn mine_chain_stops_its_helpers_and_the_miner_is_reusable() {
    let miner = miner(2, None);
    let progress = miner.progress();
    let pinned = job(ValidChain::genesis().tip(), Json::Null, Some(8));
    let mut last = None;
    let mined = miner.mine_chain(&pinned, &CancelToken::new(), |block| {
        let stop = block.block_no == 3;
        last = Some(block);
        if stop {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    assert_eq!(mined, 3);
    assert_eq!(last.map(|b| b.block_no), Some(3));

    let from = now_ms();
    let block = found(miner.mine(&pinned, &CancelToken::new()));
    assert_valid_on(&block, &pinned, from, now_ms());

    let mined = cancelled_once_busy(&miner, |token| {
        miner.mine_chain(&busy_job(), token, |_| ControlFlow::Continue(()))
    });
    assert_eq!(mined, 0);
    assert!(!progress.is_mining());
}
