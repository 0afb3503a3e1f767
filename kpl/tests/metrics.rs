//! The KPL's metric names reach the `metrics` recorder, labelled by stream and shard.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;

use kpl::{ProducerConfig, Record, metric_names};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use testkit::{Fault, FaultProxy, LocalAws, Rule};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpl_metrics_are_recorded() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "measured", 2).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    proxy.set_rules(vec![
        Rule::new(Fault::internal_failure())
            .on("PutRecords")
            .at_most(1),
    ]);
    let producer = common::producer(&proxy.endpoint(), ProducerConfig::default());
    let sent = common::records("measured", "m", 1000);
    common::results(common::put_all(&producer, &sent).await).await;
    producer.flush().await;

    let mut counters: HashMap<String, u64> = HashMap::new();
    let mut histograms: HashMap<String, usize> = HashMap::new();
    let mut shard_labelled = false;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let name = key.key().name().to_owned();
        shard_labelled |= key.key().labels().any(|l| l.key() == "shard");
        assert!(
            key.key()
                .labels()
                .any(|l| l.key() == "stream" && l.value() == "measured"),
            "{name} has no stream label"
        );
        match value {
            DebugValue::Counter(n) => *counters.entry(name).or_default() += n,
            DebugValue::Histogram(v) => *histograms.entry(name).or_default() += v.len(),
            DebugValue::Gauge(_) => {}
        }
    }
    assert!(shard_labelled);
    assert_eq!(
        counters.get(metric_names::USER_RECORDS_RECEIVED),
        Some(&1000)
    );
    assert_eq!(counters.get(metric_names::USER_RECORDS_PUT), Some(&1000));
    assert!(
        counters
            .get(metric_names::KINESIS_RECORDS_PUT)
            .is_some_and(|n| *n >= 2)
    );
    assert!(
        counters
            .get(metric_names::USER_RECORDS_DATA_PUT)
            .is_some_and(|n| *n > 0)
    );
    assert!(
        counters
            .get(metric_names::ERRORS_BY_CODE)
            .is_some_and(|n| *n > 0),
        "{counters:?}"
    );
    assert!(
        counters
            .get(metric_names::ALL_ERRORS)
            .is_some_and(|n| *n > 0)
    );
    for h in [
        metric_names::BUFFERING_TIME,
        metric_names::REQUEST_TIME,
        metric_names::RETRIES_PER_RECORD,
        metric_names::USER_RECORDS_PER_KINESIS_RECORD,
        metric_names::KINESIS_RECORDS_PER_PUT_RECORDS_REQUEST,
        metric_names::USER_RECORDS_PER_PUT_RECORDS_REQUEST,
    ] {
        assert!(
            histograms.get(h).is_some_and(|n| *n > 0),
            "no {h}: {histograms:?}"
        );
    }
    let _ = Record::new("measured", "k", "v");
}
