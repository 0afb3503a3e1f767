//! Enhanced fan-out settings.

use std::time::Duration;

use super::{ConfigError, RetrievalMode};

/// How enhanced fan-out subscriptions are watched, bounded and given up. Used when
/// [`Config::retrieval_mode`](crate::Config::retrieval_mode) is
/// [`RetrievalMode::FanOut`].
///
/// ```
/// use std::time::Duration;
/// // A subscription silent for 30 s is dead: it is dropped and made again.
/// let f = kcl::FanOutConfig::default();
/// assert_eq!(f.event_timeout, Duration::from_secs(30));
/// assert_eq!(f.max_subscription_failures, 10);
/// assert!(!f.deregister_on_shutdown);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FanOutConfig {
    /// Longest wait for SubscribeToShard's answer (`send()`) and for each event after it
    /// (`recv()`); the SDK waits forever on both. Kinesis sends an event at least every
    /// 5 s, so a subscription silent this long is dropped and made again from the last
    /// continuation sequence number (counted in `SubscribeToShard.Stalls`). Default 30 s.
    pub event_timeout: Duration,
    /// Consecutive failed subscriptions of one shard (errors, resets, stalls; none
    /// delivering an event) after which the worker gives the lease up (released, so
    /// another worker tries; this one does not take it back for the failover time).
    /// Each failure is logged with the shard and counted. Default 10.
    pub max_subscription_failures: u32,
    /// Per-shard bound on events received and not yet processed; a subscription is not
    /// read while its shard is at a bound (HTTP/2 flow control then holds the service
    /// back). Default 10.
    pub max_buffered_events: usize,
    /// Per-shard bound on record bytes received and not yet processed (each shard may
    /// overshoot by one event). The worker-wide `max_prefetch_bytes` applies too.
    /// Default 8 MiB.
    pub max_buffered_bytes: usize,
    /// For servers that never signal shard end on a subscription (kinesis-mock): how often
    /// an idle subscription checks with GetShardIterator + GetRecords whether its shard
    /// is closed and fully read. Kinesis itself signals shard end, so this only costs two
    /// small calls per idle shard per interval. Default 60 s.
    pub shard_end_probe_interval: Duration,
    /// Deregister the stream consumer when the last worker of the application shuts
    /// down gracefully (no lease left with an owner). Default false: registration takes
    /// seconds and other applications' settings may name the consumer.
    pub deregister_on_shutdown: bool,
}

impl Default for FanOutConfig {
    fn default() -> Self {
        FanOutConfig {
            event_timeout: Duration::from_secs(30),
            max_subscription_failures: 10,
            max_buffered_events: 10,
            max_buffered_bytes: 8 << 20,
            shard_end_probe_interval: Duration::from_secs(60),
            deregister_on_shutdown: false,
        }
    }
}

impl FanOutConfig {
    /// Checks every field (and the consumer name of a fan-out `mode`).
    pub(crate) fn validate(&self, mode: &RetrievalMode) -> Result<(), ConfigError> {
        for (name, d) in [
            ("fan_out.event_timeout", self.event_timeout),
            (
                "fan_out.shard_end_probe_interval",
                self.shard_end_probe_interval,
            ),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        for (name, n) in [
            (
                "fan_out.max_subscription_failures",
                self.max_subscription_failures as usize,
            ),
            ("fan_out.max_buffered_events", self.max_buffered_events),
            ("fan_out.max_buffered_bytes", self.max_buffered_bytes),
        ] {
            if n == 0 {
                return Err(ConfigError::ZeroCount(name));
            }
        }
        if let RetrievalMode::FanOut {
            consumer_name: Some(name),
            ..
        } = mode
            && !valid_consumer_name(name)
        {
            return Err(ConfigError::ConsumerName(name.clone()));
        }
        Ok(())
    }
}

/// Kinesis's rule for consumer names: 1 to 128 of `[a-zA-Z0-9_.-]`.
fn valid_consumer_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_bounds_and_bad_consumer_names_are_named() {
        let mode = RetrievalMode::fan_out();
        assert_eq!(FanOutConfig::default().validate(&mode), Ok(()));
        let c = FanOutConfig {
            event_timeout: Duration::ZERO,
            ..FanOutConfig::default()
        };
        assert_eq!(
            c.validate(&mode),
            Err(ConfigError::ZeroDuration("fan_out.event_timeout"))
        );
        let c = FanOutConfig {
            max_buffered_events: 0,
            ..FanOutConfig::default()
        };
        assert_eq!(
            c.validate(&mode),
            Err(ConfigError::ZeroCount("fan_out.max_buffered_events"))
        );
        let named = |n: &str| RetrievalMode::FanOut {
            consumer_name: Some(n.into()),
            consumer_arn: None,
        };
        let ok = FanOutConfig::default();
        assert_eq!(ok.validate(&named("app.v2_consumer-1")), Ok(()));
        for bad in ["", "has space", &"x".repeat(129)] {
            assert_eq!(
                ok.validate(&named(bad)),
                Err(ConfigError::ConsumerName(bad.into()))
            );
        }
        // Polling ignores a fan-out setting it does not use, but not a zero bound.
        assert_eq!(ok.validate(&RetrievalMode::Polling), Ok(()));
    }
}
