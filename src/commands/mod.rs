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

/// Reads a whole file, or standard input for `-`.
pub fn read_input(path: &str) -> anyhow::Result<String> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))
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
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
        return Ok(InputBytes::Read(bytes));
    }
    let context = || format!("cannot read {path}");
    let file = std::fs::File::open(path).with_context(context)?;
    let meta = file.metadata().with_context(context)?;
    if !meta.is_file() || meta.len() == 0 {
        return std::fs::read(path)
            .map(InputBytes::Read)
            .with_context(context);
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
    std::str::from_utf8(bytes).map_err(|_| {
        let err = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        );
        let what = if path == "-" {
            "cannot read standard input".to_owned()
        } else {
            format!("cannot read {path}")
        };
        anyhow::Error::new(err).context(what)
    })
}
