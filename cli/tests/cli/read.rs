//! `kinesis read`: every record written (plain and aggregated, text and binary) comes
//! out once, with its shard, sequence numbers and keys; positions, limits, follow,
//! resharding (per-key order, parents first), the hash range rule, injected faults.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use aws_sdk_kinesis::primitives::Blob;
use kinesis_agg::{Aggregator, HashKey, UserRecord};

use crate::common::Env;

const UPPER: u128 = 1 << 127;

/// Puts one record; returns (shard, sequence number).
async fn put(
    env: &Env,
    stream: &str,
    key: &str,
    ehk: Option<u128>,
    data: &[u8],
) -> (String, String) {
    let out = env
        .kinesis
        .put_record()
        .stream_name(stream)
        .partition_key(key)
        .set_explicit_hash_key(ehk.map(|k| k.to_string()))
        .data(Blob::new(data.to_vec()))
        .send()
        .await
        .unwrap();
    (out.shard_id().to_owned(), out.sequence_number().to_owned())
}

/// A partition key whose hash lies in the upper half of the key space (shard 1 of 2).
fn upper_key(prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| HashKey::from_partition_key(k).get() >= UPPER)
        .unwrap()
}

/// A KPL aggregate of (key, explicit hash key, data).
fn aggregate(records: &[(&str, Option<u128>, &str)]) -> Vec<u8> {
    let mut agg = Aggregator::default();
    for (key, ehk, data) in records {
        let mut r = UserRecord::new(*key, data.to_string()).unwrap();
        if let Some(k) = ehk {
            r = r.with_explicit_hash_key(HashKey::new(*k));
        }
        agg.try_add(r).unwrap();
    }
    agg.finish().unwrap().data.to_vec()
}

/// (key, n) records as `key:n` lines, round robin over `keys` keys.
async fn put_keyed(env: &Env, stream: &str, range: std::ops::Range<usize>, keys: usize) {
    for i in range {
        let key = format!("k{}", i % keys);
        put(
            env,
            stream,
            &key,
            None,
            format!("{key}:{}", i / keys).as_bytes(),
        )
        .await;
    }
}

/// Checks that every key's records came out as key:0, key:1, ... key:(n-1).
fn assert_per_key_order(lines: &[String], keys: usize, per_key: usize) {
    let mut seen: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for line in lines {
        let (key, n) = line.split_once(':').unwrap();
        seen.entry(key).or_default().push(n.parse().unwrap());
    }
    assert_eq!(seen.len(), keys, "{lines:?}");
    for (key, ns) in seen {
        assert_eq!(ns, (0..per_key).collect::<Vec<_>>(), "order of {key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_comes_out_once_with_where_it_came_from() {
    let env = Env::with_stream("looked", 2).await;
    let (s_text, q_text) = put(&env, "looked", "plain", Some(5), b"hello").await;
    let (s_bin, q_bin) = put(&env, "looked", "bin", Some(UPPER + 1), &[0xff, 0, 1]).await;
    let (a0, a2) = (upper_key("a"), upper_key("z"));
    let agg = aggregate(&[
        (&a0, None, "x0"),
        ("a1", Some(UPPER + 9), "x1"),
        (&a2, None, "x2"),
    ]);
    let (s_agg, q_agg) = put(&env, "looked", "a", Some(UPPER + 9), &agg).await;
    assert_eq!(
        (s_text.as_str(), s_bin.as_str()),
        ("shardId-000000000000", "shardId-000000000001")
    );

    let out = env.kinesis(&["read", "looked", "--format", "json"]).run();
    out.success();
    let got: BTreeSet<String> = out
        .json()
        .iter()
        .map(|v| {
            assert!(v["arrival"].as_str().unwrap().ends_with('Z'));
            format!(
                "{} {} {} {} {} {} {} {}",
                v["shard"],
                v["sequence"],
                v["sub_sequence"],
                v["partition_key"],
                v["explicit_hash_key"],
                v["aggregated"],
                v["encoding"],
                v["data"]
            )
        })
        .collect();
    let line = |s: &str, q: &str, sub: u64, k: &str, ehk: &str, agg: bool, enc: &str, d: &str| {
        format!("\"{s}\" \"{q}\" {sub} \"{k}\" {ehk} {agg} \"{enc}\" \"{d}\"")
    };
    let ehk = format!("\"{}\"", UPPER + 9);
    let want: BTreeSet<String> = [
        line(&s_text, &q_text, 0, "plain", "null", false, "text", "hello"),
        line(&s_bin, &q_bin, 0, "bin", "null", false, "base64", "/wAB"),
        line(&s_agg, &q_agg, 0, &a0, "null", true, "text", "x0"),
        line(&s_agg, &q_agg, 1, "a1", &ehk, true, "text", "x1"),
        line(&s_agg, &q_agg, 2, &a2, "null", true, "text", "x2"),
    ]
    .into();
    assert_eq!(got, want);

    let raw = env
        .kinesis(&["read", "looked", "--shard", "shardId-000000000001"])
        .run();
    raw.success();
    assert_eq!(
        raw.stdout,
        [
            vec![0xff, 0, 1],
            b"x0".to_vec(),
            b"x1".to_vec(),
            b"x2".to_vec()
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_and_limits_choose_what_is_read() {
    let env = Env::with_stream("positions", 1).await;
    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(
            put(
                &env,
                "positions",
                "k",
                None,
                format!("early {i}").as_bytes(),
            )
            .await
            .1,
        );
    }
    // ferrokinesis keeps arrival times in whole seconds: the later records arrive in a
    // later second than the earlier ones, at or after `between`.
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    let between = Duration::from_secs(now.as_secs() + 1);
    tokio::time::sleep(between - now + Duration::from_millis(50)).await;
    for i in 0..3 {
        put(&env, "positions", "k", None, format!("late {i}").as_bytes()).await;
    }

    let limited = env.kinesis(&["read", "positions", "-n", "2"]).run();
    assert_eq!(limited.success().lines(), ["early 0", "early 1"]);

    let from_seq = format!("sequence:{}", seqs[3]);
    let shard = "shardId-000000000000";
    let out = env
        .kinesis(&["read", "positions", "--shard", shard, "--from", &from_seq])
        .run();
    assert_eq!(
        out.success().lines(),
        ["early 3", "early 4", "late 0", "late 1", "late 2"]
    );

    let secs = between.as_secs();
    let out = env
        .kinesis(&["read", "positions", "--from", &format!("timestamp:{secs}")])
        .run();
    assert_eq!(out.success().lines(), ["late 0", "late 1", "late 2"]);

    let latest = env
        .kinesis(&["read", "positions", "--from", "latest"])
        .run();
    assert!(latest.success().stdout.is_empty(), "nothing after the end");

    env.kinesis(&["read", "positions", "--from", &from_seq])
        .run()
        .fails_with(&["needs exactly one --shard"]);
    env.kinesis(&["read", "positions", "--shard", "shardId-000000000042"])
        .run()
        .fails_with(&["shardId-000000000042", "is not in stream"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_shows_new_records_and_children_of_a_split_in_order_until_sigterm() {
    let env = Env::with_stream("followed", 1).await;
    let mut reader = env
        .kinesis(&[
            "read",
            "followed",
            "--from",
            "latest",
            "--follow",
            "--poll-interval",
            "100ms",
            "-v",
        ])
        .spawn();
    reader.wait_stderr("reading", Duration::from_secs(20));
    put_keyed(&env, "followed", 0..40, 8).await;
    reader.wait_lines(40, Duration::from_secs(20));

    env.kinesis(&[
        "stream",
        "split",
        "followed",
        "shardId-000000000000",
        "--wait",
    ])
    .run()
    .success();
    put_keyed(&env, "followed", 40..80, 8).await;
    let lines: Vec<String> = reader
        .wait_lines(80, Duration::from_secs(30))
        .iter()
        .map(|l| String::from_utf8(l.clone()).unwrap())
        .collect();
    assert_per_key_order(&lines, 8, 10);

    reader.signal("TERM");
    let out = reader.wait(Duration::from_secs(10));
    out.success();
    assert_eq!(out.stdout.len(), 80, "nothing twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_a_split_and_a_merge_parents_come_first_for_every_key() {
    let env = Env::with_stream("resharded", 1).await;
    put_keyed(&env, "resharded", 0..60, 6).await;
    env.kinesis(&[
        "stream",
        "split",
        "resharded",
        "shardId-000000000000",
        "--wait",
    ])
    .run()
    .success();
    put_keyed(&env, "resharded", 60..120, 6).await;
    env.kinesis(&[
        "stream",
        "merge",
        "resharded",
        "shardId-000000000001",
        "shardId-000000000002",
        "--wait",
    ])
    .run()
    .success();
    put_keyed(&env, "resharded", 120..180, 6).await;

    let out = env.kinesis(&["read", "resharded"]).run();
    assert_per_key_order(&out.success().lines(), 6, 30);
    let json = env
        .kinesis(&["read", "resharded", "--format", "json"])
        .run();
    let shards: Vec<String> = json
        .success()
        .json()
        .iter()
        .map(|v| v["shard"].as_str().unwrap().to_owned())
        .collect();
    let first_child = shards
        .iter()
        .position(|s| s != "shardId-000000000000")
        .unwrap();
    assert!(
        shards[first_child..]
            .iter()
            .all(|s| s != "shardId-000000000000"),
        "the parent is read first"
    );
    let merged = shards
        .iter()
        .position(|s| s == "shardId-000000000003")
        .unwrap();
    assert!(
        shards[merged..].iter().all(|s| s == "shardId-000000000003"),
        "the merged child last"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregate_holding_keys_of_another_shard_is_dropped_as_the_kcl_drops_it() {
    let env = Env::with_stream("ranged", 2).await;
    let good = aggregate(&[("g0", Some(1), "good 0"), ("g1", Some(2), "good 1")]);
    let bad = aggregate(&[("b0", Some(3), "bad 0"), ("b1", Some(UPPER + 3), "bad 1")]);
    put(&env, "ranged", "a", Some(1), &good).await;
    let (shard, _) = put(&env, "ranged", "a", Some(3), &bad).await;
    assert_eq!(shard, "shardId-000000000000");
    let out = env.kinesis(&["read", "ranged"]).run();
    assert_eq!(out.success().lines(), ["good 0", "good 1"]);
    assert!(
        out.stderr.contains("2 user records dropped"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_server_errors_resets_and_timeouts_lose_and_repeat_nothing() {
    use testkit::{Fault, FaultProxy, Rule};
    let env = Env::with_stream("faulty", 3).await;
    put_keyed(&env, "faulty", 0..300, 30).await;
    let proxy = FaultProxy::start(env.aws.kinesis_addr()).await.unwrap();
    proxy.set_rules(vec![
        Rule::new(Fault::Delay(Duration::from_millis(1500)))
            .on("GetRecords")
            .at_most(2),
        Rule::new(Fault::kinesis_throttled())
            .on("GetRecords")
            .with_probability(0.3),
        Rule::new(Fault::internal_failure())
            .on("GetRecords")
            .with_probability(0.15)
            .at_most(6),
        Rule::new(Fault::ResetAfterForward)
            .on("GetRecords")
            .with_probability(0.1)
            .at_most(4),
        Rule::new(Fault::kinesis_throttled())
            .on("GetShardIterator")
            .with_probability(0.3),
        Rule::new(Fault::service_unavailable())
            .on("ListShards")
            .at_most(2),
    ]);
    let out = env
        .kinesis(&["read", "faulty", "--timeout", "1s", "--max-records", "7"])
        .env("AWS_ENDPOINT_URL_KINESIS", &proxy.endpoint())
        .run();
    assert_per_key_order(&out.success().lines(), 30, 10);
    assert!(
        proxy.faults_injected() >= 5,
        "{} faults",
        proxy.faults_injected()
    );
}
