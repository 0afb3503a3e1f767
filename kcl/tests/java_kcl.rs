//! The real Java KCL 3.1.3 (the MultiLangDaemon of the `kclpy-ext` wheel with a Python
//! record processor) and `kcl` workers on one lease table: checkpoints cross both ways
//! (sub-sequence numbers included), a mixed fleet shares the shards through a split, leases
//! move gracefully both ways, and neither side's items break the other. The scenarios and
//! their checkers are in `java/`.
//!
//! Each test needs Java 17 and a venv with `kclpy-ext==3.1.3.post4` (`KCL_JAVA_PYTHON`),
//! and runs only inside a network namespace with loopback alone: `.ci/java-kcl` sets that
//! up and runs them on `local-aws` and on kinesis-mock + dynalite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;
mod java;

/// Java checkpoints (plain records and inside aggregates), kcl resumes right after them;
/// kcl checkpoints inside aggregates, Java resumes there (sub-sequence numbers honoured).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java 17 and kclpy-ext in a loopback-only network namespace: run by .ci/java-kcl"]
async fn checkpoints_cross_between_java_and_kcl_with_sub_sequence_numbers() {
    java::resume::run().await;
}

/// Two kcl workers and a Java worker (2.x-compatible mode) share 4 shards through a split:
/// every record delivered, per-key order kept, no lease flip-flops, neither side broken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java 17 and kclpy-ext in a loopback-only network namespace: run by .ci/java-kcl"]
async fn mixed_fleet_2x_shares_the_shards_through_a_split() {
    java::mixed_fleet::run().await;
}

/// Graceful hand-overs kcl -> Java and Java -> kcl (2.x-compatible mode; each giver
/// checkpoints everything in `shutdown_requested`): each receiver starts at the giver's
/// final checkpoint and nothing is delivered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java 17 and kclpy-ext in a loopback-only network namespace: run by .ci/java-kcl"]
async fn graceful_handover_between_kcl_and_java_both_ways() {
    java::handover::run().await;
}

/// The Java KCL 3.x hand-off between kcl and Java (2.x-compatible mode): a joining kcl
/// worker asks for a Java lease with `checkpointOwner`, Java checkpoints in
/// `shutdown_requested` and hands it over; kcl leaving assigns it back to Java. Each
/// receiver starts at the giver's final checkpoint; nothing is delivered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java 17 and kclpy-ext in a loopback-only network namespace: run by .ci/java-kcl"]
async fn handoff_between_kcl_and_java_through_checkpoint_owner() {
    java::handoff::run().await;
}

/// Java in 3.x mode takes no lease while kcl holds them (kcl writes no WorkerMetricStats),
/// and takes every lease over at kcl's checkpoints once kcl leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Java 17 and kclpy-ext in a loopback-only network namespace: run by .ci/java-kcl"]
async fn java_3x_takes_no_lease_kcl_holds_and_takes_over_when_kcl_leaves() {
    java::version3x::run().await;
}
