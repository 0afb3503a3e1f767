//! `kinesis consume`: a KCL worker that writes, then checkpoints what it wrote; a second
//! run resumes after the checkpoints; SIGTERM releases the leases after final checkpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kinesis::primitives::Blob;

use crate::common::Env;

async fn put_lines(env: &Env, stream: &str, range: std::ops::Range<usize>) {
    for i in range {
        env.kinesis
            .put_record()
            .stream_name(stream)
            .partition_key(format!("k{i}"))
            .data(Blob::new(format!("r{i}").into_bytes()))
            .send()
            .await
            .unwrap();
    }
}

/// The lease table: shard -> (owner, checkpoint, sub-sequence).
async fn leases(env: &Env, app: &str) -> BTreeMap<String, (Option<String>, String, String)> {
    let items = env.dynamodb.scan().table_name(app).send().await.unwrap();
    let s = |item: &std::collections::HashMap<String, AttributeValue>, name: &str| {
        item.get(name).map(|v| match v {
            AttributeValue::S(s) => s.clone(),
            AttributeValue::N(n) => n.clone(),
            other => format!("{other:?}"),
        })
    };
    items
        .items()
        .iter()
        .map(|item| {
            let key = s(item, "leaseKey").unwrap();
            let owner = s(item, "leaseOwner");
            let checkpoint = s(item, "checkpoint").unwrap_or_default();
            let sub = s(item, "checkpointSubSequenceNumber").unwrap_or_default();
            (key, (owner, checkpoint, sub))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_resumes_after_what_the_first_wrote_and_checkpointed() {
    let env = Env::with_stream("consumed", 2).await;
    put_lines(&env, "consumed", 0..50).await;
    let first = env
        .kinesis(&[
            "consume",
            "consumed",
            "--app",
            "app-one",
            "--from",
            "trim_horizon",
            "--limit",
            "30",
        ])
        .run();
    let first_lines = first.success().lines();
    assert_eq!(first_lines.len(), 30, "{}", first.stderr);
    assert!(
        first.stderr.contains("records written: 30"),
        "{}",
        first.stderr
    );
    for (shard, (owner, _, _)) in leases(&env, "app-one").await {
        assert_eq!(owner, None, "{shard}: released at shutdown");
    }

    put_lines(&env, "consumed", 50..60).await;
    let second = env
        .kinesis(&[
            "consume",
            "consumed",
            "--app",
            "app-one",
            "--idle-exit",
            "2s",
            "--poll-interval",
            "200ms",
        ])
        .run();
    let second_lines = second.success().lines();
    let all: Vec<String> = first_lines.iter().chain(&second_lines).cloned().collect();
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(
        distinct.len(),
        60,
        "every record, first: {first_lines:?} second: {second_lines:?}"
    );
    assert_eq!(
        all.len(),
        60,
        "none twice: checkpoints are exactly what was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_final_checkpoints_and_releases_the_leases() {
    let env = Env::with_stream("stopped", 2).await;
    put_lines(&env, "stopped", 0..20).await;
    let mut consumer = env
        .kinesis(&[
            "consume",
            "stopped",
            "--app",
            "app-two",
            "--from",
            "trim_horizon",
            "--format",
            "json",
            "--checkpoint-every",
            "1000",
            "--worker-id",
            "w-1",
        ])
        .spawn();
    consumer.wait_lines(20, Duration::from_secs(30));
    consumer.signal("TERM");
    let out = consumer.wait(Duration::from_secs(20));
    out.success();
    // The last record written of each shard is its checkpoint, though --checkpoint-every
    // was never reached: the final checkpoint on shutdown.
    let mut last: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for v in out.json() {
        let seq = v["sequence"].as_str().unwrap().to_owned();
        last.insert(
            v["shard"].as_str().unwrap().to_owned(),
            (seq, v["sub_sequence"].as_u64().unwrap()),
        );
    }
    let table = leases(&env, "app-two").await;
    assert_eq!(table.len(), 2);
    for (shard, (owner, checkpoint, sub)) in table {
        assert_eq!(owner, None, "{shard} released");
        let (seq, sub_seq) = &last[&shard];
        assert_eq!((&checkpoint, &sub), (seq, &sub_seq.to_string()), "{shard}");
    }
    assert!(out.stderr.contains("leases released: 2"), "{}", out.stderr);
}

/// The stream's enhanced fan-out consumers: name -> status.
async fn stream_consumers(env: &Env, stream: &str) -> BTreeMap<String, String> {
    let listed = testkit::streams::stream_consumers(&env.kinesis, stream)
        .await
        .unwrap();
    listed
        .into_iter()
        .map(|(name, status)| (name, status.as_str().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_registers_a_consumer_resumes_checkpoints_and_deregisters_on_exit() {
    let env = Env::with_stream("fanned", 2).await;
    put_lines(&env, "fanned", 0..40).await;
    let first = env
        .kinesis(&[
            "consume",
            "fanned",
            "--app",
            "app-fo",
            "--consumer-name",
            "cli-fo",
            "--from",
            "trim_horizon",
            "--limit",
            "25",
        ])
        .run();
    let first_lines = first.success().lines();
    assert_eq!(first_lines.len(), 25, "{}", first.stderr);
    // Read through the registered consumer, which stays (no --deregister-on-exit).
    assert_eq!(
        stream_consumers(&env, "fanned").await,
        BTreeMap::from([("cli-fo".to_owned(), "ACTIVE".to_owned())])
    );

    let second = env
        .kinesis(&[
            "consume",
            "fanned",
            "--app",
            "app-fo",
            "--fan-out",
            "--consumer-name",
            "cli-fo",
            "--deregister-on-exit",
            "--idle-exit",
            "3s",
        ])
        .run();
    let second_lines = second.success().lines();
    let all: Vec<&String> = first_lines.iter().chain(&second_lines).collect();
    let distinct: BTreeSet<&&String> = all.iter().collect();
    assert_eq!(distinct.len(), 40, "every record: {all:?}");
    assert_eq!(all.len(), 40, "none twice: {all:?}");
    let left = stream_consumers(&env, "fanned").await;
    assert!(
        left.values().all(|status| status == "DELETING"),
        "deregistered by the last worker to leave: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_consumer_settings_are_named() {
    let env = Env::with_stream("settings", 1).await;
    env.kinesis(&["consume", "settings", "--app", "x"])
        .run()
        .fails_with(&["application name", "not a valid DynamoDB table name"]);
    env.kinesis(&[
        "consume",
        "settings",
        "--app",
        "app",
        "--from",
        "sequence:1",
    ])
    .run()
    .fails_with(&["consume --from takes latest, trim_horizon or timestamp:T"]);
    env.kinesis(&[
        "consume",
        "settings",
        "--app",
        "app",
        "--deregister-on-exit",
    ])
    .run()
    .fails_with(&["--deregister-on-exit needs --fan-out"]);
    env.kinesis(&["consume", "missing", "--app", "app"])
        .run()
        .fails_with(&["stream \"missing\" not found"]);
}
