//! The shard map: while ListShards fails, records still go out (unaggregated, as the KPL
//! does); once it answers, aggregation per shard resumes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use kpl::ProducerConfig;
use testkit::{Fault, FaultProxy, LocalAws, Rule};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_flow_without_a_map_and_aggregate_once_it_loads() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "mapless", 2).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    proxy.set_rules(vec![Rule::new(Fault::internal_failure()).on("ListShards")]);
    let config = ProducerConfig::default().record_max_buffered_time(Duration::from_millis(20));
    let producer = common::producer(&proxy.endpoint(), config);

    let before = common::records("mapless", "a", 300);
    let results = common::results(common::put_all(&producer, &before).await).await;
    let kinesis_records: HashSet<_> = results
        .iter()
        .map(|r| (&r.shard_id, &r.sequence_number))
        .collect();
    assert_eq!(
        kinesis_records.len(),
        300,
        "without a map every record goes alone"
    );
    assert!(results.iter().all(|r| r.sub_sequence_number == 0));

    proxy.clear();
    // The next listing comes after the failure backoff (1 s, then 2 s, ...).
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let after = common::records("mapless", "b", 300);
    let results_after = common::results(common::put_all(&producer, &after).await).await;
    let aggregated: HashSet<_> = results_after
        .iter()
        .map(|r| (&r.shard_id, &r.sequence_number))
        .collect();
    assert!(
        aggregated.len() <= 10,
        "{} Kinesis records once the map is known",
        aggregated.len()
    );

    let sent: Vec<_> = before.into_iter().chain(after).collect();
    let all: Vec<_> = results.into_iter().chain(results_after).collect();
    common::assert_delivered_once(&sent, &all, &common::read_all(&aws, "mapless").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_records_not_found_lists_the_stream_again() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "recreated", 1).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    let config = ProducerConfig::default().record_max_buffered_time(Duration::from_millis(1));
    let producer = common::producer(&proxy.endpoint(), config);
    common::warm_up(&producer, "recreated").await;
    // One PutRecords answered "not found" (the stream was deleted, then created again).
    proxy.set_rules(vec![
        Rule::new(Fault::Error {
            status: 400,
            error_type: "ResourceNotFoundException".into(),
        })
        .on("PutRecords")
        .at_most(1),
    ]);
    let gone = producer
        .put(kpl::Record::new("recreated", "gone", "x"))
        .await
        .unwrap();
    assert_eq!(
        gone.await.unwrap_err().kind,
        kpl::PutErrorKind::StreamNotFound
    );
    // The map is listed again at once and finds the stream: the next records are written.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let back = producer
        .put(kpl::Record::new("recreated", "back", "x"))
        .await
        .unwrap();
    let back = tokio::time::timeout(Duration::from_secs(5), back)
        .await
        .unwrap();
    assert!(back.is_ok(), "{back:?}");
}
