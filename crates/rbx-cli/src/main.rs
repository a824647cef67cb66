//! `rbx`: the command-line front end. The only crate that prints, reads
//! arguments or renders diagnostics.

/// Lines for the person at the terminal. A closed standard output or error
/// (`rbx run … | head -1`, a terminal that went away) must never change a
/// run: write errors are ignored, where `println!` would panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod cache_dir;
mod cli;
mod conventions;
mod exit;
mod fmt;
mod graph_cmd;
mod identity;
mod lint;
mod lsp_cmd;
mod pick;
mod plan;
mod project;
mod render;
mod report;
mod report_formats;
mod run_cmd;
mod runs_cmd;
mod sources;
mod store_cmd;
mod terminal;
mod test_cmd;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    conventions::set_colour(cli.color);
    conventions::set_verbosity(cli.quiet, cli.verbose);
    let reads_runbooks = cli.command.reads_runbooks();
    if (reads_runbooks || cli.command.uses_store())
        && let Err(status) = project::load(!reads_runbooks)
    {
        return ExitCode::from(status);
    }
    if let Err(status) = run_cmd::hold_test_clock() {
        return ExitCode::from(status);
    }
    let status = match cli.command {
        cli::Command::Lint(args) => lint::run(&args),
        cli::Command::Fmt(args) => fmt::run(&args),
        cli::Command::Graph(args) => graph_cmd::run(&args),
        cli::Command::Plan(args) => plan::run(&args),
        cli::Command::Run(args) => run_cmd::run(&args),
        cli::Command::Resume(args) => run_cmd::resume(&args),
        cli::Command::Confirm(args) => runs_cmd::confirm(&args),
        cli::Command::Cancel(args) => run_cmd::cancel(&args),
        cli::Command::Runs(args) => runs_cmd::runs(&args),
        cli::Command::Status(args) => runs_cmd::status(&args),
        cli::Command::Log(args) => runs_cmd::log(&args),
        cli::Command::Verify(args) => runs_cmd::verify(&args),
        cli::Command::Report(args) => report::run(&args),
        cli::Command::Test(args) => test_cmd::run(&args),
        cli::Command::Completions(args) => conventions::completions(&args),
        cli::Command::Store(cli::StoreCommand::Copy(args)) => store_cmd::copy(&args),
        cli::Command::Man(args) => conventions::man(&args),
        cli::Command::Lsp(args) => lsp_cmd::run(&args),
    };
    ExitCode::from(status)
}
