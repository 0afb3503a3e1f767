//! Reads one shard: GetShardIterator, then GetRecords until the shard's end (closed),
//! until caught up (without `--follow`), or for ever. Each call has the tool's timeout;
//! throttling backs off and is retried for as long as it lasts; an expired iterator is
//! renewed after the last record read.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::operation::get_records::GetRecordsOutput;
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::ShardIteratorType;
use kinesis_agg::Deaggregator;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::plan::Start;
use super::records;
use crate::aws::{Aws, FailureKind};
use crate::error::CliError;
use crate::shards::ShardInfo;

/// Fewest time between two GetRecords calls on a shard (Kinesis allows 5 a second).
const MIN_CALL_GAP: Duration = Duration::from_millis(200);

/// What a shard reader reports, in order.
#[derive(Debug)]
pub(crate) enum Event {
    /// User records of the shard, in order, and how many the hash range rule dropped.
    Records {
        shard: Arc<str>,
        records: Vec<kcl::Record>,
        dropped: usize,
    },
    /// The shard was read to its end: closed (its children may start) or caught up.
    Ended { shard: String, closed: bool },
    /// Reading failed for good.
    Failed(CliError),
}

/// Where a reader is in its shard.
#[derive(Debug)]
struct Position {
    iterator: String,
    /// The last Kinesis record read, to renew an expired iterator after it.
    last_sequence: Option<String>,
    /// When GetRecords was last called, for the pace.
    last_call: Option<Instant>,
}

/// One shard's reader.
#[derive(Debug)]
pub(crate) struct ShardReader {
    pub(crate) aws: Aws,
    pub(crate) client: aws_sdk_kinesis::Client,
    pub(crate) stream: String,
    pub(crate) shard: ShardInfo,
    pub(crate) start: Start,
    pub(crate) follow: bool,
    /// Pause after an empty response while following.
    pub(crate) poll_interval: Duration,
    /// GetRecords `Limit`.
    pub(crate) max_records: i32,
}

impl ShardReader {
    /// Reads the shard, sending its events to `events` (a closed channel stops it).
    pub(crate) async fn run(self, events: mpsc::Sender<Event>) {
        let id = self.shard.id.clone();
        let event = match self.read(&events).await {
            Ok(Some(closed)) => Event::Ended { shard: id, closed },
            Ok(None) => return,
            Err(e) => Event::Failed(e),
        };
        let _ = events.send(event).await;
    }

    /// `Some(closed)` at the shard's end, `None` when the receiver went away.
    async fn read(&self, events: &mpsc::Sender<Event>) -> Result<Option<bool>, CliError> {
        let shard: Arc<str> = Arc::from(self.shard.id.as_str());
        let deaggregator = Deaggregator::for_hash_range(self.shard.range);
        let mut at = Position {
            iterator: self.iterator(&self.start).await?,
            last_sequence: None,
            last_call: None,
        };
        tracing::info!(shard = %shard, start = ?self.start, "reading");
        loop {
            let mut out = self.fetch(&mut at).await?;
            let raw = std::mem::take(&mut out.records);
            let caught_up = raw.is_empty() && out.millis_behind_latest().unwrap_or(0) == 0;
            if let Some(last) = raw.last() {
                at.last_sequence = Some(last.sequence_number.clone());
            }
            let (records, dropped) = records::convert(&deaggregator, raw);
            if !records.is_empty() || dropped > 0 {
                let shard = shard.clone();
                let batch = Event::Records {
                    shard,
                    records,
                    dropped,
                };
                if events.send(batch).await.is_err() {
                    return Ok(None);
                }
            }
            match out.next_shard_iterator {
                None => return Ok(Some(true)),
                Some(next) => at.iterator = next,
            }
            if caught_up {
                if !self.follow {
                    return Ok(Some(false));
                }
                tokio::time::sleep(self.poll_interval).await;
            }
        }
    }

    /// The next GetRecords response at `at`, paced, renewing an expired iterator after
    /// the last record read (or at the start when none was).
    async fn fetch(&self, at: &mut Position) -> Result<GetRecordsOutput, CliError> {
        loop {
            if let Some(last) = at.last_call {
                tokio::time::sleep_until(last + MIN_CALL_GAP).await;
            }
            at.last_call = Some(Instant::now());
            let response = self
                .aws
                .retry
                .patient()
                .call("GetRecords", || {
                    self.client
                        .get_records()
                        .shard_iterator(&at.iterator)
                        .limit(self.max_records)
                        .send()
                })
                .await;
            match response {
                Ok(out) => return Ok(out),
                Err(f) if f.kind == FailureKind::ExpiredIterator => {
                    let resume = match &at.last_sequence {
                        Some(seq) => Start::AfterSequence(seq.clone()),
                        None => self.start.clone(),
                    };
                    at.iterator = self.iterator(&resume).await?;
                }
                Err(f) => return Err(self.aws.kinesis_error(&self.stream, f)),
            }
        }
    }

    /// A shard iterator at `start`.
    async fn iterator(&self, start: &Start) -> Result<String, CliError> {
        let (kind, sequence, timestamp) = match start {
            Start::TrimHorizon => (ShardIteratorType::TrimHorizon, None, None),
            Start::Latest => (ShardIteratorType::Latest, None, None),
            Start::AtTimestamp(t) => (
                ShardIteratorType::AtTimestamp,
                None,
                Some(DateTime::from(*t)),
            ),
            Start::AtSequence(s) => (ShardIteratorType::AtSequenceNumber, Some(s.clone()), None),
            Start::AfterSequence(s) => (
                ShardIteratorType::AfterSequenceNumber,
                Some(s.clone()),
                None,
            ),
        };
        let out = self
            .aws
            .retry
            .patient()
            .call("GetShardIterator", || {
                self.client
                    .get_shard_iterator()
                    .stream_name(&self.stream)
                    .shard_id(&self.shard.id)
                    .shard_iterator_type(kind.clone())
                    .set_starting_sequence_number(sequence.clone())
                    .set_timestamp(timestamp)
                    .send()
            })
            .await
            .map_err(|f| self.aws.kinesis_error(&self.stream, f))?;
        out.shard_iterator.ok_or_else(|| CliError::Aws {
            operation: "GetShardIterator",
            message: format!("no iterator returned for shard {}", self.shard.id),
        })
    }
}
