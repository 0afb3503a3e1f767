//! Enhanced fan-out retrieval (SubscribeToShard) behind the [`RecordSource`] seam: one
//! subscription per held shard, its events drained into a bounded per-shard buffer and
//! delivered as [`Batch`]es exactly as polling delivers them (de-aggregation, the
//! checkpoint's sub-records skipped, shard end with children, gone shards).
//!
//! - Registration ([`registration`]): one stream consumer per application, described,
//!   registered when missing, waited for until ACTIVE; shared by every shard.
//! - Subscriptions ([`reader`]): the first at the checkpoint, each renewal AFTER the last
//!   continuation sequence number, at most one SubscribeToShard per second per shard
//!   ([`pacer`]), every wait under the event timeout ([`subscription`]), failures counted
//!   and the lease given up after too many in a row.
//! - Connections: a worker's subscriptions share its Kinesis client's connections. On
//!   AWS (HTTPS) hyper speaks HTTP/2 and opens one connection per host, so every
//!   subscription of the worker is a stream of that one connection (the SDK's hyper
//!   windows: 2 MiB per stream, 5 MiB per connection). A shard whose buffer is full is not
//!   read, so its stream holds up to its 2 MiB of the connection's window; with three or
//!   more such shards at once the others wait too. Give such workers Kinesis clients of
//!   their own HTTP client (`http_client(...)` on the SDK config), one per group of
//!   shards or per worker, or raise `max_buffered_bytes` so slow shards rarely fill.

mod error;
mod event;
mod metrics;
mod pacer;
mod probe;
mod reader;
mod registration;
mod subscription;

use std::sync::Arc;

use tokio::time::Instant;

pub(crate) use error::FanOutError;
use pacer::Pacer;
use registration::Registration;

use super::budget::{Budget, Limits, WorkerPrefetch};
use super::buffered::BufferedSource;
use super::convert::Converter;
use super::{IteratorStart, ShardSpec, StreamClient};
use crate::lease::LeaseStore;
use crate::{Config, FanOutConfig, RetrievalMode, SequenceNumber};

/// What every fan-out source of a worker shares.
#[derive(Debug)]
pub(crate) struct FanOut {
    /// The worker's Kinesis client with the SDK's retries off: every SubscribeToShard
    /// is one call, paced and counted here.
    client: StreamClient,
    registration: Registration,
    pacer: Pacer,
    settings: FanOutConfig,
    limits: Limits,
    worker: Arc<WorkerPrefetch>,
}

impl FanOut {
    /// The fan-out state of a worker in `config`'s retrieval mode (`None` for polling).
    pub(crate) fn for_config(
        stream: &StreamClient,
        config: &Config,
        worker: Arc<WorkerPrefetch>,
    ) -> Option<Arc<FanOut>> {
        let RetrievalMode::FanOut {
            consumer_name,
            consumer_arn,
        } = &config.retrieval_mode
        else {
            return None;
        };
        let sdk = stream.sdk().config().to_builder();
        let sdk = sdk.retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled());
        let client = stream
            .clone()
            .with_sdk(aws_sdk_kinesis::Client::from_conf(sdk.build()));
        let name = consumer_name
            .clone()
            .unwrap_or_else(|| config.application_name.clone());
        Some(Arc::new(FanOut {
            registration: Registration::new(client.clone(), name, consumer_arn.clone()),
            client,
            pacer: Pacer::default(),
            settings: config.fan_out.clone(),
            limits: Limits {
                batches: config.fan_out.max_buffered_events,
                records: config.max_pending_records,
                bytes: config.fan_out.max_buffered_bytes,
            },
            worker,
        }))
    }

    /// Starts reading `shard` from `start`, skipping sub-records through `skip`.
    pub(crate) fn open(
        self: &Arc<Self>,
        shard: ShardSpec,
        start: IteratorStart,
        skip: Option<(SequenceNumber, u64)>,
    ) -> BufferedSource {
        let budget = Arc::new(Budget::new(self.limits, self.worker.clone()));
        let fan = self.clone();
        let batches = self.limits.batches;
        BufferedSource::spawn(budget.clone(), batches, "SubscribeToShard", |tx| {
            reader::Reader {
                fan,
                converter: Converter::new(shard.hash_range, skip),
                shard,
                start,
                budget,
                tx,
                continuation: None,
                last_record: None,
                failures: 0,
                last_probe: Instant::now(),
                arn: None,
            }
            .run()
        })
    }

    /// After a graceful shutdown released this worker's leases: deregisters the stream
    /// consumer when that is configured and no lease of the application has an owner any
    /// more (this was the last worker).
    pub(crate) async fn after_graceful_shutdown(&self, store: &LeaseStore) {
        if !self.settings.deregister_on_shutdown {
            return;
        }
        match store.list(true).await {
            Ok(scan)
                if scan
                    .leases
                    .iter()
                    .all(|l| l.owner.is_none() || l.is_finished()) =>
            {
                if let Err(e) = self.registration.deregister().await {
                    tracing::warn!(error = %e, "could not deregister the stream consumer");
                }
            }
            Ok(_) => tracing::info!("other workers hold leases; the stream consumer stays"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the lease table; the stream consumer stays")
            }
        }
    }
}
