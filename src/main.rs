//! The `minichain` command line: a thin shell over the library. Each subcommand
//! parses its flags, calls the library and turns errors into one line on stderr and
//! an exit code (0 success, 1 an invalid chain, 2 unusable input).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// minichain: a fast proof-of-work blockchain node, byte-compatible with the original
/// Python mini_blockchain network.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Hash(commands::hash::HashArgs),
    Validate(commands::validate::ValidateArgs),
    Mine(commands::mine::MineArgs),
    Bench(commands::bench::BenchArgs),
    Node(Box<commands::node::NodeArgs>),
    Import(commands::import::ImportArgs),
    Export(commands::export::ExportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hash(args) => commands::hash::run(&args),
        Command::Validate(args) => commands::validate::run(&args),
        Command::Mine(args) => commands::mine::run(&args),
        Command::Bench(args) => commands::bench::run(&args),
        Command::Node(args) => commands::node::run(&args),
        Command::Import(args) => commands::import::run(&args),
        Command::Export(args) => commands::export::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(commands::EXIT_BAD_INPUT)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every help text of every subcommand and flag, with where it is.
    fn help_texts(cmd: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
        let path = format!("{path} {}", cmd.get_name());
        for text in [cmd.get_about(), cmd.get_long_about()]
            .into_iter()
            .flatten()
        {
            out.push((path.clone(), text.to_string()));
        }
        for arg in cmd.get_arguments() {
            for text in [arg.get_help(), arg.get_long_help()].into_iter().flatten() {
                out.push((format!("{path} --{}", arg.get_id()), text.to_string()));
            }
        }
        for sub in cmd.get_subcommands() {
            help_texts(sub, &path, out);
        }
    }

    /// No help text holds `{n}`: clap prints it as a line break, which cuts a route
    /// like `/api/blocks/{n}` in two.
    #[test]
    fn no_help_text_holds_clap_line_break_marker() {
        let mut texts = Vec::new();
        help_texts(&Cli::command(), "", &mut texts);
        assert!(texts.iter().any(|(_, text)| text.contains("/api/blocks/N")));
        for (place, text) in &texts {
            assert!(!text.contains("{n}"), "{place}: {text:?}");
        }
    }
}
