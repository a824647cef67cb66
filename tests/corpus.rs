//! Every runbook the project ships — in `runbooks/`, `examples/` and the
//! book — passes `rbx lint`, and formats to a fixed point that parses to
//! the same tree.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::{rbx, repo};

fn runbooks_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            runbooks_under(&path, out);
        } else if path.extension().is_some_and(|e| e == "runbook") {
            out.push(path);
        }
    }
}

fn shipped_runbooks() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["runbooks", "examples"] {
        runbooks_under(&repo().join(dir), &mut files);
    }
    files
}

/// One ```runbook block of the book.
struct Snippet {
    /// `chapter.md:line`, for messages.
    origin: String,
    /// The path the fence names with `file=PATH`, so a snippet that
    /// includes another is checked with it.
    file: Option<String>,
    /// The diagnostic code the fence says the snippet shows with
    /// `expect=CODE`: the lint catalogue's failing examples.
    expect: Option<String>,
    body: String,
}

/// Every ```runbook block in the book.
fn book_snippets() -> Vec<Snippet> {
    let mut chapters = Vec::new();
    collect_markdown(&repo().join("book/src"), &mut chapters);
    chapters.sort();
    let mut snippets = Vec::new();
    for chapter in chapters {
        let text = fs::read_to_string(&chapter).expect("a book chapter is readable");
        let mut current: Option<Snippet> = None;
        for (n, line) in text.lines().enumerate() {
            let fence = line.trim_start();
            match &mut current {
                None if fence.starts_with("```runbook") => {
                    let attribute = |key: &str| {
                        fence
                            .split_whitespace()
                            .find_map(|word| word.strip_prefix(key))
                            .map(str::to_string)
                    };
                    current = Some(Snippet {
                        origin: format!("{}:{}", chapter.display(), n + 1),
                        file: attribute("file="),
                        expect: attribute("expect="),
                        body: String::new(),
                    });
                }
                Some(_) if fence.starts_with("```") => snippets.extend(current.take()),
                Some(snippet) => {
                    snippet.body.push_str(line);
                    snippet.body.push('\n');
                }
                None => {}
            }
        }
    }
    snippets
}

/// Writes snippets into `dir`, each at its `file=` path or a numbered name.
fn write_snippets<'s>(
    dir: &Path,
    snippets: impl Iterator<Item = (usize, &'s Snippet)>,
) -> Vec<String> {
    let mut names = Vec::new();
    for (i, snippet) in snippets {
        let name = snippet
            .file
            .clone()
            .unwrap_or_else(|| format!("snippet-{i:03}.runbook"));
        let path = dir.join(&name);
        fs::create_dir_all(path.parent().expect("a snippet path has a parent"))
            .expect("the temporary directory is writable");
        fs::write(
            &path,
            format!("# from {}\n{}", snippet.origin, snippet.body),
        )
        .expect("the temporary directory is writable");
        names.push(name);
    }
    names
}

fn collect_markdown(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.is_dir() {
            collect_markdown(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

#[test]
fn the_seed_procedure_and_examples_exist() {
    let files = shipped_runbooks();
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("runbooks/post-cutover.runbook"))
    );
    let examples = files
        .iter()
        .filter(|f| f.starts_with(repo().join("examples")))
        .count();
    assert!(
        examples >= 3,
        "expected at least three examples, found {examples}"
    );
}

#[test]
fn examples_pass_lint_without_a_warning() {
    let out = rbx(&repo(), &["lint", "--deny", "warnings", "examples"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
}

struct Files;

impl rbx_check::Loader for Files {
    fn load(&self, path: &Path, _: Option<&Path>) -> Result<Vec<u8>, rbx_check::LoadError> {
        fs::read(path).map_err(|e| rbx_check::LoadError::Unreadable(e.to_string()))
    }
}

/// The seed leaves its roles and external links `_TBD_`, as the document it
/// comes from does: lint must say exactly that, and nothing else.
#[test]
fn the_seed_reports_only_what_is_really_unfilled() {
    let report = rbx_check::check(&repo().join("runbooks/post-cutover.runbook"), &Files);
    let mut lines = Vec::new();
    for finding in &report.findings {
        let source = &report.sources[finding.source];
        let span = finding.diagnostic.span().unwrap_or_default();
        let line = source.text[..span.start].matches('\n').count() + 1;
        let file = source.path.strip_prefix(repo()).unwrap_or(&source.path);
        lines.push(format!(
            "{}:{line} {} {}",
            file.display(),
            finding.diagnostic.code,
            finding.diagnostic.message
        ));
    }
    let allowed = ["rbx::lint::placeholder", "rbx::lint::unset_link"];
    assert!(
        report
            .findings
            .iter()
            .all(|f| allowed.contains(&f.diagnostic.code)),
        "{}",
        lines.join("\n")
    );
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn shipped_runbooks_are_formatted() {
    let out = rbx(&repo(), &["fmt", "--check", "runbooks", "examples"]);
    assert_eq!(
        out.status, 0,
        "run `rbx fmt runbooks examples`:\n{}",
        out.stdout
    );
}

#[test]
fn book_snippets_pass_lint() {
    let snippets = book_snippets();
    assert!(
        snippets.len() >= 10,
        "the book has only {} runbook snippets",
        snippets.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let names = write_snippets(
        dir.path(),
        snippets
            .iter()
            .enumerate()
            .filter(|(_, s)| s.expect.is_none()),
    );
    // A snippet that shows a stage or a step alone is a fragment on
    // purpose: its syntax is what it shows.
    std::fs::write(
        dir.path().join("rbx.toml"),
        "[lint]\nunresolved_fragment = \"allow\"\n",
    )
    .unwrap();
    let mut args = vec!["lint", "--deny", "warnings"];
    args.extend(names.iter().map(String::as_str));
    let out = rbx(dir.path(), &args);
    assert_eq!(out.status, 0, "{}", out.transcript());
}

#[test]
fn book_failing_examples_show_the_code_they_document() {
    let snippets = book_snippets();
    for (i, snippet) in snippets.iter().enumerate() {
        let Some(code) = &snippet.expect else {
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let helpers = snippets
            .iter()
            .enumerate()
            .filter(|(_, s)| s.file.is_some());
        write_snippets(dir.path(), helpers);
        let names = write_snippets(dir.path(), std::iter::once((i, snippet)));
        let out = rbx(dir.path(), &["lint", &names[0]]);
        assert!(
            out.stderr.contains(code.as_str()),
            "{} should show {code}:\n{}",
            snippet.origin,
            out.transcript()
        );
    }
}

#[test]
fn shipped_runbooks_format_to_a_fixed_point_with_the_same_tree() {
    let mut sources: Vec<(String, String)> = shipped_runbooks()
        .into_iter()
        .map(|f| (f.display().to_string(), fs::read_to_string(&f).unwrap()))
        .collect();
    sources.extend(
        book_snippets()
            .into_iter()
            .filter(|s| s.expect.is_none())
            .map(|s| (s.origin, s.body)),
    );
    for (name, source) in sources {
        let parsed = rbx_syntax::parse(&source)
            .file
            .unwrap_or_else(|| panic!("{name} parses"));
        let once = rbx_syntax::fmt::format(&source, &parsed);
        let reparsed = rbx_syntax::parse(&once)
            .file
            .unwrap_or_else(|| panic!("{name} formatted no longer parses:\n{once}"));
        assert_eq!(reparsed, parsed, "{name}: formatting changed the meaning");
        let twice = rbx_syntax::fmt::format(&once, &reparsed);
        assert_eq!(twice, once, "{name}: formatting is not idempotent");
    }
}
