//! Record retrieval behind a seam: a record source (crate-private) yields batches of user
//! records of one shard. Two sources: polling (GetRecords) and enhanced fan-out
//! (SubscribeToShard), chosen by [`RetrievalMode`](crate::RetrievalMode); both deliver the
//! same batches and shard endings.

mod budget;
mod buffered;
mod convert;
mod error;
mod fanout;
pub(crate) mod kinesis;
mod polling;

use std::sync::Arc;

use std::time::SystemTime;

use futures::future::BoxFuture;
use kinesis_agg::HashRange;

pub(crate) use budget::WorkerPrefetch;
pub use error::RetrievalError;
pub(crate) use fanout::FanOut;
pub(crate) use kinesis::{IteratorStart, StreamClient};
pub(crate) use polling::PollingSettings;

use crate::lease::sync_plan::ShardInfo;
use crate::{Position, Record, SequenceNumber};

/// The shard a source reads.
#[derive(Clone, Debug)]
pub(crate) struct ShardSpec {
    pub(crate) id: String,
    /// The shard's hash range, for the de-aggregation filter.
    pub(crate) hash_range: Option<HashRange>,
}

/// One batch of user records.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) records: Vec<Record>,
    pub(crate) millis_behind_latest: Option<i64>,
    /// Data bytes of the Kinesis records behind it.
    pub(crate) bytes: usize,
    /// `Some` once the shard has no more records: how it ended.
    pub(crate) end: Option<ShardEnding>,
}

impl Batch {
    /// The last batch of a shard that no longer exists.
    pub(crate) fn gone(children: Vec<ShardInfo>) -> Batch {
        Batch {
            records: Vec::new(),
            millis_behind_latest: None,
            bytes: 0,
            end: Some(ShardEnding {
                children,
                gone: true,
            }),
        }
    }
}

/// How a shard's records ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ShardEnding {
    /// Its child shards, whose leases are created at shard end.
    pub(crate) children: Vec<ShardInfo>,
    /// The shard no longer exists (ResourceNotFound, as after retention deleted it): it
    /// ends as a closed shard does, and its lease, once finished and childless, is garbage.
    pub(crate) gone: bool,
}

/// Yields the batches of one shard in order.
pub(crate) trait RecordSource: Send {
    /// The next batch; an error is final for this source.
    fn next_batch(&mut self) -> BoxFuture<'_, Result<Batch, RetrievalError>>;
}

/// Where to start reading a shard whose lease checkpoint is `checkpoint`: the iterator
/// and the sub-records the checkpoint already covers. `None` for `SHARD_END`.
///
/// A record checkpoint is read AT its sequence number and its sub-records through the
/// checkpointed sub-sequence are skipped, so a restart resumes inside an aggregate.
pub(crate) fn starting_point(
    checkpoint: &Position,
    timestamp: Option<SystemTime>,
) -> Option<(IteratorStart, Option<(SequenceNumber, u64)>)> {
    match checkpoint {
        Position::TrimHorizon => Some((IteratorStart::TrimHorizon, None)),
        Position::Latest => Some((IteratorStart::Latest, None)),
        Position::AtTimestamp => Some(match timestamp {
            Some(t) => (IteratorStart::AtTimestamp(t), None),
            None => {
                tracing::warn!(
                    "lease at AT_TIMESTAMP but no initial timestamp configured; reading from TRIM_HORIZON"
                );
                (IteratorStart::TrimHorizon, None)
            }
        }),
        Position::At { seq, sub_seq } => Some((
            IteratorStart::AtSequence(seq.clone()),
            Some((seq.clone(), *sub_seq)),
        )),
        Position::ShardEnd => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_checkpoints_resume_at_the_sequence_skipping_covered_sub_records() {
        let p = Position::at("77", 4).unwrap();
        let seq = SequenceNumber::parse("77").unwrap();
        assert_eq!(
            starting_point(&p, None),
            Some((IteratorStart::AtSequence(seq.clone()), Some((seq, 4))))
        );
        assert_eq!(starting_point(&Position::ShardEnd, None), None);
        assert_eq!(
            starting_point(&Position::Latest, None),
            Some((IteratorStart::Latest, None))
        );
        let t = SystemTime::UNIX_EPOCH;
        assert_eq!(
            starting_point(&Position::AtTimestamp, Some(t)),
            Some((IteratorStart::AtTimestamp(t), None))
        );
        assert_eq!(
            starting_point(&Position::AtTimestamp, None),
            Some((IteratorStart::TrimHorizon, None))
        );
    }
}

/// Opens record sources in the configured retrieval mode.
#[derive(Clone, Debug)]
pub(crate) struct Retriever {
    pub(crate) client: StreamClient,
    pub(crate) mode: crate::RetrievalMode,
    pub(crate) polling: PollingSettings,
    /// The AT_TIMESTAMP initial position's time, if configured.
    pub(crate) timestamp: Option<SystemTime>,
    /// The fan-out state shared by the worker's shards (`None` when polling).
    pub(crate) fan_out: Option<Arc<FanOut>>,
}

impl Retriever {
    /// A source reading `shard` after `checkpoint`; `None` when the checkpoint is
    /// `SHARD_END` (nothing left to read).
    pub(crate) fn open(
        &self,
        shard: ShardSpec,
        checkpoint: &Position,
    ) -> Option<Box<dyn RecordSource>> {
        let (start, skip) = starting_point(checkpoint, self.timestamp)?;
        match (&self.mode, &self.fan_out) {
            (crate::RetrievalMode::FanOut { .. }, Some(fan_out)) => {
                Some(Box::new(fan_out.open(shard, start, skip)))
            }
            _ => Some(Box::new(polling::start(
                self.client.clone(),
                shard,
                start,
                skip,
                self.polling.clone(),
            ))),
        }
    }

    /// After a graceful shutdown released the worker's leases (fan-out: deregisters the
    /// stream consumer when configured and this was the application's last worker).
    pub(crate) async fn after_graceful_shutdown(&self, store: &crate::lease::LeaseStore) {
        if let Some(fan_out) = &self.fan_out {
            fan_out.after_graceful_shutdown(store).await;
        }
    }
}

/// The prefetch limits of a configuration.
pub(crate) fn budget_limits(config: &crate::Config) -> budget::Limits {
    budget::Limits {
        batches: config.max_pending_batches,
        records: config.max_pending_records,
        bytes: config.max_pending_bytes,
    }
}
