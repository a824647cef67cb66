//! `rbx lint`: report every problem in the given runbooks.

use crate::cli::LintArgs;
use crate::{exit, render, sources};

pub fn run(args: &LintArgs) -> u8 {
    let (files, errors) = sources::expand(&args.paths);
    let mut failed = !errors.is_empty();
    for error in errors {
        eprintln!(
            "error: cannot read `{}`: {}",
            error.path.display(),
            error.reason
        );
    }
    let mut error_count = 0;
    let mut warning_count = 0;
    for path in &files {
        let bytes = match sources::read(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                eprintln!(
                    "error: cannot read `{}`: {}",
                    error.path.display(),
                    error.reason
                );
                failed = true;
                continue;
            }
        };
        let parsed = rbx_syntax::parse_bytes(&bytes);
        let source = String::from_utf8_lossy(&bytes);
        let name = path.display().to_string();
        for diagnostic in &parsed.diagnostics {
            if diagnostic.is_error() {
                error_count += 1;
            } else {
                warning_count += 1;
            }
            eprint!("{}", render::diagnostic(diagnostic, &name, &source));
        }
    }
    if error_count + warning_count > 0 {
        eprintln!(
            "{} file(s) checked: {error_count} error(s), {warning_count} warning(s)",
            files.len()
        );
    }
    if failed || error_count > 0 {
        exit::INVALID
    } else {
        exit::SUCCESS
    }
}
