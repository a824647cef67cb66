//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A declarative runbook engine: procedures as code, checked in CI, run step
/// by step with evidence.
#[derive(Debug, Parser)]
#[command(name = "rbx", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check runbooks and report every problem found.
    Lint(LintArgs),
    /// Rewrite runbooks in the canonical layout.
    Fmt(FmtArgs),
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Files to check; a directory means every `.runbook` file under it.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Files to format; a directory means every `.runbook` file under it.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Change nothing; print a diff of what would change and exit with 1 if
    /// anything would.
    #[arg(long)]
    pub check: bool,
}
