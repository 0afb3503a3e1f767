//! At-least-once: records put before and during consumption are all processed; after
//! an abrupt stop, a new worker processes again exactly what came after the last
//! checkpoint, and nothing is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use common::{Log, env, fast_config, numbered, put};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abrupt_stop_redelivers_everything_after_the_last_checkpoint() {
    let e = env("alo", 2).await;
    put(&e.kinesis, &e.stream, &numbered("before", 0..200)).await;

    let log = Log::default();
    let (a_handle, a_task) =
        common::start(&e, fast_config("alo-app", &e.stream, "a"), log.factory("a"));
    put(&e.kinesis, &e.stream, &numbered("during", 0..200)).await;
    log.wait_until("the first 400 records", |d| d.len() == 400)
        .await;
    // Every batch so far was checkpointed (the log announces a batch after its checkpoint).

    // From now on nothing is checkpointed; then the worker dies without shutting down.
    log.checkpointing.store(false, Ordering::SeqCst);
    put(&e.kinesis, &e.stream, &numbered("unacked", 0..100)).await;
    log.wait_until("the unacknowledged 100", |d| d.len() == 500)
        .await;
    assert_eq!(a_handle.status().leases_released, 0);
    a_task.abort();
    let _ = a_task.await;

    let (b_handle, b_task) =
        common::start(&e, fast_config("alo-app", &e.stream, "b"), log.factory("b"));
    let expected_again: BTreeSet<String> = numbered("unacked", 0..100)
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    let log2 = log.clone();
    log.wait_until("the redelivery", move |_| {
        let b: BTreeSet<String> = log2.data_of("b").into_iter().collect();
        b.is_superset(&expected_again)
    })
    .await;

    let again: Vec<String> = log.data_of("b");
    let again_set: BTreeSet<String> = again.iter().cloned().collect();
    assert!(
        again_set.iter().all(|d| d.starts_with("unacked-")),
        "only records after the last checkpoint are delivered again: {:?}",
        again_set
            .iter()
            .filter(|d| !d.starts_with("unacked-"))
            .take(5)
            .collect::<Vec<_>>()
    );
    assert_eq!(again.len(), 100, "each exactly once by the new worker");
    assert_eq!(log.data().len(), 500, "nothing missing");
    assert_eq!(b_handle.status().held_leases.len(), 2);
    b_handle.graceful_shutdown().await;
    b_task.await.unwrap().unwrap();
}
