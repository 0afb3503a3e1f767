//! The rate limit of one shard: token buckets for records and bytes at `rate_limit`
//! percent of the shard limits (1,000 records/s, 1 MiB/s), slowed down when the shard
//! throttles and recovering on success (the KPL's limiter does not adapt). Plain
//! arithmetic on a clock given by the caller; the queue it guards is the shard's lane
//! ([`super::lanes`]).

use tokio::time::{Duration, Instant};

/// The shard limits Kinesis enforces.
const SHARD_RECORDS_PER_S: f64 = 1000.0;
const SHARD_BYTES_PER_S: f64 = 1024.0 * 1024.0;
/// Lowest share of the configured rate a throttled shard is slowed down to.
pub(crate) const MIN_FACTOR: f64 = 0.05;
/// Share of the rate a success gives back.
const RECOVERY_STEP: f64 = 0.05;

/// The configured rates of every shard of a stream.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rates {
    records_per_s: f64,
    bytes_per_s: f64,
}

impl Rates {
    /// `percent` of the shard limits.
    pub(crate) fn new(percent: u32) -> Rates {
        let share = f64::from(percent) / 100.0;
        Rates {
            records_per_s: SHARD_RECORDS_PER_S * share,
            bytes_per_s: SHARD_BYTES_PER_S * share,
        }
    }
}

/// Tokens refilled continuously at a rate, up to one second's worth.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(rate: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: rate,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant, rate: f64) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.updated = now;
    }

    /// Whether `cost` may be spent now (a cost above the capacity goes when the bucket is full).
    fn allows(&self, cost: f64, rate: f64) -> bool {
        self.tokens >= cost.min(rate)
    }

    /// Time from its last refill until `cost` may be spent.
    fn wait(&self, cost: f64, rate: f64) -> Duration {
        let missing = cost.min(rate) - self.tokens;
        if missing <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(missing / rate)
        }
    }
}

/// The buckets of one shard and how far its rate is slowed down.
#[derive(Debug)]
pub(crate) struct ShardLimit {
    rates: Rates,
    records: Bucket,
    bytes: Bucket,
    factor: f64,
}

impl ShardLimit {
    /// Full buckets at the configured rates.
    pub(crate) fn new(rates: Rates, now: Instant) -> ShardLimit {
        ShardLimit {
            rates,
            records: Bucket::full(rates.records_per_s, now),
            bytes: Bucket::full(rates.bytes_per_s, now),
            factor: 1.0,
        }
    }

    fn rates(&self) -> (f64, f64) {
        (
            self.rates.records_per_s * self.factor,
            self.rates.bytes_per_s * self.factor,
        )
    }

    /// Takes one Kinesis record of `size` bytes if both buckets allow it at `now`.
    pub(crate) fn try_take(&mut self, now: Instant, size: usize) -> bool {
        let (rr, br) = self.rates();
        self.records.refill(now, rr);
        self.bytes.refill(now, br);
        let size = size as f64;
        if !self.records.allows(1.0, rr) || !self.bytes.allows(size, br) {
            return false;
        }
        self.records.tokens -= 1.0;
        self.bytes.tokens -= size;
        true
    }

    /// When a Kinesis record of `size` bytes may go.
    pub(crate) fn ready_at(&self, size: usize) -> Instant {
        let (rr, br) = self.rates();
        let records = self.records.updated + self.records.wait(1.0, rr);
        let bytes = self.bytes.updated + self.bytes.wait(size as f64, br);
        records.max(bytes)
    }

    /// The shard throttled: halve its rate (down to 5 % of the configured one).
    pub(crate) fn throttled(&mut self) {
        self.factor = (self.factor * 0.5).max(MIN_FACTOR);
        self.records.tokens = self.records.tokens.min(0.0);
    }

    /// A record was written to the shard: give back some of its rate.
    pub(crate) fn succeeded(&mut self) {
        self.factor = (self.factor + RECOVERY_STEP).min(1.0);
    }

    /// The rate factor (1.0 = the configured rate), for tests.
    #[cfg(test)]
    pub(crate) fn factor(&self) -> f64 {
        self.factor
    }
}

#[cfg(test)]
#[path = "limiter_tests.rs"]
mod tests;
