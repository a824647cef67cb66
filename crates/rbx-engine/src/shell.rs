//! Putting values into a command for `sh`: as data, never as code.
//!
//! Each `{{ … }}` of a command becomes a reference to an environment
//! variable that holds the value (`"${RBX_V_1}"` as a word of its own,
//! `${RBX_V_1}` inside double quotes or a here-document), and the value is
//! passed in the command's environment. The shell expands a variable once
//! and never parses what it holds, so no value — whatever quotes, `$( … )`,
//! backquotes, `;`, newlines or globs it has — can run as code. Where
//! another shell parses the text again (`ssh host cmd`, `sh -c`, `eval`),
//! the `| shell` filter quotes the value for it first; lint asks for it.
//!
//! What people see (the terminal, the journal, `rbx plan`) is another
//! text with the same meaning: each value written in place, quoted for
//! reading, secrets masked.

use std::borrow::Cow;

use rbx_check::shell_context::{self, Quoting};
use rbx_syntax::ast::{Interpolation, Text, TextPart};

use crate::value::{MASK, Value};

/// `value` as one shell word: unchanged when it is a non-empty plain word
/// (letters, digits and `_ . / : = @ % + -`), otherwise in single quotes.
///
/// Inside single quotes the shell gives no character a meaning, except the
/// single quote that ends them, so a quote in the value is written as
/// `'\''`: close the quotes, an escaped quote, open them again.
pub fn quote(value: &str) -> Cow<'_, str> {
    if !value.is_empty() && value.chars().all(is_plain) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Cow::Owned(out)
}

/// `text` quoted as one shell word `times` times over: what the `| shell`
/// filter does, once per filter written.
pub fn quoted(text: String, times: usize) -> String {
    (0..times).fold(text, |text, _| quote(&text).into_owned())
}

/// A command ready to run, and the same command for people.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Command {
    /// The text `sh -c` runs: values are variable references.
    pub run: String,
    /// The text shown and recorded: values in place, quoted so that it
    /// means what `run` does, secrets masked.
    pub shown: String,
    /// The variables `run` refers to, with their values.
    pub env: Vec<(String, String)>,
}

/// Renders `text` as a command; `value_of` gives each interpolation's
/// value, or says why it has none. An interpolation where no value can be
/// passed as data (inside single quotes without `| shell`, in a quoted
/// here-document, after a backslash) is refused: lint reports it too.
pub fn command(
    text: &Text,
    mut value_of: impl FnMut(&Interpolation) -> Result<Value, String>,
) -> Result<Command, String> {
    let mut places = shell_context::places(text).into_iter();
    let mut out = Command::default();
    for part in &text.parts {
        match part {
            TextPart::Literal(literal) => {
                out.run.push_str(literal);
                out.shown.push_str(literal);
            }
            TextPart::Interpolation(interpolation) => {
                let quoting = places.next().map_or(Quoting::Bare, |p| p.quoting);
                refuse(interpolation, quoting)?;
                let value = value_of(interpolation)?;
                splice(&mut out, interpolation, &value, quoting);
            }
        }
    }
    Ok(out)
}

/// The command as people see it, for `rbx plan`: a value not known yet
/// (`value_of` gives `None`) shows as `<name>`.
pub fn shown(text: &Text, mut value_of: impl FnMut(&Interpolation) -> Option<Value>) -> String {
    let mut places = shell_context::places(text).into_iter();
    let mut out = Command::default();
    for part in &text.parts {
        match part {
            TextPart::Literal(literal) => out.shown.push_str(literal),
            TextPart::Interpolation(interpolation) => {
                let quoting = places.next().map_or(Quoting::Bare, |p| p.quoting);
                match value_of(interpolation) {
                    Some(value) => splice(&mut out, interpolation, &value, quoting),
                    None => {
                        out.shown.push('<');
                        out.shown.push_str(&interpolation.path.dotted());
                        out.shown.push('>');
                    }
                }
            }
        }
    }
    out.shown
}

fn refuse(interpolation: &Interpolation, quoting: Quoting) -> Result<(), String> {
    let quotes = interpolation.shell_quotes();
    let why = match quoting {
        Quoting::Single if quotes == 0 => "inside single quotes",
        Quoting::QuotedHeredoc => "in a here-document with a quoted delimiter",
        Quoting::Escaped => "after a backslash",
        _ => return Ok(()),
    };
    Err(format!(
        "`{}` is {why}, where its value cannot be passed as data",
        interpolation.source_form()
    ))
}

/// Adds one interpolated value to `out`: a reference in `run` and its
/// variable in `env`, the value quoted for reading in `shown`.
fn splice(out: &mut Command, interpolation: &Interpolation, value: &Value, quoting: Quoting) {
    let quotes = interpolation.shell_quotes();
    // A list is a word per item where words stand apart; elsewhere (inside
    // quotes, a here-document) one text, its items joined by spaces.
    let items: Vec<&Value> = match (value, quoting) {
        (Value::List(items), Quoting::Bare | Quoting::Comment) => items.iter().collect(),
        (other, _) => vec![other],
    };
    let secret_name = format!(
        "RBX_SECRET_{}",
        interpolation.path.dotted().to_uppercase().replace('.', "_")
    );
    let many = items.len() > 1 || matches!(value, Value::List(_));
    let mut runs = Vec::new();
    let mut shows = Vec::new();
    for (n, item) in items.into_iter().enumerate() {
        let data = text_of(item, quotes, true);
        let var = if has_secret(item) {
            // Named after the input, so the command's environment says
            // which secret it was given; quoted forms get names of their own.
            let mut var = secret_name.clone();
            if many {
                var.push_str(&format!("_{n}"));
            }
            if quotes > 0 {
                var.push_str(&format!("_Q{quotes}"));
            }
            var
        } else {
            format!("RBX_V_{}", out.env.len() + 1)
        };
        runs.push(match quoting {
            Quoting::Bare | Quoting::Comment | Quoting::Escaped | Quoting::QuotedHeredoc => {
                format!("\"${{{var}}}\"")
            }
            Quoting::Double | Quoting::Heredoc => format!("${{{var}}}"),
            Quoting::Single => format!("'\"${{{var}}}\"'"),
        });
        shows.push(for_reading(&text_of(item, quotes, false), quoting));
        if !out.env.iter().any(|(name, _)| *name == var) {
            out.env.push((var, data));
        }
    }
    out.run.push_str(&runs.join(" "));
    out.shown.push_str(&shows.join(" "));
}

/// A value as text, quoted `quotes` times; `reveal` false masks secrets.
fn text_of(value: &Value, quotes: usize, reveal: bool) -> String {
    match value {
        Value::List(items) => {
            let items: Vec<String> = items.iter().map(|i| text_of(i, quotes, reveal)).collect();
            items.join(" ")
        }
        Value::Secret(_) if !reveal => quoted(MASK.to_string(), quotes),
        other => quoted(other.reveal(), quotes),
    }
}

fn has_secret(value: &Value) -> bool {
    match value {
        Value::Secret(_) => true,
        Value::List(items) => items.iter().any(has_secret),
        _ => false,
    }
}

/// `text` written where it stands so that the shell reads it back as it is.
fn for_reading(text: &str, quoting: Quoting) -> String {
    let escape = |specials: &[char]| {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if specials.contains(&c) {
                out.push('\\');
            }
            out.push(c);
        }
        out
    };
    match quoting {
        // A value quoted by `| shell` reads best in double quotes when
        // nothing in it is special there: `"'a b'"`, not `''\''a b'\'''`.
        Quoting::Bare | Quoting::Comment | Quoting::Escaped | Quoting::QuotedHeredoc
            if text.contains('\'') && !text.contains(['"', '$', '`', '\\', '!']) =>
        {
            format!("\"{text}\"")
        }
        Quoting::Bare | Quoting::Comment | Quoting::Escaped | Quoting::QuotedHeredoc => {
            quote(text).into_owned()
        }
        Quoting::Double => escape(&['\\', '"', '$', '`']),
        Quoting::Heredoc => escape(&['\\', '$', '`']),
        Quoting::Single => text.replace('\'', "'\\''"),
    }
}

/// Characters no POSIX shell treats specially anywhere in a word. `=` only
/// means something before a command name, `%` only in job control words,
/// and `~` is left out because it expands at the start of a word.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | ':' | '=' | '@' | '%' | '+' | '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_are_left_alone() {
        for word in [
            "forge",
            "web-01.prod.internal:9999",
            "/usr/local/bin/forge",
            "a=b",
            "user@host",
            "50%",
            "+1",
            "-v",
            "2.0.0",
        ] {
            assert_eq!(quote(word), word);
        }
    }

    #[test]
    fn anything_else_becomes_one_single_quoted_word() {
        assert_eq!(quote("two words"), "'two words'");
        assert_eq!(quote("$HOME"), "'$HOME'");
        assert_eq!(quote("a;rm -rf /"), "'a;rm -rf /'");
        assert_eq!(quote("`id`"), "'`id`'");
        assert_eq!(quote("~/bin"), "'~/bin'");
        assert_eq!(quote("*"), "'*'");
        assert_eq!(quote("line\nbreak"), "'line\nbreak'");
        assert_eq!(quote("back\\slash"), "'back\\slash'");
        assert_eq!(quote("\"double\""), "'\"double\"'");
        assert_eq!(quote("café"), "'café'");
    }

    #[test]
    fn the_empty_string_is_an_empty_word_not_nothing() {
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn single_quotes_close_escape_and_reopen() {
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("'"), r"''\'''");
    }

    #[test]
    fn quoted_words_survive_a_real_shell() {
        // What `sh` hands to a command is exactly the value, whatever it is.
        let values = [
            "two words",
            "it's",
            "$HOME `id` \\ \"",
            "",
            "*",
            "a\nb",
            "-n",
        ];
        for value in values {
            let script = format!("printf '%s' {}", quote(value));
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .output()
                .expect("sh runs");
            assert_eq!(String::from_utf8_lossy(&output.stdout), value, "{script}");
        }
    }
}

#[cfg(test)]
mod rendering {
    use super::*;
    use rbx_syntax::ast::{ItemKind, StageItemKind, StmtKind};

    /// The `run` text of a one-step fragment.
    fn template(command: &str) -> Text {
        let source = format!(
            "stage s \"S\" {{\n  step a \"A\" {{\n    run \"\"\"\n{command}\n    \"\"\"\n  }}\n  end ok\n}}\n"
        );
        let parsed = rbx_syntax::parse(&source);
        let file = parsed.file.expect("the fragment parses");
        let Some(ItemKind::Stage(stage)) = file.items.first().map(|i| &i.kind) else {
            panic!("a stage");
        };
        let Some(StageItemKind::Block(block)) = stage.items.first().map(|i| &i.kind) else {
            panic!("a step");
        };
        match block.body.first().map(|s| &s.kind) {
            Some(StmtKind::Run(text)) => text.clone(),
            _ => panic!("a run statement"),
        }
    }

    fn sh(script: &str, env: &[(String, String)]) -> String {
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("sh runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// What people are shown means what runs: the shown text, run by `sh`
    /// with no variables at all, prints what the real command prints.
    #[test]
    fn the_shown_command_means_what_runs() {
        let commands = [
            "printf '[%s]' {{ x }} pre{{ x }}post",
            "printf '[%s]' \"a {{ x }} b\"",
            "printf '[%s]' 'a '{{ x }}' b'",
            "printf '[%s]' {{ xs }}",
            "printf '[%s]' \"{{ xs }}\"",
            "cat <<EOF\n[{{ x }}]\nEOF",
            "sh -c 'printf \"[%s]\" {{ x | shell }}'",
            "eval printf \"'[%s]'\" {{ x | shell }}",
            "eval eval printf %s {{ xs | shell | shell }}",
        ];
        let values = [
            "plain",
            "two words",
            "it's",
            "$HOME `id` \\ \"",
            "*",
            "a\nb",
            "-n",
            "",
        ];
        for command in commands {
            let text = template(command);
            for value in values {
                let lookup = |i: &Interpolation| match i.path.dotted().as_str() {
                    "xs" => Ok(Value::List(vec![
                        Value::Text(value.to_string()),
                        Value::Text("second".to_string()),
                    ])),
                    _ => Ok(Value::Text(value.to_string())),
                };
                let rendered = command_for(&text, lookup);
                assert_eq!(
                    sh(&rendered.shown, &[]),
                    sh(&rendered.run, &rendered.env),
                    "{command:?} with {value:?}: shown as {}",
                    rendered.shown
                );
            }
        }
    }

    fn command_for(
        text: &Text,
        lookup: impl FnMut(&Interpolation) -> Result<Value, String>,
    ) -> Command {
        command(text, lookup).expect("the command renders")
    }

    #[test]
    fn secrets_are_named_and_masked_and_never_in_the_text() {
        let text = template("curl -H \"Authorization: {{ token }}\" {{ url }}");
        let rendered = command_for(&text, |i| match i.path.dotted().as_str() {
            "token" => Ok(Value::Secret("hunter2".to_string())),
            _ => Ok(Value::Text("https://x".to_string())),
        });
        assert_eq!(
            rendered.run,
            "curl -H \"Authorization: ${RBX_SECRET_TOKEN}\" \"${RBX_V_2}\""
        );
        assert_eq!(
            rendered.shown,
            format!("curl -H \"Authorization: {MASK}\" https://x")
        );
        assert!(!rendered.run.contains("hunter2") && !rendered.shown.contains("hunter2"));
        assert!(
            rendered
                .env
                .contains(&("RBX_SECRET_TOKEN".to_string(), "hunter2".to_string()))
        );
    }

    #[test]
    fn no_value_is_put_where_it_cannot_be_data() {
        for line in [
            "echo '{{ x }}'",
            "cat <<'EOF'\n{{ x }}\nEOF",
            "echo \\{{ x }}",
        ] {
            let text = template(line);
            let refused = command(&text, |_| Ok(Value::Text("v".to_string())));
            assert!(refused.is_err(), "{line:?}");
        }
    }
}
