//! The task behind one shard's fan-out source: subscribes, drains the subscription into
//! the shard's bounded buffer (not reading while it is full), subscribes again after the
//! service ends a subscription (AFTER_SEQUENCE_NUMBER the last continuation, at once) or
//! after a failure (with backoff, counted), and gives the lease up after too many
//! failures in a row. It ends the shard as polling does: at the end of a closed shard
//! with its children, and as gone when the shard no longer exists.

use std::sync::Arc;

use aws_sdk_kinesis::types::{Record, SubscribeToShardEvent};
use tokio::time::Instant;

use super::metrics::{self, Again};
use super::subscription::{Subscription, subscribe};
use super::{FanOut, FanOutError, event, probe};
use crate::SequenceNumber;
use crate::lease::sync_plan::ShardInfo;
use crate::retrieval::budget::Budget;
use crate::retrieval::buffered::Sender;
use crate::retrieval::convert::Converter;
use crate::retrieval::{Batch, IteratorStart, RetrievalError, ShardEnding, ShardSpec};

/// How one subscription ended.
enum Step {
    /// Nothing more to read: the shard ended, or its consumer is gone.
    Done,
    /// The service ended the subscription (every 5 minutes).
    Renew,
    Failed(FanOutError),
}

pub(super) struct Reader {
    pub(super) fan: Arc<FanOut>,
    pub(super) shard: ShardSpec,
    /// Where the lease's checkpoint says to start.
    pub(super) start: IteratorStart,
    pub(super) converter: Converter,
    pub(super) budget: Arc<Budget>,
    pub(super) tx: Sender,
    /// The last event's continuation sequence number.
    pub(super) continuation: Option<SequenceNumber>,
    /// The last Kinesis record received.
    pub(super) last_record: Option<SequenceNumber>,
    pub(super) failures: u32,
    pub(super) last_probe: Instant,
    /// The consumer ARN of the current subscription.
    pub(super) arn: Option<String>,
}

impl Reader {
    pub(super) async fn run(mut self) {
        if let Err(e) = self.read().await {
            tracing::error!(shard = %self.shard.id, error = %e, "fan-out retrieval gives the shard up");
            let _ = self.tx.send(Err(e)).await;
        }
    }

    async fn read(&mut self) -> Result<(), RetrievalError> {
        loop {
            match self.subscribe_once().await {
                Step::Done => return Ok(()),
                Step::Renew => {
                    tracing::debug!(shard = %self.shard.id, "subscription ended by the service; renewing");
                    metrics::resubscribing(&self.shard.id, Again::Renewal);
                }
                Step::Failed(e) => {
                    if self.failed(e).await? {
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn subscribe_once(&mut self) -> Step {
        let arn = match self.fan.registration.consumer_arn().await {
            Ok(arn) => arn,
            Err(e) => return Step::Failed(FanOutError::Kinesis(e)),
        };
        self.fan.pacer.turn(&self.shard.id).await;
        let from = self.position();
        tracing::debug!(shard = %self.shard.id, ?from, "subscribing");
        let started = Instant::now();
        let timeout = self.fan.settings.event_timeout;
        let sub = subscribe(self.fan.client.sdk(), &arn, &self.shard.id, &from, timeout).await;
        self.fan.pacer.answered(&self.shard.id);
        self.arn = Some(arn);
        metrics::attempt(&self.shard.id, sub.is_ok(), started.elapsed());
        match sub {
            Ok(sub) => self.drain(sub).await,
            Err(e) => Step::Failed(e),
        }
    }

    /// Where the next subscription starts: after the last continuation once a record was
    /// received (or from LATEST on); before that, where the checkpoint says again
    /// (ferrokinesis' continuation of a subscription that has seen no record lies up to a
    /// second past the records that follow it, so AFTER it would skip them).
    fn position(&self) -> IteratorStart {
        let latest = self.start == IteratorStart::Latest;
        match (&self.continuation, &self.last_record) {
            (Some(c), Some(_)) => IteratorStart::AfterSequence(c.clone()),
            (Some(c), None) if latest => IteratorStart::AfterSequence(c.clone()),
            (None, Some(r)) => IteratorStart::AfterSequence(r.clone()),
            _ => self.start.clone(),
        }
    }

    async fn drain(&mut self, mut sub: Subscription) -> Step {
        loop {
            // A full buffer is not read: flow control holds the service back.
            self.budget.wait_for_room().await;
            let event = match sub.next().await {
                Ok(Some(event)) => event,
                Ok(None) => return Step::Renew,
                Err(e) => return Step::Failed(e),
            };
            self.healthy();
            match self.take(event).await {
                Ok(true) => {}
                Ok(false) => return Step::Done,
                Err(e) => return Step::Failed(FanOutError::Kinesis(e)),
            }
        }
    }

    fn healthy(&mut self) {
        if self.failures > 0 {
            tracing::info!(shard = %self.shard.id, after = self.failures, "subscription delivering again");
            self.failures = 0;
            metrics::failures(&self.shard.id, 0);
        }
    }

    /// Hands an event's records on; `false` once nothing more is to be read.
    async fn take(&mut self, event: SubscribeToShardEvent) -> Result<bool, RetrievalError> {
        let c = event::classify(event);
        let fresh = self.fresh(c.records);
        let bytes: usize = fresh.iter().map(|r| r.data.as_ref().len()).sum();
        metrics::received(&self.shard.id, fresh.len(), bytes, c.millis_behind_latest);
        let converted = self.converter.convert(fresh);
        if converted.last_sequence.is_some() {
            self.last_record = converted.last_sequence.clone();
        }
        if c.continuation.is_some() {
            self.continuation = c.continuation;
        }
        let children = match c.end {
            Some(reported) => {
                Some(probe::children(&self.fan.client, &self.shard, &reported).await?)
            }
            None if converted.records.is_empty() => self.probe_end().await,
            None => None,
        };
        if converted.records.is_empty() && children.is_none() {
            return Ok(true);
        }
        let end = children.map(|children| ShardEnding {
            children,
            gone: false,
        });
        let more = end.is_none();
        self.budget.add(converted.records.len(), converted.bytes);
        let batch = Batch {
            records: converted.records,
            millis_behind_latest: Some(c.millis_behind_latest),
            bytes: converted.bytes,
            end,
        };
        Ok(self.tx.send(Ok(batch)).await.is_ok() && more)
    }

    /// The records after the last one received (a server resuming a little early
    /// delivers nothing twice).
    fn fresh(&self, records: Vec<Record>) -> Vec<Record> {
        let Some(last) = &self.last_record else {
            return records;
        };
        records
            .into_iter()
            .filter(|r| SequenceNumber::parse(&r.sequence_number).map_or(true, |s| s > *last))
            .collect()
    }

    /// On an idle subscription, at most once per probe interval: whether the shard is
    /// closed and read through (for servers that never signal shard end); its children
    /// then.
    async fn probe_end(&mut self) -> Option<Vec<ShardInfo>> {
        if self.last_probe.elapsed() < self.fan.settings.shard_end_probe_interval {
            return None;
        }
        self.last_probe = Instant::now();
        let from = match (&self.last_record, &self.continuation) {
            (Some(r), _) => IteratorStart::AfterSequence(r.clone()),
            (None, Some(c)) if self.start == IteratorStart::Latest => {
                IteratorStart::AfterSequence(c.clone())
            }
            _ => self.start.clone(),
        };
        let client = &self.fan.client;
        let probed = match probe::closed_and_read(client, &self.shard.id, &from).await {
            Ok(Some(reported)) => probe::children(client, &self.shard, &reported).await,
            Ok(None) => return None,
            Err(e) => Err(e),
        };
        match probed {
            Ok(children) => {
                tracing::info!(shard = %self.shard.id, "the shard is closed and read through (no shard end event came)");
                Some(children)
            }
            Err(e) => {
                tracing::debug!(shard = %self.shard.id, error = %e, "shard end probe failed");
                None
            }
        }
    }

    /// Counts a failed subscription and backs off; `Ok(true)` when the shard turned out
    /// gone (and was ended), `Err` when the lease is to be given up.
    async fn failed(&mut self, e: FanOutError) -> Result<bool, RetrievalError> {
        let shard = self.shard.id.clone();
        if e.is_not_found() {
            match probe::is_gone(&self.fan.client, &shard).await {
                Ok(true) => return self.end_gone().await.map(|()| true),
                // The shard is there: the consumer is not (deregistered): register again.
                Ok(false) => {
                    if let Some(arn) = self.arn.take() {
                        self.fan.registration.forget(&arn).await;
                    }
                }
                Err(probe) => {
                    tracing::debug!(%shard, error = %probe, "cannot tell whether the shard is gone")
                }
            }
        } else if !e.is_retryable() {
            return Err(into_retrieval(e));
        }
        self.failures += 1;
        let (failures, max) = (self.failures, self.fan.settings.max_subscription_failures);
        metrics::failures(&shard, failures);
        metrics::resubscribing(
            &shard,
            if e.is_stall() {
                Again::Stall
            } else {
                Again::Error
            },
        );
        if matches!(e, FanOutError::InUse { .. }) {
            tracing::info!(%shard, failures, max, error = %e, "another subscription is active (a lease hand-over?); retrying");
        } else {
            tracing::warn!(%shard, failures, max, error = %e, "subscription failed; subscribing again");
        }
        if failures >= max {
            return Err(RetrievalError::SubscriptionFailing {
                shard_id: shard,
                failures,
                last: e.to_string(),
            });
        }
        let wait = crate::backoff::delay(failures, std::time::Duration::from_millis(200));
        tokio::time::sleep(wait).await;
        Ok(false)
    }

    /// The shard no longer exists: it ends here, as a gone shard does with polling.
    async fn end_gone(&mut self) -> Result<(), RetrievalError> {
        tracing::warn!(shard = %self.shard.id, "the shard no longer exists; ending it");
        let children = probe::children(&self.fan.client, &self.shard, &[]).await?;
        self.budget.add(0, 0);
        let batch = Batch::gone(children);
        let _ = self.tx.send(Ok(batch)).await;
        Ok(())
    }
}

fn into_retrieval(e: FanOutError) -> RetrievalError {
    match e {
        FanOutError::Kinesis(e) => e,
        other => RetrievalError::Transient {
            operation: "SubscribeToShard",
            message: other.to_string(),
        },
    }
}
