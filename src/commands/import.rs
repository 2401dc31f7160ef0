//! `minichain import`: a chain file (or a synthetic chain) validated and written into a
//! data directory's store, so a node started on it serves that chain at once.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use minichain::chain::block::ChainReader;
use minichain::chain::validate::now_ms;
use minichain::chain::{Block, RuleSet, ValidChain, ValidationError};
use minichain::miner::synthetic::synthetic_blocks;
use minichain::store::ChainStore;

/// Import a chain into a data directory: FILE holds a JSON array of blocks (a Redis
/// message, Python's dialect) or `{"chain": [...]}` (what GET /api/blocks answers).
/// The chain is validated under the strict rules as it is read and written to
/// DIR/chain.redb in one step (a crash leaves the old store or the new one). A store
/// that holds more than genesis is replaced only with --replace; a store a running
/// node holds is refused. Progress goes to stderr; exit 1 for an invalid chain, 2 for
/// input that cannot be read.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The chain file, or `-` for standard input.
    #[arg(required_unless_present = "synthetic", conflicts_with = "synthetic")]
    file: Option<String>,
    /// Import a synthetic valid chain of N blocks (genesis included) instead of a file:
    /// small transaction-like data, low difficulty (1 to 2), so a million blocks take
    /// seconds; for tests and benchmarks.
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    synthetic: Option<usize>,
    /// The data directory (default: the node's, $XDG_DATA_HOME/minichain).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Replace a stored chain longer than genesis.
    #[arg(long)]
    replace: bool,
}

/// Blocks read, validated and added at a time.
const BATCH: usize = 8192;

/// How often progress is reported on stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Runs `minichain import`.
pub fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => super::node::default_data_dir()?,
    };
    check_target(&dir, args.replace)?;
    let started = Instant::now();
    let mut progress = Progress::new("read and validated");
    let chain = match (&args.synthetic, &args.file) {
        (Some(n), _) => {
            let mut blocks = synthetic_blocks(*n);
            let chain = read_batches(|| Ok(blocks.by_ref().take(BATCH).collect()), &mut progress)?;
            match chain {
                Ok(chain) => chain,
                Err(err) => bail!("the synthetic chain is invalid (a bug): {err}"),
            }
        }
        (None, Some(file)) => {
            let text = super::read_input(file)?;
            let name = super::input_name(file);
            let mut reader = ChainReader::new(&text).with_context(|| name.clone())?;
            let chain = read_batches(
                || reader.next_batch(BATCH).with_context(|| name.clone()),
                &mut progress,
            )?;
            match chain {
                Ok(chain) => chain,
                Err(err) => {
                    eprintln!("{name}: {err}; nothing imported");
                    return Ok(ExitCode::from(super::EXIT_INVALID));
                }
            }
        }
        (None, None) => bail!("give a chain FILE or --synthetic N"),
    };
    let read_time = started.elapsed();
    let mut written = Progress::new("written");
    ChainStore::write_new(&dir, &chain, |n| written.update(n))
        .with_context(|| format!("cannot write the store in {}", dir.display()))?;
    let total = started.elapsed();
    eprintln!(
        "import: {} blocks in {:.1} s ({:.0} blocks/s; reading and validating {:.1} s, writing {:.1} s)",
        chain.len(),
        total.as_secs_f64(),
        chain.len() as f64 / total.as_secs_f64().max(1e-9),
        read_time.as_secs_f64(),
        (total - read_time).as_secs_f64(),
    );
    super::print_line(format_args!(
        "imported {} block{}, tip {}, work {} into {}",
        chain.len(),
        if chain.len() == 1 { "" } else { "s" },
        chain.tip().hash,
        chain.work(),
        dir.join(minichain::store::FILE_NAME).display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Refuses a store that a node holds, or (without `replace`) one holding more than
/// genesis. Opening it also checks it; a damaged one is replaced only with `replace`.
fn check_target(dir: &Path, replace: bool) -> anyhow::Result<()> {
    if !dir.join(minichain::store::FILE_NAME).exists() {
        return Ok(());
    }
    match ChainStore::open(dir) {
        Ok((_, chain)) if chain.len() > 1 && !replace => bail!(
            "{} already holds {} blocks: pass --replace to replace them",
            dir.display(),
            chain.len()
        ),
        Ok(_) => Ok(()),
        Err(err @ minichain::store::StoreError::Locked { .. }) => Err(err.into()),
        Err(err) if replace => {
            eprintln!("import: replacing a store that does not open: {err}");
            Ok(())
        }
        Err(err) => Err(anyhow::Error::new(err).context("pass --replace to replace it")),
    }
}

/// Validates batches from `next` (empty: the end) onto one chain. The outer error is
/// unreadable input; the inner one an invalid chain.
fn read_batches(
    mut next: impl FnMut() -> anyhow::Result<Vec<Block>>,
    progress: &mut Progress,
) -> anyhow::Result<Result<ValidChain, ValidationError>> {
    let now = now_ms();
    let mut chain: Option<ValidChain> = None;
    loop {
        let batch = next()?;
        if batch.is_empty() {
            break;
        }
        let checked = match &mut chain {
            Some(chain) => chain.extend(batch, RuleSet::Strict, now),
            None => ValidChain::validate(batch, RuleSet::Strict, now).map(|c| chain = Some(c)),
        };
        if let Err(err) = checked {
            return Ok(Err(err));
        }
        progress.update(chain.as_ref().map_or(0, ValidChain::len));
    }
    match chain {
        Some(chain) => Ok(Ok(chain)),
        None => Ok(ValidChain::validate(Vec::new(), RuleSet::Strict, now)),
    }
}

/// A line on stderr every [`PROGRESS_EVERY`] while blocks are counted.
struct Progress {
    what: &'static str,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn new(what: &'static str) -> Progress {
        let now = Instant::now();
        Progress {
            what,
            started: now,
            last: now,
        }
    }

    fn update(&mut self, blocks: usize) {
        if self.last.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last = Instant::now();
        let secs = self.started.elapsed().as_secs_f64();
        eprintln!(
            "import: {blocks} blocks {} ({:.0} blocks/s)",
            self.what,
            blocks as f64 / secs.max(1e-9)
        );
    }
}
