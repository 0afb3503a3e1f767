//! Enhanced fan-out under faults injected by the proxy between the worker's Kinesis client
//! and the embedded server (the SDK's retries off): event streams reset mid-stream, gone
//! silent (no byte, before and after the first message), ended by exceptions, and
//! SubscribeToShard refused with 5xx and ResourceInUse. Checked over what happened: every
//! record of the stream delivered once and in shard order, no lease given up, the silent
//! subscription dropped after the event timeout; and a shard whose subscriptions keep
//! failing gives its lease up instead of stalling quietly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;
mod fan_out_support;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Log, numbered, put};
use fan_out_support::{
    assert_each_record_once_in_order, assert_one_subscribe_per_second_per_shard, fan_config,
    fan_env, stall_timeout, starting_types,
};
use testkit::{Fault, LocalAwsOptions, Outcome, Rule};

const SHARD0: &str = "shardId-000000000000";

/// The kinds of fault injected so far, counted.
fn injected(e: &fan_out_support::FanEnv) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for c in e.calls("SubscribeToShard") {
        if let Some(f) = c.fault {
            let kind = format!("{f:?}");
            let kind = kind.split([' ', '(', '{']).next().unwrap_or("?").to_owned();
            let kind = match f {
                Fault::Error { error_type, .. } | Fault::StreamException { error_type, .. } => {
                    format!("{kind}:{error_type}")
                }
                _ => kind,
            };
            *kinds.entry(kind).or_default() += 1;
        }
    }
    kinds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_stalls_5xx_and_resource_in_use_lose_and_repeat_nothing() {
    // Sessions of 1.5 s: renewals interleave with the faults.
    let mut options = LocalAwsOptions::default();
    options.kinesis.subscribe_to_shard_session_ms = 1500;
    let e = fan_env("fo-faults", 2, options).await;
    let at = |n, f| {
        Rule::new(f)
            .on("SubscribeToShard")
            .with_probability(0.3)
            .at_most(n)
    };
    e.proxy.set_rules(vec![
        at(3, Fault::stream_reset(2)),
        at(2, Fault::stream_reset(0)),
        at(1, Fault::stream_stall(3)),
        at(1, Fault::stream_stall(0)),
        at(2, Fault::internal_failure()),
        at(2, Fault::service_unavailable()),
        at(2, Fault::aws_error(400, "ResourceInUseException")),
        at(2, Fault::stream_exception(1, "ResourceInUseException")),
        at(2, Fault::stream_exception(3, "InternalFailureException")),
    ]);
    let log = Log::default();
    let mut config = fan_config("fo-faults-app", &e.stream, "w");
    config.fan_out.event_timeout = stall_timeout();
    let (handle, task) = e.start(config, log.factory("w"));
    // At least 30 rounds, and on until most kinds of fault have fired (a slower server
    // makes fewer subscriptions in the same time: kinesis-mock once saw 5 kinds in 30).
    let mut rounds = 0;
    while rounds < 30 || (injected(&e).len() < 6 && rounds < 120) {
        put(
            &e.kinesis,
            &e.stream,
            &numbered("r", rounds * 20..(rounds + 1) * 20),
        )
        .await;
        rounds += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    log.wait_until("every record", |d| d.len() == rounds * 20)
        .await;
    let kinds = injected(&e);
    println!("faults injected: {kinds:?}");
    e.proxy.clear();
    assert_each_record_once_in_order(&e, &log).await;
    assert!(
        kinds.len() >= 6,
        "most kinds of fault were injected: {kinds:?}"
    );
    assert_one_subscribe_per_second_per_shard(&e);
    let status = handle.status();
    assert_eq!(status.consumer_errors, 0, "no lease was given up");
    assert_eq!(status.leases_lost, 0);
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_subscription_is_dropped_after_the_event_timeout_and_resumed() {
    let e = fan_env("fo-stall", 1, LocalAwsOptions::default()).await;
    let log = Log::default();
    let mut config = fan_config("fo-stall-app", &e.stream, "w");
    config.fan_out.event_timeout = stall_timeout();
    put(&e.kinesis, &e.stream, &numbered("a", 0..50)).await;
    // The first subscription goes silent after 2 messages (on ferrokinesis: the initial
    // response and the event with the records; on kinesis-mock one more event with
    // records may pass).
    e.proxy.set_rules(vec![
        Rule::new(Fault::stream_stall(2))
            .on("SubscribeToShard")
            .at_most(1),
    ]);
    let (handle, task) = e.start(config, log.factory("w"));
    log.wait_until("the first records", |d| d.len() == 50).await;
    // Put while the subscription is silent (on ferrokinesis).
    put(&e.kinesis, &e.stream, &numbered("b", 0..50)).await;
    // The worker gives the silent subscription up after the event timeout (the proxy
    // sees the client leave when the connection closes).
    let mut subs = e.calls("SubscribeToShard");
    for _ in 0..150 {
        if subs[0].outcome != Outcome::InFlight {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        subs = e.calls("SubscribeToShard");
    }
    // Put after: they can only come through a new subscription.
    put(&e.kinesis, &e.stream, &numbered("c", 0..50)).await;
    log.wait_until("the records put during and after the stall", |d| {
        d.len() == 150
    })
    .await;
    assert_each_record_once_in_order(&e, &log).await;
    let stalled = &subs[0];
    assert!(matches!(stalled.fault, Some(Fault::StreamStall { .. })));
    assert_eq!(stalled.outcome, Outcome::Abandoned, "the worker gave it up");
    let lasted = stalled.end.unwrap() - stalled.start;
    let timeout = stall_timeout();
    assert!(
        lasted >= timeout && lasted < timeout + Duration::from_secs(5),
        "dropped {lasted:?} after it began (event timeout {timeout:?})"
    );
    assert_eq!(
        starting_types(&e, SHARD0)[..2],
        ["TRIM_HORIZON", "AFTER_SEQUENCE_NUMBER"]
    );
    assert_eq!(handle.status().consumer_errors, 0);
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribe_that_never_answers_is_given_up_and_made_again() {
    let e = fan_env("fo-stall-send", 1, LocalAwsOptions::default()).await;
    let log = Log::default();
    let mut config = fan_config("fo-stall-send-app", &e.stream, "w");
    config.fan_out.event_timeout = stall_timeout();
    put(&e.kinesis, &e.stream, &numbered("a", 0..50)).await;
    // No byte at all, not even the initial response: send() itself waits.
    e.proxy.set_rules(vec![
        Rule::new(Fault::stream_stall(0))
            .on("SubscribeToShard")
            .at_most(2),
    ]);
    let (handle, task) = e.start(config, log.factory("w"));
    log.wait_until("every record", |d| d.len() == 50).await;
    assert_each_record_once_in_order(&e, &log).await;
    let subs = e.calls("SubscribeToShard");
    assert!(subs.len() >= 3, "{} subscriptions", subs.len());
    for s in &subs[..2] {
        assert_eq!(s.outcome, Outcome::Abandoned);
    }
    assert_eq!(handle.status().consumer_errors, 0);
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_whose_subscriptions_keep_failing_gives_its_lease_up() {
    let e = fan_env("fo-failing", 1, LocalAwsOptions::default()).await;
    let log = Log::default();
    let mut config = fan_config("fo-failing-app", &e.stream, "w");
    config.fan_out.max_subscription_failures = 3;
    put(&e.kinesis, &e.stream, &numbered("a", 0..20)).await;
    e.proxy.set_rules(vec![
        Rule::new(Fault::internal_failure()).on("SubscribeToShard"),
    ]);
    let (handle, task) = e.start(config, log.factory("w"));
    let mut status = handle.status();
    for _ in 0..200 {
        if status.leases_released > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = handle.status();
    }
    // Given up (released for another worker, an error counted), not quietly renewed.
    assert_eq!(status.consumer_errors, 1, "{status:?}");
    assert_eq!(status.leases_released, 1, "{status:?}");
    assert_eq!(e.calls("SubscribeToShard").len(), 3);
    assert!(log.entries().is_empty());
    // Once subscriptions work again the shard is taken again and read from its start.
    e.proxy.clear();
    log.wait_until("every record", |d| d.len() == 20).await;
    assert_each_record_once_in_order(&e, &log).await;
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
}
