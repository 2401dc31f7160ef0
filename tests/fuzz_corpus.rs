//! The fuzz targets (`fuzz/`, run with cargo-fuzz outside CI) replayed as plain tests:
//! the committed minimized corpus (`fuzz/corpus/TARGET/`), every input that once
//! failed (`fuzz/regressions/TARGET/`) and the vector files go through the very
//! functions the fuzzer drives, so the harness compiles and its properties hold in
//! CI. A finding of the fuzzer is kept twice: its input in `fuzz/regressions/TARGET/`
//! and a named test here that says what it found.

#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files of `dir` (none when it does not exist), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `target` over its corpus and regressions; returns how many inputs ran.
fn replay(name: &str, target: fn(&[u8])) -> usize {
    let mut ran = 0;
    for folder in ["corpus", "regressions"] {
        for file in files(&root().join("fuzz").join(folder).join(name)) {
            let data = std::fs::read(&file).expect("read a corpus file");
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{} fails {name}", file.display());
            ran += 1;
        }
    }
    ran
}

/// The vector chain files.
fn vector_chains() -> Vec<Vec<u8>> {
    files(&root().join("tests/vectors/chains"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| std::fs::read(p).expect("read a vector"))
        .collect()
}

#[test]
fn chain_json_corpus_replays() {
    let ran = replay("chain_json", targets::chain_json);
    assert!(ran > 0, "fuzz/corpus/chain_json is empty");
    for chain in vector_chains() {
        targets::chain_json(&chain);
    }
}

#[test]
fn validate_corpus_replays() {
    let ran = replay("validate", targets::validate);
    assert!(ran > 0, "fuzz/corpus/validate is empty");
    for chain in vector_chains() {
        targets::validate(&chain);
    }
}

#[test]
fn examine_corpus_replays() {
    let ran = replay("examine", targets::examine);
    assert!(ran > 0, "fuzz/corpus/examine is empty");
    for chain in vector_chains() {
        for selector in [0u8, 1, 2, 4, 8, 16, 24] {
            let mut input = vec![selector];
            input.extend_from_slice(&chain);
            targets::examine(&input);
        }
    }
}
