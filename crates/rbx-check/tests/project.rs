//! `rbx.toml` and `# rbx: allow(…)` suppressions: what they allow, what
//! they refuse, and the suppressions that allow nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rbx_check::project::{self, Level, Policy};
use rbx_check::{Report, check};

mod support;

use support::Files;

/// Where a step sits in the generated runbook.
#[derive(Debug, Clone, Copy)]
enum Place {
    Stage,
    Loop,
    Parallel,
    Fragment,
}

/// How a step's unused capture is (or is not) allowed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Allow {
    No,
    LineBefore,
    Trailing,
    /// On the line before, but written after a blank line and a comment.
    AfterComments,
    /// One line too early: allows nothing.
    Misplaced,
}

const ALLOWS: [Allow; 5] = [
    Allow::No,
    Allow::LineBefore,
    Allow::Trailing,
    Allow::AfterComments,
    Allow::Misplaced,
];

fn step(id: &str, allow: Allow) -> String {
    let suppression = "# rbx: allow(unused_capture) kept for the report";
    let capture = "capture v = stdout ~ /(.*)/";
    let body = match allow {
        Allow::No => format!("      {capture}\n"),
        Allow::LineBefore => format!("      {suppression}\n      {capture}\n"),
        Allow::Trailing => format!("      {capture} {suppression}\n"),
        Allow::AfterComments => {
            format!("      {suppression}\n\n      # the value\n      {capture}\n")
        }
        Allow::Misplaced => format!("      {suppression}\n      run \"true\"\n      {capture}\n"),
    };
    let run = if allow == Allow::Misplaced {
        ""
    } else {
        "      run \"echo {{ item }}\"\n"
    };
    format!("    step {id} \"{id}\" {{\n{run}{body}    }}\n")
}

/// A runbook whose steps each capture a value nobody reads, placed and
/// allowed as `shape` says; the fragment's steps go into `frag.runbook`.
fn generate(shape: &[(Place, Allow)]) -> Files {
    let mut stage = String::new();
    let mut fragment = String::new();
    for (index, (place, allow)) in shape.iter().enumerate() {
        let id = format!("s{index}");
        let text = step(&id, *allow);
        match place {
            Place::Stage => stage.push_str(&text.replace("{{ item }}", "x")),
            Place::Loop => {
                stage.push_str(&format!("    foreach item in items {{\n{text}    }}\n"));
            }
            Place::Parallel => {
                stage.push_str(&format!(
                    "    parallel {{\n{}    }}\n",
                    text.replace("{{ item }}", "x")
                ));
            }
            Place::Fragment => fragment.push_str(&text.replace("{{ item }}", "x")),
        }
    }
    let entry = format!(
        "runbook gen \"generated\" {{\n  input items \"items\": list(string) = [\"a\", \"b\"]\n  \
         outcome done \"done\" success\n  stage main \"main\" {{\n{stage}    then more\n  }}\n  \
         include \"frag.runbook\"\n}}\n"
    );
    let fragment = format!(
        "stage more \"more\" {{\n{fragment}    step f \"f\" {{ run \"true\" }}\n    end done\n}}\n"
    );
    let mut files = HashMap::new();
    files.insert(PathBuf::from("/p/main.runbook"), entry);
    files.insert(PathBuf::from("/p/frag.runbook"), fragment);
    Files(files)
}

fn checked(files: &Files, policy: &Policy) -> Report {
    let mut report = check(Path::new("/p/main.runbook"), files);
    project::apply(&mut report, policy);
    report
}

fn codes(report: &Report) -> Vec<(&'static str, String)> {
    report
        .findings
        .iter()
        .map(|f| (f.diagnostic.code, f.diagnostic.message.clone()))
        .collect()
}

#[test]
fn a_suppression_allows_the_lint_on_its_line_or_the_next_wherever_the_node_is() {
    let places = [Place::Stage, Place::Loop, Place::Parallel, Place::Fragment];
    for seed in 0..40usize {
        let shape: Vec<(Place, Allow)> = (0..5)
            .map(|i| {
                let n = seed * 7 + i * 3;
                (places[n % 4], ALLOWS[(n / 4 + i) % 5])
            })
            .collect();
        let files = generate(&shape);
        let report = checked(&files, &Policy::default());
        let errors: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.diagnostic.is_error())
            .map(|f| f.diagnostic.message.clone())
            .collect();
        assert!(errors.is_empty(), "{shape:?}: {errors:?}");
        let mut expected_unused = Vec::new();
        let mut expected_idle = 0;
        for (index, (_, allow)) in shape.iter().enumerate() {
            match allow {
                Allow::No => {
                    expected_unused.push(format!("`s{index}.v` is captured but never used"))
                }
                Allow::Misplaced => {
                    expected_unused.push(format!("`s{index}.v` is captured but never used"));
                    expected_idle += 1;
                }
                _ => {}
            }
        }
        let mut unused: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.diagnostic.code == "rbx::lint::unused_capture")
            .map(|f| f.diagnostic.message.clone())
            .collect();
        unused.sort();
        expected_unused.sort();
        assert_eq!(unused, expected_unused, "{shape:?}");
        let idle = report
            .findings
            .iter()
            .filter(|f| f.diagnostic.code == "rbx::lint::unused_suppression")
            .count();
        assert_eq!(idle, expected_idle, "{shape:?}: {:?}", codes(&report));
    }
}

#[test]
fn a_suppression_without_a_reason_still_allows_but_is_reported() {
    let mut files = generate(&[(Place::Loop, Allow::LineBefore)]);
    for text in files.0.values_mut() {
        *text = text.replace("(unused_capture) kept for the report", "(unused_capture)");
    }
    let report = checked(&files, &Policy::default());
    assert_eq!(
        codes(&report),
        [(
            "rbx::lint::bad_suppression",
            "a suppression needs its reason".to_string()
        )]
    );
}

#[test]
fn what_keeps_a_procedure_from_running_cannot_be_allowed() {
    let mut files = generate(&[(Place::Stage, Allow::No)]);
    for text in files.0.values_mut() {
        *text = text.replace(
            "capture v = stdout ~ /(.*)/",
            "# rbx: allow(unknown_reference, unused_captur) I know better\n      \
             run \"echo {{ nosuch.v }}\"",
        );
    }
    let report = checked(&files, &Policy::default());
    let found = codes(&report);
    assert!(
        found
            .iter()
            .any(|(code, message)| *code == "rbx::lint::bad_suppression"
                && message.contains("`unknown_reference` cannot be allowed")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(code, message)| *code == "rbx::lint::bad_suppression"
                && message.contains("did you mean `unused_capture`")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(code, _)| *code == "rbx::lint::unknown_reference"),
        "the error stays: {found:?}"
    );
}

#[test]
fn a_comment_that_is_not_a_suppression_is_said_to_be_unreadable() {
    let mut files = generate(&[(Place::Stage, Allow::LineBefore)]);
    for text in files.0.values_mut() {
        *text = text.replace("rbx: allow(", "rbx: alow(");
    }
    let found = codes(&checked(&files, &Policy::default()));
    assert!(
        found
            .iter()
            .any(|(code, message)| *code == "rbx::lint::bad_suppression"
                && message.contains("`rbx: alow(unused_capture)` is not a suppression")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(code, _)| *code == "rbx::lint::unused_capture")
    );
}

#[test]
fn levels_allow_warn_and_deny() {
    let files = generate(&[(Place::Stage, Allow::No), (Place::Loop, Allow::No)]);
    let allow = Policy::default()
        .with("unused_capture", Level::Allow)
        .unwrap();
    assert_eq!(codes(&checked(&files, &allow)), []);
    let deny = Policy::default()
        .with("rbx::lint::unused_capture", Level::Deny)
        .unwrap();
    let report = checked(&files, &deny);
    assert_eq!(report.findings.len(), 2);
    assert!(report.findings.iter().all(|f| f.diagnostic.is_error()));
    // A suppression where the finding is beats the project's level.
    let files = generate(&[(Place::Stage, Allow::Trailing), (Place::Loop, Allow::No)]);
    let report = checked(&files, &deny);
    assert_eq!(report.findings.len(), 1, "{:?}", codes(&report));
    assert!(report.findings[0].diagnostic.message.contains("s1.v"));
}

#[test]
fn an_error_lint_can_be_made_a_warning() {
    let text = "runbook r \"r\" {\n  outcome done \"d\" success\n  stage s \"s\" {\n    \
                manual m \"m\" { instructions \"look\" }\n    end done\n  }\n}\n";
    let files = Files(HashMap::from([(
        PathBuf::from("/p/main.runbook"),
        text.to_string(),
    )]));
    let report = checked(&files, &Policy::default());
    assert!(report.has_errors(), "{:?}", codes(&report));
    let warn = Policy::default()
        .with("manual_without_evidence", Level::Warn)
        .unwrap();
    let report = checked(&files, &warn);
    assert!(!report.has_errors(), "{:?}", codes(&report));
    assert_eq!(report.findings.len(), 1);
}

#[test]
fn the_configuration_file_is_read_with_its_mistakes_pointed_at() {
    let project = project::parse(
        Path::new("/repo"),
        "exclude = [\"tests/fixtures/\"]\nfill = \"fills/staging.toml\"\n\n[lint]\nunused_capture = \"allow\"\n",
    )
    .unwrap();
    assert_eq!(project.exclude, ["tests/fixtures/"]);
    assert_eq!(
        project.fill,
        Some(PathBuf::from("/repo/fills/staging.toml"))
    );
    assert_eq!(
        project.policy,
        Policy::default()
            .with("unused_capture", Level::Allow)
            .unwrap()
    );
    let cases = [
        ("exclud = []\n", "exclud", "unknown field"),
        (
            "[lint]\nunused_captures = \"allow\"\n",
            "unused_captures",
            "did you mean `unused_capture`",
        ),
        ("[lint]\ncycle = \"allow\"\n", "cycle", "cannot be allowed"),
        (
            "[lint]\nunused_capture = \"off\"\n",
            "\"off\"",
            "unknown variant",
        ),
        ("fill = 3\n", "3", "invalid type"),
        (
            "fill = \"/etc/shadow\"\n",
            "\"/etc/shadow\"",
            "leads outside the project",
        ),
        (
            "fill = \"../secrets.toml\"\n",
            "\"../secrets.toml\"",
            "leads outside the project",
        ),
        (
            "fill = \"fills/../../x.toml\"\n",
            "\"fills/../../x.toml\"",
            "leads outside the project",
        ),
    ];
    for (text, at, says) in cases {
        let diagnostic = project::parse(Path::new("/repo"), text).unwrap_err();
        assert!(
            diagnostic.message.contains(says),
            "{text}: {}",
            diagnostic.message
        );
        let span = diagnostic.span().expect("points into the file");
        assert_eq!(&text[span.start..span.end], at, "{text}");
    }
}

#[test]
fn the_nearest_configuration_up_the_tree_is_the_project() {
    let files = Files(HashMap::from([
        (
            PathBuf::from("/a/rbx.toml"),
            "fill = \"f.toml\"\n".to_string(),
        ),
        (
            PathBuf::from("/a/b/c/rbx.toml"),
            "exclude = [\"x\"]\n".to_string(),
        ),
    ]));
    let project = project::discover(Path::new("/a/b/c/d"), &files)
        .unwrap()
        .unwrap();
    assert_eq!(project.root, Path::new("/a/b/c"));
    let project = project::discover(Path::new("/a/b"), &files)
        .unwrap()
        .unwrap();
    assert_eq!(project.fill, Some(PathBuf::from("/a/f.toml")));
    assert!(
        project::discover(Path::new("/z"), &files)
            .unwrap()
            .is_none()
    );
}

/// Every lint code written in rbx-check is either adjustable or fixed, so
/// a new lint cannot be left out of the policy by accident.
#[test]
fn every_lint_is_adjustable_or_fixed() {
    let mut dirs = vec![Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")).to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    let mut found = std::collections::BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for (at, _) in text.match_indices("\"rbx::lint::") {
            let code = &text[at + 1..];
            let end = code.find('"').unwrap();
            let name = &code["rbx::lint::".len()..end];
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                found.insert(code[..end].to_string());
            }
        }
    }
    assert!(found.len() > 30, "{found:?}");
    for code in found {
        let listed =
            project::ADJUSTABLE.contains(&code.as_str()) || project::FIXED.contains(&code.as_str());
        assert!(listed, "`{code}` is neither in ADJUSTABLE nor FIXED");
    }
}
