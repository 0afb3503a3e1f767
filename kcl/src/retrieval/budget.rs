//! The prefetch bounds: per shard, batches, user records and bytes fetched but not yet
//! processed; per worker, the bytes of every shard together.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Limits of the prefetch queue of one shard.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) batches: usize,
    pub(crate) records: usize,
    pub(crate) bytes: usize,
}

/// Bytes prefetched by every shard of a worker, bounded together.
#[derive(Debug)]
pub(crate) struct WorkerPrefetch {
    limit: usize,
    bytes: AtomicUsize,
    room: Notify,
}

impl WorkerPrefetch {
    pub(crate) fn new(limit: usize) -> Self {
        WorkerPrefetch {
            limit,
            bytes: AtomicUsize::new(0),
            room: Notify::new(),
        }
    }

    /// Bytes prefetched and not yet processed, over every shard.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    fn has_room(&self) -> bool {
        self.bytes() < self.limit
    }

    fn add(&self, bytes: usize) {
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
    }

    fn remove(&self, bytes: usize) {
        let _ = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                Some(b.saturating_sub(bytes))
            });
        self.room.notify_waiters();
    }
}

/// What one shard has queued, and a wake-up for its fetcher when room frees (in the
/// shard's queue or the worker's).
#[derive(Debug)]
pub(crate) struct Budget {
    limits: Limits,
    queued: Mutex<Queued>,
    room: Notify,
    worker: Arc<WorkerPrefetch>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Queued {
    batches: usize,
    records: usize,
    bytes: usize,
}

impl Budget {
    pub(crate) fn new(limits: Limits, worker: Arc<WorkerPrefetch>) -> Self {
        Budget {
            limits,
            queued: Mutex::new(Queued::default()),
            room: Notify::new(),
            worker,
        }
    }

    fn queued(&self) -> std::sync::MutexGuard<'_, Queued> {
        self.queued.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether another fetch may start: every count of the shard under its limit, and the
    /// worker's bytes under theirs (one batch may overshoot, as in the KCL: the worker's
    /// bytes stay under its limit plus one response per shard).
    pub(crate) fn has_room(&self) -> bool {
        let q = *self.queued();
        q.batches < self.limits.batches
            && q.records < self.limits.records
            && q.bytes < self.limits.bytes
            && self.worker.has_room()
    }

    /// Waits until another fetch may start.
    pub(crate) async fn wait_for_room(&self) {
        loop {
            // Registered before the check, so no wake-up is missed in between.
            let shard = self.room.notified();
            let worker = self.worker.room.notified();
            if self.has_room() {
                return;
            }
            tokio::select! {
                () = shard => {}
                () = worker => {}
            }
        }
    }

    /// A fetched batch was queued.
    pub(crate) fn add(&self, records: usize, bytes: usize) {
        let mut q = self.queued();
        q.batches += 1;
        q.records += records;
        q.bytes += bytes;
        self.worker.add(bytes);
    }

    /// A queued batch was taken for processing.
    pub(crate) fn remove(&self, records: usize, bytes: usize) {
        {
            let mut q = self.queued();
            q.batches = q.batches.saturating_sub(1);
            q.records = q.records.saturating_sub(records);
            q.bytes = q.bytes.saturating_sub(bytes);
        }
        self.worker.remove(bytes);
        self.room.notify_one();
    }
}

impl Drop for Budget {
    /// A shard's prefetch ends (lease lost, shard ended): what it still had queued no
    /// longer counts against the worker.
    fn drop(&mut self) {
        let bytes = self.queued().bytes;
        self.worker.remove(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_limit_stops_the_fetcher_until_a_batch_is_taken() {
        let limits = Limits {
            batches: 2,
            records: 100,
            bytes: 1000,
        };
        let b = Budget::new(limits, Arc::new(WorkerPrefetch::new(usize::MAX)));
        assert!(b.has_room());
        b.add(10, 10);
        assert!(b.has_room());
        b.add(10, 10);
        assert!(!b.has_room(), "two batches queued");
        b.remove(10, 10);
        b.wait_for_room().await;
        b.add(500, 10);
        assert!(!b.has_room(), "records over the limit");
        b.remove(500, 10);
        b.add(1, 5000);
        assert!(!b.has_room(), "bytes over the limit");
        let waiter = async { b.wait_for_room().await };
        let taker = async { b.remove(1, 5000) };
        tokio::join!(waiter, taker);
        assert!(b.has_room());
    }

    #[tokio::test]
    async fn the_worker_bound_holds_every_shard_until_any_of_them_frees_bytes() {
        let limits = Limits {
            batches: 10,
            records: 1_000,
            bytes: 1_000,
        };
        let worker = Arc::new(WorkerPrefetch::new(1_000));
        let (a, b) = (
            Budget::new(limits, worker.clone()),
            Budget::new(limits, worker.clone()),
        );
        a.add(1, 600);
        assert!(b.has_room());
        b.add(1, 600);
        assert_eq!(worker.bytes(), 1_200);
        assert!(
            !a.has_room() && !b.has_room(),
            "the worker is over its bound"
        );
        let waiter = async { b.wait_for_room().await };
        let taker = async { a.remove(1, 600) };
        tokio::join!(waiter, taker);
        assert!(b.has_room());
        drop(b);
        assert_eq!(
            worker.bytes(),
            0,
            "a dropped shard's queue no longer counts"
        );
    }
}
