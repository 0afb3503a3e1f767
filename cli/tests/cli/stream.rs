//! `kinesis stream ...`: each command's effect read back from the server, and the shard
//! tables a person reads.

use crate::common::Env;

/// The table rows (after the header) of output `lines` starting with `shardId-`.
fn shard_rows(lines: &[String]) -> Vec<Vec<String>> {
    lines
        .iter()
        .filter(|l| l.starts_with("shardId-"))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// (id, state, parents) of each row.
fn shape(rows: &[Vec<String>]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect()
}

fn row(id: &str, state: &str, parents: &str) -> (String, String, String) {
    (id.to_owned(), state.to_owned(), parents.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_describe_reshard_and_delete_as_the_server_sees_them() {
    let env = Env::start().await;
    let created = env
        .kinesis(&["stream", "create", "managed", "--shards", "2", "--wait"])
        .run();
    let lines = created.success().lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("status") && l.contains("ACTIVE")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("SHARD") && l.contains("HASH RANGE"))
    );
    let rows = shard_rows(&lines);
    assert_eq!(
        shape(&rows),
        [
            row("shardId-000000000000", "open", "-"),
            row("shardId-000000000001", "open", "-")
        ]
    );
    assert_eq!(rows[0][3], "50.00%");
    assert_eq!(
        rows[0][4..],
        ["0".to_owned(), "-".to_owned(), (u128::MAX / 2).to_string()]
    );

    // (ferrokinesis insists on a shard count: --on-demand is not exercised here.)
    env.kinesis(&["stream", "create", "other"]).run().success();
    let listed = env.kinesis(&["stream", "list"]).run();
    let mut names = listed.success().lines();
    names.sort();
    assert_eq!(names, ["managed", "other"]);

    let split = env
        .kinesis(&[
            "stream",
            "split",
            "managed",
            "shardId-000000000000",
            "--wait",
        ])
        .run();
    let rows = shard_rows(&split.success().lines());
    assert_eq!(
        shape(&rows),
        [
            row("shardId-000000000000", "closed", "-"),
            row("shardId-000000000001", "open", "-"),
            row("shardId-000000000002", "open", "shardId-000000000000"),
            row("shardId-000000000003", "open", "shardId-000000000000"),
        ]
    );
    assert_eq!(rows[2][3], "25.00%");
    let shards = testkit::streams::list_shards(&env.kinesis, "managed")
        .await
        .unwrap();
    let child = shards
        .iter()
        .find(|s| s.shard_id() == "shardId-000000000003")
        .unwrap();
    assert_eq!(
        child.hash_key_range().unwrap().starting_hash_key(),
        (1u128 << 126).to_string()
    );

    let merged = env
        .kinesis(&[
            "stream",
            "merge",
            "managed",
            "shardId-000000000003",
            "shardId-000000000001",
            "--wait",
        ])
        .run();
    let rows = shard_rows(&merged.success().lines());
    assert_eq!(
        shape(&rows).last().unwrap(),
        &row(
            "shardId-000000000004",
            "open",
            "shardId-000000000003,shardId-000000000001"
        )
    );

    let scaled = env
        .kinesis(&["stream", "scale", "managed", "--shards", "4", "--wait"])
        .run();
    let open = shard_rows(&scaled.success().lines())
        .iter()
        .filter(|r| r[1] == "open")
        .count();
    assert_eq!(open, 4);

    let described = env.kinesis(&["stream", "describe", "managed"]).run();
    let lines = described.success().lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("shards") && l.contains("4 open")),
        "{lines:?}"
    );

    env.kinesis(&["stream", "delete", "managed", "--wait"])
        .run()
        .success();
    let after = env.kinesis.list_streams().send().await.unwrap();
    assert_eq!(after.stream_names(), ["other"]);
    env.kinesis(&["stream", "describe", "managed"])
        .run()
        .fails_with(&["stream \"managed\" not found"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_said_in_one_line() {
    let env = Env::with_stream("taken", 1).await;
    env.kinesis(&["stream", "create", "taken"])
        .run()
        .fails_with(&["stream \"taken\" already exists"]);
    env.kinesis(&["stream", "split", "taken", "shardId-000000000009"])
        .run()
        .fails_with(&["shardId-000000000009", "is not in stream"]);
    env.kinesis(&[
        "stream",
        "split",
        "taken",
        "shardId-000000000000",
        "--at",
        "12x",
    ])
    .run()
    .fails_with(&["--at 12x"]);
    env.kinesis(&[
        "stream",
        "merge",
        "taken",
        "shardId-000000000000",
        "shardId-000000000007",
    ])
    .run()
    .fails_with(&["shardId-000000000007", "is not in stream"]);
    env.kinesis(&["stream", "split", "taken", "shardId-000000000000", "--wait"])
        .run()
        .success();
    env.kinesis(&["stream", "split", "taken", "shardId-000000000000"])
        .run()
        .fails_with(&["is closed"]);
    env.kinesis(&[
        "stream",
        "merge",
        "taken",
        "shardId-000000000001",
        "shardId-000000000001",
    ])
    .run()
    .fails_with(&["MergeShards"]);
}
