//! Writes a long valid chain (strict rules) for benchmarks: every block carries an
//! object `data`, difficulties settle at 1–2 so it mines in seconds.
//!
//! Run with `cargo run --release --example make_chain -- 100000 /tmp/chain-100k.json`.

use std::io::Write;

use minichain::chain::block::write_chain;
use minichain::chain::json::Dialect;
use minichain::chain::{Difficulty, Json, genesis};
use minichain::miner::reference::mine_reference;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let path = args.next().unwrap_or_else(|| "chain.json".to_owned());
    let mut blocks = vec![genesis()];
    for i in 1..n {
        let prev = &blocks[i - 1];
        let difficulty = Difficulty(if prev.difficulty.0 > 2 { prev.difficulty.0 - 1 } else { 3 - prev.difficulty.0 });
        let data = format!(
            r#"{{"tx": [{{"from": "alice{i}", "to": "bob", "amount": {}.5}}], "memo": "block {i} of the benchmark chain", "seq": {i}}}"#,
            i % 1000
        );
        let data = Json::parse(&data).map_err(std::io::Error::other)?;
        let block = mine_reference(prev, data, 1_764_000_000_000 + i as u64 * 1000, difficulty);
        blocks.push(block);
    }
    let mut out = Vec::new();
    write_chain(&blocks, Dialect::Python, &mut out);
    std::fs::File::create(&path)?.write_all(&out)?;
    eprintln!("wrote {n} blocks ({} bytes) to {path}", out.len());
    Ok(())
}
