//! A project's configuration, `rbx.toml`, and the lint policy that it and
//! the suppressions written in runbooks set.
//!
//! ```toml
//! # rbx.toml, at the root of a runbook repository
//! exclude = ["tests/fixtures/"]   # gitignore patterns, from this directory
//! fill = "fills/staging.toml"     # the default `--fill`
//! store = "postgres://rbx-db.internal/rbx?sslmode=verify-full"  # a team's store
//!
//! [lint]                          # a level per lint: allow, warn or deny
//! unused_capture = "allow"
//! unverified_irreversible = "deny"
//! ```
//!
//! A finding can be allowed where it is, with the reason, in a comment on
//! its line or on the line before it:
//!
//! ```text
//! # rbx: allow(over_budget) the vendor's SLA is 40 minutes, agreed with the owner
//! ```
//!
//! Only the lints that judge a procedure's quality can be allowed or given
//! a level ([`ADJUSTABLE`]); what keeps rbx from building or safely running
//! the procedure (syntax, references, types, injection) cannot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rbx_syntax::ast::Comment;
use rbx_syntax::{Diagnostic, Severity, Span};
use serde::Deserialize;
use toml::Spanned;

use crate::{Finding, LoadError, Loader, Report};

/// The name of the configuration file at a project's root.
pub const FILE_NAME: &str = "rbx.toml";

/// The lints a project or a suppression may allow or give a level.
pub const ADJUSTABLE: &[&str] = &[
    "rbx::lint::condition_reads_later",
    "rbx::lint::constant_condition",
    "rbx::lint::empty_parallel",
    "rbx::lint::every_beside_nothing",
    "rbx::lint::manual_without_evidence",
    "rbx::lint::maybe_skipped",
    "rbx::lint::over_budget",
    "rbx::lint::parallel_limit",
    "rbx::lint::retry_on_success",
    "rbx::lint::skipped_value",
    "rbx::lint::unbounded_budget",
    "rbx::lint::unreachable",
    "rbx::lint::unresolved_fragment",
    "rbx::lint::until_reads_no_iteration",
    "rbx::lint::unused_capture",
    "rbx::lint::unused_input",
    "rbx::lint::unused_link",
    "rbx::lint::unused_outcome",
    "rbx::lint::unused_param",
    "rbx::lint::unused_role",
    "rbx::lint::unused_suppression",
    "rbx::lint::unverified_irreversible",
];

/// The lints that report what keeps rbx from building or safely running a
/// procedure: never allowed.
pub const FIXED: &[&str] = &[
    "rbx::lint::assign_evidence",
    "rbx::lint::at_once_range",
    "rbx::lint::at_once_reads",
    "rbx::lint::bad_call",
    "rbx::lint::bad_suppression",
    "rbx::lint::bad_time_zone",
    "rbx::lint::bad_timestamp",
    "rbx::lint::bad_version",
    "rbx::lint::call_argument",
    "rbx::lint::call_without_params",
    "rbx::lint::child_cycle",
    "rbx::lint::child_errors",
    "rbx::lint::child_input_missing",
    "rbx::lint::child_input_twice",
    "rbx::lint::child_input_unknown",
    "rbx::lint::child_runbook",
    "rbx::lint::cycle",
    "rbx::lint::dead_end",
    "rbx::lint::duplicate_condition",
    "rbx::lint::duplicate_finally",
    "rbx::lint::duplicate_argument",
    "rbx::lint::duplicate_id",
    "rbx::lint::duplicate_param",
    "rbx::lint::include_cycle",
    "rbx::lint::include_not_found",
    "rbx::lint::every_bound",
    "rbx::lint::every_interval",
    "rbx::lint::every_reads",
    "rbx::lint::interpolated_option",
    "rbx::lint::invalid_regex",
    "rbx::lint::misplaced",
    "rbx::lint::missing_argument",
    "rbx::lint::needs_arguments",
    "rbx::lint::no_branches",
    "rbx::lint::non_exhaustive",
    "rbx::lint::not_boolean",
    "rbx::lint::placeholder",
    "rbx::lint::quoted_interpolation",
    "rbx::lint::repeat_bound",
    "rbx::lint::reparsed_interpolation",
    "rbx::lint::secret_in_expression",
    "rbx::lint::tolerate_range",
    "rbx::lint::type_mismatch",
    "rbx::lint::unbounded_repeat",
    "rbx::lint::unfilled_role",
    "rbx::lint::unknown_argument",
    "rbx::lint::unknown_field",
    "rbx::lint::unknown_function",
    "rbx::lint::unknown_reference",
    "rbx::lint::unknown_value",
    "rbx::lint::unset_link",
];

const CONFIG: &str = "rbx::config::invalid";
const BAD_SUPPRESSION: &str = "rbx::lint::bad_suppression";
const UNUSED_SUPPRESSION: &str = "rbx::lint::unused_suppression";

/// What a project's `rbx.toml` says.
#[derive(Debug, Clone, Default)]
pub struct Project {
    /// The directory that holds `rbx.toml`.
    pub root: PathBuf,
    /// Patterns, in `.gitignore` syntax relative to `root`, of paths that
    /// directory walks skip.
    pub exclude: Vec<String>,
    /// The fill file used when a command is given no `--fill`, made
    /// absolute against `root`.
    pub fill: Option<PathBuf>,
    /// The store runs are recorded in when no `--store`, `RBX_STORE` or
    /// `--state-dir` says otherwise: a directory, or a `postgres://` URL
    /// (without its password) that a team shares.
    pub store: Option<String>,
    pub policy: Policy,
    /// The file's text, as a run keeps it in its snapshot.
    pub text: String,
}

/// A level per lint code, from `[lint]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    levels: BTreeMap<&'static str, Level>,
}

/// What a project makes of one lint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Not reported.
    Allow,
    /// Reported as a warning.
    Warn,
    /// Reported as an error.
    Deny,
}

impl Policy {
    /// The policy with `level` for `code` (a full or short lint code).
    pub fn with(mut self, code: &str, level: Level) -> Result<Self, String> {
        self.levels.insert(adjustable(code)?, level);
        Ok(self)
    }
}

/// A configuration file that could not be used: the diagnostic points
/// into its text.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub path: PathBuf,
    pub text: String,
    pub diagnostic: Diagnostic,
}

/// The `store` an `rbx.toml` names, read on its own: a command that only
/// opens the store still finds it when another part of the file has a
/// mistake (a misspelt lint). `None` when the file is not TOML, or its
/// `store` is not a string: then nothing can be said of the store.
pub fn store_setting(text: &str) -> Option<Option<String>> {
    #[derive(Deserialize)]
    struct StoreOnly {
        store: Option<toml::Value>,
    }
    let only: StoreOnly = toml::from_str(text).ok()?;
    match only.store {
        None => Some(None),
        Some(toml::Value::String(store)) => Some(Some(store)),
        Some(_) => None,
    }
}

/// Finds the project `start` (a directory) is in: the nearest directory at
/// or above it with an `rbx.toml`, read through `loader`.
pub fn discover(start: &Path, loader: &dyn Loader) -> Result<Option<Project>, Box<ConfigError>> {
    for dir in start.ancestors() {
        let path = dir.join(FILE_NAME);
        let bytes = match loader.load(&path, None) {
            Ok(bytes) => bytes,
            Err(LoadError::NotFound) => continue,
            Err(why) => {
                return Err(Box::new(ConfigError {
                    diagnostic: Diagnostic::error(
                        CONFIG,
                        format!("cannot read `{FILE_NAME}`: {why}"),
                    )
                    .help("make it a regular, readable file, or remove it"),
                    path,
                    text: String::new(),
                }));
            }
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        return match parse(dir, &text) {
            Ok(project) => Ok(Some(project)),
            Err(diagnostic) => Err(Box::new(ConfigError {
                path,
                text,
                diagnostic,
            })),
        };
    }
    Ok(None)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    exclude: Vec<String>,
    fill: Option<Spanned<String>>,
    store: Option<String>,
    #[serde(default)]
    lint: BTreeMap<Spanned<String>, Spanned<Level>>,
}

/// Reads the text of the `rbx.toml` in `root`.
pub fn parse(root: &Path, text: &str) -> Result<Project, Diagnostic> {
    let raw: RawConfig = toml::from_str(text).map_err(|error| {
        let diagnostic = Diagnostic::error(CONFIG, format!("`{FILE_NAME}`: {}", error.message().trim()))
            .help("the keys are `exclude` (a list of patterns), `fill` (a path), `store` (a directory or a `postgres://` URL) and the table `[lint]` (code = \"allow\" | \"warn\" | \"deny\")");
        match error.span() {
            Some(range) => diagnostic.primary(Span::new(range.start, range.end), "here"),
            None => diagnostic,
        }
    })?;
    let mut policy = Policy::default();
    for (code, level) in raw.lint {
        policy = policy
            .with(code.get_ref(), *level.get_ref())
            .map_err(|why| {
                let span = code.span();
                Diagnostic::error(CONFIG, why.clone())
                    .primary(Span::new(span.start, span.end), "this lint")
                    .help(format!(
                        "the lints that take a level are {}",
                        ADJUSTABLE
                            .iter()
                            .map(|c| format!("`{}`", short(c)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
            })?;
    }
    let fill = match raw.fill {
        Some(fill) => Some(root.join(inside(&fill)?)),
        None => None,
    };
    Ok(Project {
        root: root.to_path_buf(),
        exclude: raw.exclude,
        fill,
        store: raw.store,
        policy,
        text: text.to_string(),
    })
}

/// The fill path, which must stay inside the project: `rbx.toml` comes with
/// the repository CI lints, and must not make rbx read (and quote in an
/// error) a file elsewhere on the machine.
fn inside(fill: &Spanned<String>) -> Result<&Path, Diagnostic> {
    let path = Path::new(fill.get_ref().as_str());
    let outside = path.components().any(|c| {
        !matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if outside {
        let span = fill.span();
        return Err(Diagnostic::error(
            CONFIG,
            format!("`fill = \"{}\"` leads outside the project", fill.get_ref()),
        )
        .primary(Span::new(span.start, span.end), "not inside this directory")
        .help("give a path relative to the directory of `rbx.toml`, with no `..`; pass another file with `--fill`"));
    }
    Ok(path)
}

/// The full code of an adjustable lint given as `code` or its last part,
/// or why it is not one.
fn adjustable(code: &str) -> Result<&'static str, String> {
    let full = if code.contains("::") {
        code.to_string()
    } else {
        format!("rbx::lint::{code}")
    };
    if let Some(found) = ADJUSTABLE.iter().find(|c| **c == full) {
        return Ok(found);
    }
    if FIXED.contains(&full.as_str()) || !full.starts_with("rbx::lint::") {
        return Err(format!(
            "`{code}` cannot be allowed or given a level: it reports what keeps rbx from \
             building or safely running the procedure"
        ));
    }
    let suggestion = ADJUSTABLE
        .iter()
        .map(|c| short(c))
        .min_by_key(|c| strsim::levenshtein(c, short(&full)))
        .filter(|c| strsim::levenshtein(c, short(&full)) <= 3)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default();
    Err(format!("`{code}` is not a lint rbx knows{suggestion}"))
}

fn short(code: &str) -> &str {
    code.rsplit("::").next().unwrap_or(code)
}

/// One `# rbx: allow(…) reason` comment.
struct Suppression {
    span: Span,
    codes: Vec<(&'static str, bool)>,
    /// The line (0-based) whose findings it allows.
    line: usize,
}

/// Applies the suppressions written in the report's sources and then
/// `policy` to its findings. Suppressions that allow nothing are reported
/// when the whole procedure was checked (a report stopped by a syntax
/// error has not looked for what they allow).
pub fn apply(report: &mut Report, policy: &Policy) {
    let checked = report.graph.is_some();
    let mut added = Vec::new();
    let mut per_source: Vec<Vec<Suppression>> = Vec::new();
    let lines: Vec<Lines> = report.sources.iter().map(|s| Lines::new(&s.text)).collect();
    for (index, source) in report.sources.iter().enumerate() {
        let comments = source.file.as_ref().map_or(&[][..], |f| &f.comments[..]);
        let (suppressions, problems) = suppressions(&source.text, &lines[index], comments);
        added.extend(problems.into_iter().map(|diagnostic| Finding {
            source: index,
            diagnostic,
        }));
        per_source.push(suppressions);
    }
    report.findings.retain(|finding| {
        let Some(span) = finding.diagnostic.span() else {
            return true;
        };
        let Some(list) = per_source.get_mut(finding.source) else {
            return true;
        };
        let line = lines[finding.source].of(span.start);
        let code = finding.diagnostic.code;
        let mut allowed = false;
        for suppression in list.iter_mut().filter(|s| s.line == line) {
            for (allows, used) in &mut suppression.codes {
                if *allows == code {
                    *used = true;
                    allowed = true;
                }
            }
        }
        !allowed
    });
    if checked {
        for (index, list) in per_source.iter().enumerate() {
            for suppression in list {
                for (code, _) in suppression.codes.iter().filter(|(_, used)| !used) {
                    added.push(Finding {
                        source: index,
                        diagnostic: Diagnostic::warning(
                            UNUSED_SUPPRESSION,
                            format!("this allows `{}`, but there is none to allow here", short(code)),
                        )
                        .primary(suppression.span, "allows nothing")
                        .help("remove the suppression, or move it to the line the lint reports, or the line before it"),
                    });
                }
            }
        }
    }
    report.findings.extend(added);
    apply_levels(&mut report.findings, policy);
    report
        .findings
        .sort_by_key(|f| (f.source, f.diagnostic.span().unwrap_or_default().start));
}

/// Applies `policy`'s levels to `findings`.
pub fn apply_levels(findings: &mut Vec<Finding>, policy: &Policy) {
    findings.retain_mut(|finding| match policy.levels.get(finding.diagnostic.code) {
        Some(Level::Allow) => false,
        Some(Level::Warn) => {
            finding.diagnostic.severity = Severity::Warning;
            true
        }
        Some(Level::Deny) => {
            finding.diagnostic.severity = Severity::Error;
            true
        }
        None => true,
    });
}

/// The suppressions among `comments`, and what is wrong with the ones that
/// are not well formed.
fn suppressions(
    text: &str,
    lines: &Lines,
    comments: &[Comment],
) -> (Vec<Suppression>, Vec<Diagnostic>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for comment in comments {
        let Some(rest) = comment.text.trim_start().strip_prefix("rbx:") else {
            continue;
        };
        match parse_suppression(rest.trim()) {
            Ok((codes, reason)) => {
                let mut kept = Vec::new();
                for code in codes {
                    match adjustable(code) {
                        Ok(full) => kept.push((full, false)),
                        Err(why) => problems.push(
                            Diagnostic::warning(BAD_SUPPRESSION, why)
                                .primary(comment.span, "in this suppression"),
                        ),
                    }
                }
                if reason.is_empty() {
                    problems.push(
                        Diagnostic::warning(BAD_SUPPRESSION, "a suppression needs its reason")
                            .primary(comment.span, "why is this allowed?")
                            .help("write the reason after the parenthesis: `# rbx: allow(code) why it is right here`"),
                    );
                }
                found.push(Suppression {
                    span: comment.span,
                    codes: kept,
                    line: lines.target(text, comment.span.start),
                });
            }
            Err(why) => problems.push(
                Diagnostic::warning(BAD_SUPPRESSION, why)
                    .primary(comment.span, "not a suppression rbx can read")
                    .help("write `# rbx: allow(code, other_code) the reason`"),
            ),
        }
    }
    (found, problems)
}

/// `allow(a, b) reason` → the codes and the reason.
fn parse_suppression(text: &str) -> Result<(Vec<&str>, &str), String> {
    let Some(inner) = text.strip_prefix("allow(") else {
        return Err(format!(
            "`rbx: {}` is not a suppression: rbx comments say `allow(code) reason`",
            text.split_whitespace().next().unwrap_or("")
        ));
    };
    let Some((codes, reason)) = inner.split_once(')') else {
        return Err("`allow(` is not closed".to_string());
    };
    let codes: Vec<&str> = codes
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    if codes.is_empty() {
        return Err("`allow()` names no lint".to_string());
    }
    Ok((codes, reason.trim()))
}

/// Where each line of a source starts, to find a byte's line at once.
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1))
            .collect();
        Self { starts }
    }

    /// The line (from 0) that holds the byte at `offset`.
    fn of(&self, offset: usize) -> usize {
        self.starts.partition_point(|start| *start <= offset) - 1
    }

    /// The line a comment starting at `offset` suppresses: its own when
    /// code precedes it on the line, else the next line with code on it.
    fn target(&self, text: &str, offset: usize) -> usize {
        let line = self.of(offset);
        if !text[self.starts[line]..offset].trim().is_empty() {
            return line;
        }
        let mut next = line + 1;
        while let Some(start) = self.starts.get(next) {
            let end = self.starts.get(next + 1).map_or(text.len(), |e| *e);
            let code = text[*start..end].trim();
            if !code.is_empty() && !code.starts_with('#') {
                return next;
            }
            next += 1;
        }
        line
    }
}
