//! Quoting a value as one POSIX shell word, the way rbx splices an
//! interpolated value into a command.
//!
//! A runbook author writes `run "ssh {{ host }} uptime"` without quotes
//! around the interpolation; rbx quotes the value itself, so a value with a
//! space, a quote or a `$` in it stays one argument and is never run as
//! shell syntax. `rbx plan` shows commands quoted exactly this way.

use std::borrow::Cow;

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

/// A value spliced into a command: one safely quoted word, or for a list one
/// word per item, so `for h in {{ hosts }}` loops over the hosts.
pub fn words(value: &crate::value::Value) -> String {
    match value {
        crate::value::Value::List(items) => {
            let words: Vec<String> = items.iter().map(words).collect();
            words.join(" ")
        }
        other => quote(&other.reveal()).into_owned(),
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
    use super::quote;

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
