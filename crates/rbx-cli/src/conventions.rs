//! What every Rust command-line tool is expected to offer: shell
//! completions, manual pages, and colour that follows `--color`,
//! `NO_COLOR`, `CLICOLOR` and `CLICOLOR_FORCE`.

use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::OnceLock;

use clap::CommandFactory as _;

use crate::cli::{Cli, ColorChoice, CompletionsArgs, ManArgs};
use crate::exit;

static COLOUR: OnceLock<ColorChoice> = OnceLock::new();
static VERBOSITY: OnceLock<Verbosity> = OnceLock::new();

/// How much rbx says beyond what was asked: `-q`, the default, or `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// Records `-q` / `-v` for the whole process; called once, first thing.
pub fn set_verbosity(quiet: bool, verbose: bool) {
    let level = match (quiet, verbose) {
        (true, _) => Verbosity::Quiet,
        (false, true) => Verbosity::Verbose,
        (false, false) => Verbosity::Normal,
    };
    let _ = VERBOSITY.set(level);
}

/// The verbosity `-q` or `-v` asked for.
pub fn verbosity() -> Verbosity {
    VERBOSITY.get().copied().unwrap_or(Verbosity::Normal)
}

/// Records `--color` for the whole process; called once, first thing.
pub fn set_colour(choice: ColorChoice) {
    let _ = COLOUR.set(choice);
}

/// Whether standard error gets colour: `--color always` or `never` as
/// said; otherwise (`auto`) never with `NO_COLOR`, always with
/// `CLICOLOR_FORCE`, never with `CLICOLOR=0`, else only on a terminal.
pub fn colour() -> bool {
    match COLOUR.get().copied().unwrap_or(ColorChoice::Auto) {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if anstyle_query::no_color() {
                false
            } else if anstyle_query::clicolor_force() {
                true
            } else if anstyle_query::clicolor() == Some(false) {
                false
            } else {
                std::io::stderr().is_terminal()
            }
        }
    }
}

/// `rbx completions SHELL`: the completion script on standard output.
pub fn completions(args: &CompletionsArgs) -> u8 {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "rbx", &mut std::io::stdout());
    exit::SUCCESS
}

/// `rbx man DIR`: `rbx.1` and one page per command (`rbx-run.1`, …).
pub fn man(args: &ManArgs) -> u8 {
    match write_pages(&args.dir) {
        Ok(count) => {
            errln!("wrote {count} manual pages to {}", args.dir.display());
            exit::SUCCESS
        }
        Err(e) => {
            errln!(
                "error: cannot write manual pages to `{}`: {e}",
                args.dir.display()
            );
            exit::INVALID
        }
    }
}

fn write_pages(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let command = Cli::command();
    let mut count = 0;
    let mut page = |command: clap::Command, name: String| -> std::io::Result<()> {
        let mut bytes = Vec::new();
        clap_mangen::Man::new(command)
            .title(name.to_uppercase())
            .render(&mut bytes)?;
        std::fs::write(dir.join(format!("{name}.1")), bytes)?;
        count += 1;
        Ok(())
    };
    for sub in command.get_subcommands() {
        let name = format!("rbx-{}", sub.get_name());
        let full = format!("rbx {}", sub.get_name());
        page(sub.clone().bin_name(full).display_name(name.clone()), name)?;
    }
    page(command, "rbx".to_string())?;
    Ok(count)
}
