//! The per-shard aggregation stage: one open aggregate per predicted shard, never two
//! shards in one aggregate. It returns Kinesis records as they become ready: an aggregate
//! when it is full or its deadline passed, a record alone when it cannot be aggregated.

use crate::FastMap;
use std::sync::Arc;

use kinesis_agg::{Aggregator, AggregatorConfig, EncodedRecord, Refusal, Unsealed};
use tokio::time::Instant;

use crate::pending::{Outgoing, Pending};

/// The open aggregates of one stream, by shard.
#[derive(Debug)]
pub(crate) struct Aggregation {
    config: AggregatorConfig,
    enabled: bool,
    buffers: FastMap<Arc<str>, Buffer>,
}

#[derive(Debug)]
struct Buffer {
    aggregator: Aggregator,
    users: Vec<Pending>,
    deadline: Instant,
    expiry: Instant,
    oldest: Instant,
}

impl Aggregation {
    /// Aggregates of at most `max_size` bytes and `max_count` records; `enabled: false`
    /// sends every record alone.
    pub(crate) fn new(enabled: bool, max_size: usize, max_count: u64) -> Aggregation {
        let config = AggregatorConfig {
            max_size,
            max_count,
            ..AggregatorConfig::default()
        };
        Aggregation {
            config,
            enabled,
            buffers: FastMap::default(),
        }
    }

    /// Adds a record predicted for `shard` (`None`: shard unknown, sent alone); pushes what
    /// became ready onto `out`.
    pub(crate) fn add(
        &mut self,
        shard: Option<Arc<str>>,
        pending: Pending,
        out: &mut Vec<Outgoing>,
    ) {
        let Some(shard) = shard.filter(|_| self.enabled) else {
            out.push(alone(None, pending));
            return;
        };
        let config = self.config;
        let buffer = self
            .buffers
            .entry(shard.clone())
            .or_insert_with(|| Buffer::new(config, &pending));
        match buffer.aggregator.try_add_ref(&pending.record) {
            Ok(()) => buffer.push(pending),
            Err(Refusal::TooLarge { .. }) => out.push(alone(Some(shard), pending)),
            Err(Refusal::Full) => {
                out.extend(buffer.finish(shard.clone()));
                match buffer.aggregator.try_add_ref(&pending.record) {
                    Ok(()) => buffer.push(pending),
                    Err(_) => out.push(alone(Some(shard), pending)),
                }
            }
        }
    }

    /// Finishes every aggregate whose deadline is at or before `now`.
    pub(crate) fn take_due(&mut self, now: Instant, out: &mut Vec<Outgoing>) {
        for (shard, buffer) in &mut self.buffers {
            if !buffer.users.is_empty() && buffer.deadline <= now {
                out.extend(buffer.finish(shard.clone()));
            }
        }
    }

    /// Finishes every open aggregate (flush).
    pub(crate) fn take_all(&mut self, out: &mut Vec<Outgoing>) {
        for (shard, buffer) in &mut self.buffers {
            out.extend(buffer.finish(shard.clone()));
        }
    }

    /// The earliest deadline of an open aggregate.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.buffers
            .values()
            .filter(|b| !b.users.is_empty())
            .map(|b| b.deadline)
            .min()
    }

    /// When the oldest held record was put.
    pub(crate) fn oldest(&self) -> Option<Instant> {
        self.buffers
            .values()
            .filter(|b| !b.users.is_empty())
            .map(|b| b.oldest)
            .min()
    }

    /// The earliest expiry of a held record.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.buffers
            .values()
            .filter(|b| !b.users.is_empty())
            .map(|b| b.expiry)
            .min()
    }

    /// Takes the records out of every aggregate holding one that expires at or before `now`
    /// (the caller fails the expired ones and adds the rest again).
    pub(crate) fn take_expiring(&mut self, now: Instant) -> Vec<Pending> {
        let mut out = Vec::new();
        for buffer in self.buffers.values_mut() {
            if !buffer.users.is_empty() && buffer.expiry <= now {
                buffer.aggregator.finish_unsealed();
                out.append(&mut buffer.users);
            }
        }
        out
    }

    /// Records held (for draining on shutdown).
    pub(crate) fn drain(&mut self) -> Vec<Pending> {
        let mut out = Vec::new();
        for buffer in self.buffers.values_mut() {
            buffer.aggregator.finish_unsealed();
            out.append(&mut buffer.users);
        }
        out
    }

    /// Forgets the aggregates of shards no longer open (their records are returned).
    pub(crate) fn retain_shards(&mut self, open: impl Fn(&str) -> bool) -> Vec<Pending> {
        let closed: Vec<Arc<str>> = self.buffers.keys().filter(|s| !open(s)).cloned().collect();
        let mut out = Vec::new();
        for shard in closed {
            if let Some(mut buffer) = self.buffers.remove(&shard) {
                out.append(&mut buffer.users);
            }
        }
        out
    }
}

impl Buffer {
    fn new(config: AggregatorConfig, first: &Pending) -> Buffer {
        Buffer {
            aggregator: Aggregator::new(config).unwrap_or_default(),
            users: Vec::new(),
            deadline: first.deadline,
            expiry: first.expiry,
            oldest: first.arrived,
        }
    }

    fn push(&mut self, pending: Pending) {
        if self.users.is_empty() {
            self.deadline = pending.deadline;
            self.expiry = pending.expiry;
            self.oldest = pending.arrived;
        } else {
            self.deadline = self.deadline.min(pending.deadline);
            self.expiry = self.expiry.min(pending.expiry);
            self.oldest = self.oldest.min(pending.arrived);
        }
        self.users.push(pending);
    }

    fn finish(&mut self, shard: Arc<str>) -> Option<Outgoing> {
        let record = self.aggregator.finish_unsealed()?;
        // The next aggregate of this shard will likely hold as many: no regrowing.
        let capacity = self.users.len();
        let users = std::mem::replace(&mut self.users, Vec::with_capacity(capacity));

        Some(Outgoing::new(Some(shard), record, users))
    }
}

/// Packs `users` in order into as few Kinesis records as the limits allow, for `shard`
/// (an ordered retry keeps its records together and in order).
pub(crate) fn pack(
    enabled: bool,
    max_size: usize,
    max_count: u64,
    shard: Option<Arc<str>>,
    users: Vec<Pending>,
) -> Vec<Outgoing> {
    let mut aggregation = Aggregation::new(enabled && shard.is_some(), max_size, max_count);
    let mut out = Vec::new();
    for user in users {
        aggregation.add(shard.clone(), user, &mut out);
    }
    aggregation.take_all(&mut out);
    out
}

/// A record sent on its own, raw.
fn alone(shard: Option<Arc<str>>, pending: Pending) -> Outgoing {
    let record = Unsealed::from(EncodedRecord::single(pending.record.clone()));
    Outgoing::new(shard, record, vec![pending])
}

#[cfg(test)]
#[path = "aggregation_tests.rs"]
mod tests;
