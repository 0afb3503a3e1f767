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
