//! Faults inside a SubscribeToShard event stream, through the fault proxy, with the real
//! SDK against the embedded server: a reset after n messages, a stall with no further
//! byte, an exception message; the observer log follows a stream to its end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

use std::time::Duration;

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{ShardIteratorType, StartingPosition, SubscribeToShardEventStream};
use testkit::{Fault, FaultProxy, LocalAws, Outcome, ProxyLog, Rule, streams};

struct Setup {
    _aws: LocalAws,
    proxy: FaultProxy,
    log: ProxyLog,
    client: aws_sdk_kinesis::Client,
    consumer_arn: String,
    shard: String,
}

/// A one-shard stream with 3 records, an ACTIVE consumer, an observed proxy.
async fn setup() -> Setup {
    let aws = LocalAws::start().await.unwrap();
    let k = aws.kinesis_client();
    streams::create_stream(&k, "s", 1).await.unwrap();
    for i in 0..3 {
        k.put_record()
            .stream_name("s")
            .partition_key("k")
            .data(Blob::new(format!("r{i}")))
            .send()
            .await
            .unwrap();
    }
    let summary = k.describe_stream_summary().stream_name("s").send().await;
    let stream_arn = summary
        .unwrap()
        .stream_description_summary()
        .unwrap()
        .stream_arn()
        .to_owned();
    let registered = k
        .register_stream_consumer()
        .stream_arn(stream_arn)
        .consumer_name("c")
        .send()
        .await
        .unwrap();
    let consumer_arn = registered.consumer().unwrap().consumer_arn().to_owned();
    tokio::time::sleep(Duration::from_millis(700)).await; // CREATING for 500 ms
    let shard = streams::list_shards(&k, "s").await.unwrap()[0]
        .shard_id()
        .to_owned();
    let log = ProxyLog::default();
    let proxy = FaultProxy::start_observed(aws.kinesis_addr(), "p", &log)
        .await
        .unwrap();
    let client =
        aws_sdk_kinesis::Client::new(&testkit::sdk_config_without_retries(&proxy.endpoint()));
    Setup {
        _aws: aws,
        proxy,
        log,
        client,
        consumer_arn,
        shard,
    }
}

impl Setup {
    async fn subscribe(
        &self,
    ) -> aws_sdk_kinesis::operation::subscribe_to_shard::SubscribeToShardOutput {
        let start = StartingPosition::builder()
            .r#type(ShardIteratorType::TrimHorizon)
            .build()
            .unwrap();
        let send = self
            .client
            .subscribe_to_shard()
            .consumer_arn(&self.consumer_arn)
            .shard_id(&self.shard)
            .starting_position(start)
            .send();
        tokio::time::timeout(Duration::from_secs(5), send)
            .await
            .expect("an answer within 5 s")
            .unwrap()
    }

    fn outcome(&self) -> Outcome {
        let events = self.log.events();
        let e = events
            .iter()
            .rfind(|e| e.operation == "SubscribeToShard")
            .unwrap();
        e.outcome.clone()
    }
}

async fn records_of(
    out: &mut aws_sdk_kinesis::operation::subscribe_to_shard::SubscribeToShardOutput,
) -> usize {
    let next = tokio::time::timeout(Duration::from_secs(5), out.event_stream.recv()).await;
    match next.expect("an event within 5 s").unwrap() {
        Some(SubscribeToShardEventStream::SubscribeToShardEvent(e)) => e.records().len(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observed_stream_passes_event_by_event_and_stays_in_flight() {
    let s = setup().await;
    let mut out = s.subscribe().await;
    assert_eq!(records_of(&mut out).await, 3);
    // ferrokinesis sends an event every 200 ms: they come as they are sent, not at the end.
    assert_eq!(records_of(&mut out).await, 0);
    assert_eq!(s.outcome(), Outcome::InFlight);
    drop(out);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.outcome(), Outcome::Abandoned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_cuts_the_stream_after_n_messages() {
    let s = setup().await;
    // The initial response and one event pass.
    s.proxy.set_rules(vec![
        Rule::new(Fault::stream_reset(2))
            .on("SubscribeToShard")
            .at_most(1),
    ]);
    let mut out = s.subscribe().await;
    assert_eq!(records_of(&mut out).await, 3);
    let next = tokio::time::timeout(Duration::from_secs(5), out.event_stream.recv()).await;
    let err = next.expect("the reset is seen at once").unwrap_err();
    assert!(
        matches!(
            err,
            aws_sdk_kinesis::error::SdkError::DispatchFailure(_)
                | aws_sdk_kinesis::error::SdkError::ResponseError(_)
        ),
        "{err:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(s.outcome(), Outcome::Reset);
    // The next subscription is not disturbed.
    let mut again = s.subscribe().await;
    assert_eq!(records_of(&mut again).await, 3);
    assert_eq!(s.proxy.faults_injected(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_sends_no_further_byte_until_the_client_leaves() {
    let s = setup().await;
    s.proxy.set_rules(vec![
        Rule::new(Fault::stream_stall(2)).on("SubscribeToShard"),
    ]);
    let mut out = s.subscribe().await;
    assert_eq!(records_of(&mut out).await, 3);
    // The server would send an event every 200 ms; nothing arrives.
    let next = tokio::time::timeout(Duration::from_secs(2), out.event_stream.recv()).await;
    assert!(next.is_err(), "no event through a stall: {next:?}");
    assert_eq!(s.outcome(), Outcome::InFlight);
    drop(out);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.outcome(), Outcome::Abandoned);
    // Stalled before the first message: send() itself never returns.
    s.proxy.set_rules(vec![
        Rule::new(Fault::stream_stall(0)).on("SubscribeToShard"),
    ]);
    let start = StartingPosition::builder()
        .r#type(ShardIteratorType::Latest)
        .build()
        .unwrap();
    let send = s
        .client
        .subscribe_to_shard()
        .consumer_arn(&s.consumer_arn)
        .shard_id(&s.shard)
        .starting_position(start)
        .send();
    assert!(
        tokio::time::timeout(Duration::from_secs(2), send)
            .await
            .is_err(),
        "send() waits for the first message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_message_reaches_the_next_recv() {
    let s = setup().await;
    // After the initial response: what a takeover (or kinesis-mock's refusal) looks like.
    s.proxy.set_rules(vec![
        Rule::new(Fault::stream_exception(1, "ResourceInUseException")).on("SubscribeToShard"),
    ]);
    let mut out = s.subscribe().await;
    let next = tokio::time::timeout(Duration::from_secs(5), out.event_stream.recv()).await;
    let err = next.expect("at once").unwrap_err();
    // The SDK leaves code() empty for a modelled in-stream exception: a consumer must
    // match its variant.
    assert_eq!(err.code(), None, "{err:?}");
    assert!(
        err.into_service_error().is_resource_in_use_exception(),
        "a modelled in-stream error"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(matches!(s.outcome(), Outcome::Status { status: 200, .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_faults_leave_other_answers_alone() {
    let s = setup().await;
    s.proxy.set_rules(vec![Rule::new(Fault::stream_reset(0))]);
    let shards = s
        .client
        .list_shards()
        .stream_name("s")
        .send()
        .await
        .unwrap();
    assert_eq!(shards.shards().len(), 1);
    assert_eq!(
        s.proxy.faults_injected(),
        1,
        "the rule fired, and passed it"
    );
}
