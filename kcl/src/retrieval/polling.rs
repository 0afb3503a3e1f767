//! Polling retrieval: a prefetch task per shard runs the GetRecords loop ahead of the
//! processor, bounded by the prefetch budget; it sleeps when caught up, renews expired
//! iterators after the last record fetched, and backs off when throttled.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::budget::{Budget, Limits, WorkerPrefetch};
use super::convert::Converter;
use super::kinesis::{IteratorStart, StreamClient, child_info};
use super::{Batch, RecordSource, RetrievalError, ShardEnding, ShardSpec};
use crate::SequenceNumber;

/// Settings of the polling loop.
#[derive(Clone, Debug)]
pub(crate) struct PollingSettings {
    pub(crate) max_records: u32,
    /// The least time between the starts of two GetRecords calls of one shard.
    pub(crate) idle_time_between_reads: Duration,
    pub(crate) limits: Limits,
    /// The worker-wide bound on prefetched bytes.
    pub(crate) worker: Arc<WorkerPrefetch>,
}

/// The consumer side of a shard's prefetch queue.
pub(crate) struct PollingSource {
    rx: mpsc::Receiver<Result<Batch, RetrievalError>>,
    budget: Arc<Budget>,
    task: JoinHandle<()>,
}

impl Drop for PollingSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PollingSource {
    /// Starts prefetching `shard` from `start`, skipping sub-records through `skip`.
    pub(crate) fn start(
        client: StreamClient,
        shard: ShardSpec,
        start: IteratorStart,
        skip: Option<(SequenceNumber, u64)>,
        settings: PollingSettings,
    ) -> PollingSource {
        let budget = Arc::new(Budget::new(settings.limits, settings.worker.clone()));
        let (tx, rx) = mpsc::channel(settings.limits.batches + 1);
        let fetcher = Fetcher {
            client,
            converter: Converter::new(shard.hash_range, skip),
            shard,
            start,
            settings,
            budget: budget.clone(),
            tx,
        };
        let task = tokio::spawn(fetcher.run());
        PollingSource { rx, budget, task }
    }
}

impl RecordSource for PollingSource {
    fn next_batch(&mut self) -> BoxFuture<'_, Result<Batch, RetrievalError>> {
        Box::pin(async move {
            match self.rx.recv().await {
                Some(Ok(batch)) => {
                    self.budget.remove(batch.records.len(), batch.bytes);
                    Ok(batch)
                }
                Some(Err(e)) => Err(e),
                None => Err(RetrievalError::Fatal {
                    operation: "GetRecords",
                    message: "the prefetch task ended".into(),
                }),
            }
        })
    }
}

struct Fetcher {
    client: StreamClient,
    shard: ShardSpec,
    start: IteratorStart,
    converter: Converter,
    settings: PollingSettings,
    budget: Arc<Budget>,
    tx: mpsc::Sender<Result<Batch, RetrievalError>>,
}

impl Fetcher {
    async fn run(mut self) {
        if let Err(e) = self.fetch_loop().await {
            let _ = self.tx.send(Err(e)).await;
        }
    }

    async fn fetch_loop(&mut self) -> Result<(), RetrievalError> {
        let mut last_sequence: Option<SequenceNumber> = None;
        let mut iterator: Option<String> = None;
        let mut failures = 0;
        let mut last_call: Option<tokio::time::Instant> = None;
        loop {
            self.budget.wait_for_room().await;
            let it = match iterator.take() {
                Some(it) => it,
                None => {
                    let start = last_sequence
                        .clone()
                        .map_or_else(|| self.start.clone(), IteratorStart::AfterSequence);
                    match self.client.shard_iterator(&self.shard.id, &start).await {
                        Ok(it) => it,
                        Err(RetrievalError::NotFound { .. }) => return self.end_gone().await,
                        Err(e) => {
                            failures = self.back_off(e, failures).await?;
                            continue;
                        }
                    }
                }
            };
            // Every call is paced, not only the empty ones: a consumer catching up takes no
            // more than its share of the shard's 5 calls per second.
            if let Some(last) = last_call {
                tokio::time::sleep_until(last + self.settings.idle_time_between_reads).await;
            }
            last_call = Some(tokio::time::Instant::now());
            let out = match self
                .client
                .get_records(&it, self.settings.max_records)
                .await
            {
                Ok(out) => out,
                Err(RetrievalError::ExpiredIterator { .. }) => {
                    tracing::info!(shard = %self.shard.id, "shard iterator expired; getting a new one");
                    // The fresh iterator is used at once: waiting out the pace again could
                    // let it expire too.
                    last_call = None;
                    continue;
                }
                Err(RetrievalError::NotFound { .. }) => return self.end_gone().await,
                Err(e) => {
                    failures = self.back_off(e, failures).await?;
                    iterator = Some(it);
                    continue;
                }
            };
            failures = 0;
            let millis_behind_latest = out.millis_behind_latest;
            if let Some(m) = millis_behind_latest {
                metrics::gauge!("MillisBehindLatest", "shard" => self.shard.id.clone())
                    .set(m as f64);
            }
            let converted = self.converter.convert(out.records);
            if converted.last_sequence.is_some() {
                last_sequence = converted.last_sequence.clone();
            }
            let end = out.next_shard_iterator.is_none();
            let ending = match end {
                true => Some(ShardEnding {
                    children: self.children(out.child_shards.unwrap_or_default()).await?,
                    gone: false,
                }),
                false => None,
            };
            if !converted.records.is_empty() || end {
                self.budget.add(converted.records.len(), converted.bytes);
                let batch = Batch {
                    records: converted.records,
                    millis_behind_latest,
                    bytes: converted.bytes,
                    end: ending,
                };
                if self.tx.send(Ok(batch)).await.is_err() || end {
                    return Ok(());
                }
            }
            iterator = out.next_shard_iterator;
        }
    }

    /// The shard no longer exists: it ends here, with the children ListShards still lists
    /// for it (none when the stream itself is gone).
    async fn end_gone(&mut self) -> Result<(), RetrievalError> {
        tracing::warn!(shard = %self.shard.id, "the shard no longer exists; ending it");
        let children = match self.children(Vec::new()).await {
            Ok(children) => children,
            Err(RetrievalError::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        let batch = Batch {
            records: Vec::new(),
            millis_behind_latest: None,
            bytes: 0,
            end: Some(ShardEnding {
                children,
                gone: true,
            }),
        };
        self.budget.add(0, 0);
        let _ = self.tx.send(Ok(batch)).await;
        Ok(())
    }

    /// Sleeps before retrying a retryable failure; gives up on the others.
    async fn back_off(&self, e: RetrievalError, failures: u32) -> Result<u32, RetrievalError> {
        if !e.is_retryable() {
            return Err(e);
        }
        let failures = failures + 1;
        tracing::debug!(shard = %self.shard.id, error = %e, failures, "retrying");
        tokio::time::sleep(crate::backoff::delay(failures, Duration::from_millis(100))).await;
        Ok(failures)
    }

    /// The children of this closed shard: from the last GetRecords response, or (when
    /// the service did not say) from ListShards.
    async fn children(
        &self,
        reported: Vec<aws_sdk_kinesis::types::ChildShard>,
    ) -> Result<Vec<crate::lease::sync_plan::ShardInfo>, RetrievalError> {
        if !reported.is_empty() {
            return Ok(reported.iter().map(child_info).collect());
        }
        let mut failures = 0;
        loop {
            match self.client.list_shards(None).await {
                Ok(shards) => {
                    return Ok(shards
                        .into_iter()
                        .filter(|s| s.parents.contains(&self.shard.id))
                        .collect());
                }
                Err(e) => failures = self.back_off(e, failures).await?,
            }
        }
    }
}
