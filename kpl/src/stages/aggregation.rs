//! The per-shard aggregation stage: one open aggregate per predicted shard, never two
//! shards in one aggregate. It returns Kinesis records as they become ready: an aggregate
//! when it is full or its deadline passed, a record alone when it cannot be aggregated.

use std::sync::Arc;

use kinesis_agg::{Aggregator, AggregatorConfig, EncodedRecord, Refusal, Unsealed};
use tokio::time::Instant;

use crate::pending::{Outgoing, Pending};

/// The open aggregates of one stream, by the shard's place in the shard map (an index,
/// not a lookup by id per record; [`remap`](Aggregation::remap) moves them when the map
/// changes).
#[derive(Debug)]
pub(crate) struct Aggregation {
    config: AggregatorConfig,
    enabled: bool,
    slots: Vec<Option<Buffer>>,
    /// Emptied record vectors of completed aggregates, reused while still warm in cache
    /// (writing each record into fresh memory cost more than aggregating it).
    spare: Vec<Vec<Pending>>,
}

/// At most this many emptied vectors are kept for reuse.
const SPARE_VECTORS: usize = 64;

#[derive(Debug)]
struct Buffer {
    shard: Arc<str>,
    aggregator: Aggregator,
    users: Vec<Pending>,
    /// How many records the last aggregate held (the next one likely holds as many).
    last_len: usize,
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
            slots: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// Takes back the (drained) record vector of a completed aggregate for reuse.
    pub(crate) fn recycle(&mut self, mut users: Vec<Pending>) {
        users.clear();
        if users.capacity() > 0 && self.spare.len() < SPARE_VECTORS {
            self.spare.push(users);
        }
    }

    fn buffers(&self) -> impl Iterator<Item = &Buffer> {
        self.slots.iter().flatten()
    }

    fn buffers_mut(&mut self) -> impl Iterator<Item = &mut Buffer> {
        self.slots.iter_mut().flatten()
    }

    /// Adds a record predicted for `shard` (`None`: shard unknown, sent alone), found by
    /// its id; pushes what became ready onto `out`, in order: a record too large to
    /// aggregate follows the open aggregate of its shard out.
    pub(crate) fn add(
        &mut self,
        shard: Option<Arc<str>>,
        pending: Pending,
        out: &mut Vec<Outgoing>,
    ) {
        let Some(shard) = shard else {
            out.push(alone(None, pending));
            return;
        };
        if !self.enabled {
            out.push(alone(Some(shard), pending));
            return;
        }
        let index = self
            .slots
            .iter()
            .position(|b| b.as_ref().is_some_and(|b| b.shard == shard))
            .unwrap_or(self.slots.len());
        self.add_at(index, &shard, pending, out);
    }

    /// Adds a record predicted for `shard`, at place `index` of the shard map.
    pub(crate) fn add_at(
        &mut self,
        index: usize,
        shard: &Arc<str>,
        pending: Pending,
        out: &mut Vec<Outgoing>,
    ) {
        if !self.enabled {
            // Alone, but still of its shard: its rate limit, its order, its metrics.
            out.push(alone(Some(shard.clone()), pending));
            return;
        }
        if index >= self.slots.len() {
            self.slots.resize_with(index + 1, || None);
        }
        let config = self.config;
        let spare = &mut self.spare;
        let Some(slot) = self.slots.get_mut(index) else {
            out.push(alone(Some(shard.clone()), pending));
            return;
        };
        if slot.as_ref().is_some_and(|b| b.shard != *shard) {
            // Not remapped yet (never expected): what it holds goes now.
            out.extend(slot.take().and_then(|mut b| b.finish()));
        }
        let buffer = slot.get_or_insert_with(|| Buffer::new(config, shard.clone(), &pending));
        match buffer.aggregator.try_add_ref(&pending.record) {
            Ok(()) => buffer.push(pending, spare),
            Err(Refusal::TooLarge { .. }) => {
                // Alone, after the older records of its shard.
                out.extend(buffer.finish());
                out.push(alone(Some(shard.clone()), pending));
            }
            Err(Refusal::Full) => {
                out.extend(buffer.finish());
                match buffer.aggregator.try_add_ref(&pending.record) {
                    Ok(()) => buffer.push(pending, spare),
                    Err(_) => out.push(alone(Some(shard.clone()), pending)),
                }
            }
        }
    }

    /// Finishes every aggregate whose deadline is at or before `now`.
    pub(crate) fn take_due(&mut self, now: Instant, out: &mut Vec<Outgoing>) {
        for buffer in self.buffers_mut() {
            if !buffer.users.is_empty() && buffer.deadline <= now {
                out.extend(buffer.finish());
            }
        }
    }

    /// Finishes every open aggregate (flush).
    pub(crate) fn take_all(&mut self, out: &mut Vec<Outgoing>) {
        for buffer in self.buffers_mut() {
            out.extend(buffer.finish());
        }
    }

    /// The earliest deadline of an open aggregate.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.buffers()
            .filter(|b| !b.users.is_empty())
            .map(|b| b.deadline)
            .min()
    }

    /// When the oldest held record was put.
    pub(crate) fn oldest(&self) -> Option<Instant> {
        self.buffers()
            .filter(|b| !b.users.is_empty())
            .map(|b| b.oldest)
            .min()
    }

    /// The earliest expiry of a held record.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.buffers()
            .filter(|b| !b.users.is_empty())
            .map(|b| b.expiry)
            .min()
    }

    /// Takes the records out of every aggregate holding one that expires at or before `now`
    /// (the caller fails the expired ones and adds the rest again).
    pub(crate) fn take_expiring(&mut self, now: Instant) -> Vec<Pending> {
        let mut out = Vec::new();
        for buffer in self.buffers_mut() {
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
        for buffer in self.buffers_mut() {
            buffer.aggregator.finish_unsealed();
            out.append(&mut buffer.users);
        }
        out
    }

    /// Moves the aggregates to their shards' places in a new map (`place`); those of shards
    /// no longer open are forgotten and their records returned.
    pub(crate) fn remap(&mut self, place: impl Fn(&str) -> Option<usize>) -> Vec<Pending> {
        let mut out = Vec::new();
        let mut slots: Vec<Option<Buffer>> = Vec::new();
        for mut buffer in std::mem::take(&mut self.slots).into_iter().flatten() {
            match place(&buffer.shard) {
                Some(index) => {
                    if index >= slots.len() {
                        slots.resize_with(index + 1, || None);
                    }
                    if let Some(slot) = slots.get_mut(index) {
                        *slot = Some(buffer);
                    }
                }
                None => out.append(&mut buffer.users),
            }
        }
        self.slots = slots;
        out
    }
}

impl Buffer {
    fn new(config: AggregatorConfig, shard: Arc<str>, first: &Pending) -> Buffer {
        Buffer {
            shard,
            aggregator: Aggregator::new(config).unwrap_or_default(),
            users: Vec::new(),
            last_len: 0,
            deadline: first.deadline(),
            expiry: first.expiry(),
            oldest: first.arrived(),
        }
    }

    /// Adds a record; the first of an aggregate goes into a spare vector if there is one.
    fn push(&mut self, pending: Pending, spare: &mut Vec<Vec<Pending>>) {
        if self.users.capacity() == 0 {
            self.users = spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(self.last_len));
        }
        if self.users.is_empty() {
            self.deadline = pending.deadline();
            self.expiry = pending.expiry();
            self.oldest = pending.arrived();
        } else {
            self.deadline = self.deadline.min(pending.deadline());
            self.expiry = self.expiry.min(pending.expiry());
            self.oldest = self.oldest.min(pending.arrived());
        }
        self.users.push(pending);
    }

    fn finish(&mut self) -> Option<Outgoing> {
        let record = self.aggregator.finish_unsealed()?;
        self.last_len = self.users.len();
        let users = std::mem::take(&mut self.users);

        // The times were kept as records came in: no second pass over them.
        Some(Outgoing {
            shard: Some(self.shard.clone()),
            record,
            users,
            deadline: self.deadline,
            expiry: self.expiry,
            oldest: self.oldest,
        })
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

/// A record sent on its own, raw, with its own hash key as explicit hash key (so it lands
/// where its key belongs whatever the shard map says).
pub(crate) fn alone(shard: Option<Arc<str>>, pending: Pending) -> Outgoing {
    let record = Unsealed::from(EncodedRecord::single(pending.record.clone()));
    Outgoing::new(shard, record, vec![pending])
}

#[cfg(test)]
#[path = "aggregation_tests.rs"]
mod tests;
