use super::*;
use kinesis_agg::{HashKey, HashRange};

fn shard(id: &str, parents: &[&str], closed: bool) -> ShardInfo {
    ShardInfo {
        id: id.into(),
        parent: parents.first().map(|p| (*p).to_owned()),
        adjacent_parent: parents.get(1).map(|p| (*p).to_owned()),
        range: HashRange::new(HashKey::MIN, HashKey::MAX).unwrap(),
        closed,
    }
}

/// shard 0 split into 1 and 2, which were merged into 3.
fn resharded() -> Vec<ShardInfo> {
    vec![
        shard("s0", &[], true),
        shard("s1", &["s0"], true),
        shard("s2", &["s0"], true),
        shard("s3", &["s1", "s2"], false),
    ]
}

fn ids(started: &[(ShardInfo, Start)]) -> Vec<&str> {
    started.iter().map(|(s, _)| s.id.as_str()).collect()
}

#[test]
fn children_start_only_after_every_parent_is_done() {
    let mut plan = Plan::new(resharded(), &StartFrom::TrimHorizon, &[]).unwrap();
    assert_eq!(ids(&plan.start_ready()), ["s0"]);
    assert!(plan.start_ready().is_empty());
    plan.finished("s0");
    assert_eq!(ids(&plan.start_ready()), ["s1", "s2"]);
    plan.finished("s1");
    assert!(plan.start_ready().is_empty(), "s3 waits for s2 too");
    plan.finished("s2");
    let last = plan.start_ready();
    assert_eq!(ids(&last), ["s3"]);
    assert_eq!(last[0].1, Start::TrimHorizon);
    assert!(!plan.is_done());
    plan.finished("s3");
    assert!(plan.is_done());
}

#[test]
fn latest_reads_the_open_shards_without_waiting_for_closed_parents() {
    let mut plan = Plan::new(resharded(), &StartFrom::Latest, &[]).unwrap();
    let started = plan.start_ready();
    assert_eq!(ids(&started), ["s3"]);
    assert_eq!(started[0].1, Start::Latest);
}

#[test]
fn children_found_later_are_read_from_their_start() {
    let all = vec![shard("s0", &[], false)];
    let mut plan = Plan::new(all, &StartFrom::Latest, &[]).unwrap();
    assert_eq!(ids(&plan.start_ready()), ["s0"]);
    assert!(!plan.knows_children_of("s0"));
    plan.finished("s0");
    plan.discovered(vec![
        shard("s0", &[], true),
        shard("s1", &["s0"], false),
        shard("s2", &["s0"], false),
        shard("other", &[], false),
    ]);
    assert!(plan.knows_children_of("s0"));
    let started = plan.start_ready();
    assert_eq!(ids(&started), ["s1", "s2"]);
    assert!(started.iter().all(|(_, s)| *s == Start::TrimHorizon));
}

#[test]
fn named_shards_are_read_alone_and_unknown_ones_refused() {
    let from = StartFrom::Sequence("42".into());
    let mut plan = Plan::new(resharded(), &from, &["s1".into()]).unwrap();
    let started = plan.start_ready();
    assert_eq!(
        ids(&started),
        ["s1"],
        "s0 is not read, so it does not hold s1 back"
    );
    assert_eq!(started[0].1, Start::AtSequence("42".into()));
    plan.finished("s1");
    assert!(plan.knows_children_of("s1"), "children are not followed");
    plan.discovered(resharded());
    assert!(plan.is_done());
    assert_eq!(
        Plan::new(resharded(), &StartFrom::TrimHorizon, &["nope".into()]).unwrap_err(),
        "nope"
    );
}

#[test]
fn timestamps_apply_to_every_shard_of_the_listing() {
    let t = SystemTime::UNIX_EPOCH;
    let mut plan = Plan::new(resharded(), &StartFrom::Timestamp(t), &[]).unwrap();
    let started = plan.start_ready();
    assert_eq!(started[0].1, Start::AtTimestamp(t));
}
