//! Records that waited in the driver's queue past their deadline (the producer's thread was
//! busy) still go out in full aggregates: the driver takes the whole backlog in before it
//! judges aggregates due, instead of sending a few records per aggregate as they are taken.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use kpl::ProducerConfig;
use testkit::LocalAws;

// One thread: while the test's task runs, the driver cannot, so its queue fills.
#[tokio::test]
async fn a_backlog_past_its_deadline_goes_out_in_one_aggregate_per_shard() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "backlog", 4).await;
    let producer = common::producer(&aws.kinesis_endpoint(), ProducerConfig::default());
    // The shard map is loaded once one record is written.
    let first = common::records("backlog", "first", 1);
    common::results(common::put_all(&producer, &first).await).await;

    let records = common::records("backlog", "queued", 4_000);
    let handles = common::put_all(&producer, &records).await;
    // Busy past the 100 ms deadline: every queued record is due when the driver wakes.
    std::thread::sleep(Duration::from_millis(150));
    let results = common::results(handles).await;

    let kinesis_records: HashSet<_> = results
        .iter()
        .map(|r| (r.shard_id.clone(), r.sequence_number.clone()))
        .collect();
    let shards: HashSet<_> = results.iter().map(|r| r.shard_id.clone()).collect();
    assert_eq!(shards.len(), 4, "records of every shard");
    assert_eq!(
        kinesis_records.len(),
        shards.len(),
        "one aggregate per shard (about 30 KB each, under the 50 KB limit)"
    );
    common::assert_delivered_once(
        &records,
        &results,
        &common::read_all(&aws, "backlog")
            .await
            .into_iter()
            .filter(|r| r.data.starts_with(b"queued"))
            .collect::<Vec<_>>(),
    );
}
