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
//! The derivation is mechanical: a rule that is one literal
//! (`lbrace = { "{" }`) becomes silent (`lbrace = _{ "{" }`), and then every
//! one-character literal that no `!` applies to becomes a range of one
//! character (`"#"` becomes `'#'..'#'`). The generated
//! `Rule::is_keyword` names the keyword rules (`kw_*`), which lowering walks
//! past, and `SILENCED` (for the tests) the rules made silent. Two rules are
//! rewritten by hand: `expr` skips its seven precedence levels when it is a
//! single operand (`lone_operand` says why that matches the same text), and
//! a step's statements leave out the full choice that is there only for
//! error messages (`guarded_only`).

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
    let fast = one_char_ranges(&ascii_classes(&guarded_only(&pieces(&derive(&text)))));
    writeln!(source, "#[grammar_inline = {fast:?}]").expect("a String");
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
            Some(("expr", "{", body)) => writeln!(out, "{}", lone_operand(grammar, body)),
            _ => writeln!(out, "{line}"),
        };
        written.expect("writing to a String");
    }
    out
}

/// The fast grammar's rules for a file parsed in pieces (`parser::pieces`):
/// the start of a runbook up to a cut (`piece_head`), the items between two
/// cuts (`piece_items`, also the first piece of a fragment) and the items
/// after the last cut with the runbook's closing brace (`piece_tail`). Each
/// reads its piece as `file` reads the whole, so they rely on `file`,
/// `runbook` and `fragment` being written as below.
fn pieces(grammar: &str) -> String {
    for rule in [
        "file     = { SOI ~ (runbook | scenarios | fragment) ~ EOI }",
        "runbook  = { kw_runbook ~ ident ~ string ~ lbrace ~ top_item* ~ rbrace }",
        "fragment = { top_item* }",
    ] {
        assert!(
            grammar.contains(rule),
            "build.rs: `{rule}` changed in the grammar; update `pieces`"
        );
    }
    format!(
        "{grammar}\n\
         piece_head  = {{ SOI ~ kw_runbook ~ ident ~ string ~ lbrace ~ top_item* ~ EOI }}\n\
         piece_items = {{ SOI ~ top_item* ~ EOI }}\n\
         piece_tail  = {{ SOI ~ top_item* ~ rbrace ~ EOI }}\n"
    )
}

/// The statements of a step without the full choice after the guarded
/// ones. That choice accepts nothing the guarded ones do not (each
/// statement is tried under its first letter); it is there so that the
/// named grammar's failure lists every keyword a step allows. The fast
/// grammar's failures are never reported, and a step's closing brace, where
/// every guard fails, would otherwise try all thirteen statements again.
fn guarded_only(grammar: &str) -> String {
    let full = "\n  | any_step_stmt\n}";
    assert!(
        grammar.contains(full),
        "build.rs: `step_stmt` changed in the grammar; update `guarded_only`"
    );
    grammar.replacen(full, "\n}", 1)
}

/// The fast grammar's blanks and identifier characters, each one call of a
/// character class instead of a choice of up to five literals and ranges;
/// and its operands (`ATOM`).
/// The fast grammar reads a copy of the text (`parser::fast_text`) with
/// every comment blanked and every byte these classes would read otherwise
/// than the named grammar's choices (any byte outside ASCII, a vertical tab,
/// a form feed) replaced by one neither grammar accepts outside a literal;
/// on that text, Unicode's `WHITE_SPACE` is the named grammar's blanks and
/// `XID_CONTINUE` its identifier characters. An identifier is not checked
/// for a reserved word here: `parser::parse_fast` refuses a tree with one.
fn ascii_classes(grammar: &str) -> String {
    const RULES: [(&str, &str); 3] = [
        (
            "WHITESPACE = _{ \" \" | \"\\n\" | \"\\t\" | \"\\r\" | \"#\" ~ (!\"\\n\" ~ ANY)* }",
            "WHITESPACE = _{ WHITE_SPACE }",
        ),
        (
            "ident_char = _{ ASCII_ALPHANUMERIC | \"_\" }",
            "ident_char = _{ XID_CONTINUE }",
        ),
        (
            "ident      = @{ !(reserved ~ !ident_char) ~ (ASCII_ALPHA | \"_\") ~ ident_char* }",
            "ident      = @{ (XID_START | \"_\") ~ XID_CONTINUE* }",
        ),
    ];
    let mut out = grammar.to_string();
    for (written, fast) in RULES.iter().chain(&[ATOM]) {
        assert!(
            out.contains(written),
            "build.rs: `{written}` changed in the grammar; update `ascii_classes`"
        );
        out = out.replacen(written, fast, 1);
    }
    // Each use of `ident_char` calls the class itself, not a rule around it.
    out.lines()
        .map(|line| {
            if line.starts_with("ident_char") {
                line.to_string()
            } else {
                line.replace("ident_char", "XID_CONTINUE")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An operand, its alternatives tried by its first character: only a
/// duration or a number starts with a digit or `-`, and the others start
/// each with a character of its own (`"`, `(`, `[`) or a letter or `_`
/// (a call, a boolean and a path, in the grammar's order).
const ATOM: (&str, &str) = (
    "atom     = _{ paren | list_expr | call | duration | int | boolean | string | path }",
    "atom     = _{ &(ASCII_DIGIT | \"-\") ~ (duration | int) | string | call | boolean | path \
     | paren | list_expr }",
);

/// The precedence levels under `expr`, loosest first, as the grammar
/// writes them: each is its operand, then what may follow it.
const LEVELS: [(&str, &str); 7] = [
    ("or_expr", "and_expr ~ (kw_or ~ and_expr)*"),
    ("and_expr", "not_expr ~ (kw_and ~ not_expr)*"),
    ("not_expr", "kw_not* ~ cmp_expr"),
    (
        "cmp_expr",
        "dflt_expr ~ ((match_op ~ regex) | (cmp_op ~ dflt_expr))?",
    ),
    ("dflt_expr", "sum_expr ~ (dflt_op ~ sum_expr)*"),
    ("sum_expr", "prod_expr ~ (sum_op ~ prod_expr)*"),
    ("prod_expr", "atom ~ (mul_op ~ atom)*"),
];

/// `expr` with a way past its seven precedence levels for an expression
/// that is one operand (`30s`, `ready`, `"text"`): an operand, then the
/// blanks after it, not followed by an operator, is the whole expression —
/// the same match the levels make, since each level takes the blanks after
/// its operand and ends where its first operator fails, and `kw_not`
/// cannot match where an operand does (`not` is reserved; the fast
/// grammar's `ident` does not refuse it, so `not` is ruled out first).
/// Every operator starts with one of eleven characters, which are looked
/// at first. The tree then
/// has `expr` right above the operand. Anything else goes through the
/// levels as written. The levels must read as `LEVELS` says, or the
/// operators listed here could miss one: a change there stops the build.
fn lone_operand(grammar: &str, body: &str) -> String {
    for (name, expected) in LEVELS {
        let written = grammar
            .lines()
            .filter_map(definition)
            .find(|(rule, _, _)| *rule == name)
            .map(|(_, _, body)| body);
        assert_eq!(
            written,
            Some(expected),
            "build.rs: `{name}` changed in the grammar; update LEVELS and the operators \
             `lone_operand` checks for"
        );
    }
    assert_eq!(body, "or_expr", "build.rs: `expr` changed in the grammar");
    // The operators' first characters, as ranges: a look at the next
    // character rules out all seven operators at once when it starts none
    // (`!`, `*`, `+`, `-`, `<`, `=`, `>`, `?`, `a`, `o`, `~`).
    "expr = { !(&'n'..'n' ~ kw_not) ~ atom ~ !(&('!'..'!' | '*'..'+' | '-'..'-' | '<'..'?' | 'a'..'a' | 'o'..'o' \
     | '~'..'~') ~ (kw_or | kw_and | match_op | cmp_op | dflt_op | sum_op | mul_op)) | or_expr }"
        .to_string()
}

/// `grammar` with every one-character literal that no `!` applies to
/// written as a range of one character (`"{"` as `'{'..'{'`): pest matches a
/// range by comparing a character, and a literal by a call to `memcmp`. A
/// literal under `!` stays, because pest turns `(!("a" | "b") ~ ANY)*` into
/// one search for the literals.
fn one_char_ranges(grammar: &str) -> String {
    let mut out = String::with_capacity(grammar.len() * 2);
    // For each open parenthesis, whether a `!` applies to it.
    let mut groups: Vec<bool> = Vec::new();
    let mut negate = false;
    let mut rest = grammar;
    while let Some(c) = rest.chars().next() {
        let taken = match c {
            '/' if rest.starts_with("//") => rest.find('\n').unwrap_or(rest.len()),
            '"' => {
                let length = literal_length(rest);
                let negated = negate || groups.iter().any(|g| *g);
                match one_char(&rest[..length]) {
                    Some(range) if !negated => out.push_str(&range),
                    _ => out.push_str(&rest[..length]),
                }
                negate = false;
                rest = &rest[length..];
                continue;
            }
            '\'' => rest[1..].find('\'').map_or(rest.len(), |end| end + 2),
            '!' => {
                negate = true;
                1
            }
            '(' => {
                groups.push(negate || groups.iter().any(|g| *g));
                negate = false;
                1
            }
            ')' => {
                groups.pop();
                1
            }
            c if c.is_alphanumeric() || c == '_' => {
                negate = false;
                c.len_utf8()
            }
            c => c.len_utf8(),
        };
        out.push_str(&rest[..taken]);
        rest = &rest[taken..];
    }
    out
}

/// The length of the string literal `text` starts with, quotes included.
fn literal_length(text: &str) -> usize {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return i + 1,
            _ => escaped = false,
        }
    }
    text.len()
}

/// The range of one character a literal of one character stands for.
fn one_char(literal: &str) -> Option<String> {
    let inner = literal.strip_prefix('"')?.strip_suffix('"')?;
    let char = match inner {
        "\\n" | "\\t" | "\\r" | "\\\\" => inner.to_string(),
        "\\\"" => "\"".to_string(),
        _ if inner.len() == 1 && inner != "'" && inner != "\\" => inner.to_string(),
        _ => return None,
    };
    Some(format!("'{char}'..'{char}'"))
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
