//! Properties that hold for every input: parsing never panics, and whatever
//! parses formats to a fixed point with the same tree.

use proptest::prelude::*;
use rbx_syntax::{fmt, parse, parse_bytes};

/// The valid fixtures, as seeds for mutation.
fn seeds() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ok");
    let mut seeds: Vec<String> = std::fs::read_dir(dir)
        .expect("the fixture directory is readable")
        .map(|entry| {
            let path = entry.expect("a readable directory entry").path();
            std::fs::read_to_string(path).expect("a readable fixture")
        })
        .collect();
    seeds.sort();
    seeds
}

/// One line-level edit an author (or a bad merge) might make.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Truncate(usize),
    Insert(usize, String),
}

fn apply(source: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = source.lines().map(str::to_string).collect();
    for edit in edits {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match edit {
            Edit::Delete(i) => {
                lines.remove(i % n);
            }
            Edit::Duplicate(i) => {
                let line = lines[i % n].clone();
                lines.insert(i % n, line);
            }
            Edit::Swap(i, j) => lines.swap(i % n, j % n),
            Edit::Truncate(i) => {
                let line = &mut lines[i % n];
                let keep = line
                    .char_indices()
                    .nth(line.chars().count() / 2)
                    .map_or(0, |(b, _)| b);
                line.truncate(keep);
            }
            Edit::Insert(i, text) => lines.insert(i % n, text.clone()),
        }
    }
    lines.join("\n")
}

fn edit() -> impl Strategy<Value = Edit> {
    let fragment = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("\"".to_string()),
        Just("\"\"\"".to_string()),
        Just("  # comment".to_string()),
        Just("    timeout 30s".to_string()),
        Just("    timeout budget * 2 * n".to_string()),
        Just("  anchor t \"T\" at now() - 30m * 2".to_string()),
        Just("    step x \"X\" { run \"true\" }".to_string()),
        Just("  require (a == 1".to_string()),
        "[ -~]{0,40}",
    ];
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Edit::Swap(i, j)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), fragment).prop_map(|(i, t)| Edit::Insert(i, t)),
    ]
}

/// What must hold of any source text.
fn check(source: &str) {
    let parsed = parse(source);
    for diagnostic in &parsed.diagnostics {
        let span = diagnostic
            .span()
            .expect("every diagnostic points somewhere");
        assert!(
            span.end <= source.len(),
            "{diagnostic:?} points past the end"
        );
        assert!(source.is_char_boundary(span.start) && source.is_char_boundary(span.end));
    }
    // Recovery blanks a line and parses again; it must never report the
    // same mistake twice.
    // (Spans compare equal to every span, so their offsets are compared.)
    let place = |d: &rbx_syntax::Diagnostic| d.span().map(|s| (s.start, s.end));
    for (i, a) in parsed.diagnostics.iter().enumerate() {
        for b in &parsed.diagnostics[i + 1..] {
            assert!(
                !(place(a) == place(b) && a.message == b.message),
                "reported twice: {a:?}\n{source}"
            );
        }
    }
    if let Some(file) = parsed.file {
        let once = fmt::format(source, &file);
        let reparsed = parse(&once);
        let refile = reparsed.file.unwrap_or_else(|| {
            panic!(
                "formatted output does not parse:\n{once}\n{:?}",
                reparsed.diagnostics
            )
        });
        assert_eq!(
            refile, file,
            "formatting changed the tree:\n{source}\n---\n{once}"
        );
        assert_eq!(
            fmt::format(&once, &refile),
            once,
            "formatting is not idempotent"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let parsed = parse_bytes(&bytes);
        if std::str::from_utf8(&bytes).is_err() {
            prop_assert!(parsed.has_errors());
        }
    }

    #[test]
    fn arbitrary_text_never_panics(source in "[ -~\n\t]{0,300}") {
        check(&source);
    }

    #[test]
    fn mutated_runbooks_never_panic_and_format_faithfully(
        seed in any::<prop::sample::Index>(),
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        let seeds = seeds();
        let source = apply(seeds[seed.index(seeds.len())].as_str(), &edits);
        check(&source);
    }
}

#[test]
fn every_fixture_formats_faithfully() {
    for source in seeds() {
        check(&source);
    }
}
