//! The subcommands of the `minichain` binary (the binary's edge: `anyhow` lives here).

pub mod bench;
pub mod export;
pub mod hash;
pub mod import;
pub mod mine;
pub mod node;
pub mod validate;

use std::io::{Read, Write};

use anyhow::Context;

/// Exit code for a chain that parsed but broke a rule.
pub const EXIT_INVALID: u8 = 1;
/// Exit code for input that could not be read or parsed.
pub const EXIT_BAD_INPUT: u8 = 2;

/// Writes `line` and a newline to standard output; a closed pipe or a full disk is an
/// error (exit 2), never a panic as `println!` would make it.
pub fn print_line(line: impl std::fmt::Display) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .context("cannot write to standard output")
}

/// Refuses a `--threads` the miner would refuse, in the flag's words, before any work
/// starts (`mine` and `node`; `bench` checks its list in its plan).
pub fn check_threads(threads: Option<usize>) -> anyhow::Result<()> {
    match threads {
        Some(0) => anyhow::bail!("--threads must be at least 1"),
        Some(n) if n > minichain::miner::MAX_THREADS => anyhow::bail!(
            "--threads must be at most {}, got {n}",
            minichain::miner::MAX_THREADS
        ),
        _ => Ok(()),
    }
}

/// The most bytes a command reads from one input (4 GiB; a chain of ten million blocks
/// is about 3 GiB): past it the command stops with an error instead of filling memory
/// (`validate /dev/zero` or an endless pipe would otherwise run until memory ran out).
/// A regular file that `validate` maps is not read into memory and has no such limit.
pub const MAX_INPUT_BYTES: u64 = 4 << 30;

/// The environment variable that sets a lower input limit than [`MAX_INPUT_BYTES`] (for
/// a small machine, and for the tests).
pub const MAX_INPUT_ENV: &str = "MINICHAIN_MAX_INPUT_BYTES";

/// The input limit in force: [`MAX_INPUT_ENV`] when it holds a number below
/// [`MAX_INPUT_BYTES`], else that.
fn max_input_bytes() -> u64 {
    std::env::var(MAX_INPUT_ENV)
        .ok()
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map_or(MAX_INPUT_BYTES, |limit| limit.min(MAX_INPUT_BYTES))
}

/// What an input is called in errors: its path, with control characters escaped (a
/// file name may carry terminal escapes), or "standard input" for `-`.
pub fn input_name(path: &str) -> String {
    if path == "-" {
        "standard input".to_owned()
    } else {
        shown_path(path)
    }
}

/// `path` as errors show it: control characters escaped (`\u{1b}`), everything else
/// as it is, quotes and backslashes included.
pub fn shown_path(path: impl AsRef<std::path::Path>) -> String {
    path.as_ref()
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Reads all of `reader`, but no more than the input limit: an input past it is an error
/// that names it and the limit.
fn read_bounded(reader: impl Read, path: &str) -> anyhow::Result<Vec<u8>> {
    let limit = max_input_bytes();
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", input_name(path)))?;
    if bytes.len() as u64 > limit {
        anyhow::bail!(too_large(path, limit));
    }
    Ok(bytes)
}

/// The error for an input larger than `limit`.
fn too_large(path: &str, limit: u64) -> String {
    format!(
        "cannot read {}: it holds more than {limit} bytes, the most a command reads \
         ({MAX_INPUT_ENV} can set a lower limit)",
        input_name(path)
    )
}

/// Reads a whole file, or standard input for `-`, as text, up to the input limit
/// ([`MAX_INPUT_BYTES`]).
pub fn read_input(path: &str) -> anyhow::Result<String> {
    let bytes = if path == "-" {
        read_bounded(std::io::stdin().lock(), path)?
    } else {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot read {}", input_name(path)))?;
        // A regular file past the limit is refused before a byte of it is read.
        let limit = max_input_bytes();
        if file
            .metadata()
            .is_ok_and(|meta| meta.is_file() && meta.len() > limit)
        {
            anyhow::bail!(too_large(path, limit));
        }
        read_bounded(file, path)?
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(_) => Err(utf8_error(path)),
    }
}

/// A whole input as bytes, for a reader that checks UTF-8 itself: a regular file is
/// mapped into memory (no copy, and the threads that read it fault its pages in
/// parallel), anything else is read into a buffer.
pub enum InputBytes {
    /// A regular file, mapped read-only.
    Mapped(memmap2::Mmap),
    /// Standard input, a pipe or an empty file, read.
    Read(Vec<u8>),
}

impl std::ops::Deref for InputBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            InputBytes::Mapped(map) => map,
            InputBytes::Read(bytes) => bytes,
        }
    }
}

/// Reads a whole file, or standard input for `-`, as bytes (see [`InputBytes`] and,
/// for the text, [`input_text`]).
pub fn read_input_bytes(path: &str) -> anyhow::Result<InputBytes> {
    if path == "-" {
        return read_bounded(std::io::stdin().lock(), path).map(InputBytes::Read);
    }
    let context = || format!("cannot read {}", input_name(path));
    let file = std::fs::File::open(path).with_context(context)?;
    let meta = file.metadata().with_context(context)?;
    if !meta.is_file() || meta.len() == 0 {
        // A device, a pipe or an empty file: read, up to the limit.
        return read_bounded(file, path).map(InputBytes::Read);
    }
    // The same limit as for input read: a mapped file's pages cost memory as they are
    // read (a sparse file of a few bytes on disk may claim gigabytes).
    let limit = max_input_bytes();
    if meta.len() > limit {
        anyhow::bail!(too_large(path, limit));
    }
    // SAFETY: the map is only read. Another process that changes the file while it
    // is mapped changes what this command reads (a truncation can end it with
    // SIGBUS): the same bargain as every tool that maps its input, taken here for a
    // one-shot command over a file its user names, never for a node's own data.
    let map = unsafe { memmap2::MmapOptions::new().map(&file) }.with_context(context)?;
    Ok(InputBytes::Mapped(map))
}

/// The text of input read by [`read_input_bytes`] from `path`, failing as
/// [`read_input`] would have.
pub fn input_text<'a>(path: &str, bytes: &'a [u8]) -> anyhow::Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|_| utf8_error(path))
}

/// The error for input that is not UTF-8.
fn utf8_error(path: &str) -> anyhow::Error {
    let err = std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "stream did not contain valid UTF-8",
    );
    anyhow::Error::new(err).context(format!("cannot read {}", input_name(path)))
}
