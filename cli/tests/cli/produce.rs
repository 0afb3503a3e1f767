//! `kinesis produce`: every line (object, file) becomes one user record, read back from
//! the stream de-aggregated; keys, explicit hash keys, aggregation, rate, failures.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::{Env, stream_records, user_records};
use kinesis_agg::{Deaggregated, Deaggregator};

/// Every user record of the stream: (shard, partition key, explicit hash key, data).
async fn user_records_by_shard(
    env: &Env,
    stream: &str,
) -> Vec<(String, String, Option<String>, Vec<u8>)> {
    let mut out = Vec::new();
    for (shard, records) in stream_records(&env.kinesis, stream).await {
        for r in &records {
            for (key, ehk, data) in user_records(r) {
                out.push((shard.clone(), key, ehk, data));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_become_aggregated_records_read_back_whole() {
    let env = Env::with_stream("lines", 4).await;
    let lines: Vec<String> = (0..500).map(|i| format!("line {i} ünïcode")).collect();
    let mut input = lines.join("\n").into_bytes();
    input.extend_from_slice(b"\r\nlast line after a CRLF\n");
    let out = env
        .kinesis(&["produce", "lines", "--quiet"])
        .stdin(input)
        .run();
    out.success();
    assert!(
        out.stderr.contains("501 of 501 records written to lines"),
        "{}",
        out.stderr
    );

    let got = user_records_by_shard(&env, "lines").await;
    let mut datas: Vec<String> = got
        .iter()
        .map(|r| String::from_utf8(r.3.clone()).unwrap())
        .collect();
    let mut want = lines.clone();
    want.push("last line after a CRLF".into());
    datas.sort();
    want.sort();
    assert_eq!(datas, want);
    let shards: std::collections::BTreeSet<&String> = got.iter().map(|r| &r.0).collect();
    assert_eq!(shards.len(), 4, "random keys spread over every shard");
    let kinesis_records: usize = stream_records(&env.kinesis, "lines")
        .await
        .iter()
        .map(|(_, r)| r.len())
        .sum();
    assert!(
        kinesis_records < 100,
        "{kinesis_records} Kinesis records: aggregation is on by default"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_aggregate_with_a_fixed_key_writes_plain_records_in_order_on_one_shard() {
    let env = Env::with_stream("plain", 3).await;
    let input: String = (0..200).map(|i| format!("{i}\n")).collect();
    env.kinesis(&["produce", "plain", "--no-aggregate", "--key", "customer-17"])
        .stdin(input)
        .run()
        .success();
    let all = stream_records(&env.kinesis, "plain").await;
    let used: Vec<_> = all.iter().filter(|(_, r)| !r.is_empty()).collect();
    assert_eq!(used.len(), 1, "one key, one shard");
    let records = &used[0].1;
    assert_eq!(records.len(), 200, "one Kinesis record per line");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.partition_key(), Some("customer-17"));
        assert_eq!(r.data.as_ref(), i.to_string().as_bytes(), "in order");
        let data = bytes::Bytes::copy_from_slice(r.data.as_ref());
        assert!(matches!(
            Deaggregator::new().deaggregate(data),
            Deaggregated::NotAggregated(_)
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_objects_keep_their_text_and_take_their_key_from_a_field() {
    let env = Env::with_stream("json", 2).await;
    let objects = [
        "{\"user\": {\"id\": \"u1\"}, \"n\": 1}",
        "{\n  \"user\": {\"id\": \"u2\"},\n  \"n\": 2\n}",
        "{\"user\":{\"id\":7},\"n\":3}",
    ];
    let input = format!("{}\n{}{}\n", objects[0], objects[1], objects[2]);
    env.kinesis(&["produce", "json", "--json", "--key-field", "user.id"])
        .stdin(input)
        .run()
        .success();
    let mut got: Vec<(String, String)> = user_records_by_shard(&env, "json")
        .await
        .into_iter()
        .map(|(_, key, _, data)| (key, String::from_utf8(data).unwrap()))
        .collect();
    got.sort();
    let want = vec![
        ("7".to_owned(), objects[2].to_owned()),
        ("u1".to_owned(), objects[0].to_owned()),
        ("u2".to_owned(), objects[1].to_owned()),
    ];
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_hash_key_routes_every_record_to_its_shard() {
    let env = Env::with_stream("routed", 2).await;
    let upper = ((1u128 << 127) + 5).to_string();
    env.kinesis(&["produce", "routed", "--explicit-hash-key", &upper])
        .stdin("a\nb\nc\n")
        .run()
        .success();
    let got = user_records_by_shard(&env, "routed").await;
    assert_eq!(got.len(), 3);
    for (shard, _, ehk, _) in &got {
        assert_eq!(
            shard, "shardId-000000000001",
            "the upper half of the key space"
        );
        assert_eq!(
            ehk.as_deref(),
            Some(upper.as_str()),
            "carried in the aggregate"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_that_cannot_be_written_go_to_the_failed_file_and_the_exit_status_says_so() {
    let env = Env::with_stream("failing", 1).await;
    let too_big = format!("{{\"k\": \"x\", \"blob\": \"{}\"}}", "z".repeat(1_100_000));
    let input = [
        "{\"k\": \"a\", \"n\": 1}",
        "{\"n\": 2}",
        "[\"not\", \"an\", \"object\"]",
        too_big.as_str(),
        "{\"k\": \"b\", \"n\": 5}",
        "{\"k\": \"\", \"n\": 6}",
    ]
    .join("\n");
    let failed = env.path("failed.jsonl");
    let out = env
        .kinesis(&[
            "produce",
            "failing",
            "--json",
            "--key-field",
            "k",
            "--failed",
            failed.to_str().unwrap(),
        ])
        .stdin(input)
        .run();
    out.fails_with(&["4 of 6 records were not written", "failed.jsonl"]);
    assert!(
        out.stderr.contains("object 2: not written: no field \"k\""),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("not a JSON object"), "{}", out.stderr);
    assert!(out.stderr.contains("exceeds"), "{}", out.stderr);
    assert!(
        out.stderr.contains("2 of 6 records written"),
        "{}",
        out.stderr
    );

    // Two keys: the producer keeps no order between them (its requests to one shard may
    // land in either order), so the records are compared as a set.
    let mut written: Vec<Vec<u8>> = user_records_by_shard(&env, "failing")
        .await
        .into_iter()
        .map(|r| r.3)
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            b"{\"k\": \"a\", \"n\": 1}".to_vec(),
            b"{\"k\": \"b\", \"n\": 5}".to_vec()
        ]
    );
    let failed_lines: Vec<String> = std::fs::read_to_string(&failed)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(failed_lines.len(), 4, "as they were read, in order");
    assert_eq!(failed_lines[0], "{\"n\": 2}");
    assert_eq!(failed_lines[1], "[\"not\", \"an\", \"object\"]");
    assert_eq!(failed_lines[2], too_big);
    assert_eq!(failed_lines[3], "{\"k\": \"\", \"n\": 6}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_the_service_keeps_failing_expire_into_the_failed_file() {
    use testkit::{Fault, FaultProxy, Rule};
    let env = Env::with_stream("refused", 1).await;
    let proxy = FaultProxy::start(env.aws.kinesis_addr()).await.unwrap();
    proxy.set_rules(vec![
        Rule::new(Fault::fail_entries(1.0, "InternalFailure")).on("PutRecords"),
    ]);
    let failed = env.path("failed.txt");
    let out = env
        .kinesis(&["produce", "refused", "--failed", failed.to_str().unwrap()])
        .env("AWS_ENDPOINT_URL_KINESIS", &proxy.endpoint())
        .env("KPL_RECORD_TTL", "300")
        .stdin("one\ntwo\nthree\n")
        .run();
    out.fails_with(&["3 of 3 records were not written"]);
    assert!(out.stderr.contains("expired"), "{}", out.stderr);
    let mut lines: Vec<String> = std::fs::read_to_string(&failed)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    assert_eq!(lines, ["one", "three", "two"]);
    assert!(proxy.faults_injected() > 0);
    assert!(
        stream_records(&env.kinesis, "refused").await[0]
            .1
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_read_in_order_or_taken_whole() {
    let env = Env::with_stream("files", 1).await;
    let (a, b) = (env.path("a.txt"), env.path("b.bin"));
    std::fs::write(&a, "a1\na2\n").unwrap();
    std::fs::write(&b, [0xffu8, 0x00, b'\n', 0x01]).unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    env.kinesis(&["produce", "files", "--key", "k", a, "-", a])
        .stdin("s1\n")
        .run()
        .success();
    env.kinesis(&["produce", "files", "--key", "k", "--file-per-record", a, b])
        .run()
        .success();
    let datas: Vec<Vec<u8>> = user_records_by_shard(&env, "files")
        .await
        .into_iter()
        .map(|r| r.3)
        .collect();
    let want: Vec<Vec<u8>> = vec![
        b"a1".to_vec(),
        b"a2".to_vec(),
        b"s1".to_vec(),
        b"a1".to_vec(),
        b"a2".to_vec(),
        b"a1\na2\n".to_vec(),
        vec![0xff, 0x00, b'\n', 0x01],
    ];
    assert_eq!(datas, want);
    let missing = env.path("missing.txt");
    env.kinesis(&["produce", "files", missing.to_str().unwrap()])
        .run()
        .fails_with(&["opening", "missing.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_paces_the_records_and_progress_lines_show_it() {
    let env = Env::with_stream("paced", 1).await;
    let input: String = (0..60).map(|i| format!("{i}\n")).collect();
    let started = Instant::now();
    let out = env
        .kinesis(&[
            "produce",
            "paced",
            "--rate",
            "40",
            "--progress-interval",
            "250ms",
        ])
        .stdin(input)
        .run();
    let took = started.elapsed();
    out.success();
    // 60 records at 40 a second: the last one is put 59 / 40 s after the first.
    assert!(took >= Duration::from_millis(1_400), "{took:?}");
    let progress: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("records/s), "))
        .collect();
    assert!(progress.len() >= 3, "{}", out.stderr);
    assert!(
        progress
            .iter()
            .all(|l| l.contains("in flight") && l.contains("failed"))
    );
    let mut counts = BTreeMap::new();
    for r in user_records_by_shard(&env, "paced").await {
        *counts.entry(r.3).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_reading_and_sends_what_was_read() {
    use std::io::Write as _;
    let env = Env::with_stream("interrupted", 1).await;
    let (mut producer, mut stdin) = env
        .kinesis(&["produce", "interrupted", "--progress-interval", "100ms"])
        .spawn_with_stdin();
    stdin.write_all(b"a\nb\nc\n").unwrap();
    stdin.flush().unwrap();
    producer.wait_stderr("3 read, 3 written", Duration::from_secs(20));
    producer.signal("TERM");
    let out = producer.wait(Duration::from_secs(20));
    out.success();
    assert!(
        out.stderr.contains("3 of 3 records written"),
        "{}",
        out.stderr
    );
    drop(stdin);
    let datas: Vec<Vec<u8>> = user_records_by_shard(&env, "interrupted")
        .await
        .into_iter()
        .map(|r| r.3)
        .collect();
    assert_eq!(datas.len(), 3);
}
