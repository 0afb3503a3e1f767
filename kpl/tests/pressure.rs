//! When a put waits for room, the producer sends the aggregates it holds only if nothing
//! of the stream is in flight: then nothing else would free room before their deadline.
//! While requests are in flight, their completions free room, and the held aggregates keep
//! filling until their deadline (flushing at every event made them ten times smaller).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use kpl::{Producer, ProducerConfig, Record};
use testkit::{FaultProxy, LocalAws};

/// Bound 50 records, a 3 s buffering deadline, one shard, and the shard map loaded.
async fn setup(name: &str) -> (LocalAws, FaultProxy, Producer) {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, name, 1).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    let config = ProducerConfig::default()
        .max_outstanding_records(50)
        .record_max_buffered_time(Duration::from_secs(3))
        .request_timeout(Duration::from_secs(30))
        .shard_map_refresh_interval(Duration::from_secs(600));
    let producer = common::producer(&proxy.endpoint(), config);
    let warm_up = producer
        .put(Record::new(name, "warm-up", "x"))
        .await
        .unwrap();
    producer.flush().await;
    warm_up.await.unwrap();
    (aws, proxy, producer)
}

fn fill(producer: &Producer, stream: &str, tag: &str, n: usize) -> Vec<kpl::PutHandle> {
    (0..n)
        .map(|i| {
            producer
                .try_put(Record::new(stream, format!("{tag}-{i}"), "data"))
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_put_gets_the_held_records_sent_when_nothing_is_in_flight() {
    let (_aws, proxy, producer) = setup("starved").await;
    let held = fill(&producer, "starved", "held", 50);
    let sent_before = proxy.requests();
    // The 51st put waits; nothing is in flight, so what is held goes now, not in 3 s.
    let waiting = producer.put(Record::new("starved", "waiting", "data"));
    let handle = tokio::time::timeout(Duration::from_secs(2), waiting)
        .await
        .expect("room within 2 s, well before the 3 s deadline")
        .unwrap();
    assert!(proxy.requests() > sent_before);
    common::results(held).await;
    producer.flush().await;
    handle.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_aggregates_keep_filling_while_requests_are_in_flight() {
    let (_aws, proxy, producer) = setup("in-flight").await;
    proxy.stall();
    let first = fill(&producer, "in-flight", "first", 25);
    // At their deadline they go out and stay in flight (the server is stalled).
    let sent_before = proxy.requests();
    tokio::time::timeout(Duration::from_secs(10), async {
        while proxy.requests() == sent_before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the first records are sent at their deadline");
    let in_flight = proxy.requests();

    let second = fill(&producer, "in-flight", "second", 25);
    let waiting = tokio::spawn({
        let producer = producer.clone();
        async move {
            producer
                .put(Record::new("in-flight", "waiting", "data"))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "the bound holds");
    assert_eq!(
        proxy.requests(),
        in_flight,
        "held records must not be sent early while a request is in flight"
    );

    proxy.resume();
    common::results(first).await;
    let waiting = waiting.await.unwrap().unwrap();
    producer.flush().await;
    common::results(second).await;
    waiting.await.unwrap();
}
