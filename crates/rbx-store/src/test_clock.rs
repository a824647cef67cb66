//! The time a store records, for tests that run the `rbx` binary on a
//! simulated clock (`RBX_TEST_CLOCK`, read by the engine): events are
//! stamped with the run's simulated time rather than the system's, so that
//! what the journal says of when things happened is what the clock said.

use std::sync::{Arc, RwLock};

/// Milliseconds since the epoch.
pub type TestClock = Arc<dyn Fn() -> i64 + Send + Sync>;

static CLOCK: RwLock<Option<TestClock>> = RwLock::new(None);

/// From now on, every store of this process stamps what it records with
/// `clock`'s time.
pub fn set_test_clock(clock: TestClock) {
    if let Ok(mut set) = CLOCK.write() {
        *set = Some(clock);
    }
}

/// The time `set_test_clock` set, if it did.
pub(crate) fn now_ms() -> Option<i64> {
    let clock = CLOCK.read().ok()?.clone()?;
    Some(clock())
}
