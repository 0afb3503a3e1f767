//! The quickstart's main job, end to end on the embedded servers (real SDK, real HTTP).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)] // test code: a broken expectation panics

use kinesis_examples::roundtrip;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_round_trip_delivers_every_record() {
    let aws = testkit::LocalAws::start().await.unwrap();
    let report = roundtrip::run(&aws.kinesis_client(), "roundtrip", 3, 20_000)
        .await
        .unwrap();
    assert_eq!(report.sent, 20_000);
    assert_eq!(report.received, 20_000);
    // 100-byte records in 51,200-byte aggregates: far fewer Kinesis records than user records.
    assert!(
        report.kinesis_records < 600,
        "{} Kinesis records",
        report.kinesis_records
    );
    assert!(report.kinesis_records >= 3);
}
