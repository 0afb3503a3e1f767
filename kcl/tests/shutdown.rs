//! The two ways of stopping: `graceful_shutdown` calls `shutdown_requested` on every
//! held shard (a final checkpoint is possible) and then releases the leases;
//! `shutdown` tells every processor its lease is lost and releases nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{env, fast_config, numbered, put};
use kcl::{Checkpointer, InitializeInput, ProcessRecordsInput, ShardProcessor};
use tokio::sync::watch;

/// Records its lifecycle calls; never checkpoints while processing.
#[derive(Clone)]
struct Lifecycle {
    calls: Arc<Mutex<Vec<String>>>,
    records: watch::Sender<usize>,
}

impl ShardProcessor for Lifecycle {
    async fn initialize(&mut self, input: InitializeInput) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("initialize {}", input.checkpoint));
    }

    async fn process_records(&mut self, input: ProcessRecordsInput) {
        let n = input.records.len();
        self.records.send_modify(|c| *c += n);
    }

    async fn lease_lost(&mut self) {
        self.calls.lock().unwrap().push("lease_lost".into());
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        checkpointer.checkpoint().await.unwrap();
    }

    async fn shutdown_requested(&mut self, checkpointer: Checkpointer) {
        let result = checkpointer.checkpoint().await;
        self.calls
            .lock()
            .unwrap()
            .push(format!("shutdown_requested {}", result.is_ok()));
    }
}

async fn run_and_stop(
    graceful: bool,
) -> (
    Vec<String>,
    Vec<std::collections::HashMap<String, AttributeValue>>,
) {
    let name = if graceful { "graceful" } else { "immediate" };
    let e = env(name, 2).await;
    put(&e.kinesis, &e.stream, &numbered("r", 0..40)).await;
    let p = Lifecycle {
        calls: Arc::default(),
        records: watch::channel(0).0,
    };
    let mut records = p.records.subscribe();
    let factory = {
        let p = p.clone();
        move |_: &str| p.clone()
    };
    let app = format!("{name}-app");
    let (handle, task) = common::start(&e, fast_config(&app, &e.stream, "w"), factory);
    tokio::time::timeout(Duration::from_secs(30), records.wait_for(|n| *n == 40))
        .await
        .unwrap()
        .unwrap();
    if graceful {
        handle.graceful_shutdown().await;
    } else {
        handle.shutdown();
    }
    task.await.unwrap().unwrap();
    let calls = p.calls.lock().unwrap().clone();
    (calls, common::raw_items(&e.dynamodb, &app).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_requests_then_releases() {
    let (mut calls, items) = run_and_stop(true).await;
    calls.sort();
    assert_eq!(
        calls,
        [
            "initialize TRIM_HORIZON",
            "initialize TRIM_HORIZON",
            "shutdown_requested true",
            "shutdown_requested true"
        ]
    );
    for item in items {
        assert!(!item.contains_key("leaseOwner"), "released");
        assert!(
            item["checkpoint"]
                .as_s()
                .unwrap()
                .bytes()
                .all(|b| b.is_ascii_digit()),
            "final checkpoint written"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_shutdown_loses_the_leases_without_releasing() {
    let (mut calls, items) = run_and_stop(false).await;
    calls.sort();
    assert_eq!(
        calls,
        [
            "initialize TRIM_HORIZON",
            "initialize TRIM_HORIZON",
            "lease_lost",
            "lease_lost"
        ]
    );
    for item in items {
        assert_eq!(
            item["leaseOwner"],
            AttributeValue::S("w".into()),
            "not released"
        );
        assert_eq!(item["checkpoint"], AttributeValue::S("TRIM_HORIZON".into()));
    }
}

/// Records its lifecycle calls per shard; while `hold` is set, its first batch waits for
/// `release`.
#[derive(Clone)]
struct Holding {
    shard: String,
    calls: Arc<Mutex<Vec<String>>>,
    delivered: watch::Sender<usize>,
    hold: Arc<std::sync::atomic::AtomicBool>,
    release: Arc<tokio::sync::Notify>,
}

impl ShardProcessor for Holding {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        let held = self.hold.swap(false, std::sync::atomic::Ordering::SeqCst);
        self.delivered.send_modify(|n| *n += input.records.len());
        if held {
            self.release.notified().await;
        }
    }

    async fn lease_lost(&mut self) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("{} lease_lost", self.shard));
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        checkpointer.checkpoint().await.unwrap();
    }

    async fn shutdown_requested(&mut self, _checkpointer: Checkpointer) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("{} shutdown_requested", self.shard));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immediate_shutdown_during_a_graceful_one_still_ends_each_consumer_with_lease_lost() {
    let e = env("twostops", 2).await;
    put(&e.kinesis, &e.stream, &numbered("r", 0..40)).await;
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let delivered = watch::channel(0).0;
    let hold = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let release = Arc::new(tokio::sync::Notify::new());
    let factory = {
        let (calls, delivered, hold, release) = (
            calls.clone(),
            delivered.clone(),
            hold.clone(),
            release.clone(),
        );
        move |shard: &str| Holding {
            shard: shard.to_owned(),
            calls: calls.clone(),
            delivered: delivered.clone(),
            hold: hold.clone(),
            release: release.clone(),
        }
    };
    let (handle, task) = common::start(&e, fast_config("twostops-app", &e.stream, "w"), factory);
    let mut seen = delivered.subscribe();
    tokio::time::timeout(Duration::from_secs(30), seen.wait_for(|n| *n == 40))
        .await
        .unwrap()
        .unwrap();
    // One shard's processor is busy in its first batch: the graceful shutdown reaches the
    // other shard only.
    let graceful = tokio::spawn({
        let handle = handle.clone();
        async move { handle.graceful_shutdown().await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    handle.shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    release.notify_waiters();
    tokio::time::timeout(Duration::from_secs(10), graceful)
        .await
        .unwrap()
        .unwrap();
    task.await.unwrap().unwrap();
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "one final call per shard: {calls:?}");
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.ends_with("shutdown_requested"))
            .count(),
        1,
        "{calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|c| c.ends_with("lease_lost")).count(),
        1,
        "the busy shard is told its lease is lost: {calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_during_a_lease_scan_takes_nothing() {
    let e = env("scanstop", 2).await;
    let proxy = testkit::FaultProxy::start(e.aws.dynamodb_addr())
        .await
        .unwrap();
    let db = aws_sdk_dynamodb::Client::new(&testkit::sdk_config(&proxy.endpoint()));
    // The first two scans (start-up's shard sync, then the taker's first pass) answer
    // late; the shutdown is asked for while the taker's is in flight.
    proxy.set_rules(vec![
        testkit::Rule::new(testkit::Fault::Delay(Duration::from_secs(1)))
            .on("Scan")
            .at_most(2),
    ]);
    let log = common::Log::default();
    let worker = kcl::Worker::new(
        fast_config("scanstop-app", &e.stream, "w"),
        e.kinesis.clone(),
        db,
        log.factory("w"),
    )
    .unwrap();
    let handle = worker.handle();
    let task = tokio::spawn(worker.run());
    tokio::time::timeout(Duration::from_secs(10), async {
        while proxy.faults_injected() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
    let status = handle.status();
    assert_eq!(status.leases_taken, 0, "{status:?}");
    for item in common::raw_items(&e.dynamodb, "scanstop-app").await {
        assert!(!item.contains_key("leaseOwner"), "{item:?}");
    }
}
