//! `put_batch`: one future for many records, over two streams, with invalid records failing
//! in their places; every valid record is readable exactly where its result says. A batch
//! larger than the outstanding bounds completes (what it holds is sent before it waits).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use kpl::{ProducerConfig, PutErrorKind};
use testkit::LocalAws;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_two_streams_with_bad_records_in_it() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "batch-a", 4).await;
    common::stream(&aws, "batch-b", 2).await;
    let producer = common::producer(&aws.kinesis_endpoint(), ProducerConfig::default());

    // Runs of each stream, and every 97th record without a partition key.
    let mut batch = Vec::new();
    for (i, (a, b)) in common::records("batch-a", "a", 3000)
        .into_iter()
        .zip(common::records("batch-b", "b", 3000))
        .enumerate()
    {
        let mut r = if (i / 250) % 2 == 0 { a } else { b };
        if i % 97 == 0 {
            r.partition_key.clear();
        }
        batch.push(r);
    }
    let results = producer.put_batch(batch.clone()).await.await;
    assert_eq!(results.len(), batch.len());

    let mut sent = (Vec::new(), Vec::new());
    let mut written = (Vec::new(), Vec::new());
    for (i, (record, result)) in batch.iter().zip(results).enumerate() {
        if i % 97 == 0 {
            let err = result.unwrap_err();
            assert!(matches!(err.kind, PutErrorKind::Validation(_)), "{err}");
            assert_eq!(&err.record, record, "the record comes back");
            continue;
        }
        let result = result.unwrap();
        let (s, w) = if &*record.stream == "batch-a" {
            (&mut sent.0, &mut written.0)
        } else {
            (&mut sent.1, &mut written.1)
        };
        s.push(record.clone());
        w.push(result);
    }
    common::assert_delivered_once(
        &sent.0,
        &written.0,
        &common::read_all(&aws, "batch-a").await,
    );
    common::assert_delivered_once(
        &sent.1,
        &written.1,
        &common::read_all(&aws, "batch-b").await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_larger_than_the_bounds_completes() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "batch-big", 2).await;
    let config = ProducerConfig::default().max_outstanding_records(100);
    let producer = common::producer(&aws.kinesis_endpoint(), config);
    let sent = common::records("batch-big", "big", 2000);
    let put = producer.put_batch(sent.clone());
    let results = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        put.await.await
    })
    .await
    .expect("a batch above the bound must not wait on itself");
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert!(producer.outstanding().records <= 100);
    common::assert_delivered_once(&sent, &results, &common::read_all(&aws, "batch-big").await);
}
