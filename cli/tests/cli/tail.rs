//! `kinesis tail`: lines of a log file shipped to the embedded Kinesis across a rename
//! rotation (the old file written on after the rename, a new file created), every line
//! read back de-aggregated, once, in order per file (a record is the line with its
//! newline, as the Kinesis Agent sends it); SIGTERM stops it cleanly.

use std::io::Write as _;
use std::time::{Duration, Instant};

use crate::common::{Env, stream_records, user_records};

fn append(path: &std::path::Path, lines: impl Iterator<Item = String>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for line in lines {
        writeln!(f, "{line}").unwrap();
    }
    f.sync_all().unwrap();
}

/// Every user record's data on the stream, in shard order.
async fn lines_on(env: &Env, stream: &str) -> Vec<String> {
    stream_records(&env.kinesis, stream)
        .await
        .iter()
        .flat_map(|(_, records)| records.iter().flat_map(user_records))
        .map(|(_, _, data)| String::from_utf8(data).unwrap().trim_end().to_owned())
        .collect()
}

async fn wait_for(env: &Env, stream: &str, n: usize) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = lines_on(env, stream).await;
        if lines.len() >= n {
            return lines;
        }
        assert!(
            Instant::now() < until,
            "{} of {n} lines: {lines:?}",
            lines.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_arrive_once_and_in_order_across_a_rename_rotation() {
    let env = Env::with_stream("tailed", 1).await;
    let logs = env.path("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("app.log");
    append(&log, (0..50).map(|i| format!("a-{i}")));
    let pattern = format!("{}/*.log", logs.display());
    let checkpoints = env.path("checkpoints.json");
    let mut tail = env
        .kinesis(&[
            "tail",
            "--stream",
            "tailed",
            "--from",
            "start",
            "--checkpoint-file",
            checkpoints.to_str().unwrap(),
            "--poll-interval-ms",
            "50",
            "--max-buffer-age-ms",
            "100",
            &pattern,
        ])
        .spawn();
    wait_for(&env, "tailed", 50).await;

    // logrotate's create: rename (out of the pattern), the writer still appending to the
    // old file, then a new file under the old name.
    std::fs::rename(&log, logs.join("app.log.1")).unwrap();
    append(&logs.join("app.log.1"), (50..60).map(|i| format!("a-{i}")));
    append(&log, (0..40).map(|i| format!("b-{i}")));
    let lines = wait_for(&env, "tailed", 100).await;
    tail.signal("TERM");
    let out = tail.wait(Duration::from_secs(20));
    out.success();

    let of = |prefix: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.starts_with(prefix))
            .cloned()
            .collect()
    };
    let a: Vec<String> = (0..60).map(|i| format!("a-{i}")).collect();
    let b: Vec<String> = (0..40).map(|i| format!("b-{i}")).collect();
    assert_eq!(of("a-"), a, "the rotated file's lines, once, in order");
    assert_eq!(of("b-"), b, "the new file's lines, once, in order");
    assert_eq!(lines.len(), 100, "nothing else: {lines:?}");
    assert!(out.stderr.contains("lines read: 100"), "{}", out.stderr);
    assert!(checkpoints.exists(), "checkpoints written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_stream_and_bad_flags_are_one_line_errors() {
    let env = Env::start().await;
    let pattern = format!("{}/*.log", env.dir.path().display());
    env.kinesis(&["tail", "--stream", "nowhere", &pattern])
        .run()
        .fails_with(&["stream \"nowhere\" not found"]);
    let clash = env
        .kinesis(&[
            "tail",
            "--stream",
            "nowhere",
            "--csv-fields",
            "a,b",
            "--log-format",
            "SYSLOG",
            &pattern,
        ])
        .run();
    assert_eq!(
        clash.status.code(),
        Some(2),
        "a usage error: {}",
        clash.stderr
    );
    assert!(
        clash.stderr.contains("cannot be used with"),
        "{}",
        clash.stderr
    );
}

/// The runs of consecutive numbers in `ns`: `[0..=49, 30..=109]` as `[(0, 49), (30, 109)]`.
fn runs(ns: &[usize]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &n in ns {
        match out.last_mut() {
            Some((_, end)) if n == *end + 1 => *end = n,
            _ => out.push((n, n)),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_kill_9_and_a_rotation_a_restart_loses_no_line() {
    let env = Env::with_stream("killed", 1).await;
    let logs = env.path("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("app.log");
    let pattern = format!("{}/*.log", logs.display());
    let checkpoints = env.path("checkpoints.json");
    let args = [
        "tail",
        "--stream",
        "killed",
        "--from",
        "start",
        "--checkpoint-file",
        checkpoints.to_str().unwrap(),
        "--checkpoint-interval-ms",
        "100",
        "--poll-interval-ms",
        "50",
        "--max-buffer-age-ms",
        "100",
        &pattern,
    ];
    append(&log, (0..50).map(|i| format!("a-{i}")));
    let mut first = env.kinesis(&args).spawn();
    wait_for(&env, "killed", 50).await;
    // Acknowledged for many checkpoint intervals: checkpointed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    append(&log, (50..100).map(|i| format!("a-{i}")));
    first.signal("KILL");
    let _ = first.wait(Duration::from_secs(10));

    std::fs::rename(&log, logs.join("app.log.1")).unwrap();
    append(
        &logs.join("app.log.1"),
        (100..110).map(|i| format!("a-{i}")),
    );
    append(&log, (0..40).map(|i| format!("b-{i}")));
    let mut second = env.kinesis(&args).spawn();
    let until = Instant::now() + Duration::from_secs(30);
    let lines = loop {
        let lines = lines_on(&env, "killed").await;
        let distinct: std::collections::HashSet<&String> = lines.iter().collect();
        if distinct.len() >= 150 {
            break lines;
        }
        assert!(
            Instant::now() < until,
            "{} of 150 lines: {lines:?}",
            distinct.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    second.signal("TERM");
    second.wait(Duration::from_secs(20)).success();

    let numbers = |prefix: &str| -> Vec<usize> {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(prefix))
            .map(|n| n.parse().unwrap())
            .collect()
    };
    // The old file: what the first run sent from its start, then the second run from
    // the checkpoint on (at or after line 50, at most right after what was sent).
    let a = runs(&numbers("a-"));
    match a.as_slice() {
        [(0, 109)] => {}
        [(0, sent), (resumed, 109)] => {
            assert!(
                (50..=sent + 1).contains(resumed),
                "resumed at {resumed}, sent up to {sent}"
            );
        }
        other => panic!("the old file's lines are not two runs from the checkpoint: {other:?}"),
    }
    assert_eq!(
        runs(&numbers("b-")),
        [(0, 39)],
        "the new file once, in order"
    );
}
