//! The collection stage: Kinesis records into PutRecords requests of at most
//! `collection_max_count` records and `collection_max_size` bytes, in the order they came.
//! A request goes when it is full, when one shard holds 256 KiB in it, when its earliest
//! deadline has come, or when flushing. It knows nothing of order: in ordered mode the
//! lanes ([`super::lanes`]) never hand it two records of one shard.

use std::collections::{BTreeMap, VecDeque};

use crate::FastMap;
use std::sync::Arc;

use tokio::time::Instant;

use crate::pending::Outgoing;

/// Bytes of one shard in the collector that make a request go at once (as the KPL).
pub(crate) const SHARD_FLUSH_BYTES: usize = 256 * 1024;

/// Records waiting for a request.
#[derive(Debug)]
pub(crate) struct Collector {
    max_count: usize,
    max_size: usize,
    queue: VecDeque<Outgoing>,
    bytes: usize,
    shard_bytes: FastMap<Option<Arc<str>>, usize>,
    shards_over: usize,
    deadlines: BTreeMap<Instant, usize>,
}

impl Collector {
    pub(crate) fn new(max_count: usize, max_size: usize) -> Collector {
        Collector {
            max_count,
            max_size,
            queue: VecDeque::new(),
            bytes: 0,
            shard_bytes: FastMap::default(),
            shards_over: 0,
            deadlines: BTreeMap::new(),
        }
    }

    pub(crate) fn push(&mut self, outgoing: Outgoing) {
        self.account(&outgoing, true);
        self.queue.push_back(outgoing);
    }

    /// When the oldest waiting user record was put (a scan).
    pub(crate) fn oldest(&self) -> Option<Instant> {
        self.queue.iter().map(|o| o.oldest).min()
    }

    fn account(&mut self, o: &Outgoing, add: bool) {
        let size = o.size();
        let shard_bytes = self.shard_bytes.entry(o.shard.clone()).or_default();
        let was_over = *shard_bytes >= SHARD_FLUSH_BYTES;
        let deadlines = self.deadlines.entry(o.deadline).or_default();
        if add {
            self.bytes += size;
            *shard_bytes += size;
            *deadlines += 1;
        } else {
            self.bytes -= size.min(self.bytes);
            *shard_bytes -= size.min(*shard_bytes);
            *deadlines = deadlines.saturating_sub(1);
        }
        let is_over = *shard_bytes >= SHARD_FLUSH_BYTES;
        if *deadlines == 0 {
            self.deadlines.remove(&o.deadline);
        }
        match (was_over, is_over) {
            (false, true) => self.shards_over += 1,
            (true, false) => self.shards_over -= 1,
            _ => {}
        }
    }

    /// Whether a request should go now.
    pub(crate) fn ready(&self, now: Instant, force: bool) -> bool {
        !self.queue.is_empty()
            && (force
                || self.queue.len() >= self.max_count
                || self.bytes >= self.max_size
                || self.shards_over > 0
                || self.next_deadline().is_some_and(|d| d <= now))
    }

    /// The next request, if one should go now: records in the order they came, up to the
    /// count and size limits (a record larger than the size limit goes alone).
    pub(crate) fn take(&mut self, now: Instant, force: bool) -> Option<Vec<Outgoing>> {
        if !self.ready(now, force) {
            return None;
        }
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        while let Some(o) = self.queue.front() {
            let full = batch.len() >= self.max_count
                || (!batch.is_empty() && batch_bytes + o.size() > self.max_size);
            if full {
                break;
            }
            batch_bytes += o.size();
            batch.extend(self.queue.pop_front());
        }
        for o in &batch {
            self.account(o, false);
        }
        (!batch.is_empty()).then_some(batch)
    }

    /// The earliest deadline of a waiting record.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.keys().next().copied()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The earliest expiry of a waiting record (a scan: called at most once per sweep).
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.queue.iter().map(|o| o.expiry).min()
    }

    /// Takes out every waiting record holding a user record expired at `now`.
    pub(crate) fn take_expiring(&mut self, now: Instant) -> Vec<Outgoing> {
        let (expiring, kept): (VecDeque<Outgoing>, VecDeque<Outgoing>) =
            std::mem::take(&mut self.queue)
                .into_iter()
                .partition(|o| o.expiry <= now);
        self.queue = kept;
        for o in &expiring {
            self.account(o, false);
        }
        expiring.into()
    }

    /// Everything waiting.
    pub(crate) fn drain(&mut self) -> Vec<Outgoing> {
        let all: Vec<Outgoing> = self.queue.drain(..).collect();
        for o in &all {
            self.account(o, false);
        }
        all
    }
}

#[cfg(test)]
#[path = "collector_tests.rs"]
mod tests;
