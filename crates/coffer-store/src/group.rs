//! Group commit: concurrent `commit` calls share one backend transaction (and one fsync).
//!
//! The first caller to find no batch in progress becomes the leader: it takes every queued
//! transaction (up to a bound), applies them all in one backend transaction through the
//! backend's `apply` function, and hands each caller its own result. Callers that queue while a
//! batch is in progress wait; when it ends, one of them leads the next batch with everything
//! queued meanwhile. Nobody waits on a timer: under no contention a batch is one transaction.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::{CommitInfo, StoreError, Transaction};

/// The outcome of each transaction of a batch, in the batch's order.
pub(crate) type BatchResults = Vec<Result<CommitInfo, StoreError>>;

#[derive(Debug, Default)]
struct Queue {
    pending: Vec<(u64, Transaction)>,
    results: HashMap<u64, Result<CommitInfo, StoreError>>,
    next_ticket: u64,
    leading: bool,
}

/// The queue of transactions waiting to be committed together.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    queue: Mutex<Queue>,
    finished: Condvar,
    max_batch: usize,
}

impl GroupCommit {
    /// A queue whose batches hold at most `max_batch` transactions (1: no grouping).
    pub(crate) fn new(max_batch: usize) -> Self {
        GroupCommit {
            queue: Mutex::new(Queue::default()),
            finished: Condvar::new(),
            max_batch: max_batch.max(1),
        }
    }

    /// Commits `tx` in some batch applied by `apply` (which must return one result per
    /// transaction, in order), and returns its result.
    pub(crate) fn commit(
        &self,
        tx: &Transaction,
        apply: &dyn Fn(&[Transaction]) -> BatchResults,
    ) -> Result<CommitInfo, StoreError> {
        let mut queue = self.queue.lock();
        let ticket = queue.next_ticket;
        queue.next_ticket = queue.next_ticket.wrapping_add(1);
        queue.pending.push((ticket, tx.clone()));
        loop {
            if let Some(result) = queue.results.remove(&ticket) {
                return result;
            }
            if queue.leading {
                self.finished.wait(&mut queue);
                continue;
            }
            self.lead(&mut queue, apply);
        }
    }

    fn lead(
        &self,
        queue: &mut MutexGuard<'_, Queue>,
        apply: &dyn Fn(&[Transaction]) -> BatchResults,
    ) {
        queue.leading = true;
        let take = queue.pending.len().min(self.max_batch);
        let (tickets, batch): (Vec<u64>, Vec<Transaction>) = queue.pending.drain(..take).unzip();
        let outcome =
            MutexGuard::unlocked(queue, || catch_unwind(AssertUnwindSafe(|| apply(&batch))));
        let results = match outcome {
            Ok(results) if results.len() == tickets.len() => results,
            Ok(_) => failed(tickets.len(), "group commit: wrong number of results"),
            Err(_) => failed(tickets.len(), "group commit: the batch panicked"),
        };
        for (ticket, result) in tickets.into_iter().zip(results) {
            queue.results.insert(ticket, result);
        }
        queue.leading = false;
        self.finished.notify_all();
    }
}

fn failed(n: usize, why: &str) -> BatchResults {
    (0..n)
        .map(|_| Err(StoreError::Backend(why.to_string())))
        .collect()
}
