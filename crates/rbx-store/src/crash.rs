//! Crash testing: a process that kills itself right after committing a
//! given number of events, as `kill -9` at that moment would.

/// The environment variable that makes rbx kill itself with `SIGKILL`
/// right after it has committed that many events, for crash tests.
pub const CRASH_AFTER_EVENTS: &str = "RBX_CRASH_AFTER_EVENTS";

/// How many events this store committed, and after how many it dies.
#[derive(Debug)]
pub(crate) struct CrashAfter {
    limit: Option<u64>,
    appended: u64,
}

impl CrashAfter {
    /// The limit `RBX_CRASH_AFTER_EVENTS` sets, if any.
    pub(crate) fn from_env() -> CrashAfter {
        CrashAfter {
            limit: std::env::var(CRASH_AFTER_EVENTS)
                .ok()
                .and_then(|n| n.trim().parse().ok()),
            appended: 0,
        }
    }

    /// Counts one committed event, and dies if that was the last allowed.
    pub(crate) fn committed(&mut self) {
        self.appended += 1;
        if self.limit == Some(self.appended) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::SIGKILL);
        }
    }
}
