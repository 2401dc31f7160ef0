//! The subcommands of the `minichain` binary (the binary's edge: `anyhow` lives here).

pub mod bench;
pub mod hash;
pub mod mine;
pub mod node;
pub mod validate;

use std::io::Read;

use anyhow::Context;

/// Exit code for a chain that parsed but broke a rule.
pub const EXIT_INVALID: u8 = 1;
/// Exit code for input that could not be read or parsed.
pub const EXIT_BAD_INPUT: u8 = 2;

/// Reads a whole file, or standard input for `-`.
pub fn read_input(path: &str) -> anyhow::Result<String> {
    input_text(path, read_input_bytes(path)?)
}

/// Reads a whole file, or standard input for `-`, as bytes: for a reader that checks
/// UTF-8 itself (see [`input_text`] for the text).
pub fn read_input_bytes(path: &str) -> anyhow::Result<Vec<u8>> {
    if path == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
        Ok(bytes)
    } else {
        std::fs::read(path).with_context(|| format!("cannot read {path}"))
    }
}

/// The text of input read by [`read_input_bytes`] from `path`, failing as reading it
/// as text would have.
pub fn input_text(path: &str, bytes: Vec<u8>) -> anyhow::Result<String> {
    String::from_utf8(bytes).map_err(|_| {
        let err = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        );
        let what = if path == "-" {
            "cannot read standard input as UTF-8".to_owned()
        } else {
            format!("cannot read {path}")
        };
        anyhow::Error::new(err).context(what)
    })
}
