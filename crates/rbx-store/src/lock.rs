//! Who drives a run, and whether that process is still alive.

use std::path::Path;

use crate::utc::Utc;

/// The process that drives a run, as recorded in its lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The process id.
    pub pid: u32,
    /// The host the process runs on.
    pub host: String,
    /// When it took the lock, RFC 3339 UTC.
    pub since: String,
}

impl Holder {
    /// This process on `host`, from now.
    pub fn this_process(host: impl Into<String>) -> Holder {
        Holder {
            pid: std::process::id(),
            host: host.into(),
            since: Utc::now().rfc3339_millis(),
        }
    }
}

/// How [`Store::lock`](crate::Store::lock) got the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    /// Nobody held it.
    Acquired,
    /// A process on this host held it but is gone (killed, crashed, or the
    /// machine restarted): the lock was taken from it. The engine should say
    /// so, since that run was interrupted.
    TookOver(Holder),
}

/// Whether a process on this host is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    Alive,
    Gone,
    /// This system has no `/proc`, so rbx cannot tell.
    Unknown,
}

/// Whether process `pid` of this host exists.
///
/// Linux lists every process under `/proc`. The portable alternative,
/// `kill(pid, 0)`, is not in std and would need `unsafe`, which this
/// workspace forbids. A zombie (killed, not yet reaped) still has its
/// `/proc` entry but counts as gone: it holds nothing. A pid that
/// was reused by an unrelated process also counts as alive; the operator
/// then sees who holds the lock and can release it.
pub(crate) fn liveness(pid: u32) -> Liveness {
    if !Path::new("/proc/self").exists() {
        return Liveness::Unknown;
    }
    // A process that was killed but not yet reaped (a zombie, `Z` in its
    // stat line) holds nothing any more: it counts as gone.
    match std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            if matches!(state, Some("Z" | "X")) {
                Liveness::Gone
            } else {
                Liveness::Alive
            }
        }
        Err(_) => Liveness::Gone,
    }
}
