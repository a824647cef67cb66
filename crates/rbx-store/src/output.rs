//! The bounded capture of one output stream of one step attempt.

/// What was kept of a stream: its first and last bytes, and how many bytes
/// it had in all. The engine decides the bounds; the store keeps what it is
/// given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The first bytes of the stream.
    pub head: Vec<u8>,
    /// The last bytes of the stream, not overlapping `head`.
    pub tail: Vec<u8>,
    /// How many bytes the stream had in all.
    pub total: u64,
}

impl Output {
    /// Whether bytes between `head` and `tail` were dropped.
    pub fn is_truncated(&self) -> bool {
        self.total > (self.head.len() + self.tail.len()) as u64
    }
}
