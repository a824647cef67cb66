//! The SHA-256 digests that let rbx tell whether a run's record was
//! altered: of a source snapshot, of a run's header, of each event, and of
//! the step output and files the events vouch for.

use sha2::{Digest, Sha256};

/// The hex SHA-256 of a runbook's source files, in the order given.
///
/// Each file contributes its path and its text, each preceded by its length
/// in bytes (eight bytes, little-endian), so no two different snapshots hash
/// alike by moving bytes between a path and a text or between two files.
/// The engine compares this with the hash the run recorded to tell whether
/// the runbook changed since the run started.
pub fn hash_sources(sources: &[(String, String)]) -> String {
    let mut hasher = Sha256::new();
    for (path, text) in sources {
        for part in [path, text] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hex(&hasher.finalize())
}

/// The hex SHA-256 of one kept output stream: what
/// [`Store::put_output`](crate::Store::put_output) returns and the event
/// that follows records, so that an output changed after it was kept no
/// longer matches.
///
/// The total and the head are each preceded by their length (eight bytes,
/// little-endian), so no two different captures hash alike by moving bytes
/// between the head and the tail.
pub fn output_digest(head: &[u8], tail: &[u8], total: u64) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"rbx-output-v1");
    hasher.update(total.to_le_bytes());
    hasher.update((head.len() as u64).to_le_bytes());
    hasher.update(head);
    hasher.update(tail);
    hex(&hasher.finalize())
}

/// The hex SHA-256 of a kept file's bytes, as `sha256sum` prints it.
pub(crate) fn file_digest(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The run's fields that the first event's `prev_hash` chains to.
#[derive(Debug)]
pub(crate) struct RunHeader<'a> {
    pub(crate) id: &'a str,
    pub(crate) runbook_id: &'a str,
    pub(crate) title: &'a str,
    pub(crate) entry: &'a str,
    pub(crate) source_hash: &'a str,
    pub(crate) inputs: &'a str,
    pub(crate) started_at: &'a str,
    pub(crate) started_by: &'a str,
    pub(crate) host: &'a str,
}

impl RunHeader<'_> {
    /// The hash the journal starts from. Chaining event 1 to the run's own
    /// fields means that changing what a run was started with (its sources,
    /// through their hash, or its inputs) breaks the chain as surely as
    /// changing an event. The fields are hashed as a JSON array of strings,
    /// which is unambiguous whatever they contain.
    pub(crate) fn hash(&self) -> String {
        let fields = [
            "rbx-run-v1",
            self.id,
            self.runbook_id,
            self.title,
            self.entry,
            self.source_hash,
            self.inputs,
            self.started_at,
            self.started_by,
            self.host,
        ];
        let text = serde_json::Value::from(fields.as_slice()).to_string();
        hex(&Sha256::digest(text.as_bytes()))
    }
}

/// The hash of one event: SHA-256 of `prev_hash|seq|time|kind|payload`.
///
/// The `|` separators are unambiguous because `prev_hash` is hex, `seq` a
/// number, `time` RFC 3339, and `kind` is restricted to characters other
/// than `|` (see [`valid_kind`]); only the payload, last, may hold any text.
pub(crate) fn event_hash(
    prev_hash: &str,
    seq: u64,
    time: &str,
    kind: &str,
    payload: &str,
) -> String {
    let text = format!("{prev_hash}|{seq}|{time}|{kind}|{payload}");
    hex(&Sha256::digest(text.as_bytes()))
}

/// Whether `kind` may name an event: lowercase ASCII letters, digits, `_`,
/// `.` and `-`, at least one of them.
pub(crate) fn valid_kind(kind: &str) -> bool {
    !kind.is_empty()
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_hash_is_sha256_of_length_prefixed_parts() {
        // The empty snapshot hashes like the empty string.
        assert_eq!(
            hash_sources(&[]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let one = [("a".to_owned(), "bc".to_owned())];
        let other = [("ab".to_owned(), "c".to_owned())];
        assert_ne!(hash_sources(&one), hash_sources(&other));
        let split = [
            ("a".to_owned(), String::new()),
            ("b".to_owned(), "c".to_owned()),
        ];
        assert_ne!(hash_sources(&split), hash_sources(&one));
    }

    #[test]
    fn event_hash_covers_every_field() {
        let base = event_hash("00", 1, "t", "k", "{}");
        assert_eq!(base.len(), 64);
        assert_ne!(base, event_hash("01", 1, "t", "k", "{}"));
        assert_ne!(base, event_hash("00", 2, "t", "k", "{}"));
        assert_ne!(base, event_hash("00", 1, "u", "k", "{}"));
        assert_ne!(base, event_hash("00", 1, "t", "j", "{}"));
        assert_ne!(base, event_hash("00", 1, "t", "k", "[]"));
    }

    #[test]
    fn output_digests_tell_head_from_tail() {
        let whole = output_digest(b"ab", b"c", 3);
        assert_eq!(whole.len(), 64);
        assert_ne!(whole, output_digest(b"a", b"bc", 3));
        assert_ne!(whole, output_digest(b"ab", b"c", 4));
        assert_eq!(
            file_digest(b"not really a png"),
            "e90137d39de304eefbbe788bc535c7e82f27abbf8069505fbbd8a9dcdc4f2024"
        );
    }

    #[test]
    fn kinds_are_restricted() {
        assert!(valid_kind("step.started"));
        assert!(valid_kind("run-ended_2"));
        assert!(!valid_kind(""));
        assert!(!valid_kind("Step"));
        assert!(!valid_kind("a|b"));
        assert!(!valid_kind("a b"));
    }
}
