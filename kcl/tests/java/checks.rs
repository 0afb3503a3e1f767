//! Checkers over what happened: the processors' events (both sides), the user records read
//! back from the stream, the lease table's samples, and the Java workers' logs.

use std::collections::{BTreeMap, BTreeSet};

use kcl::Position;

use super::events::{Event, Kind};
use super::produce::InStream;
use super::table::{Sample, owner_history};

/// Every event of both sides in one list, by wall-clock time (stable: a side's own order
/// is kept for equal times).
pub fn merged(java: &[Event], kcl: &[Event]) -> Vec<Event> {
    let mut all: Vec<Event> = java.iter().chain(kcl).cloned().collect();
    all.sort_by_key(|e| e.wall_us);
    all
}

/// The deliveries of `worker` on `shard`, in order.
pub fn deliveries<'a>(
    events: &'a [Event],
    worker: &str,
    shard: &str,
) -> Vec<(&'a str, &'a Position)> {
    events
        .iter()
        .filter(|e| e.worker == worker && e.shard == shard)
        .filter_map(Event::record)
        .collect()
}

/// The events of `worker` on `shard` from its `n`-th `initialize` there (0: the first) up
/// to the next one.
pub fn acquisition(events: &[Event], worker: &str, shard: &str, n: usize) -> Vec<Event> {
    let mine: Vec<&Event> = events
        .iter()
        .filter(|e| e.worker == worker && e.shard == shard)
        .collect();
    let starts: Vec<usize> = mine
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.kind, Kind::Initialize { .. }))
        .map(|(i, _)| i)
        .collect();
    let Some(&from) = starts.get(n) else {
        return Vec::new();
    };
    let to = starts.get(n + 1).copied().unwrap_or(mine.len());
    mine[from..to].iter().map(|e| (*e).clone()).collect()
}

/// The checkpoint an acquisition started from (its `initialize`).
pub fn initialized_at(acquisition: &[Event]) -> Option<Position> {
    match acquisition.first().map(|e| &e.kind) {
        Some(Kind::Initialize { checkpoint }) => checkpoint.clone(),
        _ => None,
    }
}

/// The last checkpoint `worker`'s processors wrote on `shard` (a record position), if any.
pub fn last_checkpoint(events: &[Event], worker: &str, shard: &str) -> Option<Position> {
    events
        .iter()
        .filter(|e| e.worker == worker && e.shard == shard)
        .filter_map(Event::checkpointed)
        .flatten()
        .last()
        .cloned()
}

/// The first user record of `shard` in the stream after `checkpoint`.
pub fn next_in_stream<'a>(
    stream: &'a [InStream],
    shard: &str,
    checkpoint: &Position,
) -> Option<&'a InStream> {
    stream
        .iter()
        .find(|r| r.shard == shard && &r.position > checkpoint)
}

/// Checks that `worker`'s first delivery on `shard` is the record right after `checkpoint`:
/// nothing before it delivered again, nothing after it skipped.
pub fn assert_resumes_after(
    events: &[Event],
    stream: &[InStream],
    worker: &str,
    shard: &str,
    checkpoint: &Position,
) {
    let first = deliveries(events, worker, shard)
        .first()
        .map(|(d, p)| (d.to_string(), (*p).clone()));
    let expected =
        next_in_stream(stream, shard, checkpoint).map(|r| (r.data.clone(), r.position.clone()));
    assert!(
        expected.is_some(),
        "{shard}: nothing in the stream after {checkpoint}"
    );
    assert_eq!(
        first, expected,
        "{worker} on {shard} must resume right after the checkpoint {checkpoint} (first delivery, expected)"
    );
}

/// Checks that `receiver`'s `n`-th acquisition of `shard` (0: the first) started at `given`
/// (its `initialize`) and that its first delivery is the record right after it.
pub fn assert_takes_up_at(
    events: &[Event],
    stream: &[InStream],
    receiver: &str,
    shard: &str,
    n: usize,
    given: &Position,
) {
    let got = acquisition(events, receiver, shard, n);
    assert_eq!(
        initialized_at(&got).as_ref(),
        Some(given),
        "{receiver} on {shard} must start at the checkpoint it was given"
    );
    assert_resumes_after(&got, stream, receiver, shard, given);
}

/// User records of the stream never delivered by anyone.
pub fn missing<'a>(stream: &'a [InStream], events: &[Event]) -> Vec<&'a InStream> {
    let delivered: BTreeSet<&str> = events
        .iter()
        .filter_map(Event::record)
        .map(|(d, _)| d)
        .collect();
    stream
        .iter()
        .filter(|r| !delivered.contains(r.data.as_str()))
        .collect()
}

/// Data delivered more than once (by anyone) among the records of `shards`, with the count.
pub fn duplicates(events: &[Event], shards: &[String]) -> BTreeMap<String, usize> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for e in events.iter().filter(|e| shards.contains(&e.shard)) {
        if let Some((data, _)) = e.record() {
            *seen.entry(data.to_owned()).or_default() += 1;
        }
    }
    seen.retain(|_, n| *n > 1);
    seen
}

/// Per partition key, the first deliveries must come in the order the records were
/// produced (`produced` in production order; `events` merged by time). Returns the keys
/// out of order.
pub fn keys_out_of_order(produced: &[(String, String)], events: &[Event]) -> Vec<String> {
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        if let Some((data, _)) = e.record() {
            first.entry(data).or_insert(i);
        }
    }
    let mut last_by_key: BTreeMap<&str, usize> = BTreeMap::new();
    let mut bad = BTreeSet::new();
    for (pk, data) in produced {
        let Some(&at) = first.get(data.as_str()) else {
            continue;
        };
        if last_by_key
            .get(pk.as_str())
            .is_some_and(|&before| before > at)
        {
            bad.insert(pk.clone());
        }
        last_by_key.insert(pk, at);
    }
    bad.into_iter().collect()
}

/// Leases (not finished at the end) whose owner came back to an earlier owner: A -> B -> A.
pub fn flip_flops(samples: &[Sample]) -> Vec<(String, Vec<Option<String>>)> {
    let Some(last) = samples.last() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for lease in last
        .leases
        .iter()
        .filter(|l| l.checkpoint != Position::ShardEnd)
    {
        let history = owner_history(samples, &lease.key);
        let owners: Vec<&String> = history.iter().flatten().collect();
        let returned = owners
            .iter()
            .enumerate()
            .any(|(i, o)| owners[..i].iter().rev().skip(1).any(|p| p == o));
        if returned {
            out.push((lease.key.clone(), history));
        }
    }
    out
}

/// Owner changes per lease over the samples (from one owner to another, unowned spells
/// not counted).
pub fn owner_changes(samples: &[Sample]) -> BTreeMap<String, usize> {
    let keys: BTreeSet<String> = samples
        .iter()
        .flat_map(|s| s.leases.iter().map(|l| l.key.clone()))
        .collect();
    keys.into_iter()
        .map(|k| {
            let owners: Vec<String> = owner_history(samples, &k).into_iter().flatten().collect();
            let changes = owners.windows(2).filter(|w| w[0] != w[1]).count();
            (k, changes)
        })
        .collect()
}

/// ERROR entries of a Java log known to be harmless here, each with why: (the ERROR line
/// holds the first text, and the entry, its stack trace included, the second).
pub const HARMLESS_JAVA_ERRORS: &[(&str, &str, &str)] = &[
    (
        "Ec2Resource - Unable to retrieve instance metadata",
        "Network is unreachable",
        "the 3.x worker-metrics code probes the EC2 metadata service; in the test's network \
         namespace there is no route, as on any host outside EC2 (once per worker)",
    ),
    (
        "Scheduler - Worker.run caught exception",
        "LeaderDecider uninitialized",
        "in 2.x-compatible mode the scheduler loop keeps running after a SIGTERM stopped the \
         leader decider, once a second until the shutdown completes",
    ),
];

/// The ERROR entries of a Java log (the ERROR line and its stack trace) not listed in
/// [`HARMLESS_JAVA_ERRORS`].
pub fn unexpected_java_errors(log: &str) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in log.lines() {
        let is_entry = line.len() > 12 && line.as_bytes()[2] == b':' && line.as_bytes()[8] == b'.';
        if is_entry {
            entries.extend(current.take());
            if line.split_whitespace().nth(1) == Some("ERROR") {
                current = Some(line.to_owned());
            }
        } else if let Some(entry) = current.as_mut() {
            entry.push('\n');
            entry.push_str(line);
        }
    }
    entries.extend(current);
    entries.retain(|entry| {
        let first = entry.lines().next().unwrap_or_default();
        !HARMLESS_JAVA_ERRORS
            .iter()
            .any(|(line, body, _)| first.contains(line) && entry.contains(body))
    });
    entries
}
