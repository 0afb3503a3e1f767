//! The rate limit of one shard: token buckets for records and bytes at `rate_limit`
//! percent of the shard limits (1,000 records/s, 1 MiB/s), adapting to what the shard
//! accepts (the KPL's limiter does not adapt). A throttle sets the rate to just under what
//! the shard took in a second before it ([`super::accepted`]), at most once per second
//! (Kinesis counts a shard's limits per second, so the records throttled in one second are
//! one signal); then the rate probes upwards, slowly near that rate and faster the longer
//! no throttle comes. So the rate settles on what the shard takes with a throttle every
//! several seconds, instead of being cut below it and throttled again on the way back. A
//! shard that took far less than was sent (another writer, or a throttle not about the
//! rate) is slowed down by half and recovers quickly. Plain arithmetic on a clock given by
//! the caller; the queue it guards is the shard's lane ([`super::lanes`]).

use tokio::time::{Duration, Instant};

use super::accepted::Accepted;

/// The shard limits Kinesis enforces.
const SHARD_RECORDS_PER_S: f64 = 1000.0;
const SHARD_BYTES_PER_S: f64 = 1024.0 * 1024.0;
/// Lowest share of the configured rate a throttled shard is slowed down to.
pub(crate) const MIN_FACTOR: f64 = 0.05;
/// The rate set by a throttle, as a share of what the shard took in the second before.
const KEEP: f64 = 0.995;
/// The least cut a throttle makes (of the rate it came at).
const LEAST_CUT: f64 = 0.995;
/// The deepest cut a throttle makes, when the shard took far less than was sent.
const DEEPEST_CUT: f64 = 0.5;
/// At most one cut per this long: throttles within one of the shard's seconds are one.
const CUT_INTERVAL: Duration = Duration::from_secs(1);
/// How the rate grows after a cut, relative to the rate the cut set: by `ACCEL x t^2 / 2`
/// after `t` seconds without a throttle (+1 % after 10 s, +9 % after 30 s, double after
/// 100 s): slowly near what the shard took, faster when the shard takes more again.
const ACCEL: f64 = 0.0002;
/// Share of the configured rate given back per second after a deep cut, up to [`NEAR`] of
/// the rate it cut.
const FAST_RECOVERY_PER_S: f64 = 0.10;
/// Where the fast recovery after a deep cut stops, as a share of the rate it cut.
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
    /// What the shard accepted in the last second.
    accepted: Accepted,
    /// The last cut, if any: the rate then grows from it ([`ShardLimit::factor_at`]).
    cut: Option<Cut>,
}

/// A throttle's cut: the factor it set, when, and how far it recovers fast.
#[derive(Clone, Copy, Debug)]
struct Cut {
    at: Instant,
    factor: f64,
    /// The fast recovery goes up to this factor (0 after a cut to what the shard took).
    fast_until: f64,
}

impl Cut {
    /// The factor `elapsed` after the cut: the slow-then-faster probe, or the fast
    /// recovery while it is ahead, never above the configured rate.
    fn factor_after(&self, elapsed: Duration) -> f64 {
        let t = elapsed.as_secs_f64();
        let probe = self.factor * (1.0 + ACCEL * t * t / 2.0);
        let fast = (self.factor + FAST_RECOVERY_PER_S * t).min(self.fast_until);
        probe.max(fast).min(1.0)
    }
}

impl ShardLimit {
    /// Full buckets at the configured rates.
    pub(crate) fn new(rates: Rates, now: Instant) -> ShardLimit {
        ShardLimit {
            rates,
            records: Bucket::full(rates.records_per_s, now),
            bytes: Bucket::full(rates.bytes_per_s, now),
            accepted: Accepted::default(),
            cut: None,
        }
    }

    /// The share of the configured rate in force at `now` (1.0 before any throttle).
    pub(crate) fn factor_at(&self, now: Instant) -> f64 {
        self.cut.map_or(1.0, |cut| {
            cut.factor_after(now.saturating_duration_since(cut.at))
        })
    }

    fn rates(&self, now: Instant) -> (f64, f64) {
        let factor = self.factor_at(now);
        (
            self.rates.records_per_s * factor,
            self.rates.bytes_per_s * factor,
        )
    }

    /// Takes one Kinesis record of `size` bytes if both buckets allow it at `now`.
    pub(crate) fn try_take(&mut self, now: Instant, size: usize) -> bool {
        let (rr, br) = self.rates(now);
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

    /// When a Kinesis record of `size` bytes may go (at the rate of its buckets' last
    /// refill: a rate that grew since lets it go a little earlier, when asked again).
    pub(crate) fn ready_at(&self, size: usize) -> Instant {
        let (rr, br) = self.rates(self.records.updated);
        let records = self.records.updated + self.records.wait(1.0, rr);
        let bytes = self.bytes.updated + self.bytes.wait(size as f64, br);
        records.max(bytes)
    }

    /// The shard throttled a record at `now`: unless the rate was cut less than a second
    /// ago, set it to just under what the shard took in a second (the better of its last
    /// two, [`Accepted::best_second`]; at least a 1 %
    /// cut, at most a halving, and not below 5 % of the configured rate); tokens saved up
    /// are dropped.
    pub(crate) fn throttled(&mut self, now: Instant) {
        if self
            .cut
            .is_some_and(|cut| now.saturating_duration_since(cut.at) < CUT_INTERVAL)
        {
            return;
        }
        let current = self.factor_at(now);
        let (records, bytes) = self.accepted.best_second(now);
        let took =
            (records as f64 / self.rates.records_per_s).max(bytes as f64 / self.rates.bytes_per_s);
        let anchored = took * KEEP;
        let (factor, fast_until) = if anchored < current * DEEPEST_CUT {
            (current * DEEPEST_CUT, current * NEAR)
        } else {
            (anchored.min(current * LEAST_CUT), 0.0)
        };
        self.cut = Some(Cut {
            at: now,
            factor: factor.max(MIN_FACTOR),
            fast_until,
        });
        self.records.tokens = self.records.tokens.min(0.0);
        self.bytes.tokens = self.bytes.tokens.min(0.0);
    }

    /// A Kinesis record of `size` bytes was written to the shard at `now`.
    pub(crate) fn succeeded(&mut self, now: Instant, size: usize) {
        self.accepted.add(now, size);
    }
}

#[cfg(test)]
#[path = "limiter_tests.rs"]
mod tests;
