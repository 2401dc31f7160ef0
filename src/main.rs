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
    Node(commands::node::NodeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hash(args) => commands::hash::run(&args),
        Command::Validate(args) => commands::validate::run(&args),
        Command::Mine(args) => commands::mine::run(&args),
        Command::Bench(args) => commands::bench::run(&args),
        Command::Node(args) => commands::node::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(commands::EXIT_BAD_INPUT)
        }
    }
}
