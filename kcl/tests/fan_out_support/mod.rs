//! Shared by the fan-out tests: a stream on the embedded servers with the worker's Kinesis
//! client behind an observed fault proxy (the SDK's retries off, so every injected fault
//! reaches the library), fan-out worker settings, and the checker over what happened:
//! per shard, the records delivered against the records read back from the stream.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::Duration;

use kcl::{Config, RetrievalMode};
use testkit::{FaultProxy, LocalAws, LocalAwsOptions, ProxyEvent, ProxyLog, streams};

use crate::common::{Log, Running, fast_config};

pub struct FanEnv {
    pub aws: LocalAws,
    /// Straight to the server (the test's own calls).
    pub kinesis: aws_sdk_kinesis::Client,
    /// Through the proxy, no SDK retries (the worker's).
    pub reader: aws_sdk_kinesis::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub proxy: FaultProxy,
    pub log: ProxyLog,
    pub stream: String,
}

/// Whether Kinesis is the embedded ferrokinesis (not an outside server such as
/// kinesis-mock, named by `TESTKIT_KINESIS_ENDPOINT`): its settings and timings apply.
pub fn embedded_kinesis() -> bool {
    std::env::var_os(testkit::KINESIS_ENDPOINT_ENV).is_none_or(|v| v.is_empty())
}

/// An event timeout for the stall tests: short on the embedded server (an event every
/// 200 ms), longer than an outside server's gap between events.
pub fn stall_timeout() -> Duration {
    if embedded_kinesis() {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(6)
    }
}

/// A stream of `shards` shards on servers started with `options`.
pub async fn fan_env(stream: &str, shards: i32, options: LocalAwsOptions) -> FanEnv {
    let aws = LocalAws::start_with(options).await.unwrap();
    let kinesis = aws.kinesis_client();
    let stream = streams::name_for_this_run(stream);
    streams::create_stream(&kinesis, &stream, shards)
        .await
        .unwrap();
    let log = ProxyLog::default();
    let proxy = FaultProxy::start_observed(aws.kinesis_addr(), "kinesis", &log)
        .await
        .unwrap();
    let reader =
        aws_sdk_kinesis::Client::new(&testkit::sdk_config_without_retries(&proxy.endpoint()));
    FanEnv {
        dynamodb: aws.dynamodb_client(),
        kinesis,
        reader,
        proxy,
        log,
        aws,
        stream,
    }
}

/// [`fast_config`] in fan-out mode, silent subscriptions given up after 2 s.
pub fn fan_config(app: &str, stream: &str, worker: &str) -> Config {
    let mut c = fast_config(app, stream, worker);
    c.retrieval_mode = RetrievalMode::fan_out();
    c.fan_out.event_timeout = Duration::from_secs(2);
    c
}

impl FanEnv {
    /// Starts a worker reading through the proxy.
    pub fn start<F: kcl::ShardProcessorFactory>(&self, config: Config, factory: F) -> Running {
        let worker =
            kcl::Worker::new(config, self.reader.clone(), self.dynamodb.clone(), factory).unwrap();
        let handle = worker.handle();
        (handle, tokio::spawn(worker.run()))
    }

    /// The proxy's events of `operation`.
    pub fn calls(&self, operation: &str) -> Vec<ProxyEvent> {
        self.log
            .events()
            .into_iter()
            .filter(|e| e.operation == operation)
            .collect()
    }

    /// Every record of the stream, data by shard in sequence order.
    pub async fn stream_data(&self) -> BTreeMap<String, Vec<String>> {
        let mut by_shard: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (shard, r) in streams::read_stream(&self.kinesis, &self.stream)
            .await
            .unwrap()
        {
            let data = String::from_utf8_lossy(r.data().as_ref()).into_owned();
            by_shard.entry(shard).or_default().push(data);
        }
        by_shard
    }
}

/// What was delivered, data by shard in delivery order.
pub fn delivered(log: &Log) -> BTreeMap<String, Vec<String>> {
    let mut by_shard: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in log.entries() {
        by_shard.entry(s.shard).or_default().push(s.data);
    }
    by_shard
}

/// The checker: every record of the stream was delivered exactly once, and in each shard
/// in sequence order (the delivery log per shard is the shard's content).
pub async fn assert_each_record_once_in_order(e: &FanEnv, log: &Log) {
    let expected = e.stream_data().await;
    let got = delivered(log);
    for (shard, records) in &expected {
        let seen = got.get(shard).cloned().unwrap_or_default();
        if &seen != records {
            let first_bad = seen
                .iter()
                .zip(records)
                .position(|(a, b)| a != b)
                .unwrap_or(seen.len().min(records.len()));
            panic!(
                "shard {shard}: {} delivered, {} in the stream; first difference at {first_bad}: \
                 delivered {:?}, stream {:?}",
                seen.len(),
                records.len(),
                seen.get(first_bad),
                records.get(first_bad)
            );
        }
    }
    let extra: Vec<_> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
    assert!(extra.is_empty(), "deliveries from unknown shards {extra:?}");
}

/// The `StartingPosition.Type` of each SubscribeToShard request of `shard`, in order.
pub fn starting_types(e: &FanEnv, shard: &str) -> Vec<String> {
    e.calls("SubscribeToShard")
        .iter()
        .filter(|c| c.request["ShardId"] == shard)
        .map(|c| {
            c.request["StartingPosition"]["Type"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

/// The checker of SubscribeToShard's limit: per shard, no two calls less than a second
/// apart (as the proxy received them, less 10 ms of scheduling).
pub fn assert_one_subscribe_per_second_per_shard(e: &FanEnv) {
    let mut last: BTreeMap<String, std::time::Instant> = BTreeMap::new();
    for c in e.calls("SubscribeToShard") {
        let shard = c.request["ShardId"].as_str().unwrap_or("?").to_owned();
        if let Some(prev) = last.insert(shard.clone(), c.start) {
            let gap = c.start - prev;
            assert!(
                gap >= Duration::from_millis(990),
                "{shard}: subscribed again after {gap:?}"
            );
        }
    }
}
