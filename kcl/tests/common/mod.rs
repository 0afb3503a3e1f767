//! Shared helpers of the kcl integration tests: a stream on the embedded servers, fast
//! worker settings, a recording processor, and waits driven by notifications.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use kcl::{Checkpointer, Config, InitialPosition, ProcessRecordsInput, ShardProcessor, StreamId};
use testkit::{LocalAws, streams};
use tokio::sync::watch;

pub struct Env {
    pub aws: LocalAws,
    pub kinesis: aws_sdk_kinesis::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub stream: String,
}

pub async fn env(stream: &str, shards: i32) -> Env {
    let aws = LocalAws::start().await.unwrap();
    let kinesis = aws.kinesis_client();
    let stream = streams::name_for_this_run(stream);
    streams::create_stream(&kinesis, &stream, shards)
        .await
        .unwrap();
    Env {
        dynamodb: aws.dynamodb_client(),
        kinesis,
        aws,
        stream,
    }
}

/// A worker's handle and its running task.
pub type Running = (
    kcl::WorkerHandle,
    tokio::task::JoinHandle<Result<(), kcl::WorkerError>>,
);

/// Starts a worker with `config` on `e`'s servers, its processors made by `factory`.
pub fn start<F: kcl::ShardProcessorFactory>(e: &Env, config: Config, factory: F) -> Running {
    let worker = kcl::Worker::new(config, e.kinesis.clone(), e.dynamodb.clone(), factory).unwrap();
    let handle = worker.handle();
    (handle, tokio::spawn(worker.run()))
}

/// Short intervals: failover 1 s, taker and hand-over index every 100 ms, hand-offs waited on
/// for 3 s at most, parents polled every 50 ms.
pub fn fast_config(app: &str, stream: &str, worker: &str) -> Config {
    let mut c =
        Config::new(app, StreamId::Name(stream.into())).with_failover_time(Duration::from_secs(1));
    c.worker_identifier = worker.into();
    c.initial_position = InitialPosition::TrimHorizon;
    c.lease_taker_interval = Duration::from_millis(100);
    c.lease_discovery_interval = Duration::from_millis(100);
    c.graceful_lease_handoff_timeout = Duration::from_secs(3);
    c.parent_shard_poll_interval = Duration::from_millis(50);
    c.idle_time_between_reads = Duration::from_millis(50);
    c.shard_sync_interval = Duration::from_millis(500);
    c.lease_cleanup_interval = Duration::from_millis(300);
    c
}

/// Puts `(partition key, data)` records in order, 500 per call.
pub async fn put(kinesis: &aws_sdk_kinesis::Client, stream: &str, records: &[(String, String)]) {
    for chunk in records.chunks(500) {
        let entries: Vec<_> = chunk
            .iter()
            .map(|(k, d)| {
                PutRecordsRequestEntry::builder()
                    .partition_key(k)
                    .data(Blob::new(d.as_bytes()))
                    .build()
                    .unwrap()
            })
            .collect();
        let out = kinesis
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_record_count(), Some(0));
    }
}

pub fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<(String, String)> {
    range
        .map(|i| (format!("key-{}", i % 17), format!("{prefix}-{i}")))
        .collect()
}

/// One delivered record, as a test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub worker: String,
    pub shard: String,
    pub key: String,
    pub data: String,
    pub position: kcl::Position,
    /// When the batch holding it reached the processor.
    pub at: std::time::Instant,
}

/// What every recording processor of a test saw, in delivery order.
#[derive(Clone)]
pub struct Log {
    entries: Arc<Mutex<Vec<Seen>>>,
    count: watch::Sender<usize>,
    /// Checkpoint after each batch while set.
    pub checkpointing: Arc<AtomicBool>,
    /// Checkpointers handed out, by shard, in acquisition order.
    pub checkpointers: Arc<Mutex<Vec<(String, Checkpointer)>>>,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            entries: Arc::default(),
            count: watch::channel(0).0,
            checkpointing: Arc::new(AtomicBool::new(true)),
            checkpointers: Arc::default(),
        }
    }
}

impl Log {
    pub fn entries(&self) -> Vec<Seen> {
        self.entries.lock().unwrap().clone()
    }

    pub fn data(&self) -> BTreeSet<String> {
        self.entries().into_iter().map(|s| s.data).collect()
    }

    pub fn data_of(&self, worker: &str) -> Vec<String> {
        self.entries()
            .into_iter()
            .filter(|s| s.worker == worker)
            .map(|s| s.data)
            .collect()
    }

    /// Waits until `f(distinct data seen)` holds, up to 30 s.
    pub async fn wait_until(&self, what: &str, f: impl Fn(&BTreeSet<String>) -> bool) {
        let mut rx = self.count.subscribe();
        let wait = async {
            loop {
                if f(&self.data()) {
                    return;
                }
                rx.changed().await.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}; saw {}", self.data().len()));
    }

    pub fn processor(&self, worker: &str, shard: &str) -> Recorder {
        Recorder {
            log: self.clone(),
            worker: worker.into(),
            shard: shard.into(),
        }
    }

    pub fn factory(&self, worker: &str) -> impl Fn(&str) -> Recorder + Send + Sync + 'static {
        let (log, worker) = (self.clone(), worker.to_owned());
        move |shard: &str| log.processor(&worker, shard)
    }
}

/// Records every record into a [`Log`]; checkpoints after each batch while the log's
/// `checkpointing` flag is set, and at shard end.
pub struct Recorder {
    log: Log,
    worker: String,
    shard: String,
}

impl ShardProcessor for Recorder {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        let at = std::time::Instant::now();
        {
            let mut entries = self.log.entries.lock().unwrap();
            for r in &input.records {
                entries.push(Seen {
                    worker: self.worker.clone(),
                    shard: self.shard.clone(),
                    key: r.partition_key.to_string(),
                    data: String::from_utf8_lossy(&r.data).into_owned(),
                    position: r.position(),
                    at,
                });
            }
        }
        self.log
            .checkpointers
            .lock()
            .unwrap()
            .push((self.shard.clone(), input.checkpointer.clone()));
        if self.log.checkpointing.load(Ordering::SeqCst)
            && let Err(e) = input.checkpointer.checkpoint().await
        {
            eprintln!("checkpoint of {} failed: {e}", self.shard);
        }
        // Announced after the checkpoint, so a waiter sees checkpointed records.
        let n = self.log.entries.lock().unwrap().len();
        self.log.count.send_replace(n);
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        checkpointer.checkpoint().await.unwrap();
    }
}

/// Waits until `f` holds over the held-lease sets of `handles`, up to `limit`.
pub async fn wait_leases(
    handles: &[&kcl::WorkerHandle],
    limit: Duration,
    f: impl Fn(&[BTreeSet<String>]) -> bool,
) -> Vec<BTreeSet<String>> {
    let mut rxs: Vec<_> = handles.iter().map(|h| h.held_leases()).collect();
    let wait = async {
        loop {
            let sets: Vec<_> = rxs
                .iter_mut()
                .map(|r| r.borrow_and_update().clone())
                .collect();
            if f(&sets) {
                return sets;
            }
            let changes = rxs.iter_mut().map(|r| Box::pin(r.changed()));
            let _ = futures::future::select_all(changes).await;
        }
    };
    tokio::time::timeout(limit, wait).await.unwrap_or_else(|_| {
        let now: Vec<_> = handles.iter().map(|h| h.status().held_leases).collect();
        panic!("leases did not reach the expected state in {limit:?}: {now:?}")
    })
}

/// Every raw lease item of the table.
pub async fn raw_items(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    dynamodb
        .scan()
        .table_name(table)
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}
