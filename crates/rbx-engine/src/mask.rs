//! Masking secrets in what commands print: every secret of the run, in the
//! forms a tool is likely to print it in, also when it arrives split across
//! two chunks of a live stream.
//!
//! A secret is masked as written, percent-encoded (as a URL or a form
//! carries it) and base64-encoded (as an `Authorization: Basic` header or
//! a Kubernetes secret carries it). Base64 is masked at each of the three
//! alignments a secret can have inside a longer encoded text, so
//! `base64("user:" + secret)` is caught too: only the two or three encoded
//! characters that mix the secret's first and last bits with its
//! neighbours' stay visible. Encoded forms are added only for secrets of
//! at least [`ENCODED_MIN`] bytes: a shorter secret's encodings are so short
//! that they would mask innocent text all over the output.
//!
//! Other encodings (hex, JSON escapes, a secret split by a line wrap) are
//! not recognised; a tool that prints them still leaks.

use crate::value::MASK;

/// The shortest secret whose encoded forms are masked too.
pub const ENCODED_MIN: usize = 8;

/// The byte strings to mask, longest first, so that a secret that contains
/// another is masked whole rather than around the shorter one.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    forms: Vec<Vec<u8>>,
    /// The length of the longest form.
    longest: usize,
    /// Every form at once, to find all their occurrences in one pass,
    /// overlapping ones included.
    automaton: Option<aho_corasick::AhoCorasick>,
}

impl Secrets {
    pub fn new<I: IntoIterator<Item = String>>(values: I) -> Secrets {
        let mut forms: Vec<Vec<u8>> = Vec::new();
        for value in values {
            let bytes = value.into_bytes();
            if bytes.is_empty() {
                continue;
            }
            if bytes.len() >= ENCODED_MIN {
                forms.push(percent(&bytes));
                for aligned in base64_cores(&bytes) {
                    forms.push(aligned.clone());
                    forms.push(url_safe(&aligned));
                }
            }
            forms.push(bytes);
        }
        forms.retain(|f| !f.is_empty());
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        forms.dedup();
        let longest = forms.first().map_or(0, Vec::len);
        let automaton = if forms.is_empty() {
            None
        } else {
            aho_corasick::AhoCorasick::new(&forms).ok()
        };
        Secrets {
            forms,
            longest,
            automaton,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// Whether `tail` is the start of some form, but not a whole one.
    fn could_start(&self, tail: &[u8]) -> bool {
        self.forms
            .iter()
            .any(|f| f.len() > tail.len() && f.starts_with(tail))
    }

    /// `bytes` with every form of every secret replaced by the mask, in one
    /// piece: what `Held` gives chunk by chunk, which the tests compare.
    #[cfg(test)]
    pub fn mask(&self, bytes: &[u8]) -> Vec<u8> {
        let runs = self.runs(bytes, 0, bytes.len());
        masked(bytes, &runs, bytes.len())
    }

    /// The runs of bytes that occurrences of secrets cover, merged where
    /// they overlap, for the occurrences that start before `end` and those
    /// that overlap them; the first `forced` bytes count as covered (the
    /// rest of an occurrence that began in an earlier chunk). Overlapping
    /// secrets make one run, so no part of either shows.
    fn runs(&self, bytes: &[u8], forced: usize, end: usize) -> Vec<(usize, usize)> {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        if forced > 0 {
            runs.push((0, forced.min(bytes.len())));
        }
        let Some(automaton) = &self.automaton else {
            return runs;
        };
        let mut found: Vec<(usize, usize)> = automaton
            .find_overlapping_iter(bytes)
            .map(|m| (m.start(), m.end()))
            .collect();
        found.sort_unstable();
        for (start, stop) in found {
            match runs.last_mut() {
                Some(last) if start < last.1 => last.1 = last.1.max(stop),
                _ if start < end => runs.push((start, stop)),
                _ => break,
            }
        }
        runs
    }
}

/// `bytes[..upto]` with each run (cut at `upto`) replaced by the mask.
fn masked(bytes: &[u8], runs: &[(usize, usize)], upto: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(upto);
    let mut at = 0;
    for &(start, stop) in runs {
        if start >= upto {
            break;
        }
        out.extend_from_slice(&bytes[at..start]);
        out.extend_from_slice(MASK.as_bytes());
        at = stop.min(upto);
    }
    out.extend_from_slice(&bytes[at..upto]);
    out
}

/// One live stream being masked chunk by chunk. The end of a chunk that
/// could be the start of a secret is held back until the next chunk (or
/// the end of the stream) says whether it is one, so a secret printed in
/// two writes is never shown.
#[derive(Debug, Default)]
pub struct Held {
    pending: Vec<u8>,
    /// How many bytes at the start of `pending` an occurrence that began
    /// in an earlier chunk covers: masked whatever comes next.
    covered: usize,
}

impl Held {
    /// What can be shown of the stream so far, masked.
    pub fn push(&mut self, secrets: &Secrets, chunk: &[u8]) -> Vec<u8> {
        if secrets.is_empty() {
            return chunk.to_vec();
        }
        let mut bytes = std::mem::take(&mut self.pending);
        bytes.extend_from_slice(chunk);
        // Nothing from the earliest place where the rest could still grow
        // into a secret is shown yet; an occurrence that began before it
        // is masked now up to there, and its rest when it is shown.
        let hold = (bytes.len().saturating_sub(secrets.longest)..bytes.len())
            .find(|&at| secrets.could_start(&bytes[at..]))
            .unwrap_or(bytes.len());
        let runs = secrets.runs(&bytes, self.covered, hold);
        let shown = masked(&bytes, &runs, hold);
        let reach = runs.last().map_or(0, |run| run.1);
        self.covered = reach.saturating_sub(hold);
        self.pending = bytes[hold..].to_vec();
        shown
    }

    /// The stream has ended: what was held back, masked.
    pub fn finish(&mut self, secrets: &Secrets) -> Vec<u8> {
        let bytes = std::mem::take(&mut self.pending);
        let runs = secrets.runs(&bytes, std::mem::take(&mut self.covered), bytes.len());
        masked(&bytes, &runs, bytes.len())
    }
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
fn percent(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The base64 characters that depend on `bytes` alone, at each of the three
/// offsets (modulo 3) the secret can start at in a longer encoded text.
fn base64_cores(bytes: &[u8]) -> Vec<Vec<u8>> {
    (0..3)
        .map(|lead: usize| {
            let mut padded = vec![0u8; lead];
            padded.extend_from_slice(bytes);
            let encoded = base64(&padded);
            // Characters covering only whole bits of the secret: the first
            // starts at bit `8 * lead`, rounded up to a 6-bit boundary; the
            // last ends at the secret's last whole 6 bits.
            let first = (8 * lead).div_ceil(6);
            let last = (8 * (lead + bytes.len())) / 6;
            encoded.get(first..last).unwrap_or_default().to_vec()
        })
        .collect()
}

fn base64(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(BASE64[((n >> (18 - 6 * i)) & 63) as usize]);
        }
    }
    out
}

/// The URL-safe base64 alphabet's spelling of a standard base64 text.
fn url_safe(encoded: &[u8]) -> Vec<u8> {
    encoded
        .iter()
        .map(|&c| match c {
            b'+' => b'-',
            b'/' => b'_',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-Zq8/hunter2";

    fn secrets() -> Secrets {
        Secrets::new([SECRET.to_string()])
    }

    fn masked(text: &str) -> String {
        String::from_utf8_lossy(&secrets().mask(text.as_bytes())).into_owned()
    }

    #[test]
    fn the_exact_value_is_masked() {
        assert_eq!(masked(&format!("a {SECRET} b")), format!("a {MASK} b"));
    }

    #[test]
    fn a_percent_encoded_value_is_masked() {
        assert_eq!(
            masked("https://x/?t=s3cr3t-Zq8%2Fhunter2&y"),
            format!("https://x/?t={MASK}&y")
        );
    }

    #[test]
    fn base64_at_every_alignment_is_masked() {
        for prefix in ["", "u", "us", "user:"] {
            let encoded = base64(format!("{prefix}{SECRET}").as_bytes());
            let shown = masked(&String::from_utf8_lossy(&encoded));
            assert!(shown.contains(MASK), "{prefix:?}: {shown}");
            // What stays visible is at most the characters that mix the
            // secret with its neighbours.
            let visible = shown.replace(MASK, "").len();
            let neighbours = base64(prefix.as_bytes()).len();
            assert!(visible <= neighbours + 4, "{prefix:?}: {shown}");
        }
        // `base64` is what the tool prints; check against a real encoder.
        let real = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s 'user:{SECRET}' | base64"))
            .output()
            .expect("sh runs");
        let real = String::from_utf8_lossy(&real.stdout);
        assert!(masked(real.trim()).contains(MASK), "{real}");
    }

    #[test]
    fn short_secrets_are_masked_only_as_written() {
        let secrets = Secrets::new(["abc".to_string()]);
        assert_eq!(secrets.forms.len(), 1);
    }

    /// Every way of cutting `text` into two chunks shows the same masked
    /// text, and no cut shows the secret's start before its end arrives.
    #[test]
    fn a_secret_split_across_chunks_is_never_shown() {
        let secrets = secrets();
        let text = format!("token={SECRET}\nagain {SECRET}, half s3cr3t-Zq8 end s3");
        let whole = secrets.mask(text.as_bytes());
        for cut in 0..=text.len() {
            let mut held = Held::default();
            let mut shown = held.push(&secrets, &text.as_bytes()[..cut]);
            let first = shown.clone();
            shown.extend(held.push(&secrets, &text.as_bytes()[cut..]));
            shown.extend(held.finish(&secrets));
            assert_eq!(shown, whole, "cut at {cut}");
            let first = String::from_utf8_lossy(&first);
            assert!(!first.contains("s3cr3t-Zq8/"), "cut at {cut}: {first}");
        }
    }

    #[test]
    fn byte_by_byte_output_is_masked() {
        let secrets = secrets();
        let text = format!("x{SECRET}y{SECRET}");
        let mut held = Held::default();
        let mut shown = Vec::new();
        for b in text.as_bytes() {
            shown.extend(held.push(&secrets, std::slice::from_ref(b)));
        }
        shown.extend(held.finish(&secrets));
        assert_eq!(String::from_utf8_lossy(&shown), format!("x{MASK}y{MASK}"));
    }

    #[test]
    fn a_secret_that_contains_another_is_masked_whole() {
        let secrets = Secrets::new(["abc".to_string(), "abcdef".to_string()]);
        for cut in 0..=8 {
            let text = b"xabcdefy";
            let mut held = Held::default();
            let mut shown = held.push(&secrets, &text[..cut]);
            shown.extend(held.push(&secrets, &text[cut..]));
            shown.extend(held.finish(&secrets));
            assert_eq!(
                String::from_utf8_lossy(&shown),
                format!("x{MASK}y"),
                "{cut}"
            );
        }
    }

    #[test]
    fn text_that_only_looks_like_a_start_is_shown_at_the_end() {
        let secrets = secrets();
        let mut held = Held::default();
        assert_eq!(held.push(&secrets, b"prompt s3c"), b"prompt ");
        assert_eq!(held.finish(&secrets), b"s3c");
    }
}
