//! Versions as release processes write them, for `version(...)` in
//! expressions: dotted numbers (`1.28`, `1.28.3`, `2024.10.1.4`), with an
//! optional leading `v`, a semver pre-release (`-rc.1`) and build metadata
//! (`+sha.5114f85`).
//!
//! Order is semver's, widened to any number of numeric parts: parts compare
//! as numbers, a missing part is `0` (`1.2` equals `1.2.0`), a pre-release
//! comes before its release, pre-release identifiers compare numerically
//! when both are numbers and as text otherwise (a number before text), and
//! build metadata does not count. Lint and the engine read versions with
//! this one function, so what lint accepts the engine orders the same way.

use std::cmp::Ordering;
use std::fmt;

/// A parsed version; it prints as written.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone)]
pub struct Version {
    written: String,
    numbers: Vec<u64>,
    pre: Vec<Ident>,
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
enum Ident {
    Number(u64),
    Text(String),
}

/// The most numeric parts a version may have; more is not a version but
/// something else (an address, a list).
const MAX_PARTS: usize = 8;

impl Version {
    /// Reads `text` as a version; `Err` says what is wrong, as a lowercase
    /// fragment.
    pub fn parse(text: &str) -> Result<Version, String> {
        let trimmed = text.trim();
        let bare = trimmed
            .strip_prefix(['v', 'V'])
            .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
            .unwrap_or(trimmed);
        let without_build = bare.split('+').next().unwrap_or_default();
        let (core, pre) = match without_build.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (without_build, None),
        };
        let not_a_version = |why: &str| format!("`{text}` is not a version: {why}");
        if core.is_empty() {
            return Err(not_a_version("it has no number"));
        }
        let mut numbers = Vec::new();
        for part in core.split('.') {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not_a_version(
                    "write numbers separated by dots, such as `1.28.3` or `v2.0.0-rc.1`",
                ));
            }
            let number = part
                .parse::<u64>()
                .map_err(|_| not_a_version("a part is too large"))?;
            numbers.push(number);
        }
        if numbers.len() > MAX_PARTS {
            return Err(not_a_version("it has more than 8 numbers"));
        }
        let pre = match pre {
            None => Vec::new(),
            Some(pre) => pre
                .split('.')
                .map(|id| {
                    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    {
                        Err(not_a_version(
                            "a pre-release is letters, digits and dots, such as `-rc.1`",
                        ))
                    } else if id.bytes().all(|b| b.is_ascii_digit()) {
                        id.parse()
                            .map(Ident::Number)
                            .map_err(|_| not_a_version("a part is too large"))
                    } else {
                        Ok(Ident::Text(id.to_string()))
                    }
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Version {
            written: trimmed.to_string(),
            numbers,
            pre,
        })
    }

    /// The version as it was written.
    pub fn as_str(&self) -> &str {
        &self.written
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let parts = self.numbers.len().max(other.numbers.len());
        let part = |v: &Version, i: usize| v.numbers.get(i).copied().unwrap_or(0);
        for i in 0..parts {
            match part(self, i).cmp(&part(other, i)) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                for (a, b) in self.pre.iter().zip(&other.pre) {
                    let order = match (a, b) {
                        (Ident::Number(a), Ident::Number(b)) => a.cmp(b),
                        (Ident::Number(_), Ident::Text(_)) => Ordering::Less,
                        (Ident::Text(_), Ident::Number(_)) => Ordering::Greater,
                        (Ident::Text(a), Ident::Text(b)) => a.cmp(b),
                    };
                    if order != Ordering::Equal {
                        return order;
                    }
                }
                self.pre.len().cmp(&other.pre.len())
            }
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equal when neither is before the other: `1.2` equals `1.2.0`, and
/// build metadata does not count.
impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

#[cfg(test)]
mod tests {
    use super::Version;
    use proptest::prelude::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn semver_precedence_holds() {
        // The order of semver.org's examples, with dotted-numeric forms.
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "v1.0.1",
            "1.2",
            "1.10",
            "1.10.0.1",
            "2024.10.1",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn missing_parts_are_zero_and_build_metadata_does_not_count() {
        assert_eq!(v("1.2"), v("1.2.0"));
        assert_eq!(v("v1.2.0+build.7"), v("1.2.0"));
        assert_eq!(v(" 1.28.3 ").to_string(), "1.28.3");
    }

    #[test]
    fn what_is_not_a_version_says_why() {
        for bad in [
            "",
            "v",
            "latest",
            "1..2",
            "1.2.x",
            "1.2-",
            "1.2-rc..1",
            "-1.2",
            "1.2.3.4.5.6.7.8.9",
            "99999999999999999999",
        ] {
            let error = Version::parse(bad).expect_err(bad);
            assert!(error.contains("is not a version"), "{bad}: {error}");
        }
    }

    proptest! {
        /// Against a simple oracle: versions of plain numbers order as
        /// their number lists padded with zeros.
        #[test]
        fn dotted_numbers_order_as_padded_lists(
            a in proptest::collection::vec(0u64..20, 1..5),
            b in proptest::collection::vec(0u64..20, 1..5),
        ) {
            let text = |parts: &[u64]| parts.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
            let pad = |parts: &[u64]| {
                let mut parts = parts.to_vec();
                parts.resize(5, 0);
                parts
            };
            prop_assert_eq!(v(&text(&a)).cmp(&v(&text(&b))), pad(&a).cmp(&pad(&b)));
        }

        #[test]
        fn parsing_never_panics(text in ".{0,40}") {
            let _ = Version::parse(&text);
        }
    }
}
