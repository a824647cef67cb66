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
        Secrets { forms, longest }
    }

    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// Every form of every secret, longest first.
    pub fn forms(&self) -> impl Iterator<Item = &[u8]> {
        self.forms.iter().map(Vec::as_slice)
    }

    /// The secret form that starts at `bytes[at..]`, if any: the longest.
    fn match_at(&self, bytes: &[u8], at: usize) -> Option<usize> {
        self.forms
            .iter()
            .find(|f| bytes[at..].starts_with(f))
            .map(Vec::len)
    }

    /// Whether `tail` is the start of some form, but not a whole one.
    fn could_start(&self, tail: &[u8]) -> bool {
        self.forms
            .iter()
            .any(|f| f.len() > tail.len() && f.starts_with(tail))
    }

    /// `bytes` with every form of every secret replaced by the mask.
    pub fn mask(&self, bytes: &[u8]) -> Vec<u8> {
        self.mask_until(bytes, bytes.len()).0
    }

    /// Masks the matches in `bytes` that start before `end`; returns the
    /// masked text and where it stopped (never inside a match).
    fn mask_until(&self, bytes: &[u8], end: usize) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < end {
            match self.match_at(bytes, i) {
                Some(len) => {
                    out.extend_from_slice(MASK.as_bytes());
                    i += len;
                }
                None => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        (out, i)
    }
}

/// One live stream being masked chunk by chunk. The end of a chunk that
/// could be the start of a secret is held back until the next chunk (or
/// the end of the stream) says whether it is one, so a secret printed in
/// two writes is never shown.
#[derive(Debug, Default)]
pub struct Held {
    pending: Vec<u8>,
}

impl Held {
    /// What can be shown of the stream so far, masked.
    pub fn push(&mut self, secrets: &Secrets, chunk: &[u8]) -> Vec<u8> {
        if secrets.is_empty() {
            return chunk.to_vec();
        }
        let mut bytes = std::mem::take(&mut self.pending);
        bytes.extend_from_slice(chunk);
        // The earliest place from which the rest could still grow into a
        // secret; everything before it is decided.
        let hold = (bytes.len().saturating_sub(secrets.longest)..bytes.len())
            .find(|&at| secrets.could_start(&bytes[at..]))
            .unwrap_or(bytes.len());
        // A match that began before `hold` may run past it: then it is
        // masked whole, and only what follows it is held.
        let (shown, stopped) = secrets.mask_until(&bytes, hold);
        self.pending = bytes[stopped..].to_vec();
        shown
    }

    /// The stream has ended: what was held back, masked.
    pub fn finish(&mut self, secrets: &Secrets) -> Vec<u8> {
        secrets.mask(&std::mem::take(&mut self.pending))
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
        assert_eq!(secrets.forms().count(), 1);
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
