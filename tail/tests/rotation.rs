//! The agent as a process, on the embedded Kinesis, while the test writes log files and
//! rotates them in every way (rename + create with late writes, copytruncate, new
//! timestamped files) and truncates and refills one, with a kill -9 in the middle and
//! rotations while the agent is down. Every line is read back de-aggregated: none lost,
//! none invented, duplicates only of lines after the checkpoint at the kill (at most one
//! extra copy), and each file's lines in order on each shard within each run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use common::{Agent, Content, LogFile, read_stream, wait_until};
use testkit::{LocalAws, streams};

const WAIT: Duration = Duration::from_secs(30);

fn config(dir: &Path, pattern: &str) -> std::path::PathBuf {
    let path = dir.join("tail.toml");
    let text = format!(
        "checkpointFile = \"{}/state/checkpoints.json\"\ncheckpointIntervalMillis = 50\nshutdownTimeoutMillis = 5000\n\
         [[flows]]\nfilePattern = \"{}/logs/{pattern}\"\nkinesisStream = \"tail\"\ninitialPosition = \"START_OF_FILE\"\n\
         maxBufferAgeMillis = 50\npollIntervalMillis = 40\nrotatedFileIdleMillis = 300\n",
        dir.display(),
        dir.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Checkpointed lines per content, from the checkpoint file.
fn checkpointed(dir: &Path, contents: &HashMap<String, Content>) -> HashMap<String, usize> {
    let Ok(bytes) = std::fs::read(dir.join("state/checkpoints.json")) else {
        return HashMap::new();
    };
    let file: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let mut out = HashMap::new();
    for entries in file["flows"].as_object().unwrap().values() {
        for e in entries.as_array().unwrap() {
            let head = &e["content"]["head"];
            let (len, hash) = (
                head["len"].as_u64().unwrap(),
                head["hash"].as_u64().unwrap(),
            );
            let offset = e["offset"].as_u64().unwrap();
            if let Some((tag, c)) = contents.iter().find(|(_, c)| c.has_head(len, hash)) {
                out.insert(tag.clone(), c.lines_before(offset));
            }
        }
    }
    out
}

/// Whether every line of `log`'s current content is checkpointed.
fn all_checkpointed(dir: &Path, contents: &HashMap<String, Content>, log: &LogFile) -> bool {
    let tag = log.tag();
    checkpointed(dir, contents).get(&tag) == Some(&contents[&tag].lines.len())
}

/// A round of writing: a few lines to every live file.
fn write_round(files: &mut [&mut LogFile], contents: &mut HashMap<String, Content>, n: usize) {
    for f in files.iter_mut() {
        f.write(n, contents);
    }
}

/// The sequence numbers in the stream once two reads 100 ms apart agree (a request the
/// killed process had sent may still be applied by the server).
async fn settled_sequences(aws: &LocalAws) -> HashSet<String> {
    let mut last = HashSet::new();
    loop {
        let now: HashSet<String> = read_stream(aws, "tail")
            .await
            .into_iter()
            .map(|r| r.sequence)
            .collect();
        if !now.is_empty() && now == last {
            return now;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sequence_key(s: &str) -> (usize, String) {
    (s.len(), s.to_owned())
}

/// The checker over what was read back.
fn check(
    contents: &HashMap<String, Content>,
    at_kill: &HashMap<String, usize>,
    first_run: &HashSet<String>,
    read: &[common::Read],
) {
    let mut index: HashMap<&str, (&str, usize)> = HashMap::new();
    for (tag, c) in contents {
        for (i, l) in c.lines.iter().enumerate() {
            index.insert(l.as_str(), (tag.as_str(), i));
        }
    }
    let mut seen: HashMap<&str, Vec<bool>> = HashMap::new();
    for r in read {
        let line = r
            .line
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("record without newline: {:?}", r.line));
        assert!(index.contains_key(line), "a line nobody wrote: {line:?}");
        seen.entry(line)
            .or_default()
            .push(first_run.contains(&r.sequence));
    }
    for (line, (tag, i)) in &index {
        let runs = seen.get(line).unwrap_or_else(|| panic!("lost: {line}"));
        if runs.len() > 1 {
            let checkpointed = at_kill.get(*tag).copied().unwrap_or(0);
            assert!(
                *i >= checkpointed,
                "{line} sent twice but it was before the checkpoint ({checkpointed} lines)"
            );
            assert_eq!(runs.len(), 2, "{line} sent {} times", runs.len());
            assert_ne!(runs[0], runs[1], "{line} sent twice by the same run");
        }
    }
    // Order: per shard and run, each content's lines in increasing order.
    let mut by_shard: HashMap<(&str, bool), Vec<&common::Read>> = HashMap::new();
    for r in read {
        by_shard
            .entry((r.shard.as_str(), first_run.contains(&r.sequence)))
            .or_default()
            .push(r);
    }
    for records in by_shard.values_mut() {
        records.sort_by_key(|r| sequence_key(&r.sequence));
        let mut last: HashMap<&str, usize> = HashMap::new();
        for r in records.iter() {
            let (tag, i) = index[r.line.trim_end_matches('\n')];
            if let Some(previous) = last.insert(tag, i) {
                assert!(
                    i > previous,
                    "{tag}: line {i} after line {previous} on {}",
                    r.shard
                );
            }
        }
    }
}

async fn scenario(pattern: &str) {
    let aws = LocalAws::start().await.unwrap();
    streams::create_stream(&aws.kinesis_client(), "tail", 2)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let cfg = config(dir.path(), pattern);
    let args = ["--config", cfg.to_str().unwrap()];
    let mut contents = HashMap::new();
    let c = &mut contents;
    let mut app = LogFile::create(&logs, "app.log", c);
    let mut copy = LogFile::create(&logs, "copy.log", c);
    let mut refill = LogFile::create(&logs, "refill.log", c);
    let mut stamp1 = LogFile::create(&logs, "stamp-0001.log", c);
    write_round(&mut [&mut app, &mut copy, &mut refill, &mut stamp1], c, 30);

    // First run: writes and every kind of rotation while the agent reads (from its first
    // look at the files on: what is rotated away before it is never seen).
    let agent = Agent::start(&aws, dir.path(), &args);
    let first_look = |c: &HashMap<String, Content>| checkpointed(dir.path(), c).len() >= 4;
    wait_until(WAIT, "the agent's first look", || first_look(c)).await;
    let mut stamp2 = LogFile::create(&logs, "stamp-0002.log", c);
    for round in 0..8 {
        write_round(&mut [&mut app, &mut copy, &mut refill, &mut stamp2], c, 25);
        match round {
            2 => app.rotate_rename("app.log.1", 5, c),
            3 => copy.rotate_copytruncate("copy.log.1", c),
            4 => {
                // A truncation without a copy loses what was not read: wait until it was.
                wait_until(WAIT, "refill.log read", || {
                    all_checkpointed(dir.path(), c, &refill)
                })
                .await;
                refill.truncate_and_refill(200, c);
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let progress = |c: &HashMap<String, Content>| {
        checkpointed(dir.path(), c)
            .values()
            .filter(|n| **n > 0)
            .count()
    };
    wait_until(WAIT, "checkpoints of several files", || progress(c) >= 3).await;
    wait_until(WAIT, "refill.log read", || {
        all_checkpointed(dir.path(), c, &refill)
    })
    .await;
    agent.kill_9();
    let at_kill = checkpointed(dir.path(), c);
    let first_run = settled_sequences(&aws).await;

    // Down: rotated away (renamed, copytruncated), truncated and refilled, written to.
    write_round(&mut [&mut app, &mut copy, &mut stamp2], c, 20);
    app.rotate_rename("app.log.2", 3, c);
    copy.rotate_copytruncate("copy.log.2", c);
    refill.truncate_and_refill(400, c);
    write_round(&mut [&mut app, &mut copy, &mut stamp2], c, 20);
    let mut stamp3 = LogFile::create(&logs, "stamp-0003.log", c);
    stamp3.write(10, c);

    // Second run: more of the same (once it had its first look), then everything must arrive.
    let agent = Agent::start(&aws, dir.path(), &args);
    let looked = |c: &HashMap<String, Content>| {
        checkpointed(dir.path(), c).contains_key("stamp-0003.log-g0")
    };
    wait_until(WAIT, "the restarted agent's first look", || looked(c)).await;
    for round in 0..6 {
        write_round(&mut [&mut app, &mut copy, &mut refill, &mut stamp3], c, 25);
        match round {
            1 => app.rotate_rename("app.log.3", 4, c),
            2 => copy.rotate_copytruncate("copy.log.3", c),
            3 => {
                wait_until(WAIT, "refill.log read", || {
                    all_checkpointed(dir.path(), c, &refill)
                })
                .await;
                refill.truncate_and_refill(300, c);
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let expected: usize = contents.values().map(|c| c.lines.len()).sum();
    let start = std::time::Instant::now();
    let read = loop {
        let read = read_stream(&aws, "tail").await;
        let distinct: HashSet<&str> = read.iter().map(|r| r.line.as_str()).collect();
        if distinct.len() >= expected {
            break read;
        }
        if start.elapsed() > WAIT {
            let mut missing: Vec<(String, usize, usize, usize)> = Vec::new();
            for (tag, content) in &contents {
                let lost: Vec<usize> = (0..content.lines.len())
                    .filter(|i| !distinct.contains(format!("{}\n", content.lines[*i]).as_str()))
                    .collect();
                if !lost.is_empty() {
                    missing.push((tag.clone(), lost.len(), lost[0], content.lines.len()));
                }
            }
            eprintln!(
                "{}",
                std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default()
            );
            panic!(
                "{} of {expected} lines arrived; missing (content, count, first, of): {missing:?}; at kill {at_kill:?}",
                distinct.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let summary = agent.stop();
    if std::env::var_os("TAIL_TEST_LOG").is_some() {
        eprintln!(
            "{}",
            std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default()
        );
    }
    check(&contents, &at_kill, &first_run, &read);
    let files = summary["flows"][0]["files"].as_array().unwrap();
    assert!(files.iter().all(|f| f["records_failed"] == 0), "{summary}");
    assert!(
        files.iter().any(|f| f["truncations"].as_u64().unwrap() > 0),
        "truncations were counted: {summary}"
    );
    assert!(at_kill.values().any(|n| *n > 0));
    eprintln!(
        "{pattern}: {expected} lines, {} records read back, checkpointed at the kill: {at_kill:?}",
        read.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_and_kill_with_rotated_files_leaving_the_pattern() {
    scenario("*.log").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_and_kill_with_rotated_files_still_matching() {
    scenario("*.log*").await;
}
