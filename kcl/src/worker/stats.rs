//! What a worker counts, for its status and the KCL metrics.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by a worker's tasks.
#[derive(Debug)]
pub(crate) struct Stats {
    worker: String,
    records: AtomicU64,
    bytes: AtomicU64,
    taken: AtomicU64,
    released: AtomicU64,
    consumer_errors: AtomicU64,
    available: AtomicU64,
    taker_passes: AtomicU64,
}

impl Stats {
    pub(crate) fn new(worker: &str) -> Self {
        Stats {
            worker: worker.to_owned(),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            released: AtomicU64::new(0),
            consumer_errors: AtomicU64::new(0),
            available: AtomicU64::new(0),
            taker_passes: AtomicU64::new(0),
        }
    }

    /// A taker pass saw `available` unowned or expired leases.
    pub(crate) fn taker_pass(&self, available: usize) {
        self.available.store(available as u64, Ordering::Relaxed);
        self.taker_passes.fetch_add(1, Ordering::Relaxed);
    }

    /// A batch went to a processor.
    pub(crate) fn delivered(&self, records: u64, bytes: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        metrics::counter!("RecordsProcessed", "worker" => self.worker.clone()).increment(records);
        metrics::counter!("DataBytesProcessed", "worker" => self.worker.clone()).increment(bytes);
    }

    pub(crate) fn taken(&self) {
        self.taken.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("TakenLeases", "worker" => self.worker.clone()).increment(1);
    }

    pub(crate) fn released(&self) {
        self.released.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn consumer_error(&self) {
        self.consumer_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn status(
        &self,
        held: BTreeSet<String>,
        lost: u64,
        prefetched: u64,
    ) -> WorkerStatus {
        WorkerStatus {
            worker_id: self.worker.clone(),
            held_leases: held,
            records_processed: self.records.load(Ordering::Relaxed),
            bytes_processed: self.bytes.load(Ordering::Relaxed),
            leases_taken: self.taken.load(Ordering::Relaxed),
            leases_lost: lost,
            leases_released: self.released.load(Ordering::Relaxed),
            consumer_errors: self.consumer_errors.load(Ordering::Relaxed),
            available_leases: self.available.load(Ordering::Relaxed),
            taker_passes: self.taker_passes.load(Ordering::Relaxed),
            prefetched_bytes: prefetched,
        }
    }
}

/// A snapshot of a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerStatus {
    /// The worker identifier.
    pub worker_id: String,
    /// The leases it holds now.
    pub held_leases: BTreeSet<String>,
    /// User records delivered to processors.
    pub records_processed: u64,
    /// Data bytes of those records.
    pub bytes_processed: u64,
    /// Leases taken (stolen included) since start.
    pub leases_taken: u64,
    /// Leases lost (taken by others, or expired without renewal) since start.
    pub leases_lost: u64,
    /// Leases released on shutdown or after a consumer error.
    pub leases_released: u64,
    /// Shard consumers that gave their lease up because of an error.
    pub consumer_errors: u64,
    /// Unowned or expired (unfinished) leases seen by the last taker pass: leases left
    /// to take.
    pub available_leases: u64,
    /// Taker passes that scanned the table.
    pub taker_passes: u64,
    /// Record bytes fetched from every shard and not yet processed (bounded by
    /// `max_prefetch_bytes`, plus at most one GetRecords response per shard).
    pub prefetched_bytes: u64,
}
