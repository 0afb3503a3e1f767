//! The prefetch bound: batches, user records and bytes fetched but not yet processed.

use std::sync::Mutex;

use tokio::sync::Notify;

/// Limits of the prefetch queue of one shard.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) batches: usize,
    pub(crate) records: usize,
    pub(crate) bytes: usize,
}

/// What is queued, and a wake-up for the fetcher when room frees.
#[derive(Debug)]
pub(crate) struct Budget {
    limits: Limits,
    queued: Mutex<Queued>,
    room: Notify,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Queued {
    batches: usize,
    records: usize,
    bytes: usize,
}

impl Budget {
    pub(crate) fn new(limits: Limits) -> Self {
        Budget {
            limits,
            queued: Mutex::new(Queued::default()),
            room: Notify::new(),
        }
    }

    fn queued(&self) -> std::sync::MutexGuard<'_, Queued> {
        self.queued.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether another fetch may start: every count under its limit (one batch may
    /// overshoot the record and byte limits, as in the KCL).
    pub(crate) fn has_room(&self) -> bool {
        let q = *self.queued();
        q.batches < self.limits.batches
            && q.records < self.limits.records
            && q.bytes < self.limits.bytes
    }

    /// Waits until another fetch may start.
    pub(crate) async fn wait_for_room(&self) {
        while !self.has_room() {
            self.room.notified().await;
        }
    }

    /// A fetched batch was queued.
    pub(crate) fn add(&self, records: usize, bytes: usize) {
        let mut q = self.queued();
        q.batches += 1;
        q.records += records;
        q.bytes += bytes;
    }

    /// A queued batch was taken for processing.
    pub(crate) fn remove(&self, records: usize, bytes: usize) {
        {
            let mut q = self.queued();
            q.batches = q.batches.saturating_sub(1);
            q.records = q.records.saturating_sub(records);
            q.bytes = q.bytes.saturating_sub(bytes);
        }
        self.room.notify_one();
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
        let b = Budget::new(limits);
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
}
