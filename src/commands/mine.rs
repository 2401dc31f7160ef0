//! `minichain mine`: mine a block (or `--blocks N`, each on the last) on the tip of a
//! chain with the parallel miner and print each as a line of JSON as it is found; a
//! live hash rate goes to stderr while it runs (a line redrawn in place on a terminal,
//! plain lines every few seconds when piped).

use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use minichain::chain::block::parse_chain;
use minichain::chain::pow::MAX_MEETABLE_DIFFICULTY;
use minichain::chain::validate::now_ms;
use minichain::chain::{Difficulty, DifficultyPolicy, Json, RuleSet, ValidChain, check_minable};
use minichain::miner::{CancelToken, KernelKind, MineJob, Miner, MinerConfig, Progress, RateMeter};

/// Mine a block on the tip of a chain (default: the genesis block) and print it as
/// JSON; with `--blocks N`, N blocks, each on the one before, one JSON line each as it
/// is found. The difficulty follows the chain (one more than the tip when blocks come
/// faster than the mine rate, one less when slower) unless `--difficulty` pins it.
#[derive(Args, Debug)]
pub struct MineArgs {
    /// Chain file to mine on (JSON array or `{"chain": [...]}`); must be valid under
    /// the strict rules.
    #[arg(long, value_name = "FILE")]
    chain: Option<String>,
    /// The block's data, as JSON text (`'"hello"'`, `'{"tx": 1}'`).
    #[arg(long, value_name = "JSON", default_value = "\"\"")]
    data: String,
    /// How many blocks to mine, each on the one before, all with the same data: a
    /// quick way to grow a test chain. Each is printed on its own line as it is found;
    /// the next one is already being mined while it is printed.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    blocks: u64,
    /// Pin the difficulty (leading zero bits) instead of following the chain. The
    /// strict rules let a block's difficulty move at most one from its parent's, so a
    /// pin further from the tip's makes blocks only for measuring, not for a network.
    #[arg(long, value_name = "D")]
    difficulty: Option<u32>,
    /// Target block time in milliseconds for the difficulty rule.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    mine_rate_ms: u64,
    /// Mining threads (default: one per CPU).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// SHA-256 kernel: portable, sha-ni, avx2, avx512, avx512x2 or avx512x3 (default: the fastest here,
    /// picked by a short calibration).
    #[arg(long, value_name = "NAME")]
    kernel: Option<KernelKind>,
}

/// Runs `minichain mine`.
pub fn run(args: &MineArgs) -> anyhow::Result<ExitCode> {
    let data = Json::parse(&args.data).context("--data is not JSON")?;
    check_minable(&data).context("--data cannot be mined")?;
    let chain = match &args.chain {
        None => ValidChain::genesis(),
        Some(path) => {
            let text = super::read_input(path)?;
            let name = super::input_name(path);
            let blocks = parse_chain(&text).with_context(|| name.clone())?;
            match ValidChain::validate(blocks, RuleSet::Strict, now_ms()) {
                Ok(chain) => chain,
                Err(err) => {
                    eprintln!("error: {name}: {err}");
                    return Ok(ExitCode::from(super::EXIT_INVALID));
                }
            }
        }
    };
    // Difficulty 0 breaks the strict rules (difficulty >= 1): no node would take the block.
    if args
        .difficulty
        .is_some_and(|d| d == 0 || d > MAX_MEETABLE_DIFFICULTY)
    {
        bail!(
            "--difficulty must be between 1 and {MAX_MEETABLE_DIFFICULTY} (a SHA-256 hash has 256 bits)"
        );
    }
    super::check_threads(args.threads)?;
    let miner = Miner::new(MinerConfig {
        threads: args.threads,
        kernel: args.kernel,
    })
    .context("cannot start the miner")?;
    let job = MineJob {
        prev: chain.tip().clone(),
        data: data.into(),
        policy: DifficultyPolicy {
            mine_rate_ms: args.mine_rate_ms,
            ..DifficultyPolicy::default()
        },
        fixed_difficulty: args.difficulty.map(Difficulty::new),
    };
    let Some(last) = job.prev.block_no.checked_add(args.blocks) else {
        bail!(
            "--blocks {} on block {} would pass the largest block number",
            args.blocks,
            job.prev.block_no
        );
    };
    // `--blocks` is at least 1, so this is at most `last`.
    let first = job.prev.block_no + 1;
    let label = if args.blocks == 1 {
        format!("mining block {first}")
    } else {
        format!("mining blocks {first} to {last}")
    };
    let label = format!("{label} ({} threads, {})", miner.threads(), miner.kernel());
    let mut written = Ok(());
    let tty = std::io::stderr().is_terminal();
    // Nothing cancels this token: the command mines until it has its blocks.
    let mined = with_live_rate(&miner.progress(), &label, || {
        miner.mine_chain(&job, &CancelToken::new(), |block| {
            // Holding stderr keeps the live line from being drawn meanwhile; on a
            // terminal it is erased first, so that a block never follows it on its line.
            let mut err = std::io::stderr().lock();
            if tty {
                let _ = write!(err, "\r\x1b[K").and_then(|()| err.flush());
            }
            let mut out = std::io::stdout().lock();
            written = writeln!(out, "{}", block.to_json_string()).and_then(|()| out.flush());
            if written.is_err() || block.block_no == last {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
    });
    written.context("cannot write the block to stdout")?;
    if mined < args.blocks {
        bail!("mining stopped after {mined} of {} blocks", args.blocks);
    }
    Ok(ExitCode::SUCCESS)
}

/// How often the live line is redrawn.
const LIVE_REFRESH: Duration = Duration::from_millis(250);

/// How often a plain progress line is printed when stderr is not a terminal (a log
/// file or a pipe: no redraws, and few enough lines to read).
const PLAIN_REFRESH: Duration = Duration::from_secs(5);

/// Runs `work`, and meanwhile reports `label`, the hash rate from `progress` and the
/// epoch's difficulty on stderr: on a terminal, one line redrawn in place (`\r`) and
/// erased when `work` returns; elsewhere (piped, redirected), a plain line every
/// [`PLAIN_REFRESH`] for work that lasts that long. Shared by `mine` and `bench`.
pub(crate) fn with_live_rate<T>(progress: &Progress, label: &str, work: impl FnOnce() -> T) -> T {
    let tty = std::io::stderr().is_terminal();
    let refresh = if tty { LIVE_REFRESH } else { PLAIN_REFRESH };
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut meter = RateMeter::new(progress.total_attempts());
            // Ends when `done_tx` is dropped, at once, not after the next tick.
            while let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(refresh) {
                let line = format!(
                    "{label}: {} at difficulty {}",
                    format_rate(meter.rate(progress.total_attempts())),
                    progress.epoch().difficulty
                );
                let mut err = std::io::stderr().lock();
                // A failed write to stderr is not worth stopping the work for.
                let _ = if tty {
                    write!(err, "\r\x1b[K{line}")
                } else {
                    writeln!(err, "{line}")
                };
                let _ = err.flush();
            }
            if tty {
                let _ = write!(std::io::stderr(), "\r\x1b[K");
            }
        });
        let result = work();
        drop(done_tx);
        result
    })
}

/// An attempt (hash) rate with an SI prefix: `61.93 MH/s`, `1.24 GH/s`.
pub(crate) fn format_rate(per_s: f64) -> String {
    let (value, prefix) = if per_s >= 1e9 {
        (per_s / 1e9, "G")
    } else if per_s >= 1e6 {
        (per_s / 1e6, "M")
    } else if per_s >= 1e3 {
        (per_s / 1e3, "k")
    } else {
        (per_s, "")
    };
    format!("{value:.2} {prefix}H/s")
}
