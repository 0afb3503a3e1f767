//! The rate limit of one shard: token buckets for records and bytes at `rate_limit`
//! percent of the shard limits (1,000 records/s, 1 MiB/s), adapting to what the shard
//! accepts (the KPL's limiter does not adapt). A throttle cuts the rate by a few percent,
//! at most once per second (Kinesis counts a shard's limits per second, so the records
//! throttled in one second are one signal), more while throttles keep coming; success
//! gives the rate back slowly, in proportion to time. So the rate settles just under what
//! the shard takes, with one throttle every few seconds, instead of swinging between half
//! and all of the configured rate and being throttled again and again. Plain arithmetic on
//! a clock given by the caller; the queue it guards is the shard's lane ([`super::lanes`]).

use tokio::time::{Duration, Instant};

/// The shard limits Kinesis enforces.
const SHARD_RECORDS_PER_S: f64 = 1000.0;
const SHARD_BYTES_PER_S: f64 = 1024.0 * 1024.0;
/// Lowest share of the configured rate a throttled shard is slowed down to.
pub(crate) const MIN_FACTOR: f64 = 0.05;
/// The rate kept after an isolated throttle.
const CUT: f64 = 0.95;
/// The rate kept after a throttle that follows another within [`PERSISTENT`].
const CUT_PERSISTENT: f64 = 0.85;
/// At most one cut per this long: throttles within one of the shard's seconds are one.
const CUT_INTERVAL: Duration = Duration::from_secs(1);
/// Throttles this close together mean the rate is still well above what the shard takes.
const PERSISTENT: Duration = Duration::from_secs(2);
/// Share of the configured rate given back per second without a throttle, near the rate
/// of the last throttle.
const RECOVERY_PER_S: f64 = 0.02;
/// The same while well below it (under [`NEAR`] of the rate the shard last throttled at):
/// a deep cut is made good in a second or so, the last rate approached slowly.
const FAST_RECOVERY_PER_S: f64 = 0.10;
/// Where the slow recovery starts, as a share of the rate of the last throttle.
const NEAR: f64 = 0.95;

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
    /// When the rate was last cut, if ever.
    cut_at: Option<Instant>,
    /// The factor the shard last throttled at (1.0 before any throttle).
    ceiling: f64,
    /// When the rate last changed (the recovery counts from then).
    changed_at: Instant,
}

impl ShardLimit {
    /// Full buckets at the configured rates.
    pub(crate) fn new(rates: Rates, now: Instant) -> ShardLimit {
        ShardLimit {
            rates,
            records: Bucket::full(rates.records_per_s, now),
            bytes: Bucket::full(rates.bytes_per_s, now),
            factor: 1.0,
            cut_at: None,
            ceiling: 1.0,
            changed_at: now,
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

    /// The shard throttled a record at `now`: cut its rate (down to 5 % of the configured
    /// one), unless it was cut less than a second ago; tokens saved up are dropped.
    pub(crate) fn throttled(&mut self, now: Instant) {
        let since = self.cut_at.map(|at| now.saturating_duration_since(at));
        if since.is_some_and(|s| s < CUT_INTERVAL) {
            return;
        }
        let cut = if since.is_some_and(|s| s < PERSISTENT) {
            CUT_PERSISTENT
        } else {
            CUT
        };
        self.ceiling = self.factor;
        self.factor = (self.factor * cut).max(MIN_FACTOR);
        self.cut_at = Some(now);
        self.changed_at = now;
        self.records.tokens = self.records.tokens.min(0.0);
        self.bytes.tokens = self.bytes.tokens.min(0.0);
    }

    /// A record was written to the shard at `now`: give back some of its rate, in
    /// proportion to the time since it last changed (fast while well below the rate of the
    /// last throttle, slowly near and above it).
    pub(crate) fn succeeded(&mut self, now: Instant) {
        if self.factor >= 1.0 {
            return;
        }
        let elapsed = now.saturating_duration_since(self.changed_at).as_secs_f64();
        let near = self.ceiling * NEAR;
        let mut factor = self.factor;
        if factor < near {
            factor = (factor + FAST_RECOVERY_PER_S * elapsed).min(near);
        }
        let fast_time = (factor - self.factor) / FAST_RECOVERY_PER_S;
        let slow_time = (elapsed - fast_time).max(0.0);
        self.factor = (factor + RECOVERY_PER_S * slow_time).min(1.0);
        self.changed_at = now;
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
