//! Derives the parser's fast grammar from `grammar/runbook.pest`, the one
//! grammar people read and edit.
//!
//! The fast grammar accepts exactly the same language and builds a smaller
//! tree: punctuation, a rule of its own only so that an error can name it
//! ("expected `}`"), leaves no pair behind. rbx parses with it first; only a
//! file that fails is parsed again with the named grammar, for the words of
//! its diagnostics (`src/parser.rs`). `src/parser/tests.rs` checks that the
//! two read every runbook alike.
//!
//! The derivation is mechanical, one line at a time: a rule that is one
//! literal (`lbrace = { "{" }`) becomes silent (`lbrace = _{ "{" }`). Every
//! other line is copied unchanged. The generated `Rule::is_keyword` names
//! the keyword rules (`kw_*`), which lowering walks past.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

fn main() {
    let grammar = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"))
        .join("../../grammar/runbook.pest");
    println!("cargo:rerun-if-changed={}", grammar.display());
    let text = fs::read_to_string(&grammar).expect("grammar/runbook.pest is readable");
    let keywords = keywords(&text);
    let mut source = String::from(
        "/// The parser of the fast grammar, derived from `grammar/runbook.pest` by `build.rs`.\n\
         #[derive(pest_derive::Parser)]\n",
    );
    writeln!(source, "#[grammar_inline = {:?}]", derive(&text)).expect("a String");
    source.push_str("pub(crate) struct FastGrammar;\n\nimpl Rule {\n");
    source.push_str(
        "    /// Whether the rule is one of the grammar's keywords.\n    \
         pub(crate) fn is_keyword(self) -> bool {\n        matches!(self, ",
    );
    let arms: Vec<String> = keywords.iter().map(|k| format!("Rule::{k}")).collect();
    source.push_str(&if arms.is_empty() {
        "_ if false".to_string()
    } else {
        arms.join(" | ")
    });
    source.push_str(")\n    }\n}\n");
    writeln!(
        source,
        "\n/// The rules the fast grammar makes silent.\n\
         #[cfg(test)]\npub(crate) const SILENCED: &[&str] = &{:?};",
        silenced(&text)
    )
    .expect("a String");
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets it")).join("fast_grammar.rs");
    fs::write(out, source).expect("OUT_DIR is writable");
}

/// The fast grammar of `grammar`.
fn derive(grammar: &str) -> String {
    let mut out = String::with_capacity(grammar.len() * 2);
    for line in grammar.lines() {
        let written = match definition(line) {
            Some((name, "{", body)) if is_literal(body) => writeln!(out, "{name} = _{{ {body} }}"),
            _ => writeln!(out, "{line}"),
        };
        written.expect("writing to a String");
    }
    out
}

/// The rules `derive` makes silent.
fn silenced(grammar: &str) -> Vec<&str> {
    grammar
        .lines()
        .filter_map(definition)
        .filter(|(_, open, body)| *open == "{" && is_literal(body))
        .map(|(name, _, _)| name)
        .collect()
}

/// The names of the keyword rules (`kw_*`) the grammar defines.
fn keywords(grammar: &str) -> Vec<String> {
    grammar
        .lines()
        .filter_map(definition)
        .map(|(name, _, _)| name)
        .filter(|name| name.starts_with("kw_"))
        .map(str::to_string)
        .collect()
}

/// A one-line rule definition: its name, its opening modifier and brace,
/// and its body.
fn definition(line: &str) -> Option<(&str, &str, &str)> {
    let (name, rest) = line.split_once('=')?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let rest = rest.trim();
    let open = rest.find('{')?;
    let body = rest[open + 1..].strip_suffix('}')?.trim();
    Some((name, &rest[..=open], body))
}

/// Whether `text` is one string literal without escapes.
fn is_literal(text: &str) -> bool {
    text.len() >= 2
        && text.starts_with('"')
        && text.ends_with('"')
        && !text[1..text.len() - 1].contains(['"', '\\'])
}
