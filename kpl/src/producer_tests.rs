#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use testkit::LocalAws;

async fn producer(aws: &LocalAws, stream: &str) -> Producer {
    testkit::streams::create_stream(&aws.kinesis_client(), stream, 1)
        .await
        .unwrap();
    let config = ProducerConfig::default().record_max_buffered_time(Duration::from_millis(1));
    Producer::new(config, testkit::kinesis_client(&aws.kinesis_endpoint())).unwrap()
}

async fn put_one(producer: &Producer, stream: &str) -> Result<crate::PutResult, PutError> {
    let ack = producer.put(Record::new(stream, "k", "v")).await?;
    tokio::time::timeout(Duration::from_secs(10), ack)
        .await
        .expect("a result within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_that_stopped_is_replaced_by_the_next_put() {
    let aws = LocalAws::start().await.unwrap();
    let producer = producer(&aws, "revived").await;
    put_one(&producer, "revived").await.unwrap();
    // The driver stops without a shutdown (as after a panic: its task ends, its queue closes).
    let task = {
        let drivers = producer.inner.drivers.read().unwrap();
        drivers.get("revived").unwrap().task.clone()
    };
    task.abort();
    while !task.is_finished() {
        tokio::task::yield_now().await;
    }
    let again = put_one(&producer, "revived").await;
    assert!(
        again.is_ok(),
        "the stream's next put after its driver stopped: {again:?}"
    );
    assert_eq!(producer.outstanding().records, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shut_down_producer_starts_no_driver() {
    let aws = LocalAws::start().await.unwrap();
    let producer = producer(&aws, "closed").await;
    put_one(&producer, "closed").await.unwrap();
    producer.shutdown(Duration::from_secs(5)).await;
    let err = put_one(&producer, "closed").await.unwrap_err();
    assert_eq!(err.kind, PutErrorKind::ShutDown);
}
