//! From framed units to records in the producer, and from the producer's results back to
//! the ledger: a batch of units becomes one ledger range and one `put_batch`, which waits
//! for room under the producer's bounds (so reading stops while the producer is full: that
//! is the backpressure). Failed records that can be retried are put again after a backoff
//! (100 ms doubling to 10 s, the Agent's defaults) and stay unacknowledged until written.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use kpl::{Producer, PutError, PutErrorKind, PutResult, Record};

use crate::config::PreparedFlow;
use crate::error::TailError;
use crate::framing::Unit;
use crate::ledger::Ticket;
use crate::processing::Processed;
use crate::record::{Keys, truncate};
use crate::source::Source;
use crate::stats::{count, names};
use crate::tracker::Tracker;

/// The results of one put of a range's records.
pub(crate) struct Done {
    source: u64,
    ticket: Ticket,
    attempt: u32,
    results: Vec<Result<PutResult, Box<PutError>>>,
}

/// A flow's way to the producer.
pub(crate) struct Deliver {
    producer: Producer,
    keys: Keys,
    pub(crate) inflight: FuturesUnordered<BoxFuture<'static, Done>>,
}

impl Deliver {
    pub(crate) fn new(producer: Producer, flow: &PreparedFlow) -> Deliver {
        Deliver {
            producer,
            keys: Keys::new(flow.partition_key),
            inflight: FuturesUnordered::new(),
        }
    }

    pub(crate) fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Processes `units` of `source` and puts their records (waiting for room).
    pub(crate) async fn send(
        &mut self,
        flow: &PreparedFlow,
        source: &mut Source,
        units: Vec<Unit>,
    ) {
        let Some(end) = units.last().map(|u| u.end) else {
            return;
        };
        let records = self.records(flow, source, units);
        let n = u32::try_from(records.len()).unwrap_or(u32::MAX);
        let ticket = source.ledger.push(end, n);
        if records.is_empty() {
            return;
        }
        source.stats.records_put += u64::from(n);
        let handle = self.producer.put_batch(records).await;
        let key = source.key;
        self.inflight.push(
            async move {
                Done {
                    source: key,
                    ticket,
                    attempt: 0,
                    results: handle.await,
                }
            }
            .boxed(),
        );
    }

    fn records(
        &mut self,
        flow: &PreparedFlow,
        source: &mut Source,
        units: Vec<Unit>,
    ) -> Vec<Record> {
        let stream = &flow.stream;
        let stats = &mut source.stats;
        let mut records = Vec::with_capacity(units.len());
        for unit in units {
            metrics::counter!(names::LINES_READ, "stream" => stream.to_string())
                .increment(unit.lines);
            if unit.header {
                stats.header_lines += 1;
                continue;
            }
            match flow.chain.apply(unit.data) {
                Processed::Skipped => count(
                    stream,
                    names::RECORDS_SKIPPED,
                    &mut stats.records_skipped,
                    1,
                ),
                Processed::Data(data) => {
                    let (data, cut) = truncate(data, flow.record_limit, &flow.terminator);
                    if cut || unit.overflow {
                        count(
                            stream,
                            names::RECORDS_TRUNCATED,
                            &mut stats.records_truncated,
                            1,
                        );
                    }
                    let key = self.keys.key(&data);
                    records.push(Record::new(Arc::clone(stream), key, data));
                }
            }
        }
        records
    }

    /// Applies one put's results: written and refused-for-good records are acknowledged,
    /// retryable failures put again (unless `stopping`), anything else stops the flow.
    pub(crate) fn acknowledge(
        &mut self,
        flow: &PreparedFlow,
        tracker: &mut Tracker,
        done: Done,
        stopping: bool,
    ) -> Result<(), TailError> {
        let Some(source) = tracker.get_mut(done.source) else {
            return Ok(());
        };
        let (mut written, mut refused, mut again) = (0u32, 0u32, Vec::new());
        for result in done.results {
            match result {
                Ok(_) => written += 1,
                Err(e) if matches!(e.kind, PutErrorKind::Validation(_)) => {
                    tracing::warn!(path = %source.path.display(), error = %e, "record refused, not sent");
                    refused += 1;
                }
                Err(e) if e.is_retryable() => again.push(e.record),
                Err(e) => {
                    return Err(TailError::Put {
                        stream: flow.stream.to_string(),
                        path: source.path.display().to_string(),
                        message: e.to_string(),
                    });
                }
            }
        }
        source.ledger.done(done.ticket, written + refused);
        count(
            &flow.stream,
            names::RECORDS_SENT,
            &mut source.stats.records_sent,
            u64::from(written),
        );
        count(
            &flow.stream,
            names::RECORDS_FAILED,
            &mut source.stats.records_failed,
            u64::from(refused),
        );
        if !again.is_empty() && !stopping {
            self.retry(done.source, done.ticket, done.attempt + 1, again);
        }
        Ok(())
    }

    fn retry(&mut self, source: u64, ticket: Ticket, attempt: u32, records: Vec<Record>) {
        let backoff = Duration::from_millis(100u64.saturating_mul(1 << attempt.min(7)))
            .min(Duration::from_secs(10));
        tracing::debug!(
            records = records.len(),
            ?backoff,
            "putting failed records again"
        );
        let producer = self.producer.clone();
        self.inflight.push(
            async move {
                tokio::time::sleep(backoff).await;
                let results = producer.put_batch(records).await.await;
                Done {
                    source,
                    ticket,
                    attempt,
                    results,
                }
            }
            .boxed(),
        );
    }
}
