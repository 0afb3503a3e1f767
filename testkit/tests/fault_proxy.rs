//! The fault proxy between the real SDK and the real servers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing
)] // test code

use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use testkit::{
    Fault, FaultProxy, LocalAws, Outcome, ProxyLog, Rule, sdk_config_without_retries, streams,
};

fn entries(n: usize) -> Vec<PutRecordsRequestEntry> {
    (0..n)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .partition_key(format!("k{i}"))
                .data(Blob::new(format!("v{i}")))
                .build()
                .unwrap()
        })
        .collect()
}

async fn setup() -> (LocalAws, FaultProxy, aws_sdk_kinesis::Client) {
    let aws = LocalAws::start().await.unwrap();
    streams::create_stream(&aws.kinesis_client(), "s", 2)
        .await
        .unwrap();
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    let client = aws_sdk_kinesis::Client::new(&sdk_config_without_retries(&proxy.endpoint()));
    (aws, proxy, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_through_without_rules() {
    let (aws, proxy, client) = setup().await;
    let out = client
        .put_records()
        .stream_name("s")
        .set_records(Some(entries(20)))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count(), Some(0));
    assert_eq!(
        streams::read_stream(&aws.kinesis_client(), "s")
            .await
            .unwrap()
            .len(),
        20
    );
    assert_eq!(proxy.requests(), 1);
    assert_eq!(proxy.faults_injected(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_errors_reach_the_client_and_nothing_is_written() {
    let (aws, proxy, client) = setup().await;
    proxy.set_rules(vec![
        Rule::new(Fault::kinesis_throttled())
            .on("PutRecords")
            .at_most(1),
    ]);
    let err = client
        .put_records()
        .stream_name("s")
        .set_records(Some(entries(5)))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_provisioned_throughput_exceeded_exception()
    );
    // Other operations pass.
    client.list_shards().stream_name("s").send().await.unwrap();
    proxy.set_rules(vec![Rule::new(Fault::internal_failure())]);
    let err = client
        .put_records()
        .stream_name("s")
        .set_records(Some(entries(5)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_kinesis::error::ProvideErrorMetadata::code(&err),
        Some("InternalFailure")
    );
    assert!(
        streams::read_stream(&aws.kinesis_client(), "s")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(proxy.faults_injected(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_after_forward_are_ambiguous_to_the_client() {
    let (aws, proxy, client) = setup().await;
    proxy.set_rules(vec![
        Rule::new(Fault::Reset).at_most(1),
        Rule::new(Fault::ResetAfterForward).at_most(1),
    ]);
    let before = client
        .put_records()
        .stream_name("s")
        .set_records(Some(entries(3)))
        .send()
        .await;
    assert!(before.is_err(), "reset before forwarding fails the call");
    let after = client
        .put_records()
        .stream_name("s")
        .set_records(Some(entries(4)))
        .send()
        .await;
    assert!(after.is_err(), "reset after forwarding fails the call too");
    // ...but only the second one was written.
    assert_eq!(
        streams::read_stream(&aws.kinesis_client(), "s")
            .await
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_entries_are_not_written_and_are_reported_in_place() {
    let (aws, proxy, client) = setup().await;
    proxy.set_rules(vec![Rule::new(Fault::fail_entries(0.5, "InternalFailure"))]);
    let out = client
        .put_records()
        .stream_name("s")
        .set_records(Some(entries(200)))
        .send()
        .await
        .unwrap();
    let failed: Vec<usize> = out
        .records()
        .iter()
        .enumerate()
        .filter(|(_, r)| r.error_code().is_some())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(out.records().len(), 200);
    assert_eq!(out.failed_record_count(), Some(failed.len() as i32));
    assert!((50..150).contains(&failed.len()), "{} failed", failed.len());
    assert!(
        out.records()
            .iter()
            .filter(|r| r.error_code().is_some())
            .all(|r| r.error_code() == Some("InternalFailure"))
    );
    let mut written: Vec<String> = streams::read_stream(&aws.kinesis_client(), "s")
        .await
        .unwrap()
        .into_iter()
        .map(|(_, r)| String::from_utf8(r.data().as_ref().to_vec()).unwrap())
        .collect();
    written.sort();
    let mut expected: Vec<String> = (0..200)
        .filter(|i| !failed.contains(i))
        .map(|i| format!("v{i}"))
        .collect();
    expected.sort();
    assert_eq!(written, expected);
    // The successful entries carry the sequence numbers the server gave them.
    assert!(
        out.records()
            .iter()
            .filter(|r| r.error_code().is_none())
            .all(|r| r.sequence_number().is_some())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_holds_requests_until_resumed_and_delay_delays() {
    let (_aws, proxy, client) = setup().await;
    proxy.stall();
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.list_shards().stream_name("s").send().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!call.is_finished(), "a stalled request must not complete");
    proxy.resume();
    call.await.unwrap().unwrap();

    proxy.set_rules(vec![Rule::new(Fault::Delay(Duration::from_millis(200)))]);
    let started = Instant::now();
    client.list_shards().stream_name("s").send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_faults() {
    let aws = LocalAws::start().await.unwrap();
    let proxy = FaultProxy::start(aws.dynamodb_addr()).await.unwrap();
    let db = aws_sdk_dynamodb::Client::new(&sdk_config_without_retries(&proxy.endpoint()));
    proxy.set_rules(vec![
        Rule::new(Fault::dynamodb_throttled()).on("ListTables"),
    ]);
    let err = db.list_tables().send().await.unwrap_err();
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&err),
        Some("ProvisionedThroughputExceededException")
    );
    proxy.clear();
    db.list_tables().send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_rules_hit_one_shard_and_spare_the_others() {
    let (_aws, proxy, client) = setup().await;
    proxy.set_rules(vec![
        Rule::new(Fault::Error {
            status: 400,
            error_type: "ResourceNotFoundException".into(),
        })
        .on("GetShardIterator")
        .when_body_contains("shardId-000000000001"),
    ]);
    let iterator = |shard: &'static str| {
        client
            .get_shard_iterator()
            .stream_name("s")
            .shard_id(shard)
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
    };
    let err = iterator("shardId-000000000001").await.unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    // The other shard, and the same body on another operation, pass untouched.
    iterator("shardId-000000000000").await.unwrap();
    client.list_shards().stream_name("s").send().await.unwrap();
    assert_eq!(proxy.faults_injected(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observer_log_records_every_request_of_every_proxy() {
    let aws = LocalAws::start().await.unwrap();
    streams::create_stream(&aws.kinesis_client(), "s", 1)
        .await
        .unwrap();
    let log = ProxyLog::default();
    let k = FaultProxy::start_observed(aws.kinesis_addr(), "k", &log)
        .await
        .unwrap();
    let d = FaultProxy::start_observed(aws.dynamodb_addr(), "d", &log)
        .await
        .unwrap();
    let kinesis = aws_sdk_kinesis::Client::new(&sdk_config_without_retries(&k.endpoint()));
    let db = aws_sdk_dynamodb::Client::new(&sdk_config_without_retries(&d.endpoint()));
    let before = Instant::now();
    kinesis.list_shards().stream_name("s").send().await.unwrap();
    d.set_rules(vec![Rule::new(Fault::ResetAfterForward).on("ListTables")]);
    assert!(db.list_tables().limit(3).send().await.is_err());
    k.set_rules(vec![Rule::new(Fault::kinesis_throttled())]);
    assert!(kinesis.list_shards().stream_name("s").send().await.is_err());

    let events = log.events();
    assert_eq!(events.len(), 3, "{events:#?}");
    let (list, tables, throttled) = (&events[0], &events[1], &events[2]);
    assert_eq!(
        (list.proxy.as_str(), list.operation.as_str()),
        ("k", "ListShards")
    );
    assert_eq!(list.request["StreamName"], "s");
    assert_eq!(list.fault, None);
    assert_eq!(list.upstream_status, Some(200));
    assert_eq!(
        list.outcome,
        Outcome::Status {
            status: 200,
            error_type: None
        }
    );
    assert!(before <= list.start && list.start <= list.end.unwrap());
    // Reset after forward: the server answered 200, the client got nothing.
    assert_eq!(
        (tables.proxy.as_str(), tables.operation.as_str()),
        ("d", "ListTables")
    );
    assert_eq!(tables.request["Limit"], 3);
    assert_eq!(tables.fault, Some(Fault::ResetAfterForward));
    assert_eq!(tables.upstream_status, Some(200));
    assert_eq!(tables.outcome, Outcome::Reset);
    // An error injected without forwarding never reached the server.
    assert_eq!(throttled.upstream_status, None);
    assert_eq!(
        throttled.outcome,
        Outcome::Status {
            status: 400,
            error_type: Some("ProvisionedThroughputExceededException".into())
        }
    );
    assert!(list.end.unwrap() <= tables.start && tables.end.unwrap() <= throttled.start);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_sends_nothing_until_the_client_gives_up() {
    let aws = LocalAws::start().await.unwrap();
    let log = ProxyLog::default();
    let d = FaultProxy::start_observed(aws.dynamodb_addr(), "d", &log)
        .await
        .unwrap();
    let db = aws_sdk_dynamodb::Client::new(&sdk_config_without_retries(&d.endpoint()));
    d.set_rules(vec![Rule::new(Fault::stall()).at_most(1)]);
    let call = tokio::time::timeout(Duration::from_millis(300), db.list_tables().send()).await;
    assert!(call.is_err(), "the client timed out");
    // The proxy sees the connection closed and records the request as abandoned.
    let mut abandoned = None;
    for _ in 0..100 {
        abandoned = log.events().first().filter(|e| e.end.is_some()).cloned();
        if abandoned.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let event = abandoned.expect("the stalled request was closed");
    assert_eq!(event.outcome, Outcome::Abandoned);
    assert_eq!(event.fault, Some(Fault::stall()));
    assert_eq!(event.upstream_status, None, "nothing was forwarded");
    // Held until the client gave up (the proxy saw the request a little after the call began).
    assert!(event.end.unwrap() - event.start >= Duration::from_millis(200));
    db.list_tables().send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_retryable_and_unlisted_errors_reach_the_client_with_their_codes() {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
    let aws = LocalAws::start().await.unwrap();
    let d = FaultProxy::start(aws.dynamodb_addr()).await.unwrap();
    let db = aws_sdk_dynamodb::Client::new(&sdk_config_without_retries(&d.endpoint()));
    for (fault, code, status) in [
        (
            Fault::dynamodb_access_denied(),
            "AccessDeniedException",
            400,
        ),
        (Fault::dynamodb_validation(), "ValidationException", 400),
        (Fault::expired_token(), "ExpiredTokenException", 400),
        (
            Fault::dynamodb_resource_not_found(),
            "ResourceNotFoundException",
            400,
        ),
        (
            Fault::dynamodb_unlisted_server_error(),
            "ServiceHiccup",
            500,
        ),
    ] {
        d.set_rules(vec![Rule::new(fault)]);
        let err = db.list_tables().send().await.unwrap_err();
        assert_eq!(err.code(), Some(code));
        let raw = err.raw_response().map(|r| r.status().as_u16());
        assert_eq!(raw, Some(status), "{code}");
    }
    // With the SDK's default retries, the unlisted 500 is retried (3 attempts).
    d.set_rules(vec![Rule::new(Fault::dynamodb_unlisted_server_error())]);
    let requests = d.requests();
    let retrying = testkit::dynamodb_client(&d.endpoint());
    assert!(retrying.list_tables().send().await.is_err());
    assert_eq!(d.requests() - requests, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_iterators_are_injected_on_get_records() {
    let (_aws, proxy, client) = setup().await;
    let iterator = client
        .get_shard_iterator()
        .stream_name("s")
        .shard_id("shardId-000000000000")
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    proxy.set_rules(vec![Rule::new(Fault::expired_iterator()).on("GetRecords")]);
    let err = client
        .get_records()
        .shard_iterator(&iterator)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_expired_iterator_exception());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_being_forwarded_is_carried_through_when_the_client_gives_up() {
    let aws = LocalAws::start().await.unwrap();
    // A slow server: a second proxy delaying every request by 400 ms.
    let slow = FaultProxy::start(aws.dynamodb_addr()).await.unwrap();
    slow.set_rules(vec![Rule::new(Fault::Delay(Duration::from_millis(400)))]);
    let log = ProxyLog::default();
    let d = FaultProxy::start_observed(slow_addr(&slow), "d", &log)
        .await
        .unwrap();
    let db = aws_sdk_dynamodb::Client::new(&sdk_config_without_retries(&d.endpoint()));
    let call = tokio::time::timeout(Duration::from_millis(100), db.list_tables().send()).await;
    assert!(call.is_err(), "the client gave up");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let event = log.events().remove(0);
    assert_eq!(event.outcome, Outcome::Abandoned);
    assert_eq!(
        event.upstream_status,
        Some(200),
        "the server still answered"
    );
    assert!(event.upstream_end.unwrap() > event.end.unwrap());
}

fn slow_addr(proxy: &FaultProxy) -> std::net::SocketAddr {
    proxy
        .endpoint()
        .trim_start_matches("http://")
        .parse()
        .unwrap()
}
