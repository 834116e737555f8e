//! Waking followers when commits land.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// The latest sequence a backend knows to be committed, and the waiters on it.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    latest: Mutex<u64>,
    changed: Condvar,
}

impl Watch {
    pub(crate) fn new(latest: u64) -> Arc<Watch> {
        Arc::new(Watch {
            latest: Mutex::new(latest),
            changed: Condvar::new(),
        })
    }

    /// Records that commits up to `seq` are visible, waking every waiter if that is news.
    pub(crate) fn advance(&self, seq: u64) {
        let mut latest = self.latest.lock();
        if seq > *latest {
            *latest = seq;
            drop(latest);
            self.changed.notify_all();
        }
    }

    /// Wakes every waiter without news (e.g. a lost connection was re-established: some
    /// notifications may have been missed, so followers should poll).
    pub(crate) fn poke(&self) {
        let _guard = self.latest.lock();
        self.changed.notify_all();
    }

    pub(crate) fn latest(&self) -> u64 {
        *self.latest.lock()
    }
}

/// Wakes a follower when new commits land (see [`crate::Store::subscribe`]).
///
/// The sequence it reports is a hint: the follower reads the changes themselves with
/// [`crate::Store::changes_since`]. A follower should not rely on being woken for every commit
/// (a PostgreSQL notification can be lost with its connection): wait with a timeout such as
/// [`crate::FOLLOWER_POLL`] and poll the log after it.
#[derive(Debug, Clone)]
pub struct Subscription {
    watch: Arc<Watch>,
}

impl Subscription {
    pub(crate) fn new(watch: Arc<Watch>) -> Self {
        Subscription { watch }
    }

    /// The latest sequence known to be committed.
    pub fn latest(&self) -> u64 {
        self.watch.latest()
    }

    /// Blocks until a commit with a sequence greater than `after` is known, a connection to the
    /// backend was re-established, or `timeout` passes; returns the latest known sequence (which
    /// is `<= after` after a timeout or a reconnection without news).
    pub fn wait(&self, after: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now().checked_add(timeout);
        let mut latest = self.watch.latest.lock();
        if *latest > after {
            return *latest;
        }
        match deadline {
            Some(deadline) => {
                let _ = self.watch.changed.wait_until(&mut latest, deadline);
            }
            None => self.watch.changed.wait(&mut latest),
        }
        *latest
    }
}
