//! Piping a `Stream` of records into Kinesis through the `Sink` adapter.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use futures::{SinkExt, StreamExt};
use kpl::{ProducerConfig, PutErrorKind, Record};
use testkit::LocalAws;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_goes_in_and_close_waits_for_every_record() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "piped", 2).await;
    let config = ProducerConfig::default().max_outstanding_records(50);
    let producer = common::producer(&aws.kinesis_endpoint(), config);
    let sent = common::records("piped", "p", 2000);
    let mut sink = producer.sink();
    let mut input = futures::stream::iter(sent.clone()).map(Ok);
    sink.send_all(&mut input).await.unwrap();
    sink.close().await.unwrap();
    assert_eq!(
        producer.outstanding().records,
        0,
        "close resolved before every record was written"
    );

    let read = common::read_all(&aws, "piped").await;
    assert_eq!(read.len(), sent.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_record_comes_out_as_the_sink_error() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "piped", 1).await;
    let producer = common::producer(&aws.kinesis_endpoint(), ProducerConfig::default());
    let mut sink = producer.sink();
    sink.send(Record::new("piped", "ok", "1")).await.unwrap();
    let err = sink
        .send(Record::new("piped", "", "no key"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind, PutErrorKind::Validation(_)));
    assert_eq!(err.record.data, "no key");
    sink.close().await.unwrap();
}
