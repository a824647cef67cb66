//! The highlighting that ships beside the server — the TextMate grammar of
//! the VS Code extension and the book's highlight.js language — is valid,
//! wired up, and knows every keyword of `grammar/runbook.pest`, so that a
//! keyword added to the language cannot go unhighlighted.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(path: &str) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

/// Every fixed word of the grammar: the `kw_*` rules and the word rules
/// (types, streams, events, …), each written `@{ ("a" | "b") ~ !ident_char }`.
fn grammar_words() -> Vec<String> {
    let grammar = read("grammar/runbook.pest");
    let quoted = regex::Regex::new(r#""([a-z][a-z-]*)""#).expect("a regex");
    let mut words: Vec<String> = grammar
        .lines()
        .filter(|line| line.contains("@{") && line.contains("~ !ident_char }"))
        .flat_map(|line| {
            quoted
                .captures_iter(line)
                .map(|c| c[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    words.sort();
    words.dedup();
    words
}

#[test]
fn the_grammar_has_the_words_this_test_expects() {
    let words = grammar_words();
    for word in [
        "runbook",
        "self-approval",
        "stdout",
        "exponential",
        "secret",
        "true",
    ] {
        assert!(
            words.iter().any(|w| w == word),
            "{word} not found in {words:?}"
        );
    }
    assert!(words.len() > 80, "{words:?}");
}

#[test]
fn the_textmate_grammar_highlights_every_keyword() {
    let grammar = json("editors/vscode/syntaxes/runbook.tmLanguage.json");
    assert_eq!(grammar["scopeName"], "source.runbook");
    let included: Vec<&str> = grammar["patterns"]
        .as_array()
        .expect("top-level patterns")
        .iter()
        .filter_map(|p| p["include"].as_str())
        .collect();
    for include in &included {
        let name = include.trim_start_matches('#');
        assert!(
            !grammar["repository"][name].is_null(),
            "{include} is not in the repository"
        );
    }
    assert!(included.contains(&"#keywords"));
    let patterns: Vec<regex::Regex> = grammar["repository"]["keywords"]["patterns"]
        .as_array()
        .expect("keyword patterns")
        .iter()
        .map(|p| {
            let source = p["match"].as_str().expect("a match");
            regex::Regex::new(source).unwrap_or_else(|e| panic!("{source}: {e}"))
        })
        .collect();
    for word in grammar_words() {
        let whole = |re: &regex::Regex| re.find(&word).is_some_and(|m| m.as_str() == word);
        assert!(patterns.iter().any(whole), "`{word}` is not highlighted");
    }
}

#[test]
fn the_vs_code_extension_is_wired_to_its_grammar_and_rbx_lsp() {
    let manifest = json("editors/vscode/package.json");
    let contributes = &manifest["contributes"];
    assert_eq!(contributes["languages"][0]["id"], "runbook");
    assert_eq!(contributes["languages"][0]["extensions"][0], ".runbook");
    let configuration = contributes["languages"][0]["configuration"]
        .as_str()
        .expect("a language configuration");
    let config = json(&format!("editors/vscode/{configuration}"));
    assert_eq!(config["comments"]["lineComment"], "#");
    let grammar = &contributes["grammars"][0];
    assert_eq!(grammar["scopeName"], "source.runbook");
    let path = grammar["path"].as_str().expect("a grammar path");
    json(&format!("editors/vscode/{path}"));
    let main = manifest["main"].as_str().expect("an entry point");
    let extension = read(&format!("editors/vscode/{main}"));
    assert!(
        extension.contains(r#"args: ["lsp"]"#),
        "the extension starts `rbx lsp`"
    );
    assert!(manifest["dependencies"]["vscode-languageclient"].is_string());
}

#[test]
fn the_books_highlighting_knows_every_keyword_and_is_loaded() {
    let script = read("book/runbook-highlight.js");
    let quoted = regex::Regex::new(r#""([a-z][a-z-]*)""#).expect("a regex");
    let listed = |name: &str| -> Vec<String> {
        let start = script
            .find(&format!("const {name} = ["))
            .unwrap_or_else(|| panic!("no {name} list"));
        let end = start + script[start..].find("];").expect("the list's end");
        quoted
            .captures_iter(&script[start..end])
            .map(|c| c[1].to_string())
            .collect()
    };
    let mut known = listed("KEYWORDS");
    known.extend(listed("TYPES"));
    known.extend(listed("BUILT_INS"));
    known.extend(["true".to_string(), "false".to_string()]);
    for word in grammar_words() {
        assert!(
            known.contains(&word),
            "`{word}` is not highlighted in the book"
        );
    }
    let book: toml::Table = read("book/book.toml").parse().expect("book.toml is TOML");
    let scripts = book["output"]["html"]["additional-js"]
        .as_array()
        .expect("additional-js");
    assert!(
        scripts
            .iter()
            .any(|js| js.as_str() == Some("runbook-highlight.js"))
    );
}
