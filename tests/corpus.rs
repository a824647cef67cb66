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

/// Every ```runbook block in the book, with the chapter and line it came
/// from.
fn book_snippets() -> Vec<(String, String)> {
    book_snippets_with_paths()
        .into_iter()
        .map(|(origin, _, body)| (origin, body))
        .collect()
}

/// The book's snippets, each with the path its fence names (`file=PATH`),
/// if any, so a snippet that includes another is checked with it.
fn book_snippets_with_paths() -> Vec<(String, Option<String>, String)> {
    let mut chapters = Vec::new();
    collect_markdown(&repo().join("book/src"), &mut chapters);
    let mut snippets = Vec::new();
    for chapter in chapters {
        let text = fs::read_to_string(&chapter).expect("a book chapter is readable");
        let mut current: Option<(usize, Option<String>, String)> = None;
        for (n, line) in text.lines().enumerate() {
            match &mut current {
                None if line.trim_start().starts_with("```runbook") => {
                    let file = line
                        .split_whitespace()
                        .find_map(|word| word.strip_prefix("file="))
                        .map(str::to_string);
                    current = Some((n + 1, file, String::new()));
                }
                Some((start, file, body)) if line.trim_start().starts_with("```") => {
                    let name = format!("{}:{start}", chapter.display());
                    snippets.push((name, file.take(), std::mem::take(body)));
                    current = None;
                }
                Some((_, _, body)) => {
                    body.push_str(line);
                    body.push('\n');
                }
                None => {}
            }
        }
    }
    snippets
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
fn shipped_runbooks_pass_lint() {
    let out = rbx(&repo(), &["lint", "runbooks", "examples"]);
    assert_eq!(out.status, 0, "{}", out.transcript());
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
    let snippets = book_snippets_with_paths();
    assert!(
        snippets.len() >= 10,
        "the book has only {} runbook snippets",
        snippets.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut names = Vec::new();
    for (i, (origin, file, body)) in snippets.iter().enumerate() {
        let name = file
            .clone()
            .unwrap_or_else(|| format!("snippet-{i:03}.runbook"));
        let path = dir.path().join(&name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, format!("# from {origin}\n{body}")).unwrap();
        names.push(name);
    }
    let mut args = vec!["lint"];
    args.extend(names.iter().map(String::as_str));
    let out = rbx(dir.path(), &args);
    assert_eq!(out.status, 0, "{}", out.transcript());
}

#[test]
fn shipped_runbooks_format_to_a_fixed_point_with_the_same_tree() {
    let mut sources: Vec<(String, String)> = shipped_runbooks()
        .into_iter()
        .map(|f| (f.display().to_string(), fs::read_to_string(&f).unwrap()))
        .collect();
    sources.extend(book_snippets());
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
