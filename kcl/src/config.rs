//! The worker's configuration, with the KCL's names and defaults.

mod fan_out;

use std::time::{Duration, SystemTime};

pub use fan_out::FanOutConfig;

/// Which stream to consume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamId {
    /// By name, in the client's account and region.
    Name(String),
    /// By ARN (`arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`).
    Arn(String),
}

/// Where a lease created for a shard starts (`initialPositionInStream`). Only applies
/// when a lease is created; child leases always start at `TRIM_HORIZON`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InitialPosition {
    /// Records arriving from now on (the KCL default).
    #[default]
    Latest,
    /// The oldest records kept.
    TrimHorizon,
    /// Records from this time on.
    AtTimestamp(SystemTime),
}

/// How records are fetched. Both modes deliver through the same processor API,
/// checkpoints, shard end and lease behaviour.
///
/// ```
/// // Fan-out with the consumer named after the application (registered if missing).
/// let mode = kcl::RetrievalMode::fan_out();
/// assert_eq!(mode, kcl::RetrievalMode::FanOut { consumer_name: None, consumer_arn: None });
/// assert_eq!(kcl::RetrievalMode::default(), kcl::RetrievalMode::Polling);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum RetrievalMode {
    /// GetRecords polling, paced at `idle_time_between_reads`.
    #[default]
    Polling,
    /// Enhanced fan-out (SubscribeToShard): records pushed over one subscription per held
    /// shard, with a read throughput of its own (2 MiB/s per shard) and about 70 ms from
    /// put to delivery on AWS. Every worker of the application shares one registered
    /// stream consumer; settings in [`Config::fan_out`].
    FanOut {
        /// The stream consumer's name; `None` is the application name. It is registered
        /// when missing (RegisterStreamConsumer) and waited for until ACTIVE.
        consumer_name: Option<String>,
        /// The consumer's ARN, when it is known (it is then only described, never
        /// registered).
        consumer_arn: Option<String>,
    },
}

impl RetrievalMode {
    /// Enhanced fan-out with the consumer named after the application.
    pub fn fan_out() -> RetrievalMode {
        RetrievalMode::FanOut {
            consumer_name: None,
            consumer_arn: None,
        }
    }
}

/// A bad configuration value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The application name is not a valid DynamoDB table name (3..=255 of
    /// `[a-zA-Z0-9_.-]`).
    #[error(
        "application name {0:?} is not a valid DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -)"
    )]
    ApplicationName(String),
    /// Empty stream name or ARN.
    #[error("the stream name or ARN is empty")]
    Stream,
    /// Empty worker identifier.
    #[error("the worker identifier is empty")]
    WorkerId,
    /// A duration that must be positive is zero.
    #[error("{0} must be greater than zero")]
    ZeroDuration(&'static str),
    /// The renewal interval must be shorter than the failover time.
    #[error("lease_renewal_interval {renew:?} must be shorter than failover_time {failover:?}")]
    RenewalNotShorterThanFailover {
        /// The renewal interval.
        renew: Duration,
        /// The failover time.
        failover: Duration,
    },
    /// A count that must be at least 1 is zero.
    #[error("{0} must be at least 1")]
    ZeroCount(&'static str),
    /// `max_records` above the GetRecords limit.
    #[error("max_records {0} is outside 1..=10000")]
    MaxRecords(u32),
    /// `list_shards_page_size` above the ListShards limit.
    #[error("list_shards_page_size {0} is outside 1..=10000")]
    ListShardsPageSize(u32),
    /// A stream consumer name that Kinesis would refuse (1..=128 of `[a-zA-Z0-9_.-]`).
    #[error("stream consumer name {0:?} is not 1-128 of a-z A-Z 0-9 _ . -")]
    ConsumerName(String),
    /// A lease call may not take as long as the renewal interval.
    #[error(
        "lease_request_timeout {timeout:?} must be shorter than lease_renewal_interval {renew:?}"
    )]
    LeaseRequestTimeout {
        /// The lease call timeout.
        timeout: Duration,
        /// The renewal interval.
        renew: Duration,
    },
}

/// The worker configuration. Field names follow the KCL's (`failoverTimeMillis` is
/// `failover_time`, and so on); [`Config::new`] sets the KCL defaults.
///
/// ```
/// use std::time::Duration;
/// let mut config = kcl::Config::new("my-app", kcl::StreamId::Name("orders".into()));
/// assert_eq!(config.failover_time, Duration::from_secs(10));
/// assert_eq!(config.max_records, 10_000);
/// config.failover_time = Duration::from_secs(3);
/// config.lease_renewal_interval = Duration::from_secs(1);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// `applicationName`: also the lease table name.
    pub application_name: String,
    /// The stream.
    pub stream: StreamId,
    /// `workerIdentifier`: unique per worker; default a random id.
    pub worker_identifier: String,
    /// `initialPositionInStream` for leases created on an empty table or for new shards
    /// without a parent lease. Default LATEST.
    pub initial_position: InitialPosition,
    /// `failoverTimeMillis`: a lease whose counter has not changed for this long is
    /// expired. Default 10 s.
    pub failover_time: Duration,
    /// How often held leases are renewed. Default failover_time / 3.
    pub lease_renewal_interval: Duration,
    /// How often the whole table is scanned to take unowned and expired leases and to
    /// balance (steal), plus up to a fifth (jitter, so workers started together do not
    /// scan together). Shard sync and the cleanup of finished leases judge on the latest of
    /// these scans instead of scanning again. Default 20 s (the Java KCL 2.x's pace, 2 x
    /// the failover time). Graceful moves do not wait for it, nor does the takeover of a
    /// crashed kcl worker's leases (see `liveness_check_interval`); a crashed Java
    /// worker's leases are taken after the failover time plus up to two of these intervals.
    pub lease_taker_interval: Duration,
    /// The wait (plus up to a fifth) after a taker pass that found the table settled, in
    /// place of the taker interval: every unfinished lease held by a live kcl worker,
    /// nothing to take or ask for, no hand-off waited on. Crashes are then seen by the
    /// liveness watch and graceful moves by the hand-over index, so scanning less often
    /// costs only the pace at which other changes are seen (a worker joining, a lease
    /// another worker released). A change this worker sees brings the next pass back
    /// within the taker interval: a lease of its own released, lost or handed over (the
    /// discovery interval for a hand-over and a shard end), or the watched lease moved.
    /// Default 60 s (3 x the taker interval).
    pub settled_taker_interval: Duration,
    /// How often a worker reads one lease of the next kcl worker (in the ring of kcl
    /// workers by id): once that lease stood still for the failover time its worker has
    /// given up all its leases (kcl workers give them up together), and this worker takes
    /// them, about the failover time after the crash. Read every quarter second while a
    /// renewal is overdue. One eventually consistent GetItem each time (half a read unit),
    /// a `Gone` verdict confirmed by a consistent scan; `Duration::ZERO` turns the watch off.
    /// Default 2 s (a fifth of the failover time, set with it by `with_failover_time`).
    pub liveness_check_interval: Duration,
    /// How often the hand-over index (`KclHandoverToLeaseKeyIndex`, sparse: only leases a
    /// worker leaving gracefully offered or assigned to this one are in it) is queried.
    /// It reads no item while no lease is on its way here. On a table without that index
    /// (yet), the owner index (`LeaseOwnerToLeaseKeyIndex`) is queried instead: the keys of
    /// every lease this worker owns. Default 1 s: a graceful leaver's leases are taken over
    /// within about a second.
    pub lease_discovery_interval: Duration,
    /// `gracefulLeaseHandoffTimeoutMillis`: how long a worker that asked for a lease waits
    /// for its owner to hand it over (the owner's processor gets `shutdown_requested` and
    /// makes a final checkpoint) before taking it anyway. Default 30 s. A lease whose owner
    /// stopped renewing is taken after the failover time instead.
    pub graceful_lease_handoff_timeout: Duration,
    /// `maxLeasesForWorker`. Default unlimited.
    pub max_leases_for_worker: usize,
    /// `maxLeasesToStealAtOneTime`. Default 1.
    pub max_leases_to_steal_at_one_time: usize,
    /// `shardSyncIntervalMillis`: how often ListShards is compared with the table.
    /// Default 60 s.
    pub shard_sync_interval: Duration,
    /// `parentShardPollIntervalMillis`: how often a child shard checks its parents.
    /// Default 10 s.
    pub parent_shard_poll_interval: Duration,
    /// `cleanupLeasesUponShardCompletion`: delete finished leases once all their
    /// children have started. Default true.
    pub cleanup_leases_upon_shard_completion: bool,
    /// How often finished leases are looked for. Default 60 s.
    pub lease_cleanup_interval: Duration,
    /// `maxRecords` per GetRecords call (Kinesis records). Default 10,000 (the API's
    /// maximum).
    pub max_records: u32,
    /// Most user records per `process_records` call: a de-aggregated GetRecords response
    /// can hold hundreds of thousands, and it is delivered in calls of at most this many,
    /// so a consumer that lost its lease stops within one call (the lease is checked
    /// before each). Default 10,000.
    pub max_records_per_call: usize,
    /// `idleTimeBetweenReadsInMillis`: the least time between the starts of two GetRecords
    /// calls of one shard, as in the KCL 2.x: every call is paced, so a consumer catching
    /// up takes no more than its share of the shard's 5 calls per second. Default 1.5 s.
    pub idle_time_between_reads: Duration,
    /// Prefetch bound: fetched batches not yet processed. Default 3.
    pub max_pending_batches: usize,
    /// Prefetch bound: fetched record bytes not yet processed. Default 8 MiB.
    pub max_pending_bytes: usize,
    /// Prefetch bound: fetched user records not yet processed. Default 30,000.
    pub max_pending_records: usize,
    /// Prefetch bound over every shard of the worker: fetched record bytes not yet
    /// processed. A shard does not fetch while the worker is at it (each shard may overshoot
    /// by one GetRecords response). Default 128 MiB.
    pub max_prefetch_bytes: usize,
    /// Longest wait for one Kinesis call, and for one table-wide DynamoDB call (a scan
    /// page, a lease creation or deletion). Default 10 s.
    pub request_timeout: Duration,
    /// Longest wait for one write to a held lease (renew, take, checkpoint, release), and
    /// for the read that settles a write of unknown outcome. Must be shorter than the
    /// renewal interval. Default `None`: half the renewal interval, at most
    /// `request_timeout`.
    pub lease_request_timeout: Option<Duration>,
    /// How records are fetched. Default polling.
    pub retrieval_mode: RetrievalMode,
    /// `MaxResults` of each ListShards page (shard sync follows `NextToken` through all
    /// pages). Default `None`: the service's default page (1,000 shards on AWS).
    pub list_shards_page_size: Option<u32>,
    /// Enhanced fan-out settings (used with [`RetrievalMode::FanOut`]).
    pub fan_out: FanOutConfig,
}

impl Config {
    /// A configuration with the KCL defaults.
    pub fn new(application_name: impl Into<String>, stream: StreamId) -> Config {
        let failover = Duration::from_secs(10);
        Config {
            application_name: application_name.into(),
            stream,
            worker_identifier: default_worker_id(),
            initial_position: InitialPosition::Latest,
            failover_time: failover,
            lease_renewal_interval: failover / 3,
            lease_taker_interval: Duration::from_secs(20),
            settled_taker_interval: Duration::from_secs(60),
            liveness_check_interval: failover / 5,
            lease_discovery_interval: Duration::from_secs(1),
            graceful_lease_handoff_timeout: Duration::from_secs(30),
            max_leases_for_worker: usize::MAX,
            max_leases_to_steal_at_one_time: 1,
            shard_sync_interval: Duration::from_secs(60),
            parent_shard_poll_interval: Duration::from_secs(10),
            cleanup_leases_upon_shard_completion: true,
            lease_cleanup_interval: Duration::from_secs(60),
            max_records: 10_000,
            max_records_per_call: 10_000,
            idle_time_between_reads: Duration::from_millis(1500),
            max_pending_batches: 3,
            max_pending_bytes: 8 << 20,
            max_pending_records: 30_000,
            max_prefetch_bytes: 128 << 20,
            request_timeout: Duration::from_secs(10),
            lease_request_timeout: None,
            retrieval_mode: RetrievalMode::Polling,
            list_shards_page_size: None,
            fan_out: FanOutConfig::default(),
        }
    }

    /// Sets the failover time, the renewal interval (failover / 3) and the liveness check
    /// interval (failover / 5) together.
    ///
    /// ```
    /// use std::time::Duration;
    /// // A lease is renewed three times and its next worker's lease read five times per
    /// // failover time, so a crash is seen about the failover time after it.
    /// let c = kcl::Config::new("app", kcl::StreamId::Name("s".into()))
    ///     .with_failover_time(Duration::from_secs(30));
    /// assert_eq!(c.lease_renewal_interval, Duration::from_secs(10));
    /// assert_eq!(c.liveness_check_interval, Duration::from_secs(6));
    /// ```
    pub fn with_failover_time(mut self, failover: Duration) -> Config {
        self.failover_time = failover;
        self.lease_renewal_interval = failover / 3;
        self.liveness_check_interval = failover / 5;
        self
    }

    /// The timeout of one write to a held lease: `lease_request_timeout`, or half the
    /// renewal interval (at most `request_timeout`).
    ///
    /// ```
    /// use std::time::Duration;
    /// // A lease write never outlasts a renewal interval.
    /// let c = kcl::Config::new("app", kcl::StreamId::Name("s".into()));
    /// assert!(c.lease_attempt_timeout() < c.lease_renewal_interval);
    /// assert_eq!(c.lease_attempt_timeout(), c.lease_renewal_interval / 2);
    /// ```
    pub fn lease_attempt_timeout(&self) -> Duration {
        self.lease_request_timeout
            .unwrap_or_else(|| (self.lease_renewal_interval / 2).min(self.request_timeout))
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name = &self.application_name;
        let name_ok = (3..=255).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !name_ok {
            return Err(ConfigError::ApplicationName(name.clone()));
        }
        let (StreamId::Name(s) | StreamId::Arn(s)) = &self.stream;
        if s.is_empty() {
            return Err(ConfigError::Stream);
        }
        if self.worker_identifier.is_empty() {
            return Err(ConfigError::WorkerId);
        }
        self.validate_durations()?;
        if self.max_leases_for_worker == 0 {
            return Err(ConfigError::ZeroCount("max_leases_for_worker"));
        }
        if self.max_leases_to_steal_at_one_time == 0 {
            return Err(ConfigError::ZeroCount("max_leases_to_steal_at_one_time"));
        }
        for (name, n) in [
            ("max_pending_batches", self.max_pending_batches),
            ("max_pending_records", self.max_pending_records),
            ("max_pending_bytes", self.max_pending_bytes),
            ("max_prefetch_bytes", self.max_prefetch_bytes),
            ("max_records_per_call", self.max_records_per_call),
        ] {
            if n == 0 {
                return Err(ConfigError::ZeroCount(name));
            }
        }
        if !(1..=10_000).contains(&self.max_records) {
            return Err(ConfigError::MaxRecords(self.max_records));
        }
        if let Some(n) = self
            .list_shards_page_size
            .filter(|n| !(1..=10_000).contains(n))
        {
            return Err(ConfigError::ListShardsPageSize(n));
        }
        self.fan_out.validate(&self.retrieval_mode)
    }

    fn validate_durations(&self) -> Result<(), ConfigError> {
        for (name, d) in [
            ("failover_time", self.failover_time),
            ("lease_renewal_interval", self.lease_renewal_interval),
            ("lease_taker_interval", self.lease_taker_interval),
            ("settled_taker_interval", self.settled_taker_interval),
            ("lease_discovery_interval", self.lease_discovery_interval),
            (
                "graceful_lease_handoff_timeout",
                self.graceful_lease_handoff_timeout,
            ),
            ("shard_sync_interval", self.shard_sync_interval),
            (
                "parent_shard_poll_interval",
                self.parent_shard_poll_interval,
            ),
            ("lease_cleanup_interval", self.lease_cleanup_interval),
            ("request_timeout", self.request_timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        if self.lease_renewal_interval >= self.failover_time {
            return Err(ConfigError::RenewalNotShorterThanFailover {
                renew: self.lease_renewal_interval,
                failover: self.failover_time,
            });
        }
        let lease_timeout = self.lease_attempt_timeout();
        if lease_timeout.is_zero() {
            return Err(ConfigError::ZeroDuration("lease_request_timeout"));
        }
        if lease_timeout >= self.lease_renewal_interval {
            return Err(ConfigError::LeaseRequestTimeout {
                timeout: lease_timeout,
                renew: self.lease_renewal_interval,
            });
        }
        Ok(())
    }
}

/// `HOSTNAME`-like prefix (when set) and 64 random bits.
fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".to_owned());
    format!("{host}-{:016x}", fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::new("app", StreamId::Name("s".into()))
    }

    #[test]
    fn defaults_are_the_kcls() {
        let c = config();
        assert_eq!(c.failover_time, Duration::from_secs(10));
        assert_eq!(
            c.lease_renewal_interval,
            Duration::from_nanos(3_333_333_333)
        );
        assert_eq!(c.lease_taker_interval, Duration::from_secs(20));
        assert_eq!(c.lease_discovery_interval, Duration::from_secs(1));
        assert_eq!(c.graceful_lease_handoff_timeout, Duration::from_secs(30));
        assert_eq!(c.max_leases_for_worker, usize::MAX);
        assert_eq!(c.max_leases_to_steal_at_one_time, 1);
        assert_eq!(c.shard_sync_interval, Duration::from_secs(60));
        assert_eq!(c.parent_shard_poll_interval, Duration::from_secs(10));
        assert!(c.cleanup_leases_upon_shard_completion);
        assert_eq!(c.max_records, 10_000);
        assert_eq!(c.idle_time_between_reads, Duration::from_millis(1500));
        assert_eq!(c.initial_position, InitialPosition::Latest);
        assert!(c.validate().is_ok());
        assert_ne!(config().worker_identifier, c.worker_identifier);
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = config();
        c.application_name = "a/b".into();
        assert!(matches!(c.validate(), Err(ConfigError::ApplicationName(_))));
        let mut c = config();
        c.max_records = 10_001;
        assert_eq!(c.validate(), Err(ConfigError::MaxRecords(10_001)));
        let mut c = config();
        c.lease_renewal_interval = c.failover_time;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::RenewalNotShorterThanFailover { .. })
        ));
        let mut c = config();
        c.lease_taker_interval = Duration::ZERO;
        assert_eq!(
            c.validate(),
            Err(ConfigError::ZeroDuration("lease_taker_interval"))
        );
        let mut c = config();
        c.stream = StreamId::Arn(String::new());
        assert_eq!(c.validate(), Err(ConfigError::Stream));
        let mut c = config();
        c.list_shards_page_size = Some(0);
        assert_eq!(c.validate(), Err(ConfigError::ListShardsPageSize(0)));
        c.list_shards_page_size = Some(10_001);
        assert_eq!(c.validate(), Err(ConfigError::ListShardsPageSize(10_001)));
        c.list_shards_page_size = Some(10_000);
        assert_eq!(c.validate(), Ok(()));
        let c = config().with_failover_time(Duration::from_secs(3));
        assert_eq!(c.lease_renewal_interval, Duration::from_secs(1));
        assert_eq!(c.lease_attempt_timeout(), Duration::from_millis(500));
        let mut c = config();
        c.lease_request_timeout = Some(c.lease_renewal_interval);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::LeaseRequestTimeout { .. })
        ));
        c.lease_request_timeout = Some(Duration::ZERO);
        assert_eq!(
            c.validate(),
            Err(ConfigError::ZeroDuration("lease_request_timeout"))
        );
        let mut c = config();
        c.request_timeout = Duration::from_millis(300);
        assert_eq!(c.lease_attempt_timeout(), Duration::from_millis(300));
    }
}
