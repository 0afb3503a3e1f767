//! Enhanced fan-out (SubscribeToShard) against the embedded server, with the real SDK:
//! the consumer is registered when missing (backing off when refused by the limit, and
//! taking ResourceInUse for "it exists") and reused when it exists, every record is
//! delivered once and in shard order, and the service's ends of subscriptions (a session
//! of under a second here) are renewed after the last continuation without loss or
//! duplicates.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;
mod fan_out_support;

use std::time::Duration;

use aws_sdk_kinesis::types::ConsumerStatus;
use common::{Log, numbered, put};
use fan_out_support::{
    assert_each_record_once_in_order, embedded_kinesis, fan_config, fan_env, starting_types,
};
use testkit::{Fault, LocalAwsOptions, Outcome, Rule};

async fn stream_arn(k: &aws_sdk_kinesis::Client, stream: &str) -> String {
    let out = k.describe_stream_summary().stream_name(stream).send().await;
    let summary = out.unwrap();
    summary
        .stream_description_summary()
        .unwrap()
        .stream_arn()
        .to_owned()
}

/// The consumers registered on `stream`: (name, status).
async fn consumers(k: &aws_sdk_kinesis::Client, stream: &str) -> Vec<(String, ConsumerStatus)> {
    let arn = stream_arn(k, stream).await;
    let out = k.list_stream_consumers().stream_arn(arn).send().await;
    out.unwrap()
        .consumers()
        .iter()
        .map(|c| (c.consumer_name().to_owned(), c.consumer_status().clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_consumer_is_registered_and_every_record_arrives_once_in_order() {
    let e = fan_env("fo-basic", 2, LocalAwsOptions::default()).await;
    // The first registration is refused by the limit (5/s, 5 CREATING per stream); the
    // second registers, but its answer says ResourceInUse, as when another worker of the
    // application registered it first: it is described then, not registered again.
    e.proxy.set_rules(vec![
        Rule::new(Fault::aws_error(400, "LimitExceededException"))
            .on("RegisterStreamConsumer")
            .at_most(1),
        Rule::new(Fault::ErrorAfterForward {
            status: 400,
            error_type: "ResourceInUseException".into(),
        })
        .on("RegisterStreamConsumer")
        .at_most(1),
    ]);
    put(&e.kinesis, &e.stream, &numbered("before", 0..300)).await;
    let log = Log::default();
    let (handle, task) = e.start(fan_config("fo-basic-app", &e.stream, "w"), log.factory("w"));
    log.wait_until("the records put before", |d| d.len() == 300)
        .await;
    put(&e.kinesis, &e.stream, &numbered("after", 0..300)).await;
    log.wait_until("every record", |d| d.len() == 600).await;
    assert_each_record_once_in_order(&e, &log).await;

    // One consumer, named after the application, ACTIVE; registered once.
    let registered = consumers(&e.kinesis, &e.stream).await;
    assert_eq!(
        registered,
        [("fo-basic-app".to_owned(), ConsumerStatus::Active)]
    );
    let registers = e.calls("RegisterStreamConsumer");
    assert_eq!(registers.len(), 2, "registered once after the refusal");
    let gap = registers[1].start - registers[0].start;
    assert!(gap >= Duration::from_millis(500), "backed off {gap:?}");
    // Fan-out, not polling: no GetRecords; one subscription per shard at least.
    assert_eq!(
        e.calls("GetRecords").len(),
        0,
        "records were pushed, not polled"
    );
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let types = starting_types(&e, shard);
        assert_eq!(types.first().map(String::as_str), Some("TRIM_HORIZON"));
    }
    // CREATING for 500 ms on this server: DescribeStreamConsumer polled, at most 1/s.
    let describes = e.calls("DescribeStreamConsumer");
    assert!(!describes.is_empty());
    for pair in describes.windows(2) {
        let gap = pair[1].start - pair[0].start;
        assert!(
            gap >= Duration::from_millis(990),
            "described again after {gap:?}"
        );
    }
    assert_eq!(handle.status().consumer_errors, 0);
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
    // Deregistration is off by default.
    assert_eq!(consumers(&e.kinesis, &e.stream).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_exists_or_is_creating_is_used_then_deregistered_by_the_last_worker() {
    let e = fan_env("fo-exists", 2, LocalAwsOptions::default()).await;
    // Registered just before the workers start: it is CREATING when they look.
    let arn = stream_arn(&e.kinesis, &e.stream).await;
    e.kinesis
        .register_stream_consumer()
        .stream_arn(&arn)
        .consumer_name("fo-exists-app")
        .send()
        .await
        .unwrap();
    let log = Log::default();
    let config = |id: &str| {
        let mut c = fan_config("fo-exists-app", &e.stream, id);
        c.fan_out.deregister_on_shutdown = true;
        c
    };
    let (h1, t1) = e.start(config("w1"), log.factory("w1"));
    let (h2, t2) = e.start(config("w2"), log.factory("w2"));
    common::wait_leases(&[&h1, &h2], Duration::from_secs(20), |s| {
        s.iter().all(|x| x.len() == 1)
    })
    .await;
    put(&e.kinesis, &e.stream, &numbered("r", 0..200)).await;
    log.wait_until("every record", |d| d.len() == 200).await;
    assert_each_record_once_in_order(&e, &log).await;
    let describes = e.calls("DescribeStreamConsumer");
    assert!(
        describes
            .iter()
            .all(|c| matches!(c.outcome, Outcome::Status { status: 200, .. })),
        "found every time: {describes:?}"
    );
    // Described until ACTIVE (ferrokinesis: CREATING first, for 500 ms), never registered.
    let least = if embedded_kinesis() { 3 } else { 2 };
    assert!(describes.len() >= least, "{} describes", describes.len());
    assert_eq!(e.calls("RegisterStreamConsumer").len(), 0);
    assert_eq!(consumers(&e.kinesis, &e.stream).await.len(), 1);
    assert_eq!(h1.status().consumer_errors + h2.status().consumer_errors, 0);
    // Deregistered on the last graceful shutdown only: not while w2 still holds leases.
    h1.graceful_shutdown().await;
    t1.await.unwrap().unwrap();
    assert_eq!(
        consumers(&e.kinesis, &e.stream).await,
        [("fo-exists-app".to_owned(), ConsumerStatus::Active)]
    );
    h2.graceful_shutdown().await;
    t2.await.unwrap().unwrap();
    let left = consumers(&e.kinesis, &e.stream).await;
    assert!(
        left.iter().all(|(_, s)| *s == ConsumerStatus::Deleting),
        "deregistered: {left:?}"
    );
    assert_eq!(e.calls("DeregisterStreamConsumer").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewed_subscriptions_resume_after_the_last_continuation() {
    // The server ends every subscription after 700 ms (Kinesis: 5 minutes), a setting of
    // the embedded server only.
    if !embedded_kinesis() {
        println!("skipped: the session length is a setting of the embedded server");
        return;
    }
    let mut options = LocalAwsOptions::default();
    options.kinesis.subscribe_to_shard_session_ms = 700;
    let e = fan_env("fo-renew", 2, options).await;
    let log = Log::default();
    let (handle, task) = e.start(fan_config("fo-renew-app", &e.stream, "w"), log.factory("w"));
    // Records keep coming across many renewals.
    for round in 0..16 {
        let range = round * 40..(round + 1) * 40;
        put(&e.kinesis, &e.stream, &numbered("r", range)).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    log.wait_until("every record", |d| d.len() == 640).await;
    assert_each_record_once_in_order(&e, &log).await;
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let types = starting_types(&e, shard);
        assert!(types.len() >= 4, "{shard} renewed: {types:?}");
        assert_eq!(types[0], "TRIM_HORIZON");
        // Once records came, every renewal starts after the last continuation.
        let after = types.iter().skip_while(|t| *t == "TRIM_HORIZON");
        assert!(
            after.clone().all(|t| t == "AFTER_SEQUENCE_NUMBER"),
            "{shard}: {types:?}"
        );
        assert!(after.count() >= 3, "{shard}: {types:?}");
    }
    assert_eq!(handle.status().consumer_errors, 0);
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_deleted_under_the_worker_is_registered_again() {
    if !embedded_kinesis() {
        println!("skipped: the session length is a setting of the embedded server");
        return;
    }
    let mut options = LocalAwsOptions::default();
    options.kinesis.subscribe_to_shard_session_ms = 1000;
    let e = fan_env("fo-deleted", 1, options).await;
    let log = Log::default();
    let (handle, task) = e.start(
        fan_config("fo-deleted-app", &e.stream, "w"),
        log.factory("w"),
    );
    put(&e.kinesis, &e.stream, &numbered("a", 0..50)).await;
    log.wait_until("the first records", |d| d.len() == 50).await;
    // Someone deregisters it: the next subscription (after the session ends) meets
    // ResourceInUse while it is DELETING, then ResourceNotFound.
    let arn = stream_arn(&e.kinesis, &e.stream).await;
    e.kinesis
        .deregister_stream_consumer()
        .stream_arn(&arn)
        .consumer_name("fo-deleted-app")
        .send()
        .await
        .unwrap();
    let refused = || {
        e.calls("SubscribeToShard")
            .iter()
            .any(|c| matches!(c.outcome, Outcome::Status { status: 400, .. }))
    };
    for _ in 0..100 {
        if refused() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        refused(),
        "a subscription was refused once the consumer was gone"
    );
    put(&e.kinesis, &e.stream, &numbered("b", 0..50)).await;
    log.wait_until("the records after", |d| d.len() == 100)
        .await;
    assert_each_record_once_in_order(&e, &log).await;
    assert_eq!(
        e.calls("RegisterStreamConsumer").len(),
        2,
        "registered again"
    );
    assert_eq!(
        consumers(&e.kinesis, &e.stream).await,
        [("fo-deleted-app".to_owned(), ConsumerStatus::Active)]
    );
    assert_eq!(handle.status().consumer_errors, 0);
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
}
