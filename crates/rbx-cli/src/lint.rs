//! `rbx lint`: report every problem in the given runbooks.
//!
//! An entry file (one with a `runbook` header) is checked as a whole
//! procedure, with the files it includes. A fragment named on the command
//! line that no entry file includes gets the syntax check alone.
//!
//! Diagnostics are rendered for people on standard error as they are found,
//! or collected and written in a machine format to standard output at the
//! end (see `report_formats`).

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use rbx_syntax::Diagnostic;

use crate::cli::LintArgs;
use crate::conventions::Verbosity;
use crate::report_formats::{self, Format, Record};
use crate::{exit, render, sources};

/// A level of diagnostic that `--deny` can make fail the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintLevel {
    /// Any warning makes the exit status 2.
    Warnings,
}

/// A file diagnostics are reported against, prepared once for however many
/// there are: a renderer for people, or the file's name and line index for a
/// machine format.
enum Target<'a> {
    Human(Box<render::Renderer<'a>>),
    Machine {
        file: String,
        lines: report_formats::LineIndex<'a>,
    },
}

/// The diagnostics found so far: counted, and either already rendered for
/// people or kept as records for a machine format.
struct Tally {
    format: Format,
    /// The directory machine formats name files relative to.
    cwd: Option<PathBuf>,
    records: Vec<Record>,
    errors: usize,
    warnings: usize,
}

impl Tally {
    fn new(format: Format) -> Self {
        Self {
            format,
            cwd: std::env::current_dir().ok(),
            records: Vec::new(),
            errors: 0,
            warnings: 0,
        }
    }

    fn target<'a>(&self, path: &Path, source: &'a str) -> Target<'a> {
        match self.format {
            Format::Human => Target::Human(Box::new(render::Renderer::new(
                path.display().to_string(),
                source,
            ))),
            Format::Json | Format::Sarif | Format::Github => Target::Machine {
                file: report_formats::display_path(path, self.cwd.as_deref()),
                lines: report_formats::LineIndex::new(source),
            },
        }
    }

    fn add(&mut self, diagnostic: &Diagnostic, target: &Target<'_>) {
        if diagnostic.is_error() {
            self.errors += 1;
        } else {
            self.warnings += 1;
        }
        match target {
            Target::Human(renderer) => err!("{}", renderer.render(diagnostic)),
            Target::Machine { file, lines } => {
                self.records
                    .push(Record::new(diagnostic, file.clone(), lines));
            }
        }
    }
}

/// Frees a checked procedure on a thread of its own: the tree and graph of
/// a large one take a while to free (a tenth of linting 10,000 steps), and
/// nothing waits for it. The process may end before the thread does. When
/// no thread can be had, the report is freed here, as it would have been.
fn free_aside(report: rbx_check::Report) {
    let _ = std::thread::Builder::new().spawn(move || drop(report));
}

pub fn run(args: &LintArgs) -> u8 {
    let (files, errors) = sources::expand(&args.paths);
    let mut failed = !errors.is_empty();
    for error in errors {
        err!("{}", error.render());
    }
    let mut tally = Tally::new(args.format);
    let fills = match fill(args, &mut tally) {
        Ok(fills) => fills,
        Err(status) => return status,
    };
    let policy = crate::project::policy();
    let mut fragments = Vec::new();
    let mut covered: HashSet<PathBuf> = HashSet::new();
    for given in &files {
        let bytes = match sources::read(given) {
            Ok(bytes) => bytes,
            Err(error) => {
                err!("{}", error.render());
                failed = true;
                continue;
            }
        };
        // Standard input is named by `--stdin-filename` (its includes are
        // found beside that path), else `<stdin>`.
        let path = match (given.as_os_str() == sources::STDIN, &args.stdin_filename) {
            (true, Some(name)) => name.clone(),
            (true, None) => PathBuf::from("<stdin>"),
            (false, _) => given.clone(),
        };
        if crate::conventions::verbosity() == Verbosity::Verbose {
            errln!("checking {}", path.display());
        }
        let parsed = rbx_syntax::parse_bytes(&bytes);
        if parsed.file.as_ref().is_some_and(|f| f.header.is_some()) {
            let entry = Entry {
                path: &path,
                bytes: &bytes,
                parsed,
            };
            entry.lint(&fills, &policy, &mut tally, &mut covered);
        } else {
            fragments.push((path, bytes, parsed));
        }
    }
    for (path, bytes, parsed) in fragments {
        if !covered.contains(&canonical(&path)) {
            lint_fragment(&path, &bytes, parsed, &policy, &mut tally);
        }
    }
    finish(args, &tally, files.len(), failed)
}

/// The fill file's values, its placeholders (a value still `_TBD_`, or
/// empty, reported at its place in the fill file as one in the runbook
/// would be); the exit status when it cannot be read.
fn fill(args: &LintArgs, tally: &mut Tally) -> Result<rbx_check::Fills, u8> {
    let fill_path = crate::project::fill(args.fill.as_deref());
    let fill = crate::run_cmd::fill(fill_path.as_deref())?;
    if let Some((path, text, _)) = &fill {
        let origin = format!("the fill file `{path}`");
        let target = tally.target(Path::new(path), text);
        for value in rbx_engine::fills::unfilled(text) {
            let diagnostic = crate::run_cmd::unfilled_diagnostic(&value, &origin);
            tally.add(&diagnostic, &target);
        }
    }
    Ok(fill.map(|(_, _, f)| f).unwrap_or_default())
}

/// A runbook's entry file, parsed once.
struct Entry<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    parsed: rbx_syntax::Parsed,
}

impl Entry<'_> {
    /// Checks the procedure the entry heads, with its includes, and notes
    /// every file it covers.
    fn lint(
        self,
        fills: &rbx_check::Fills,
        policy: &rbx_check::project::Policy,
        tally: &mut Tally,
        covered: &mut HashSet<PathBuf>,
    ) {
        let loader = sources::Overlay {
            path: self.path,
            bytes: self.bytes,
            parsed: std::cell::RefCell::new(Some(self.parsed)),
        };
        let mut report = rbx_check::check_with(self.path, &loader, fills);
        rbx_check::project::apply(&mut report, policy);
        for source in &report.sources {
            covered.insert(canonical(&source.path));
        }
        let mut targets: Vec<Option<Target<'_>>> = report.sources.iter().map(|_| None).collect();
        for finding in &report.findings {
            let source = &report.sources[finding.source];
            let target = targets[finding.source]
                .get_or_insert_with(|| tally.target(&source.path, &source.text));
            tally.add(&finding.diagnostic, target);
        }
        drop(targets);
        free_aside(report);
    }
}

/// A fragment no entry given includes: its syntax checked on its own.
fn lint_fragment(
    path: &Path,
    bytes: &[u8],
    parsed: rbx_syntax::Parsed,
    policy: &rbx_check::project::Policy,
    tally: &mut Tally,
) {
    let source = std::str::from_utf8(bytes).map_or_else(
        |_| String::from_utf8_lossy(bytes),
        std::borrow::Cow::Borrowed,
    );
    let mut findings: Vec<rbx_check::Finding> = parsed
        .diagnostics
        .into_iter()
        .map(|diagnostic| rbx_check::Finding {
            source: 0,
            diagnostic,
        })
        .collect();
    if parsed.file.is_some() {
        findings.push(rbx_check::Finding {
            source: 0,
            diagnostic: unresolved_fragment(path),
        });
    }
    rbx_check::project::apply_levels(&mut findings, policy);
    let target = tally.target(path, &source);
    for finding in &findings {
        tally.add(&finding.diagnostic, &target);
    }
}

/// The summary, the findings in the format asked for, and the exit status.
fn finish(args: &LintArgs, tally: &Tally, files: usize, mut failed: bool) -> u8 {
    // The summary goes to standard error in every format, so that a CI log
    // says what happened even when standard output went to a file.
    let verbosity = crate::conventions::verbosity();
    if verbosity == Verbosity::Verbose
        || (verbosity == Verbosity::Normal && tally.errors + tally.warnings > 0)
    {
        errln!(
            "{files} file(s) checked: {} error(s), {} warning(s)",
            tally.errors,
            tally.warnings
        );
    }
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let written = report_formats::write(
        args.format,
        &tally.records,
        files,
        tally.cwd.as_deref(),
        &mut stdout,
    )
    .and_then(|()| stdout.flush());
    if let Err(error) = written {
        errln!("error: cannot write to standard output: {error}");
        failed = true;
    }
    let denied = args.deny.contains(&LintLevel::Warnings) && tally.warnings > 0;
    if denied {
        errln!("error: warnings are denied by `--deny warnings`");
    }
    if failed || denied || tally.errors > 0 {
        exit::INVALID
    } else {
        exit::SUCCESS
    }
}

/// A fragment checked on its own: its syntax is, its references are not.
fn unresolved_fragment(path: &Path) -> Diagnostic {
    Diagnostic::warning(
        "rbx::lint::unresolved_fragment",
        format!(
            "`{}` is a fragment (it has no `runbook` header) and no entry runbook given \
             includes it: only its syntax was checked, not its references",
            path.display()
        ),
    )
    .primary(rbx_syntax::Span::new(0, 0), "a fragment")
    .help("lint the entry runbook that includes it (or its directory) to check it whole")
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
