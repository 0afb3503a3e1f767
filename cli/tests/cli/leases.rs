//! `kinesis leases APP`: the lease table as the binary shows it, checked against the items
//! read back from DynamoDB; `reset` refused while a worker holds the lease, accepted with
//! --force or once released, and a consumer resuming where the reset put the checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kinesis::primitives::Blob;

use crate::common::Env;

/// The lease items as DynamoDB holds them: shard -> attribute -> value as text.
async fn items(env: &Env, app: &str) -> BTreeMap<String, HashMap<String, String>> {
    let out = env
        .dynamodb
        .scan()
        .table_name(app)
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.items()
        .iter()
        .map(|item| {
            let text: HashMap<String, String> = item
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        AttributeValue::S(s) | AttributeValue::N(s) => s.clone(),
                        AttributeValue::Ss(ss) => ss.join(","),
                        other => format!("{other:?}"),
                    };
                    (k.clone(), v)
                })
                .collect();
            (text["leaseKey"].clone(), text)
        })
        .collect()
}

/// Puts `r{i}` for i in `range`, returning each record's sequence number.
async fn put(env: &Env, stream: &str, range: std::ops::Range<usize>) -> Vec<String> {
    let mut seqs = Vec::new();
    for i in range {
        let out = env
            .kinesis
            .put_record()
            .stream_name(stream)
            .partition_key(format!("k{i}"))
            .data(Blob::new(format!("r{i}").into_bytes()))
            .send()
            .await
            .unwrap();
        seqs.push(out.sequence_number().to_owned());
    }
    seqs
}

/// Waits until every lease of `app` is owned by `worker`.
async fn wait_owned(env: &Env, app: &str, worker: &str, leases: usize) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let table = items(env, app).await;
        let owned = table
            .values()
            .filter(|i| i.get("leaseOwner").map(String::as_str) == Some(worker))
            .count();
        if owned == leases {
            return;
        }
        assert!(
            Instant::now() < until,
            "{worker} holds {owned} of {leases}: {table:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the checkpoint of `shard` is `seq`.
async fn wait_checkpoint(env: &Env, app: &str, shard: &str, seq: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let table = items(env, app).await;
        if table[shard]["checkpoint"] == seq {
            return;
        }
        assert!(
            Instant::now() < until,
            "checkpoint of {shard} not {seq}: {table:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn consumer<'a>(app: &'a str, worker: &'a str) -> Vec<&'a str> {
    vec![
        "consume",
        "leased",
        "--app",
        app,
        "--from",
        "trim_horizon",
        "--format",
        "json",
        "--worker-id",
        worker,
        "--poll-interval",
        "200ms",
        "--failover-time",
        "3s",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_shows_owners_while_held_and_checkpoints_after_release() {
    let env = Env::with_stream("leased", 2).await;
    put(&env, "leased", 0..20).await;
    let mut running = env.kinesis(&consumer("app-list", "w-1")).spawn();
    running.wait_lines(20, Duration::from_secs(30));
    wait_owned(&env, "app-list", "w-1", 2).await;

    let held = env.kinesis(&["leases", "app-list"]).run();
    let text = held.success().lines();
    assert_eq!(text[0].split_whitespace().next(), Some("SHARD"), "{text:?}");
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let row = text.iter().find(|l| l.starts_with(shard)).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[1], "w-1", "{row}");
        assert_eq!(cells[2], "-", "no hand-off: {row}");
    }
    let owners = text.iter().position(|l| l.starts_with("WORKER")).unwrap();
    assert_eq!(
        text[owners + 1].split_whitespace().collect::<Vec<_>>(),
        ["w-1", "2"]
    );

    running.signal("TERM");
    let out = running.wait(Duration::from_secs(20));
    let mut last: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for v in out.success().json() {
        last.insert(
            v["shard"].as_str().unwrap().to_owned(),
            (
                v["sequence"].as_str().unwrap().to_owned(),
                v["sub_sequence"].as_u64().unwrap(),
            ),
        );
    }

    let released = env.kinesis(&["leases", "app-list"]).run();
    let text = released.success().lines();
    let table = items(&env, "app-list").await;
    for (shard, item) in &table {
        let row = text.iter().find(|l| l.starts_with(shard.as_str())).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        // SHARD OWNER CHECKPOINT-OWNER CHECKPOINT SUB COUNTER SWITCHES PARENTS CHILDREN FINISHED
        assert_eq!(cells.len(), 10, "{row}");
        assert_eq!(cells[1], "-", "released: {row}");
        assert_eq!(cells[3], last[shard].0, "the last record written: {row}");
        assert_eq!(cells[3], item["checkpoint"]);
        assert_eq!(cells[4], last[shard].1.to_string());
        assert_eq!(cells[5], item["leaseCounter"], "{row}");
        assert_eq!(cells[9], "no");
    }
    assert!(
        text.iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["(none)", "2"]),
        "{text:?}"
    );

    let json = env.kinesis(&["leases", "app-list", "--json"]).run();
    let objects = json.success().json();
    assert_eq!(objects.len(), 2);
    for v in objects {
        let item = &table[v["shard"].as_str().unwrap()];
        assert_eq!(v["owner"], serde_json::Value::Null);
        assert_eq!(v["checkpoint"].as_str().unwrap(), item["checkpoint"]);
        assert_eq!(
            v["sub_sequence"].to_string(),
            item["checkpointSubSequenceNumber"]
        );
        assert_eq!(v["counter"].to_string(), item["leaseCounter"]);
        assert_eq!(v["finished"], false);
        assert!(v["parents"].as_array().unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_is_refused_while_held_and_a_consumer_resumes_where_it_put_the_checkpoint() {
    let env = Env::with_stream("leased", 1).await;
    let seqs = put(&env, "leased", 0..10).await;
    let shard = "shardId-000000000000";
    let mut running = env.kinesis(&consumer("app-reset", "w-1")).spawn();
    running.wait_lines(10, Duration::from_secs(30));
    wait_owned(&env, "app-reset", "w-1", 1).await;

    // Held: refused, and the item untouched (the worker's checkpoint of r9 stays).
    wait_checkpoint(&env, "app-reset", shard, &seqs[9]).await;
    env.kinesis(&[
        "leases",
        "app-reset",
        "reset",
        shard,
        "--to",
        "trim_horizon",
    ])
    .run()
    .fails_with(&["held by worker \"w-1\"", "--force"]);
    assert_eq!(items(&env, "app-reset").await[shard]["checkpoint"], seqs[9]);

    // Released: accepted; the checkpoint is the record r4.
    running.signal("TERM");
    running.wait(Duration::from_secs(20)).success();
    let to = format!("sequence:{}", seqs[4]);
    let counter: u64 = items(&env, "app-reset").await[shard]["leaseCounter"]
        .parse()
        .unwrap();
    let out = env
        .kinesis(&["leases", "app-reset", "reset", shard, "--to", &to])
        .run();
    assert!(
        out.success().lines()[0].contains(&format!("checkpoint {}:0", seqs[4])),
        "{:?}",
        out.lines()
    );
    let item = &items(&env, "app-reset").await[shard];
    assert_eq!(item["checkpoint"], seqs[4]);
    assert_eq!(item["checkpointSubSequenceNumber"], "0");
    assert_eq!(item["leaseCounter"], (counter + 1).to_string());

    // A consumer resumes after r4: r5..r9, each once.
    let resumed = env
        .kinesis(&[
            "consume",
            "leased",
            "--app",
            "app-reset",
            "--idle-exit",
            "2s",
            "--poll-interval",
            "200ms",
        ])
        .run();
    let lines = resumed.success().lines();
    let expected: Vec<String> = (5..10).map(|i| format!("r{i}")).collect();
    assert_eq!(lines, expected, "{}", resumed.stderr);

    // Held again: --force takes the lease, and its worker reads again from TRIM_HORIZON.
    let mut running = env.kinesis(&consumer("app-reset", "w-2")).spawn();
    wait_owned(&env, "app-reset", "w-2", 1).await;
    let forced = env
        .kinesis(&[
            "leases",
            "app-reset",
            "reset",
            shard,
            "--to",
            "trim_horizon",
            "--force",
        ])
        .run();
    assert!(
        forced.success().lines()[0].contains("taken from worker w-2"),
        "{:?}",
        forced.lines()
    );
    let item = &items(&env, "app-reset").await[shard];
    assert_eq!(item["checkpoint"], "TRIM_HORIZON");
    running.wait_lines(10, Duration::from_secs(30));
    let replayed: Vec<String> = running
        .wait_lines(10, Duration::from_secs(1))
        .iter()
        .map(|l| {
            serde_json::from_slice::<serde_json::Value>(l).unwrap()["data"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let all: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    assert_eq!(
        replayed, all,
        "from the oldest record after the forced reset"
    );
    running.signal("TERM");
    running.wait(Duration::from_secs(20)).success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_shard_and_a_missing_table_are_one_line_errors() {
    let env = Env::with_stream("leased", 1).await;
    put(&env, "leased", 0..2).await;
    env.kinesis(&[
        "consume",
        "leased",
        "--app",
        "app-err",
        "--from",
        "trim_horizon",
        "--limit",
        "2",
    ])
    .run()
    .success();
    env.kinesis(&[
        "leases",
        "app-err",
        "reset",
        "shardId-000000000099",
        "--to",
        "latest",
    ])
    .run()
    .fails_with(&[
        "no lease for shard \"shardId-000000000099\"",
        "kinesis leases app-err",
    ]);
    env.kinesis(&["leases", "no-such-app"])
        .run()
        .fails_with(&["lease table \"no-such-app\" does not exist"]);
    env.kinesis(&[
        "leases",
        "no-such-app",
        "reset",
        "shardId-000000000000",
        "--to",
        "latest",
    ])
    .run()
    .fails_with(&["lease table \"no-such-app\" does not exist"]);
}
