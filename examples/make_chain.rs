//! Writes a long valid chain (strict rules) for benchmarks, as Python nodes write
//! chains on Redis: every block carries an object `data`.
//!
//! Run with `cargo run --release --example make_chain -- 100000 /tmp/chain-100k.json`.

use std::io::Write;

use minichain::chain::block::write_chain;
use minichain::chain::json::Dialect;
use minichain::miner::synthetic::synthetic_chain;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let path = args.next().unwrap_or_else(|| "chain.json".to_owned());
    let blocks = synthetic_chain(n);
    let mut out = Vec::new();
    write_chain(&blocks, Dialect::Python, &mut out);
    std::fs::File::create(&path)?.write_all(&out)?;
    eprintln!("wrote {n} blocks ({} bytes) to {path}", out.len());
    Ok(())
}
