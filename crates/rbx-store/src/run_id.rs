//! The identifier of a run.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::utc::Utc;

/// A run's identifier, such as `20261128-083012-7f3a`: the UTC second the
/// run was created and four hex digits, so that ids sort by creation time
/// and an operator can read and type them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(String);

impl RunId {
    /// The id the operator typed or an earlier call returned. Any text is
    /// accepted; a store answers [`StoreError::UnknownRun`] for an id it
    /// does not hold.
    ///
    /// [`StoreError::UnknownRun`]: crate::StoreError::UnknownRun
    pub fn new(id: impl Into<String>) -> RunId {
        RunId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A fresh id for a run created at `now`. The suffix mixes the clock's
    /// nanoseconds, the process id and a per-process counter; it need not
    /// be unpredictable, only unlikely to collide, and the store retries
    /// with another suffix when it does.
    pub(crate) fn generate(now: &Utc) -> RunId {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default();
        let mut hasher = Sha256::new();
        hasher.update(nanos.to_le_bytes());
        hasher.update(std::process::id().to_le_bytes());
        hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        let digest = hasher.finalize();
        RunId(format!(
            "{}-{:02x}{:02x}",
            now.compact(),
            digest[0],
            digest[1]
        ))
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::RunId;
    use crate::utc::Utc;

    #[test]
    fn ids_are_readable_and_differ() {
        let now = Utc::from_unix_millis(1_764_318_612_345);
        let first = RunId::generate(&now);
        assert!(first.as_str().starts_with("20251128-083012-"), "{first}");
        assert_eq!(first.as_str().len(), "20251128-083012-7f3a".len());
        // Four hex digits can collide, so ask only that eight ids in the
        // same second are not all alike.
        let more: Vec<RunId> = (0..8).map(|_| RunId::generate(&now)).collect();
        assert!(more.iter().any(|id| *id != first));
    }
}
