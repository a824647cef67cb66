//! `rbx fmt`: rewrite runbooks in the canonical layout, or with `--check`
//! show what would change.

use std::io::Write as _;
use std::path::Path;

use crate::cli::FmtArgs;
use crate::conventions::{Verbosity, verbosity};
use crate::{exit, render, sources};

pub fn run(args: &FmtArgs) -> u8 {
    let (mut files, errors) = sources::expand(&args.paths);
    let mut invalid = !errors.is_empty();
    for error in errors {
        err!("{}", error.render());
    }
    // A directory's scenario files are formatted with its runbooks.
    for dir in args.paths.iter().filter(|p| p.is_dir()) {
        if let Err(error) = sources::walk_for(dir, rbx_test::EXTENSION, &mut files) {
            errln!("error: cannot read `{}`: {error}", dir.display());
            invalid = true;
        }
    }
    let mut differs = false;
    for path in &files {
        match format_one(path, args.check) {
            Outcome::Unchanged => {}
            Outcome::Changed => differs = true,
            Outcome::Invalid => invalid = true,
        }
    }
    if invalid {
        exit::INVALID
    } else if differs && args.check {
        exit::FAILED
    } else {
        exit::SUCCESS
    }
}

enum Outcome {
    Unchanged,
    Changed,
    Invalid,
}

fn format_one(path: &Path, check: bool) -> Outcome {
    let stdin = path.as_os_str() == sources::STDIN;
    let name = if stdin {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let bytes = match sources::read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            err!("{}", error.render());
            return Outcome::Invalid;
        }
    };
    let parsed = rbx_syntax::parse_bytes(&bytes);
    let source = String::from_utf8_lossy(&bytes);
    let Some(file) = parsed.file.as_ref().filter(|_| !parsed.has_errors()) else {
        for diagnostic in &parsed.diagnostics {
            err!("{}", render::diagnostic(diagnostic, &name, &source));
        }
        errln!("error: `{name}` was not formatted because it does not parse");
        return Outcome::Invalid;
    };
    let formatted = rbx_syntax::fmt::format(&source, file);
    // Standard input is written back formatted, changed or not: an editor
    // replaces its buffer with what comes out.
    if stdin && !check {
        let _ = std::io::stdout().lock().write_all(formatted.as_bytes());
        return Outcome::Unchanged;
    }
    if formatted == source {
        if verbosity() == Verbosity::Verbose {
            errln!("unchanged {name}");
        }
        return Outcome::Unchanged;
    }
    if check {
        let diff = similar::TextDiff::from_lines(source.as_ref(), formatted.as_str());
        let text = diff
            .unified_diff()
            .context_radius(3)
            .header(&name, &format!("{name} (formatted)"))
            .to_string();
        // A closed pipe (`rbx fmt --check | head`) is not an error worth a panic.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        return Outcome::Changed;
    }
    if let Err(error) = std::fs::write(path, &formatted) {
        errln!(
            "error: cannot write `{name}`: {}",
            error.to_string().to_lowercase()
        );
        return Outcome::Invalid;
    }
    if verbosity() != Verbosity::Quiet {
        errln!("formatted {name}");
    }
    Outcome::Changed
}
