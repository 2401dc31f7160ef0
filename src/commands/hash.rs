//! `minichain hash`: the hash (or preimage) of blocks read on standard input.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use minichain::chain::block::parse_blocks_lenient;
use minichain::chain::hash::{BlockHasher, write_preimage};
use minichain::chain::json::{Dialect, write_string};

/// Print the hash of each block on standard input (one block object, or a JSON array of
/// blocks), one line per block. The `hash` field may be left out.
///
/// Start here when a block is rejected: `--preimage` shows the exact string the
/// original hashes (Python's str() of each field, concatenated).
#[derive(Args, Debug)]
pub struct HashArgs {
    /// Print the preimage (as a JSON string) instead of the hash.
    #[arg(long)]
    preimage: bool,
}

/// Runs `minichain hash`.
pub fn run(args: &HashArgs) -> anyhow::Result<ExitCode> {
    let text = super::read_input("-")?;
    let blocks = parse_blocks_lenient(&text).context("standard input")?;
    let mut out = Vec::new();
    let mut hasher = BlockHasher::new();
    let mut preimage = Vec::new();
    for block in &blocks {
        if args.preimage {
            preimage.clear();
            write_preimage(block, &mut preimage);
            write_string(
                &String::from_utf8_lossy(&preimage),
                Dialect::Compact,
                &mut out,
            );
            out.push(b'\n');
        } else {
            writeln!(out, "{}", hasher.hash(block))?;
        }
    }
    std::io::stdout().lock().write_all(&out)?;
    Ok(ExitCode::SUCCESS)
}
