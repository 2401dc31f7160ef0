//! The subcommands of the `minichain` binary (the binary's edge: `anyhow` lives here).

pub mod bench;
pub mod export;
pub mod hash;
pub mod import;
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
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input as UTF-8")?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))
    }
}
