//! Runs a case against the embedded servers through the fault proxy, and records what
//! happened to every record: its result, when it was put and when it completed.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::operation::put_records::PutRecordsInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use kpl::{Producer, PutError, PutResult, Record, ShutdownReport};
use testkit::{FaultProxy, LocalAws, LocalAwsOptions, streams};
use tokio::sync::mpsc;

use crate::case::{Case, Op, Spec};

/// What became of one record.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) spec: Spec,
    pub(crate) record: Record,
    /// When `put` (or the batch) handed it to the producer.
    pub(crate) put_at: Instant,
    /// Its result: `Err` with `refused` when the put itself failed.
    pub(crate) result: Result<PutResult, PutError>,
    pub(crate) refused: bool,
    pub(crate) done_at: Instant,
}

/// Everything a run observed, for the checkers.
pub(crate) struct Observed {
    pub(crate) outcomes: Vec<Outcome>,
    pub(crate) reports: Vec<ShutdownReport>,
    /// Violations seen while it ran (bounds, request limits, hangs).
    pub(crate) violations: Vec<String>,
    pub(crate) aws: LocalAws,
}

type Pending = std::pin::Pin<Box<dyn Future<Output = Vec<Outcome>> + Send>>;

/// Runs `case`.
pub(crate) async fn run(case: &Case) -> Observed {
    let mut options = LocalAwsOptions::default();
    options.kinesis.enforce_limits = case.enforce_limits;
    let aws = LocalAws::start_with(options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = aws.kinesis_client();
    for (i, shards) in case.shards.iter().enumerate() {
        streams::create_stream(&client, &Case::stream_name(i), *shards)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let proxy = FaultProxy::start(aws.kinesis_addr())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    proxy.set_rules(case.faults.clone());
    let violations = Arc::new(Mutex::new(Vec::new()));
    let producer = producer(case, &proxy.endpoint(), &violations);
    let sampler = tokio::spawn(sample_bounds(
        producer.clone(),
        case.clone(),
        violations.clone(),
    ));
    let (tx, rx) = mpsc::unbounded_channel::<Pending>();
    let completions = tokio::spawn(complete(rx));
    let mut reports = Vec::new();
    let mut reshards = Vec::new();
    for op in &case.ops {
        match op {
            Op::Put(spec) => {
                let record = spec.record();
                let put = producer.put(record.clone()).await;
                let _ = tx.send(one(spec.clone(), record, put));
            }
            Op::TryPut(spec) => {
                let record = spec.record();
                let _ = tx.send(one(spec.clone(), record.clone(), producer.try_put(record)));
            }
            Op::Batch(specs) => {
                let shut = !reports.is_empty();
                let records: Vec<Record> = specs.iter().map(Spec::record).collect();
                let handle = producer.put_batch(records.clone()).await;
                let put_at = Instant::now();
                let specs = specs.clone();
                let _ = tx.send(Box::pin(async move {
                    let results = handle.await;
                    let done_at = Instant::now();
                    specs
                        .into_iter()
                        .zip(records)
                        .zip(results)
                        .map(|((spec, record), result)| {
                            // After a shutdown, every record of a batch is refused.
                            let refused = shut;
                            Outcome {
                                spec,
                                record,
                                put_at,
                                result: result.map_err(|e| *e),
                                refused,
                                done_at,
                            }
                        })
                        .collect()
                }));
            }
            Op::Flush => flush(&producer, case, &violations).await,
            Op::Pause(d) => tokio::time::sleep(*d).await,
            Op::Reshard { stream, split } => {
                reshards.push(tokio::spawn(reshard(
                    client.clone(),
                    Case::stream_name(*stream),
                    *split,
                )));
            }
            Op::Shutdown(deadline) => reports.push(producer.shutdown(*deadline).await),
        }
    }
    flush(&producer, case, &violations).await;
    reports.push(producer.shutdown(Duration::from_secs(30)).await);
    drop(tx);
    let outcomes = completions.await.unwrap_or_default();
    for r in reshards {
        let _ = r.await;
    }
    sampler.abort();
    proxy.clear();
    let violations = std::mem::take(&mut *violations.lock().unwrap_or_else(|e| e.into_inner()));
    Observed {
        outcomes,
        reports,
        violations,
        aws,
    }
}

/// A put's outcome, pending on its handle (or refused at once).
fn one(spec: Spec, record: Record, put: Result<kpl::PutHandle, PutError>) -> Pending {
    let put_at = Instant::now();
    Box::pin(async move {
        let (result, refused) = match put {
            Ok(handle) => (handle.await, false),
            Err(e) => (Err(e), true),
        };
        vec![Outcome {
            spec,
            record,
            put_at,
            result,
            refused,
            done_at: Instant::now(),
        }]
    })
}

/// Awaits every outcome as it comes.
async fn complete(mut rx: mpsc::UnboundedReceiver<Pending>) -> Vec<Outcome> {
    let mut waiting = FuturesUnordered::new();
    let mut out = Vec::new();
    loop {
        tokio::select! {
            next = rx.recv() => match next {
                Some(f) => waiting.push(f),
                None => break,
            },
            Some(done) = waiting.next(), if !waiting.is_empty() => out.extend(done),
        }
    }
    while let Some(done) = waiting.next().await {
        out.extend(done);
    }
    out
}

/// The longest a record may take: its TTL, a request in flight at its end, and slack for
/// a busy machine.
pub(crate) fn patience(case: &Case) -> Duration {
    case.config.record_ttl + case.config.request_timeout + Duration::from_secs(3)
}

/// A flush must resolve once everything put before it did.
async fn flush(producer: &Producer, case: &Case, violations: &Mutex<Vec<String>>) {
    if tokio::time::timeout(patience(case), producer.flush())
        .await
        .is_err()
    {
        note(
            violations,
            format!("flush did not resolve within {:?}", patience(case)),
        );
    }
}

fn note(violations: &Mutex<Vec<String>>, v: String) {
    violations.lock().unwrap_or_else(|e| e.into_inner()).push(v);
}

/// Samples what is outstanding: under both bounds (one record alone may exceed the bytes).
async fn sample_bounds(producer: Producer, case: Case, violations: Arc<Mutex<Vec<String>>>) {
    let (records, bytes) = (
        case.config.max_outstanding_records,
        case.config.max_outstanding_bytes,
    );
    loop {
        let o = producer.outstanding();
        if o.records > records || (o.bytes > bytes && o.records > 1) {
            note(
                &violations,
                format!(
                    "outstanding {} records, {} bytes: above the bounds",
                    o.records, o.bytes
                ),
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Splits an open shard in the middle of its range, or merges two adjacent open shards.
async fn reshard(client: aws_sdk_kinesis::Client, stream: String, split: bool) {
    let Ok(shards) = streams::list_shards(&client, &stream).await else {
        return;
    };
    let mut open: Vec<(u128, u128, String)> = shards
        .iter()
        .filter(|s| {
            s.sequence_number_range()
                .is_none_or(|r| r.ending_sequence_number().is_none())
        })
        .filter_map(|s| {
            let r = s.hash_key_range()?;
            Some((
                r.starting_hash_key().parse().ok()?,
                r.ending_hash_key().parse().ok()?,
                s.shard_id().to_owned(),
            ))
        })
        .collect();
    open.sort();
    let done = match (split, open.as_slice()) {
        (true, [(start, end, id), ..]) => client
            .split_shard()
            .stream_name(&stream)
            .shard_to_split(id)
            .new_starting_hash_key((start + (end - start) / 2).to_string())
            .send()
            .await
            .is_ok(),
        (false, [(_, _, a), (_, _, b), ..]) => client
            .merge_shards()
            .stream_name(&stream)
            .shard_to_merge(a)
            .adjacent_shard_to_merge(b)
            .send()
            .await
            .is_ok(),
        _ => false,
    };
    if done {
        let _ = streams::wait_active(&client, &stream).await;
    }
}

/// The producer, on a client whose interceptor checks every PutRecords against the limits.
fn producer(case: &Case, endpoint: &str, violations: &Arc<Mutex<Vec<String>>>) -> Producer {
    let client = testkit::kinesis_client(endpoint);
    let limits = RequestLimits {
        max_count: case.config.collection_max_count,
        max_size: case.config.collection_max_size,
        violations: violations.clone(),
    };
    let conf = client.config().to_builder().interceptor(limits).build();
    Producer::new(
        case.config.clone(),
        aws_sdk_kinesis::Client::from_conf(conf),
    )
    .unwrap_or_else(|e| panic!("the drawn configuration is refused: {e}"))
}

/// Checks each PutRecords: at most `max_count` entries (and 500), at most `max_size` bytes
/// (and 5 MiB) of data + partition keys unless one entry alone is larger.
#[derive(Debug)]
struct RequestLimits {
    max_count: usize,
    max_size: usize,
    violations: Arc<Mutex<Vec<String>>>,
}

impl Intercept for RequestLimits {
    fn name(&self) -> &'static str {
        "RequestLimits"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(input) = context.input().downcast_ref::<PutRecordsInput>() else {
            return Ok(());
        };
        let entries = input.records();
        let bytes: usize = entries
            .iter()
            .map(|e| e.data().as_ref().len() + e.partition_key().map_or(0, str::len))
            .sum();
        if entries.len() > self.max_count.min(500) {
            note(
                &self.violations,
                format!("PutRecords of {} entries", entries.len()),
            );
        }
        if entries.len() > 1 && bytes > self.max_size.min(5 << 20) {
            note(
                &self.violations,
                format!("PutRecords of {bytes} bytes in {} entries", entries.len()),
            );
        }
        for e in entries {
            if e.data().as_ref().len() + e.partition_key().map_or(0, str::len) > 1 << 20 {
                note(&self.violations, "a Kinesis record above 1 MiB".into());
            }
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(())
    }
}
