//! `minichain mine`: mine one block on the tip of a chain and print it.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use minichain::chain::block::parse_chain;
use minichain::chain::validate::now_ms;
use minichain::chain::{Difficulty, DifficultyPolicy, Json, RuleSet, ValidChain};
use minichain::miner::reference::mine_like_original;

/// Mine one block on the tip of a chain (default: the genesis block) and print it as
/// JSON. The difficulty follows the chain (one more than the tip when blocks come
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
    /// Pin the difficulty (leading zero bits) instead of following the chain.
    #[arg(long, value_name = "D")]
    difficulty: Option<u32>,
    /// Target block time in milliseconds for the difficulty rule.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    mine_rate_ms: u64,
}

/// Runs `minichain mine`.
pub fn run(args: &MineArgs) -> anyhow::Result<ExitCode> {
    let data = Json::parse(&args.data).context("--data is not JSON")?;
    if data.has_nonfinite() {
        bail!(
            "--data holds NaN or an infinite number: Python nodes accept such a block and then answer 500 to every request, so minichain does not mine it"
        );
    }
    let chain = match &args.chain {
        None => ValidChain::genesis(),
        Some(path) => {
            let text = super::read_input(path)?;
            let blocks = parse_chain(&text).with_context(|| path.clone())?;
            match ValidChain::validate(blocks, RuleSet::Strict, now_ms()) {
                Ok(chain) => chain,
                Err(err) => {
                    eprintln!("error: {path}: {err}");
                    return Ok(ExitCode::from(super::EXIT_INVALID));
                }
            }
        }
    };
    if args.difficulty.is_some_and(|d| d > 256) {
        bail!("--difficulty must be at most 256 (a SHA-256 hash has 256 bits)");
    }
    let policy = DifficultyPolicy {
        mine_rate_ms: args.mine_rate_ms,
        ..DifficultyPolicy::default()
    };
    let block = mine_like_original(
        chain.tip(),
        data,
        &policy,
        args.difficulty.map(Difficulty),
        now_ms,
    );
    println!("{}", block.to_json_string());
    Ok(ExitCode::SUCCESS)
}
