//! `--jobs`: at most that many nodes of one run at once (rule R5), and one
//! pool of as many places shared by the run and every child run it drives,
//! at every depth (rule D6). A node task holds a place while it runs; a
//! `child` node holds none, since its child run's own nodes take theirs —
//! a `child` node holding one would leave none to its child under
//! `--jobs 1`.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// At most how many nodes run at once across a run and its child runs;
/// clones share the pool, so a child run's options carry its parent's.
#[derive(Debug, Clone, Default)]
pub struct Jobs(Option<(usize, Arc<Semaphore>)>);

/// A place taken from [`Jobs`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Place {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Jobs {
    /// A pool of `cap` places (at least one); `None`: no cap, as many as
    /// the runbook's `parallel` blocks and loops start (rule R5).
    pub fn at_most(cap: Option<usize>) -> Self {
        Self(cap.map(|n| (n.max(1), Arc::new(Semaphore::new(n.max(1))))))
    }

    /// At most how many nodes of one run run at once.
    pub(crate) fn cap(&self) -> usize {
        self.0.as_ref().map_or(usize::MAX, |(cap, _)| *cap)
    }

    /// A place now, if one is free.
    pub(crate) fn try_take(&self) -> Option<Place> {
        match &self.0 {
            None => Some(Place { _permit: None }),
            Some((_, pool)) => Arc::clone(pool)
                .try_acquire_owned()
                .ok()
                .map(|permit| Place {
                    _permit: Some(permit),
                }),
        }
    }

    /// The next place given back, in the order places were asked for.
    pub(crate) async fn take(&self) -> Place {
        let permit = match &self.0 {
            None => None,
            Some((_, pool)) => Arc::clone(pool).acquire_owned().await.ok(),
        };
        Place { _permit: permit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clones_share_the_places_and_a_dropped_place_comes_back() {
        let jobs = Jobs::at_most(Some(2));
        let child = jobs.clone();
        let first = jobs.try_take().expect("a place");
        let second = child.try_take().expect("a place");
        assert!(jobs.try_take().is_none(), "two places at most");
        assert!(child.try_take().is_none(), "shared with the clone");
        drop(first);
        let third = child.take().await;
        assert!(jobs.try_take().is_none());
        drop((second, third));
        assert!(jobs.try_take().is_some());
    }

    #[test]
    fn no_cap_always_has_a_place() {
        let jobs = Jobs::at_most(None);
        assert_eq!(jobs.cap(), usize::MAX);
        assert_eq!(Jobs::at_most(Some(0)).cap(), 1);
        let places: Vec<Place> = (0..100).filter_map(|_| jobs.try_take()).collect();
        assert_eq!(places.len(), 100);
        assert!(Jobs::at_most(Some(0)).try_take().is_some(), "at least one");
    }
}
