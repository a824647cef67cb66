//! The lease on a run: a row of `locks` with an expiry that a thread of
//! the driving process renews. A driver whose machine dies stops renewing;
//! once its lease lapses (by the database's clock, so no two machines'
//! clocks are compared) another operator may take the run over.
//!
//! The lease is also a fence: every event the driver appends checks, in
//! the statement that inserts it, that the lease is still its own, so a
//! driver that was only frozen (a suspended laptop) and lost its lease
//! cannot write a single event after its successor took over.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::connect::Target;

/// The environment variable that sets how long a lease lasts without being
/// renewed, in seconds (default [`DEFAULT_SECONDS`]).
pub const LEASE_SECONDS: &str = "RBX_LEASE_SECONDS";

/// How long a lease lasts unless renewed. A third of it passes between two
/// renewals, so two renewals in a row may fail (a network blip) before the
/// lease lapses.
const DEFAULT_SECONDS: u32 = 30;

/// How long a lease lasts, from `RBX_LEASE_SECONDS`, at least one second.
pub(crate) fn seconds_from_env() -> u32 {
    std::env::var(LEASE_SECONDS)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .map_or(DEFAULT_SECONDS, |s| s.max(1))
}

/// A lease this process holds, and the thread that renews it.
#[derive(Debug)]
pub(crate) struct Lease {
    pub(crate) token: String,
    stop: Option<mpsc::Sender<()>>,
    renewer: Option<JoinHandle<()>>,
}

impl Lease {
    /// Starts renewing the lease `token` on `run` every third of its
    /// length, on a connection of its own, until the lease is dropped or
    /// found lost.
    pub(crate) fn hold(target: &Target, run: &str, token: String, length: u32) -> Lease {
        let (stop, stopped) = mpsc::channel::<()>();
        let (target, run, mine) = (target.clone(), run.to_owned(), token.clone());
        let every = Duration::from_millis(u64::from(length) * 1000 / 3);
        let renewer = thread::Builder::new()
            .name(format!("rbx-lease-{run}"))
            .spawn(move || renew(&target, &run, &mine, length, every, &stopped))
            .ok();
        Lease {
            token,
            stop: Some(stop),
            renewer,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Closing the channel wakes the renewer at once.
        drop(self.stop.take());
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.join();
        }
    }
}

/// The renewer's loop. A failed renewal (the database is away) is tried
/// again at the next tick on a new connection; a renewal that finds the
/// lease gone (taken over) ends the loop: the fence refuses what the
/// driver writes from then on.
fn renew(
    target: &Target,
    run: &str,
    token: &str,
    length: u32,
    every: Duration,
    stopped: &mpsc::Receiver<()>,
) {
    let mut client = None;
    let length = f64::from(length);
    loop {
        match stopped.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        if client.is_none() {
            client = target.connect().ok();
        }
        let Some(connection) = client.as_mut() else {
            continue;
        };
        let renewed = connection.execute(
            "UPDATE locks SET expires_at = clock_timestamp() + make_interval(secs => $3)
             WHERE run_id = $1 AND token = $2",
            &[&run, &token, &length],
        );
        match renewed {
            Ok(0) => return,
            Ok(_) => {}
            Err(_) => client = None,
        }
    }
}
