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
