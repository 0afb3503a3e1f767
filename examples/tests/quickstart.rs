//! The quickstart's whole story on the embedded servers (real SDK, real HTTP).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a broken expectation panics

use kinesis_examples::{Aws, story};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_produced_is_consumed_by_the_two_workers() {
    check_story(kcl::RetrievalMode::Polling).await;
}

/// The same story read by enhanced fan-out: every record, both workers, and the stream
/// consumer gone once the last worker left (it is billed per shard-hour).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_read_by_enhanced_fan_out_deregisters_its_stream_consumer() {
    let aws = check_story(kcl::RetrievalMode::fan_out()).await;
    // Read through the application's stream consumer, deregistered by the last worker to
    // leave (the server shows it DELETING for a while).
    let left = testkit::streams::stream_consumers(&aws.kinesis, "story")
        .await
        .unwrap();
    assert_eq!(
        left,
        [(
            "story-app".to_owned(),
            aws_sdk_kinesis::types::ConsumerStatus::Deleting
        )],
        "the stream consumer is being deregistered"
    );
}

async fn check_story(retrieval: kcl::RetrievalMode) -> Aws {
    let local = testkit::LocalAws::start().await.unwrap();
    let aws = Aws {
        kinesis: local.kinesis_client(),
        dynamodb: local.dynamodb_client(),
        description: "embedded".into(),
        local: Some(local),
    };
    let report = story::run(&aws, "story", 4, 20_000, retrieval)
        .await
        .unwrap();
    assert_eq!(report.sent, 20_000);
    assert_eq!(report.received, 20_000);
    // 100-byte records in 51,200-byte aggregates: far fewer Kinesis records than user records.
    assert!(report.kinesis_records < 600, "{}", report.kinesis_records);
    assert!(report.kinesis_records >= 4);
    // Both workers took part through the one lease table, and together they saw every record.
    assert_eq!(report.workers.len(), 2);
    let processed: u64 = report.workers.iter().map(|w| w.1).sum();
    assert_eq!(processed, 20_000 + report.duplicates);
    // Each took its half of the shards (max_leases_for_worker), none held twice.
    for (worker, records, held) in &report.workers {
        assert_eq!(held.len(), 2, "{worker} held {held:?}");
        assert!(*records > 0, "{worker} processed nothing");
    }
    let leases: std::collections::BTreeSet<&String> =
        report.workers.iter().flat_map(|w| &w.2).collect();
    assert_eq!(leases.len(), 4, "{:?}", report.workers);
    aws
}
