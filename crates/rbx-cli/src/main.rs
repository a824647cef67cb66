//! `rbx`: the command-line front end. The only crate that prints, reads
//! arguments or renders diagnostics.

mod cli;
mod exit;
mod fmt;
mod lint;
mod render;
mod sources;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let status = match cli.command {
        cli::Command::Lint(args) => lint::run(&args),
        cli::Command::Fmt(args) => fmt::run(&args),
    };
    ExitCode::from(status)
}
