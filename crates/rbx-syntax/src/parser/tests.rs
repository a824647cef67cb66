//! The fast grammar against the named one: the same language, and the same
//! tree once keywords and punctuation are left out. Checked on every
//! runbook of the repository, generated runbooks of every statement, and
//! mutations of them.

use std::path::{Path, PathBuf};

use pest::Parser as _;
use proptest::prelude::*;

use super::{Grammar, Rule, fast};

#[path = "../../benches/generate.rs"]
pub(super) mod generate;

/// Each pair of a tree, depth first: its rule's name and its span.
type Shape = Vec<(String, usize, usize)>;

/// The named grammar's tree of `text` without the pairs the fast grammar
/// leaves out, or `None` when `text` is not the language.
fn named(text: &str) -> Option<Shape> {
    let pairs = Grammar::parse(Rule::file, text).ok()?;
    Some(without_lone_levels(
        pairs
            .flatten()
            .map(|p| (format!("{:?}", p.as_rule()), p.as_span()))
            .filter(|(name, _)| !fast::SILENCED.contains(&name.as_str()))
            .map(|(name, span)| (name, span.start(), span.end()))
            .collect(),
    ))
}

/// The precedence levels under `expr`, which the fast grammar skips for an
/// expression of one operand.
const LEVELS: [&str; 7] = [
    "or_expr",
    "and_expr",
    "not_expr",
    "cmp_expr",
    "dflt_expr",
    "sum_expr",
    "prod_expr",
];

/// A tree without each precedence level that spans just what the pair
/// before it does: the levels of an expression of one operand, which sit
/// right under its `expr`. The fast tree has none of those; every other
/// level stays, in both trees.
fn without_lone_levels(shape: Shape) -> Shape {
    let mut out: Shape = Vec::with_capacity(shape.len());
    let mut before: Option<(usize, usize)> = None;
    for (name, start, end) in shape {
        let lone = LEVELS.contains(&name.as_str()) && before == Some((start, end));
        before = Some((start, end));
        if !lone {
            out.push((name, start, end));
        }
    }
    out
}

/// The fast grammar's tree of `text`, as the parser reads it (comments
/// blanked, bytes outside ASCII masked, reserved words refused), or `None`
/// when it refuses it.
fn fast(text: &str) -> Option<Shape> {
    let scanned = crate::scan::scan(text);
    let masked = super::fast_text(text, &scanned.comments);
    let pairs = super::parse_fast(&masked).ok()?;
    Some(without_lone_levels(
        pairs
            .flatten()
            .map(|p| {
                (
                    format!("{:?}", p.as_rule()),
                    p.as_span().start(),
                    p.as_span().end(),
                )
            })
            .collect(),
    ))
}

fn assert_same(text: &str, what: &str) {
    // A text the lexical scan refuses never reaches either grammar.
    if !crate::scan::scan(text).errors.is_empty() {
        return;
    }
    let (named, fast) = (named(text), fast(text));
    assert_eq!(
        named.is_some(),
        fast.is_some(),
        "{what}: the named grammar {} it, the fast one {}:\n{text}",
        if named.is_some() {
            "accepts"
        } else {
            "refuses"
        },
        if fast.is_some() { "accepts" } else { "refuses" },
    );
    if let (Some(named), Some(fast)) = (named, fast) {
        let first = named.iter().zip(&fast).position(|(a, b)| a != b);
        assert!(
            first.is_none() && named.len() == fast.len(),
            "{what}: the trees differ at pair {first:?}: named {:?}, fast {:?}",
            first.map(|i| &named[i]),
            first.map(|i| &fast[i]),
        );
    }
}

/// Every file under `dir` whose name ends with one of `endings`.
fn files(dir: &Path, endings: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() && name != "target" && !name.starts_with('.') {
            files(&path, endings, out);
        } else if endings.iter().any(|e| name.ends_with(e)) {
            out.push(path);
        }
    }
}

/// `text` with the `length` bytes at `cut` (both moved back to a
/// character's start) replaced by `insert`.
pub(super) fn mutated(text: &str, cut: prop::sample::Index, length: usize, insert: &str) -> String {
    let mut at = cut.index(text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let mut end = (at + length).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{insert}{}", &text[..at], &text[end..])
}

/// The runbooks of the repository: files, and the examples in the book.
pub(super) fn corpus() -> &'static [(String, String)] {
    static CORPUS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(read_corpus)
}

fn read_corpus() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut paths = Vec::new();
    files(&root, &[".runbook", ".rbxtest"], &mut paths);
    let mut texts: Vec<(String, String)> = paths
        .iter()
        .filter_map(|p| Some((p.display().to_string(), std::fs::read_to_string(p).ok()?)))
        .collect();
    let mut pages = Vec::new();
    files(&root.join("book"), &[".md"], &mut pages);
    for page in pages {
        let text = std::fs::read_to_string(&page).expect("a readable page");
        for (i, block) in text.split("```runbook\n").skip(1).enumerate() {
            let code = block.split("```").next().unwrap_or_default();
            texts.push((format!("{} block {i}", page.display()), code.to_string()));
        }
    }
    assert!(texts.len() > 100, "the corpus was found");
    texts
}

#[test]
fn both_grammars_read_every_runbook_alike() {
    for (what, text) in corpus() {
        assert_same(text, what);
    }
}

#[test]
fn both_grammars_read_generated_runbooks_alike() {
    let text = generate::generate(3, 20);
    assert!(fast(&text).is_some(), "the generated runbook parses");
    assert!(
        ["lbrace", "rbrace", "comma"]
            .iter()
            .all(|rule| fast::SILENCED.contains(rule)),
        "punctuation is silent in the fast grammar: {:?}",
        fast::SILENCED
    );
    assert_same(&text, "generated runbook");
}

/// A piece of the language, or of a mistake, to splice into a runbook.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just(" ".to_string()),
        Just("\n".to_string()),
        Just("->".to_string()),
        Just(",".to_string()),
        Just("step".to_string()),
        Just("stepx".to_string()),
        Just("not".to_string()),
        Just("jitter".to_string()),
        Just("fail-fast".to_string()),
        Just("optional".to_string()),
        Just("at".to_string()),
        Just(" end done".to_string()),
        Just("\"t\"".to_string()),
        Just("# note\n".to_string()),
        Just("\"a#b\"".to_string()),
        Just("~ /x#y/".to_string()),
        Just("é".to_string()),
        Just("\u{a0}".to_string()),
        Just("\u{b}".to_string()),
        Just("true".to_string()),
        Just("or".to_string()),
        Just("and".to_string()),
        "[a-z_]{1,8}",
        "[ -~]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn both_grammars_read_mutated_runbooks_alike(
        seed in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        length in 0usize..12,
        insert in fragment(),
    ) {
        let corpus = corpus();
        let (what, text) = &corpus[seed.index(corpus.len())];
        assert_same(&mutated(text, cut, length, &insert), what);
    }
}

/// pest is built without its stack guard (see the workspace manifest): what
/// bounds the parser's recursion is the pre-scan's refusal of nesting deeper
/// than `MAX_DEPTH`. Nesting up to `SHALLOW` parses on the caller's stack,
/// deeper on a thread of its own; either way, every form the grammar
/// recurses through, nested as deep as the scan lets it, parses from a
/// thread with a small stack (smaller than a test's or tokio's).
#[test]
fn the_deepest_nesting_accepted_parses_on_a_small_stack() {
    const STACK: usize = 1024 * 1024;
    // `runbook { stage { step {` (or `parallel {`) holds three levels.
    for depth in [super::SHALLOW - 3, crate::scan::MAX_DEPTH - 3] {
        let wrap = |open: &str, close: &str, inner: &str| {
            format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
        };
        let in_step = |statement: String| {
            format!(
                "runbook r \"R\" {{\n  stage s \"S\" {{\n    step a \"A\" {{\n      \
                 {statement}\n    }}\n    end done\n  }}\n}}\n"
            )
        };
        let sources = [
            in_step(format!("when {}", wrap("(", ")", "x"))),
            in_step(format!("when {}", wrap("[", "]", "x"))),
            in_step(format!("when {}", wrap("f(", ")", "x"))),
            in_step(format!("when {}", wrap("not (", ")", "x or y and z == 1"))),
            format!(
                "runbook r \"R\" {{\n  stage s \"S\" {{\n{}\n    end done\n  }}\n}}\n",
                wrap("parallel {\n", "}\n", "step a \"A\" { run \"true\" }\n")
            ),
            format!(
                "runbook r \"R\" {{\n  input i: list(string) = {}\n}}\n",
                wrap("[", "]", "\"x\"")
            ),
        ];
        for source in sources {
            let parsed = std::thread::Builder::new()
                .stack_size(STACK)
                .spawn(move || super::parse(&source))
                .expect("a thread")
                .join()
                .expect("parsing returns");
            assert!(
                parsed
                    .diagnostics
                    .iter()
                    .all(|d| d.code != "rbx::syntax::too_deep"),
                "the nesting is within the limit: {:?}",
                parsed.diagnostics
            );
        }
    }
}
