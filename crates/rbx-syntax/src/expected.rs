//! Turning pest's "expected one of these rules" into a diagnostic an author
//! can act on: what was expected in words, what was found, and a likely fix.

use std::collections::BTreeSet;

use crate::diagnostic::Diagnostic;
use crate::lower::is_keyword;
use crate::parser::Rule;
use crate::scan;
use crate::span::Span;

/// What a rule stands for, in an author's words; `None` for rules that only
/// add noise to a list.
fn describe(rule: Rule) -> Option<String> {
    use Rule::*;
    let name = format!("{rule:?}");
    if let Some(keyword) = name.strip_prefix("kw_") {
        return Some(format!(
            "`{}`",
            keyword.replace("self_approval", "self-approval")
        ));
    }
    let words = match rule {
        lbrace => "`{`",
        rbrace => "`}`",
        lparen => "`(`",
        rparen => "`)`",
        lbracket => "`[`",
        rbracket => "`]`",
        arrow => "`->`",
        colon => "`:`",
        equals => "`=`",
        comma => "`,`",
        tilde => "`~`",
        ident | path => "a name",
        string | string_body => "a quoted string",
        text_block | block_body => "a text block",
        duration => "a duration such as `30s`",
        int => "a whole number",
        percent => "a percentage such as `10%`",
        boolean => "`true` or `false`",
        regex | regex_body => "a regex such as `/ok/`",
        value | list_value => "a value",
        input_type | scalar_type => {
            "a type (`string`, `int`, `bool`, `duration`, `timestamp`, `secret`, `enum(...)` or `list(...)`)"
        }
        evidence_type | evidence_kind => {
            "an evidence type (`text`, `url`, `file`, `int`, `bool`, `choice(...)` or `choices(...)`)"
        }
        capture_type | capture_scalar | capture_list => {
            "a capture type (`string`, `int`, `bool`, `duration`, `timestamp` or `list(...)`)"
        }
        stream => "`stdout` or `stderr`",
        route_event => "`failure` or `cancel`",
        hook_event => "an event (`pause`, `overrun`, `failure` or `end`)",
        outcome_class => "`success` or `failure`",
        backoff_kind => "`fixed` or `exponential`",
        role_field_name => "`person`, `contact` or `backup`",
        cmp_op => "a comparison such as `==`",
        sum_op => "`+` or `-`",
        match_op => "`~` or `!~`",
        dflt_op => "`??`",
        mul_op => "`*`",
        target => "a target (a stage, `end OUTCOME` or `continue`)",
        expr | or_expr | and_expr | not_expr | cmp_expr | dflt_expr | sum_expr | prod_expr
        | paren | call | list_expr => "an expression",
        capture_regex => "`~ /regex/`",
        capture_json => "`json \"field\"`",
        capture_lines => "`lines`",
        node_pattern => {
            "a node (`smoke.doctor`, `doctor` or a quoted pattern such as `\"smoke.*\"`)"
        }
        verdict => "`go` or `no_go`",
        stage_params | stage_param => "a parameter such as `host: host`",
        call_arg => "an argument such as `host = \"db-1\"`",
        child_runbook => "`runbook \"PATH\"`",
        child_input => "an input such as `input region = \"eu\"`",
        EOI => "the end of the file",
        _ => return None,
    };
    Some(words.to_string())
}

/// The fixed words a rule accepts, as candidates for "did you mean".
fn words(rule: Rule) -> &'static [&'static str] {
    use Rule::*;
    match rule {
        stream => &["stdout", "stderr"],
        route_event => &["failure", "cancel"],
        hook_event => &["pause", "overrun", "failure", "end"],
        outcome_class => &["success", "failure"],
        backoff_kind => &["fixed", "exponential"],
        role_field_name => &["person", "contact", "backup", "identity"],
        input_type | scalar_type => &[
            "string",
            "int",
            "bool",
            "duration",
            "timestamp",
            "secret",
            "enum",
            "list",
        ],
        evidence_type | evidence_kind => {
            &["text", "url", "file", "int", "bool", "choice", "choices"]
        }
        capture_type | capture_scalar => {
            &["string", "int", "bool", "duration", "timestamp", "list"]
        }
        boolean => &["true", "false"],
        target => &["end", "continue"],
        verdict => &["go", "no_go"],
        _ => &[],
    }
}

/// The token at `pos`, for "found ..." and for spans.
fn token_at(source: &str, pos: usize) -> (Span, String) {
    let rest = &source[pos..];
    let Some(first) = rest.chars().next() else {
        return (Span::at(pos), "the end of the file".to_string());
    };
    let len = if first.is_ascii_alphanumeric() || first == '_' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len())
    } else {
        first.len_utf8()
    };
    let text = &rest[..len];
    (Span::new(pos, pos + len), format!("`{text}`"))
}

fn keyword_text(rule: Rule) -> Option<String> {
    let name = format!("{rule:?}");
    name.strip_prefix("kw_")
        .map(|k| k.replace("self_approval", "self-approval"))
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Builds the diagnostic for a parse that failed at `pos` expecting one of
/// `positives`.
pub fn diagnostic(source: &str, pos: usize, positives: &[Rule]) -> Diagnostic {
    let (span, found) = token_at(source, pos);
    let word = &source[span.range()];
    let context = scan::open_blocks(source, pos)
        .into_iter()
        .rev()
        .find(|open| open.keyword.is_some())
        .and_then(|open| open.keyword);

    let keywords: BTreeSet<String> = positives.iter().filter_map(|r| keyword_text(*r)).collect();
    let others: Vec<String> = {
        let mut seen = BTreeSet::new();
        positives
            .iter()
            .filter(|r| !is_keyword(**r))
            .filter_map(|r| describe(*r))
            .filter(|d| seen.insert(d.clone()))
            .collect()
    };

    if let Some(d) = duration_mistake(positives, word, span) {
        return d;
    }

    let mut expected: Vec<String> = Vec::new();
    let statement_list = keywords.len() > 3;
    if statement_list {
        expected.push(match &context {
            Some(block) => format!("a statement of this `{block}`"),
            None => "a top-level declaration".to_string(),
        });
    } else {
        expected.extend(keywords.iter().map(|k| format!("`{k}`")));
    }
    expected.extend(others.iter().cloned());
    let code = if statement_list && word.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        "rbx::syntax::unknown_statement"
    } else {
        "rbx::syntax::unexpected"
    };
    let mut diagnostic = Diagnostic::error(
        code,
        format!("expected {}, found {found}", join_or(&expected)),
    )
    .primary(span, "unexpected here");

    let mut candidates = keywords.clone();
    candidates.extend(
        positives
            .iter()
            .flat_map(|r| words(*r))
            .map(|w| w.to_string()),
    );
    if let Some(help) = help(word, &keywords, &candidates, &others, positives, &context) {
        diagnostic = diagnostic.help(help);
    }
    diagnostic
}

fn duration_mistake(positives: &[Rule], word: &str, span: Span) -> Option<Diagnostic> {
    // Where an expression may stand, a duration may too (`timeout 5min`).
    let duration_here = positives.iter().any(|rule| {
        matches!(
            rule,
            Rule::duration
                | Rule::expr
                | Rule::or_expr
                | Rule::and_expr
                | Rule::not_expr
                | Rule::cmp_expr
                | Rule::dflt_expr
                | Rule::sum_expr
                | Rule::prod_expr
        )
    });
    if !duration_here || !word.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let digits: String = word.chars().take_while(char::is_ascii_digit).collect();
    let unit = &word[digits.len()..];
    Some(if unit.is_empty() {
        Diagnostic::error("rbx::syntax::duration_unit", "a duration needs a unit")
            .primary(span, "a bare number")
            .help(format!(
                "write `{digits}s` for seconds; the units are ms, s, m, h and d"
            ))
    } else {
        let suggestion = match unit {
            "sec" | "secs" | "second" | "seconds" => "s",
            "min" | "mins" | "minute" | "minutes" => "m",
            "hr" | "hrs" | "hour" | "hours" => "h",
            "day" | "days" => "d",
            "msec" | "millis" => "ms",
            _ => "s",
        };
        Diagnostic::error(
            "rbx::syntax::duration_unit",
            format!("unknown duration unit `{unit}`"),
        )
        .primary(span, "not a duration")
        .help(format!(
            "write `{digits}{suggestion}`; the units are ms, s, m, h and d"
        ))
    })
}

fn help(
    word: &str,
    keywords: &BTreeSet<String>,
    candidates: &BTreeSet<String>,
    others: &[String],
    positives: &[Rule],
    context: &Option<String>,
) -> Option<String> {
    if matches!(word, "\u{201c}" | "\u{201d}" | "\u{2018}" | "\u{2019}") {
        return Some("this is a typographic quote; strings use straight double quotes `\"`".into());
    }
    if word == "'" {
        return Some("strings use double quotes: `\"like this\"`".into());
    }
    if matches!(word, "=" | "!" | "<" | ">") && !positives.contains(&Rule::cmp_op) {
        return Some(
            "a comparison takes two operands and does not chain: \
             write `a == b and b == c`"
                .into(),
        );
    }
    if context.as_deref() == Some("decide") && others.iter().any(|o| o == "`->`") {
        return Some(
            "in a `decide`, each `when` says where it leads: `when CONDITION -> TARGET`; \
             a decision has no condition of its own"
                .into(),
        );
    }
    if let Some(order) = header_order(word, keywords, others) {
        return Some(order.into());
    }
    if word.starts_with(|c: char| c.is_ascii_alphabetic()) {
        if let Some(best) = closest(word, candidates) {
            return Some(format!("did you mean `{best}`?"));
        }
        if positives.contains(&Rule::string) {
            return Some(format!(
                "titles, descriptions and commands are quoted: `\"{word} ...\"`"
            ));
        }
        if keywords.len() > 3 {
            let what = context
                .as_deref()
                .map_or("the top level".to_string(), |k| format!("a `{k}`"));
            let list: Vec<&str> = keywords.iter().map(String::as_str).collect();
            return Some(format!("{what} can contain: {}", list.join(", ")));
        }
    }
    if keywords.is_empty() && others.iter().any(|o| o == "`->`") {
        return Some("a route is written `on failure -> STAGE` or `-> end OUTCOME`".into());
    }
    None
}

/// A `foreach` or `parallel` header's parts written out of order
/// (`tolerate 1 parallel 2`, `when ready tolerate 1`): the order they take.
fn header_order(
    word: &str,
    keywords: &BTreeSet<String>,
    others: &[String],
) -> Option<&'static str> {
    let before_brace = keywords.contains("when") || others.iter().any(|o| o == "`{`");
    (matches!(word, "parallel" | "tolerate") && before_brace).then_some(
        "a block's header takes its parts in this order: \
         `foreach VAR in LIST parallel N tolerate T when CONDITION {` \
         (or `parallel N tolerate T when CONDITION {`), each part optional",
    )
}

/// The keyword a misspelt or miscased word most likely meant.
fn closest<'k>(word: &str, keywords: &'k BTreeSet<String>) -> Option<&'k str> {
    let lower = word.to_ascii_lowercase();
    keywords
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&lower, k), k))
        .filter(|(distance, k)| {
            *distance <= 2.min(k.len() / 2).max(1)
                || lower == **k
                || (lower.len() >= 3 && k.starts_with(&lower))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k.as_str())
}
