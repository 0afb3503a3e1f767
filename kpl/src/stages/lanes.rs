//! The lanes stage: one queue per shard of the Kinesis records ready to go, in order,
//! each behind its shard's rate limit ([`ShardLimit`]).
//!
//! It is the one owner of a shard's order. In ordered mode (`Ordering::PerShard`) a lane
//! lets its next Kinesis record go only once the one before it is settled: written, failed
//! for good, or back at the front of the lane ([`push_front`](Lanes::push_front)) to be
//! retried ahead of everything newer of its shard, through the same rate limit. So the
//! collector holds at most one record of a shard, a request carries at most one, and at
//! most one is in flight, without the later stages knowing about order.
//!
//! Records of no known shard (no shard map yet, or a gap in it) wait in the unmapped lane,
//! not rate limited. In ordered mode at most one record per hash key of it is out at a
//! time (records of one partition key share a hash key, so their order holds), and the
//! shards' lanes wait while any is out: one of them may belong to any shard.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use kinesis_agg::HashKey;
use tokio::time::Instant;

use super::limiter::{Rates, ShardLimit};
use crate::FastMap;
use crate::pending::Outgoing;

/// The lanes of one stream.
#[derive(Debug)]
pub(crate) struct Lanes {
    ordered: bool,
    rates: Rates,
    shards: FastMap<Arc<str>, Lane>,
    unmapped: VecDeque<Outgoing>,
    /// Ordered mode: the hash keys of unmapped records out (collected or in flight).
    unmapped_out: HashSet<HashKey>,
}

#[derive(Debug)]
struct Lane {
    queue: VecDeque<Outgoing>,
    limit: ShardLimit,
    /// Ordered mode: a record of this lane is out (collected or in flight).
    out: bool,
}

impl Lanes {
    /// Lanes at `rate_limit` percent of the shard limits; `ordered` for `Ordering::PerShard`.
    pub(crate) fn new(rate_limit: u32, ordered: bool) -> Lanes {
        Lanes {
            ordered,
            rates: Rates::new(rate_limit),
            shards: FastMap::default(),
            unmapped: VecDeque::new(),
            unmapped_out: HashSet::new(),
        }
    }

    fn lane(&mut self, shard: &Arc<str>, now: Instant) -> &mut Lane {
        let rates = self.rates;
        self.shards.entry(shard.clone()).or_insert_with(|| Lane {
            queue: VecDeque::new(),
            limit: ShardLimit::new(rates, now),
            out: false,
        })
    }

    /// Queues a Kinesis record behind those of its shard.
    pub(crate) fn push(&mut self, outgoing: Outgoing, now: Instant) {
        match outgoing.shard.clone() {
            Some(shard) => self.lane(&shard, now).queue.push_back(outgoing),
            None => self.unmapped.push_back(outgoing),
        }
    }

    /// Puts Kinesis records (in their order) ahead of everything queued in their lanes:
    /// the retry of records that were out, or the rest of an aggregate taken apart.
    pub(crate) fn push_front(&mut self, records: Vec<Outgoing>, now: Instant) {
        for outgoing in records.into_iter().rev() {
            match outgoing.shard.clone() {
                Some(shard) => self.lane(&shard, now).queue.push_front(outgoing),
                None => self.unmapped.push_front(outgoing),
            }
        }
    }

    /// A Kinesis record released from the lane of `shard` (hash key `hash`) is settled:
    /// written, failed for good, or taken back to be queued again. In ordered mode its
    /// lane may let the next one go.
    pub(crate) fn settled(&mut self, shard: Option<&Arc<str>>, hash: HashKey) {
        if !self.ordered {
            return;
        }
        match shard {
            Some(shard) => {
                if let Some(lane) = self.shards.get_mut(shard) {
                    lane.out = false;
                }
            }
            None => {
                self.unmapped_out.remove(&hash);
            }
        }
    }

    /// Moves onto `out` every queued record its lane lets go now.
    pub(crate) fn release(&mut self, now: Instant, out: &mut Vec<Outgoing>) {
        self.release_unmapped(out);
        if self.ordered && !self.unmapped_out.is_empty() {
            return;
        }
        let ordered = self.ordered;
        for lane in self.shards.values_mut() {
            while !(ordered && lane.out) {
                let Some(head) = lane.queue.front() else {
                    break;
                };
                if !lane.limit.try_take(now, head.size()) {
                    break;
                }
                out.extend(lane.queue.pop_front());
                lane.out = ordered;
            }
        }
    }

    fn release_unmapped(&mut self, out: &mut Vec<Outgoing>) {
        if !self.ordered {
            out.extend(self.unmapped.drain(..));
            return;
        }
        let mut kept = VecDeque::new();
        for outgoing in self.unmapped.drain(..) {
            let hash = outgoing.record.explicit_hash_key();
            if self.unmapped_out.insert(hash) {
                out.push(outgoing);
            } else {
                kept.push_back(outgoing);
            }
        }
        self.unmapped = kept;
    }

    /// When the next queued record may go, if one waits for the clock (records that wait
    /// for an earlier one to settle go when it does, not at a time).
    pub(crate) fn next_ready(&self, now: Instant) -> Option<Instant> {
        if !self.unmapped.is_empty() && (!self.ordered || self.unmapped_out.is_empty()) {
            return Some(now);
        }
        if self.ordered && !self.unmapped_out.is_empty() {
            return None;
        }
        self.shards
            .values()
            .filter(|lane| !(self.ordered && lane.out))
            .filter_map(|lane| Some(lane.limit.ready_at(lane.queue.front()?.size())))
            .min()
    }

    /// The shard throttled a record: slow its lane down.
    pub(crate) fn throttled(&mut self, shard: &str, now: Instant) {
        if let Some(lane) = self.shards.get_mut(shard) {
            lane.limit.throttled(now);
        }
    }

    /// A Kinesis record of `size` bytes was written to the shard.
    pub(crate) fn succeeded(&mut self, shard: &str, now: Instant, size: usize) {
        if let Some(lane) = self.shards.get_mut(shard) {
            lane.limit.succeeded(now, size);
        }
    }

    /// Forgets the lanes of shards no longer open that hold nothing (after a new map).
    pub(crate) fn retain_open(&mut self, open: impl Fn(&str) -> bool) {
        self.shards
            .retain(|id, lane| open(id) || !lane.queue.is_empty() || lane.out);
    }

    /// Whether no record is queued in any lane.
    pub(crate) fn is_empty(&self) -> bool {
        self.queues().all(VecDeque::is_empty)
    }

    fn queues(&self) -> impl Iterator<Item = &VecDeque<Outgoing>> {
        self.shards
            .values()
            .map(|lane| &lane.queue)
            .chain(std::iter::once(&self.unmapped))
    }

    fn queues_mut(&mut self) -> impl Iterator<Item = &mut VecDeque<Outgoing>> {
        self.shards
            .values_mut()
            .map(|lane| &mut lane.queue)
            .chain(std::iter::once(&mut self.unmapped))
    }

    /// When the oldest queued user record was put (the fronts: a lane is in put order but
    /// for retries, which are older still).
    pub(crate) fn oldest(&self) -> Option<Instant> {
        self.queues()
            .filter_map(|q| q.front())
            .map(|o| o.oldest)
            .min()
    }

    /// The earliest expiry of a queued record (a scan: once per sweep).
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.queues().flatten().map(|o| o.expiry).min()
    }

    /// Takes out every queued record holding a user record expired at `now`.
    pub(crate) fn take_expiring(&mut self, now: Instant) -> Vec<Outgoing> {
        let mut out = Vec::new();
        for queue in self.queues_mut() {
            if queue.iter().any(|o| o.expiry <= now) {
                let (expiring, kept) = std::mem::take(queue)
                    .into_iter()
                    .partition(|o| o.expiry <= now);
                *queue = kept;
                out.extend::<VecDeque<Outgoing>>(expiring);
            }
        }
        out
    }

    /// Everything queued (records out are settled by whoever holds them).
    pub(crate) fn drain(&mut self) -> Vec<Outgoing> {
        let mut out = Vec::new();
        for queue in self.queues_mut() {
            out.extend(queue.drain(..));
        }
        out
    }

    /// Moves the queued records of the unmapped lane that a new map places (`predict`) to
    /// the front of their shards' lanes, in order: they are older than anything there.
    pub(crate) fn adopt_unmapped(
        &mut self,
        predict: impl Fn(HashKey) -> Option<Arc<str>>,
        now: Instant,
    ) {
        let mut kept = VecDeque::new();
        let mut adopted = Vec::new();
        for mut o in self.unmapped.drain(..) {
            match predict(o.record.explicit_hash_key()) {
                Some(shard) => {
                    o.shard = Some(shard);
                    adopted.push(o);
                }
                None => kept.push_back(o),
            }
        }
        self.unmapped = kept;
        self.push_front(adopted, now);
    }

    /// The rate factor of a shard's lane, for tests.
    #[cfg(test)]
    pub(crate) fn factor(&self, shard: &str, now: Instant) -> Option<f64> {
        self.shards.get(shard).map(|lane| lane.limit.factor_at(now))
    }
}

#[cfg(test)]
#[path = "lanes_tests.rs"]
mod tests;
