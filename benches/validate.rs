//! Block hashing and full validation of a 10,000-block chain (from blocks, from text
//! through blocks, and straight from text as `minichain validate` does), on one thread
//! and on all threads, in blocks per second (`Throughput::Elements`).
//!
//! Run with `cargo bench --bench validate`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use minichain::chain::RuleSet;
use minichain::chain::block::{parse_chain, write_chain};
use minichain::chain::hash::BlockHasher;
use minichain::chain::json::Dialect;
use minichain::chain::validate::{check_chain, now_ms};
use minichain::chain::validate_text::validate_chain_text;
use minichain::miner::synthetic::synthetic_chain;
use rayon::prelude::*;
use std::hint::black_box;
use std::time::Duration;

const BLOCKS: usize = 10_000;

fn bench_validate(c: &mut Criterion) {
    let blocks = synthetic_chain(BLOCKS);
    let mut text = Vec::new();
    write_chain(&blocks, Dialect::Python, &mut text);
    let text = String::from_utf8(text).expect("utf-8");
    let all = std::thread::available_parallelism().map_or(1, usize::from);
    let mut group = c.benchmark_group("chain_10k");
    group.throughput(Throughput::Elements(BLOCKS as u64));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    for threads in [1, all] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        group.bench_with_input(BenchmarkId::new("hash", threads), &threads, |b, _| {
            b.iter(|| {
                pool.install(|| {
                    blocks
                        .par_iter()
                        .map_init(BlockHasher::new, |h, block| {
                            h.hash(black_box(block)).as_bytes()[0]
                        })
                        .max()
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("validate", threads), &threads, |b, _| {
            b.iter(|| {
                pool.install(|| check_chain(black_box(&blocks), RuleSet::Strict, now_ms()).is_ok())
            })
        });
        group.bench_with_input(
            BenchmarkId::new("validate_text", threads),
            &threads,
            |b, _| {
                b.iter(|| {
                    pool.install(|| {
                        validate_chain_text(black_box(text.as_bytes()), RuleSet::Strict, now_ms())
                            .is_some()
                    })
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("parse_and_validate", threads),
            &threads,
            |b, _| {
                b.iter(|| {
                    pool.install(|| {
                        let parsed = parse_chain(black_box(&text)).expect("parse");
                        check_chain(&parsed, RuleSet::Strict, now_ms()).is_ok()
                    })
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_validate);
criterion_main!(benches);
