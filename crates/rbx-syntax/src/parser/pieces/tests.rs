//! A file read in pieces against the same file read whole: the same tree
//! whenever the pieces are read, and the whole file's reading (with its
//! diagnostics) whenever they are not. Checked on every runbook of the
//! repository, generated runbooks and fragments, files made of items that
//! look like a place to cut (a `stage` line inside a text block, after a
//! comment, after a block that ends on the same line), and mutations of them.

use proptest::prelude::*;

use super::super::tests::{corpus, generate, mutated};
use crate::scan::scan;

/// Reads `text` whole and in 2, 3 and 5 pieces cut wherever the scan allows,
/// however short. Each reading in pieces must be the whole file's tree, and
/// the whole file must have no diagnostic. Returns how many of the three
/// were read in pieces (the others gave way to the whole reading).
fn assert_alike(text: &str, what: &str) -> usize {
    if !scan(text).errors.is_empty() {
        return 0;
    }
    let whole = super::super::parse_whole(text, scan(text));
    let mut read = 0;
    for threads in [2, 3, 5] {
        if let Ok(file) = super::parse_with(text, scan(text), threads, 1) {
            assert!(
                whole.diagnostics.is_empty(),
                "{what}: read in {threads} pieces, but the whole has diagnostics {:?}\n{text}",
                whole.diagnostics
            );
            assert_eq!(
                whole.file.as_ref(),
                Some(&file),
                "{what}: read in {threads} pieces\n{text}"
            );
            read += 1;
        }
    }
    read
}

#[test]
fn every_runbook_reads_alike_in_pieces() {
    let read: usize = corpus()
        .iter()
        .map(|(what, text)| assert_alike(text, what))
        .sum();
    assert!(read > 30, "the corpus has files of several stages: {read}");
}

/// A generated runbook as the fragment its stages would be.
fn as_fragment(runbook: &str) -> String {
    let body = runbook
        .split_once("{\n")
        .map_or(runbook, |(_, body)| body)
        .trim_end()
        .trim_end_matches('}');
    body.lines()
        .filter(|line| !line.trim_start().starts_with("input"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn generated_runbooks_and_fragments_are_read_in_pieces() {
    for (stages, steps) in [(2, 1), (5, 3), (12, 2)] {
        let runbook = generate::generate(stages, steps);
        assert_eq!(assert_alike(&runbook, "generated runbook"), 3);
        let fragment = as_fragment(&runbook);
        assert_eq!(assert_alike(&fragment, "generated fragment"), 3);
    }
}

/// The file's own parse, with its default cutting, is the whole one.
#[test]
fn a_large_file_is_read_in_pieces_and_alike() {
    let text = generate::generate(40, 40);
    assert!(text.len() > 4 * super::MIN_PIECE, "large enough to cut");
    let whole = super::super::parse_whole(&text, scan(&text));
    let cut = super::parse_with(&text, scan(&text), 2, super::MIN_PIECE);
    assert_eq!(whole.file, cut.ok(), "two pieces");
    assert_eq!(
        whole.file,
        crate::parse(&text).file,
        "the parser's own choice"
    );
}

/// An item of a runbook or fragment; several look like a place to cut.
fn item() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("stage a \"A\" {\n  step a1 \"A\" {\n    run \"true\"\n  }\n  end done\n}".to_string()),
        Just(
            "stage b \"B\" {\n  step b1 \"B\" {\n    run \"\"\"\n      echo {\nstage fake \"F\" {\n    \"\"\"\n  }\n  end done\n}"
                .to_string()
        ),
        Just("# stage c \"C\" {\n".to_string()),
        Just("role r \"R\" {\n  person \"p\"\n}".to_string()),
        Just("role q \"Q\"".to_string()),
        Just(
            "scope \"\"\"\n  stage z \"Z\" \"\"\" stage w \"W\" {\n  end done\n}".to_string()
        ),
        Just("finally {\n  step f \"F\" {\n    run \"true\"\n  }\n}".to_string()),
        Just("version \"1\"".to_string()),
        Just("within 1h for a, b".to_string()),
        Just("stage d(x: int) \"D\" within 5m { # }\n  end done\n}".to_string()),
        Just("stage e \"E\" {\n  step e1 \"E\" { run \"a}b\" }\n  end done\n} # {".to_string()),
        Just("stage and \"Reserved\" {\n  end done\n}".to_string()),
        Just("stage t \"T\" {\n  step t1 \"T\" {\n    timeout 30\n  }\n  end done\n}".to_string()),
        Just("stage u \"U\" {\n  end done\n}\nstage".to_string()),
    ]
}

/// What goes between two items: a line end, a comment, blanks.
fn gap() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\n".to_string()),
        Just("\n\n".to_string()),
        Just("\n# note }\n".to_string()),
        Just("  \n\t\n".to_string()),
        Just(" ".to_string()),
    ]
}

/// A piece of text to splice into a file.
fn splice() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\nstage m \"M\" {\n".to_string()),
        Just("}\n".to_string()),
        Just("\"\"\"".to_string()),
        Just("# c\n".to_string()),
        Just("\nstage".to_string()),
        Just("\n}\nstage n \"N\" {\n  end done\n".to_string()),
        Just("é".to_string()),
        Just("not".to_string()),
        "[ -~]{0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn files_of_items_read_alike_in_pieces(
        items in prop::collection::vec((item(), gap()), 1..10),
        runbook in any::<bool>(),
    ) {
        let body: String = items.iter().map(|(item, gap)| format!("{item}{gap}")).collect();
        let text = if runbook {
            format!("# lead\nrunbook r \"R\" {{\n{body}\n}}\n# trail\n")
        } else {
            body
        };
        assert_alike(&text, "items");
    }

    #[test]
    fn mutated_files_read_alike_in_pieces(
        seed in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        length in 0usize..12,
        insert in splice(),
        generated in any::<bool>(),
    ) {
        let text = if generated {
            let runbook = generate::generate(4, 2);
            if seed.index(2) == 0 { as_fragment(&runbook) } else { runbook }
        } else {
            let corpus = corpus();
            corpus[seed.index(corpus.len())].1.clone()
        };
        assert_alike(&mutated(&text, cut, length, &insert), "mutation");
    }
}
