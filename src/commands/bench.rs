//! `minichain bench`: how fast this machine mines, in one run and side by side with a
//! plain SHA-256 baseline, so that numbers from different machines (or different loads)
//! are compared as ratios, never as raw rates.
//!
//! The measuring is the library's ([`minichain::miner::bench`], whose doc says what is
//! measured and how); this file turns the flags into a plan, shows a progress line with
//! a live hash rate on a terminal, and prints the report as tables or as JSON.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::Args;
use minichain::miner::bench::{
    self, BenchConfig, BenchPlan, BenchPlanError, BenchReport, NOISY_SPREAD, Observer, ROUNDS,
    Step, ratio,
};
use minichain::miner::kernel::calibrate::LOW_DIFFICULTY_MAX;
use minichain::miner::{KernelKind, MAX_THREADS, Progress};

use super::mine::{format_rate, with_live_rate};

/// Fewest blocks (all rounds) for which the table shows the blocks' rate: about a
/// hundred a round, so that luck moves it by some 10 %, not by half.
const MIN_BLOCKS_FOR_RATE: u64 = 300;

/// Measure the miner: a `compress256` baseline, attempts per second by thread count and
/// by kernel, blocks per second by difficulty, and cancel latency, all in one run.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Thread counts to measure, comma-separated (default: 1 and the number of CPUs).
    /// 1 is always measured: it is the reference for the per-core ratio and the scaling.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    threads: Vec<usize>,
    /// Seconds per measurement: the baseline, each thread count and each kernel (each
    /// over six interleaved rounds), each difficulty (and half as long again for the
    /// peak measured beside it), the cancel latency (at least 100 cancels, unless they
    /// take longer than this time or 3 s, whichever is longer).
    #[arg(long, value_name = "S", default_value_t = BenchConfig::default().secs)]
    secs: f64,
    /// Difficulties (leading zero bits) for the blocks-by-difficulty table,
    /// comma-separated (measured smallest first, each once).
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_values_t = BenchConfig::default().difficulties
    )]
    difficulties: Vec<u32>,
    /// Print one JSON object on stdout instead of tables.
    #[arg(long)]
    json: bool,
    /// Kernel for the thread, difficulty and cancel measurements: portable, sha-ni, avx2,
    /// avx512, avx512x2 or avx512x3 (default: the fastest here, picked by a short calibration).
    #[arg(long, value_name = "NAME")]
    kernel: Option<KernelKind>,
    /// Also draw the report as an SVG picture at FILE: effective attempts/s against
    /// difficulty (under the peak measured beside each), and each kernel's rate over
    /// the baseline.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

/// The library's plan for the flags; its refusals are worded in the flags' terms.
fn plan(args: &BenchArgs) -> anyhow::Result<BenchPlan> {
    let config = BenchConfig {
        threads: args.threads.clone(),
        secs: args.secs,
        difficulties: args.difficulties.clone(),
        kernel: args.kernel,
    };
    BenchPlan::new(&config).map_err(|error| match error {
        BenchPlanError::Secs(secs) => {
            anyhow!("--secs must be between 0.001 and 3600 seconds, got {secs:?}")
        }
        BenchPlanError::ZeroThreads => anyhow!("--threads must list thread counts of at least 1"),
        BenchPlanError::TooManyThreads(n) => {
            anyhow!("--threads must list thread counts of at most {MAX_THREADS}, got {n}")
        }
        BenchPlanError::Difficulty(_) => {
            anyhow!("--difficulties must be at most 256 (a SHA-256 hash has 256 bits)")
        }
        BenchPlanError::KernelUnavailable(kind) => {
            anyhow!("kernel {kind} is not available on this CPU")
        }
    })
}

/// Runs `minichain bench`.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let plan = plan(args)?;
    if let Some(path) = &args.plot {
        check_plot_path(path)?;
    }
    let mut steps = Steps::new();
    let report = bench::run(&plan, &mut steps);
    steps.finish();
    let report = report?;
    let mut out = std::io::stdout().lock();
    let printed = if args.json {
        let text = serde_json::to_string_pretty(&report).context("cannot write the report")?;
        writeln!(out, "{text}")
    } else {
        print_tables(&mut out, &report, &plan, args.kernel.is_some())
    }
    .and_then(|()| out.flush());
    // Each of the two goes out even when the other fails: the run is not repeated.
    if let Some(path) = &args.plot {
        bench::write_svg(&report, path)?;
        eprintln!("minichain bench: drew {}", path.display());
    }
    printed.context("cannot write the report to standard output")?;
    Ok(ExitCode::SUCCESS)
}

/// Refuses a `--plot` path that cannot be written (a missing folder, a directory), is
/// not a file (a named pipe, a socket, a device) or holds something other than a
/// picture (a chain, a store: see [`bench::check_plot_target`]) before the run rather
/// than after it, which would cost the whole run. A file is made and removed in the
/// directory the picture will be written to (it goes in beside its place and is
/// renamed over it), and an existing file is checked writable; nothing is left
/// behind, and an existing file stays as it is until the picture replaces it.
///
/// Why not a pipe: opening one for writing waits for a reader, and a reader sees the
/// check's open and close as the end of its input, so the picture, written after the
/// run, would wait for another reader forever.
fn check_plot_path(path: &Path) -> anyhow::Result<()> {
    bench::check_plot_target(path)?;
    bench::check_plot_writable(path)
        .with_context(|| format!("cannot write --plot {}", path.display()))
}

/// Prints the report as the text tables: rates against the baseline, blocks by
/// difficulty against the peak, and the cancel latency.
fn print_tables(
    out: &mut impl Write,
    report: &BenchReport,
    plan: &BenchPlan,
    kernel_from_flag: bool,
) -> std::io::Result<()> {
    let baseline = report.baseline_compress_per_s;
    let how = if kernel_from_flag {
        "from --kernel".to_owned()
    } else if report.low_difficulty_kernel != report.kernel {
        format!(
            "fastest by calibration; {} at difficulty {LOW_DIFFICULTY_MAX} and below, level with it and narrower",
            report.low_difficulty_kernel
        )
    } else {
        "fastest by calibration".to_owned()
    };
    writeln!(
        out,
        "minichain bench: kernel {} ({how}), {} CPUs, {:.1} s per measurement (best of {ROUNDS} rounds for rates)",
        report.kernel,
        std::thread::available_parallelism().map_or(1, usize::from),
        plan.slice().as_secs_f64()
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "baseline  chained sha2::compress256, 1 thread: {}",
        format_rate(baseline)
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "threads  attempts/s      per thread      per thread / baseline"
    )?;
    for row in &report.threads {
        let per_thread = row.attempts_per_s / row.n as f64;
        writeln!(
            out,
            "{:>7}  {:>14}  {:>14}  {:>6.2}",
            row.n,
            format_rate(row.attempts_per_s),
            format_rate(per_thread),
            ratio(per_thread, baseline)
        )?;
    }
    writeln!(
        out,
        "per-core ratio {:.2} (target >= 1.9, goal >= 2.4); scaling {} threads over 1: {:.2} (target >= 1.9 on 2 cores)",
        report.ratio_per_core,
        plan.largest_threads(),
        report.scaling
    )?;
    writeln!(out)?;
    writeln!(out, "kernel    attempts/s (1 thread)  / baseline")?;
    for row in &report.kernels {
        writeln!(
            out,
            "{:<9} {:>21}  {:>6.2}",
            row.name,
            format_rate(row.attempts_per_s),
            ratio(row.attempts_per_s, baseline)
        )?;
    }
    let spread = 100.0 * report.round_spread;
    if report.round_spread > NOISY_SPREAD {
        writeln!(
            out,
            "rounds disagreed by up to {spread:.0}% ({}): the machine was busy during the run; the best round is kept, but run again before trusting the figures",
            report.round_spread_of
        )?;
    } else {
        writeln!(
            out,
            "rounds agreed within {spread:.0}% (widest: {})",
            report.round_spread_of
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "difficulty  blocks  per block  effective attempts/s  of peak   blocks x 2^d /s  of peak   peak beside ({} threads)",
        plan.largest_threads()
    )?;
    for row in &report.by_difficulty {
        let peak = row.peak_attempts_per_s;
        let per_block = row
            .secs_per_block
            .map_or_else(|| "-".to_owned(), format_duration);
        // The blocks' rate is a count of lucky draws: with few blocks it says little
        // (18 blocks read 151 % of the peak once), so the table leaves it out.
        let (found, found_share) = if row.blocks >= MIN_BLOCKS_FOR_RATE {
            (
                format_rate(row.block_attempts_per_s),
                format!("{:.1}%", 100.0 * ratio(row.block_attempts_per_s, peak)),
            )
        } else {
            ("few blocks".to_owned(), "-".to_owned())
        };
        writeln!(
            out,
            "{:>10}  {:>6}  {:>9}  {:>20}  {:>6.1}%  {:>15}  {:>7}  {:>11}",
            row.difficulty,
            row.blocks,
            per_block,
            format_rate(row.attempts_per_s),
            100.0 * ratio(row.attempts_per_s, peak),
            found,
            found_share,
            format_rate(peak)
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "cancel latency ({} threads busy, {} cancels): p50 {:.0} µs, p99 {:.0} µs (target p99 <= 1000 µs)",
        plan.largest_threads(),
        report.cancels,
        report.cancel_p50_us,
        report.cancel_p99_us
    )?;
    Ok(())
}

/// The `[i/n] what` progress line on stderr, with the live hash rate, when stderr is a
/// terminal: the observer of the library's run.
struct Steps {
    tty: bool,
}

impl Steps {
    fn new() -> Self {
        Steps {
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// Erases the progress line.
    fn finish(&self) {
        if self.tty {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

impl Observer for Steps {
    fn step<T>(&mut self, step: &Step, progress: Option<&Progress>, work: impl FnOnce() -> T) -> T {
        let label = format!("[{}/{}] {step}", step.index, step.total);
        if self.tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K{label}");
            let _ = err.flush();
        }
        match progress {
            Some(progress) => with_live_rate(progress, &label, work),
            None => work(),
        }
    }
}

/// A block's time in the unit that shows three figures: a block at difficulty 8 takes
/// microseconds, one at 24 a good part of a second.
fn format_duration(secs: f64) -> String {
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 1e-3 {
        format!("{:.2} ms", secs * 1e3)
    } else {
        format!("{:.2} µs", secs * 1e6)
    }
}
