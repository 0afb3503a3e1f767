//! The per-shard rate limit stage: token buckets for records and bytes at `rate_limit`
//! percent of the shard limits (1,000 records/s, 1 MiB/s), slowed down when the shard
//! throttles and recovering on success (the KPL's limiter does not adapt).

use std::collections::VecDeque;

use crate::FastMap;
use std::sync::Arc;

use tokio::time::{Duration, Instant};

use crate::pending::Outgoing;

const SHARD_RECORDS_PER_S: f64 = 1000.0;
const SHARD_BYTES_PER_S: f64 = 1024.0 * 1024.0;
/// Lowest share of the configured rate a throttled shard is slowed down to.
const MIN_FACTOR: f64 = 0.05;
/// Share of the rate a success gives back.
const RECOVERY_STEP: f64 = 0.05;

/// Queues and buckets of the shards of one stream.
#[derive(Debug)]
pub(crate) struct Limiter {
    records_per_s: f64,
    bytes_per_s: f64,
    shards: FastMap<Arc<str>, ShardLimit>,
    /// Records for shards the map does not know: not limited.
    unlimited: VecDeque<Outgoing>,
}

#[derive(Debug)]
struct ShardLimit {
    records: Bucket,
    bytes: Bucket,
    factor: f64,
    queue: VecDeque<Outgoing>,
}

/// Tokens refilled continuously at a rate, up to one second's worth.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant, rate: f64) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.updated = now;
    }

    /// Whether `cost` may be spent now (a cost above the capacity goes when the bucket is full).
    fn allows(&self, cost: f64, rate: f64) -> bool {
        self.tokens >= cost.min(rate)
    }

    /// Time until `cost` may be spent.
    fn wait(&self, cost: f64, rate: f64) -> Duration {
        let missing = cost.min(rate) - self.tokens;
        if missing <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(missing / rate)
        }
    }
}

impl Limiter {
    /// Buckets at `percent` of the shard limits.
    pub(crate) fn new(percent: u32) -> Limiter {
        let share = f64::from(percent) / 100.0;
        Limiter {
            records_per_s: SHARD_RECORDS_PER_S * share,
            bytes_per_s: SHARD_BYTES_PER_S * share,
            shards: FastMap::default(),
            unlimited: VecDeque::new(),
        }
    }

    fn shard(&mut self, id: &Arc<str>, now: Instant) -> &mut ShardLimit {
        let (records, bytes) = (self.records_per_s, self.bytes_per_s);
        self.shards.entry(id.clone()).or_insert_with(|| ShardLimit {
            records: Bucket {
                tokens: records,
                updated: now,
            },
            bytes: Bucket {
                tokens: bytes,
                updated: now,
            },
            factor: 1.0,
            queue: VecDeque::new(),
        })
    }

    /// Queues a Kinesis record behind those of its shard.
    pub(crate) fn push(&mut self, outgoing: Outgoing, now: Instant) {
        match outgoing.shard.clone() {
            Some(id) => self.shard(&id, now).queue.push_back(outgoing),
            None => self.unlimited.push_back(outgoing),
        }
    }

    /// Moves onto `out` every queued record its shard's buckets allow now.
    pub(crate) fn release(&mut self, now: Instant, out: &mut Vec<Outgoing>) {
        out.extend(self.unlimited.drain(..));
        let (records_rate, bytes_rate) = (self.records_per_s, self.bytes_per_s);
        for shard in self.shards.values_mut().filter(|s| !s.queue.is_empty()) {
            let (rr, br) = (records_rate * shard.factor, bytes_rate * shard.factor);
            shard.records.refill(now, rr);
            shard.bytes.refill(now, br);
            while let Some(head) = shard.queue.front() {
                let size = head.size() as f64;
                if !shard.records.allows(1.0, rr) || !shard.bytes.allows(size, br) {
                    break;
                }
                shard.records.tokens -= 1.0;
                shard.bytes.tokens -= size;
                out.extend(shard.queue.pop_front());
            }
        }
    }

    /// When the next queued record may go, if one is waiting.
    pub(crate) fn next_ready(&self, now: Instant) -> Option<Instant> {
        if !self.unlimited.is_empty() {
            return Some(now);
        }
        let (records_rate, bytes_rate) = (self.records_per_s, self.bytes_per_s);
        self.shards
            .values()
            .filter_map(|s| {
                let head = s.queue.front()?;
                let (rr, br) = (records_rate * s.factor, bytes_rate * s.factor);
                let elapsed = now.saturating_duration_since(s.records.updated);
                let wait = s
                    .records
                    .wait(1.0, rr)
                    .max(s.bytes.wait(head.size() as f64, br));
                Some(now + wait.saturating_sub(elapsed))
            })
            .min()
    }

    /// The shard throttled: halve its rate (down to 5 % of the configured one).
    pub(crate) fn throttled(&mut self, shard: &str) {
        if let Some(s) = self.shards.get_mut(shard) {
            s.factor = (s.factor * 0.5).max(MIN_FACTOR);
            s.records.tokens = s.records.tokens.min(0.0);
        }
    }

    /// A record was written to the shard: give back some of its rate.
    pub(crate) fn succeeded(&mut self, shard: &str) {
        if let Some(s) = self.shards.get_mut(shard) {
            s.factor = (s.factor + RECOVERY_STEP).min(1.0);
        }
    }

    /// The earliest expiry of a queued record.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        let shards = self.shards.values().flat_map(|s| s.queue.iter());
        shards.chain(self.unlimited.iter()).map(|o| o.expiry).min()
    }

    /// When the oldest queued user record was put.
    pub(crate) fn oldest(&self) -> Option<Instant> {
        let shards = self.shards.values().filter_map(|s| s.queue.front());
        shards.chain(self.unlimited.front()).map(|o| o.oldest).min()
    }

    /// Takes out every queued record holding a user record expired at `now`.
    pub(crate) fn take_expiring(&mut self, now: Instant) -> Vec<Outgoing> {
        let mut out = Vec::new();
        for queue in self
            .shards
            .values_mut()
            .map(|s| &mut s.queue)
            .chain(std::iter::once(&mut self.unlimited))
        {
            let (expiring, kept): (VecDeque<Outgoing>, VecDeque<Outgoing>) = std::mem::take(queue)
                .into_iter()
                .partition(|o| o.expiry <= now);
            *queue = kept;
            out.extend(expiring);
        }
        out
    }

    /// Everything queued.
    pub(crate) fn drain(&mut self) -> Vec<Outgoing> {
        let mut out: Vec<Outgoing> = self.unlimited.drain(..).collect();
        for s in self.shards.values_mut() {
            out.extend(s.queue.drain(..));
        }
        out
    }

    /// The rate factor of a shard (1.0 = the configured rate), for tests and metrics.
    #[cfg(test)]
    pub(crate) fn factor(&self, shard: &str) -> Option<f64> {
        self.shards.get(shard).map(|s| s.factor)
    }
}

#[cfg(test)]
#[path = "limiter_tests.rs"]
mod tests;
