//! A lease's validity: a worker that can no longer renew stops delivering before another
//! worker may take the shard over, whatever its renewal is doing (refused for good, or
//! hung without an answer); one lease's hung renewal holds up no other lease; a write
//! DynamoDB applied but whose reply was lost does not cost the lease, even through a
//! DynamoDB client that keeps the SDK's default retries.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::time::{Duration, Instant};

use common::{Env, Log, Seen, env, fast_config, numbered, put};
use testkit::{Fault, FaultProxy, Rule};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Puts a few records every 20 ms until stopped; returns how many it put.
struct Feeder {
    stop: watch::Sender<bool>,
    task: JoinHandle<usize>,
}

impl Feeder {
    fn start(e: &Env) -> Feeder {
        let (stop, mut stopped) = watch::channel(false);
        let (kinesis, stream) = (e.kinesis.clone(), e.stream.clone());
        let task = tokio::spawn(async move {
            let mut n = 0;
            while !*stopped.borrow_and_update() {
                put(&kinesis, &stream, &numbered("f", n..n + 5)).await;
                n += 5;
                let _ = tokio::time::timeout(Duration::from_millis(20), stopped.changed()).await;
            }
            n
        });
        Feeder { stop, task }
    }

    async fn stop(self) -> usize {
        self.stop.send_replace(true);
        self.task.await.unwrap()
    }
}

/// A DynamoDB client through `proxy`, with the SDK's default retry settings (what a user
/// builds from `aws_config::load_from_env()`).
fn client_through(proxy: &FaultProxy) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&testkit::sdk_config(&proxy.endpoint()))
}

fn dynamodb_error(status: u16, name: &str) -> Fault {
    Fault::Error {
        status,
        error_type: format!("com.amazonaws.dynamodb.v20120810#{name}"),
    }
}

/// Worker `a` holds the only lease; then every one of its lease writes meets `fault` while
/// worker `b` waits. The processors do not checkpoint (a checkpoint waiting on a hung
/// write would hold the processor up and hide what the lease does). Returns what was
/// delivered, in order.
async fn takeover_while_renewals_fail(name: &str, fault: Fault) -> Vec<Seen> {
    let e = env(name, 1).await;
    let app = format!("{name}-app");
    let proxy = FaultProxy::start(e.aws.dynamodb_addr()).await.unwrap();
    let log = Log::default();
    log.checkpointing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let worker = kcl::Worker::new(
        fast_config(&app, &e.stream, "a"),
        e.kinesis.clone(),
        client_through(&proxy),
        log.factory("a"),
    )
    .unwrap();
    let (a, ta) = (worker.handle(), tokio::spawn(worker.run()));
    let feeder = Feeder::start(&e);
    log.wait_until("a delivers", |d| !d.is_empty()).await;
    let (b, tb) = common::start(&e, fast_config(&app, &e.stream, "b"), log.factory("b"));

    proxy.set_rules(vec![Rule::new(fault).on("UpdateItem")]);
    let log2 = log.clone();
    log.wait_until("b takes over", move |_| {
        log2.entries().iter().any(|s| s.worker == "b")
    })
    .await;
    // Long enough for a worker that kept its lease to show it.
    tokio::time::sleep(Duration::from_millis(700)).await;

    let produced = feeder.stop().await;
    proxy.clear();
    log.wait_until("every record", |d| d.len() == produced)
        .await;
    a.shutdown();
    b.graceful_shutdown().await;
    let _ = ta.await.unwrap();
    tb.await.unwrap().unwrap();
    log.entries()
}

/// Nothing delivered to `a` once `b` had started delivering the shard.
fn assert_no_overlap(entries: &[Seen]) {
    let b_first = entries
        .iter()
        .filter(|s| s.worker == "b")
        .map(|s| s.at)
        .min()
        .unwrap();
    let late: Vec<&Seen> = entries
        .iter()
        .filter(|s| s.worker == "a" && s.at >= b_first)
        .collect();

    let a_last = entries
        .iter()
        .filter(|s| s.worker == "a" && s.at < b_first)
        .map(|s| s.at)
        .max();
    println!(
        "a's last delivery came {:?} before b's first",
        a_last.map(|t| b_first - t)
    );
    assert!(
        late.is_empty(),
        "a delivered {} records after b took the shard over (first {:?} after b's start)",
        late.len(),
        late.first().map(|s| s.at - b_first)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_renewals_are_refused_for_good_stops_before_the_takeover() {
    let entries =
        takeover_while_renewals_fail("refused", dynamodb_error(400, "AccessDeniedException")).await;
    assert_no_overlap(&entries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_renewals_hang_stops_before_the_takeover() {
    let entries =
        takeover_while_renewals_fail("hung", Fault::Delay(Duration::from_secs(120))).await;
    assert_no_overlap(&entries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_renewals_fail_with_an_unlisted_5xx_stops_before_the_takeover() {
    let entries = takeover_while_renewals_fail(
        "unlisted",
        dynamodb_error(503, "SomethingNobodyListedException"),
    )
    .await;
    assert_no_overlap(&entries);
}

async fn counter(e: &Env, app: &str, key: &str) -> u64 {
    common::raw_items(&e.dynamodb, app)
        .await
        .into_iter()
        .find(|i| i["leaseKey"].as_s().unwrap() == key)
        .map(|i| i["leaseCounter"].as_n().unwrap().parse().unwrap())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hung_renewal_holds_up_no_other_lease() {
    let e = env("onehung", 2).await;
    let proxy = FaultProxy::start(e.aws.dynamodb_addr()).await.unwrap();
    let log = Log::default();
    let worker = kcl::Worker::new(
        fast_config("onehung-app", &e.stream, "a"),
        e.kinesis.clone(),
        client_through(&proxy),
        log.factory("a"),
    )
    .unwrap();
    let (a, task) = (worker.handle(), tokio::spawn(worker.run()));
    let held = common::wait_leases(&[&a], Duration::from_secs(10), |s| s[0].len() == 2).await;
    let keys: Vec<String> = held[0].iter().cloned().collect();
    let (hung, other) = (&keys[0], &keys[1]);
    proxy.set_rules(vec![
        Rule::new(Fault::Delay(Duration::from_secs(120)))
            .on("UpdateItem")
            .when_body_contains(hung),
    ]);

    // The other lease keeps being renewed: its counter never stands still for long.
    let failover = Duration::from_secs(1);
    let (mut last, mut since) = (counter(&e, "onehung-app", other).await, Instant::now());
    let mut longest = Duration::ZERO;
    let until = Instant::now() + 3 * failover;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = counter(&e, "onehung-app", other).await;
        if now != last {
            longest = longest.max(since.elapsed());
            (last, since) = (now, Instant::now());
        }
    }
    longest = longest.max(since.elapsed());
    assert!(
        longest < failover,
        "lease {other} went unrenewed for {longest:?} while {hung}'s renewal hung"
    );
    let status = a.status();
    assert!(status.held_leases.contains(other), "{status:?}");
    assert!(
        !status.held_leases.contains(hung),
        "a lease that cannot be renewed is dropped once its validity passes: {status:?}"
    );
    proxy.clear();
    a.shutdown();
    let _ = task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_applied_whose_replies_were_lost_do_not_cost_the_lease() {
    let e = env("lostreply", 1).await;
    let proxy = FaultProxy::start(e.aws.dynamodb_addr()).await.unwrap();
    let log = Log::default();
    let worker = kcl::Worker::new(
        fast_config("lostreply-app", &e.stream, "a"),
        e.kinesis.clone(),
        client_through(&proxy),
        log.factory("a"),
    )
    .unwrap();
    let (a, task) = (worker.handle(), tokio::spawn(worker.run()));
    let feeder = Feeder::start(&e);
    log.wait_until("a delivers", |d| !d.is_empty()).await;
    // A third of the renewals and checkpoints are applied, then the connection drops.
    proxy.set_rules(vec![
        Rule::new(Fault::ResetAfterForward)
            .on("UpdateItem")
            .with_probability(0.3),
    ]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let produced = feeder.stop().await;
    let faults = proxy.faults_injected();
    proxy.clear();
    log.wait_until("every record", |d| d.len() == produced)
        .await;
    let status = a.status();
    assert_eq!(
        status.leases_lost, 0,
        "{status:?} after {faults} lost replies"
    );
    assert_eq!(status.leases_taken, 1, "{status:?}");
    assert!(faults >= 5, "faults were injected ({faults})");
    a.graceful_shutdown().await;
    task.await.unwrap().unwrap();
}
