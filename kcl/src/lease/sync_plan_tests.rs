use proptest::prelude::*;

use super::*;

fn shard(id: &str, parents: &[&str], closed: bool) -> ShardInfo {
    ShardInfo {
        id: id.into(),
        parents: parents.iter().map(|p| (*p).to_owned()).collect(),
        hash_range: None,
        closed,
    }
}

fn lease(id: &str, checkpoint: Position) -> Lease {
    Lease::new(id, checkpoint)
}

fn created(shards: &[ShardInfo], present: &[&str], initial: InitialPosition) -> Vec<String> {
    let present: HashSet<&str> = present.iter().copied().collect();
    let out = plan(shards, &present, initial);
    let checkpoint = initial_checkpoint(initial);
    assert!(out.iter().all(|l| l.checkpoint == checkpoint));
    out.into_iter().map(|l| l.key).collect()
}

/// The Java KCL's example: 0..3 merged pairwise into 6 and 7, which merged into 8; 4
/// unchanged; 5 split into 9 and 10.
fn java_example() -> Vec<ShardInfo> {
    vec![
        shard("0", &[], true),
        shard("1", &[], true),
        shard("2", &[], true),
        shard("3", &[], true),
        shard("4", &[], false),
        shard("5", &[], true),
        shard("6", &["0", "1"], true),
        shard("7", &["2", "3"], true),
        shard("8", &["6", "7"], false),
        shard("9", &["5"], false),
        shard("10", &["5"], false),
    ]
}

#[test]
fn the_java_kcls_example_creates_the_oldest_shards_still_needed() {
    let present = ["4", "5", "7"];
    let at = InitialPosition::AtTimestamp(std::time::UNIX_EPOCH);
    assert_eq!(
        created(&java_example(), &present, InitialPosition::Latest),
        ["6"]
    );
    assert_eq!(
        created(&java_example(), &present, InitialPosition::TrimHorizon),
        ["0", "1"]
    );
    assert_eq!(created(&java_example(), &present, at), ["0", "1"]);
}

#[test]
fn an_empty_table_gets_the_open_shards_at_latest_and_the_oldest_otherwise() {
    // Also what a server that ignores the ShardFilter lists: the whole history.
    let latest = created(&java_example(), &[], InitialPosition::Latest);
    assert_eq!(latest, ["4", "10", "9", "8"], "parents first, then by id");
    let trim = created(&java_example(), &[], InitialPosition::TrimHorizon);
    assert_eq!(trim, ["0", "1", "2", "3", "4", "5"]);
    // What the ShardFilter lists (the shards open at the position): all of them.
    let open_now = [shard("4", &[], false), shard("8", &["6", "7"], false)];
    assert_eq!(created(&open_now, &[], InitialPosition::Latest), ["4", "8"]);
}

#[test]
fn descendants_of_leased_shards_are_left_to_their_parents_shard_end() {
    // p split into c1 and c2; c1 split again into d1 and d2. p has a lease.
    let family = [
        shard("p", &[], true),
        shard("c1", &["p"], true),
        shard("c2", &["p"], false),
        shard("d1", &["c1"], false),
        shard("d2", &["c1"], false),
    ];
    for initial in [InitialPosition::Latest, InitialPosition::TrimHorizon] {
        assert!(created(&family, &["p"], initial).is_empty(), "{initial:?}");
        assert!(created(&family, &["c1", "c2"], initial).is_empty());
    }
    // A merge child waits for both parents' shard end, even when one of them is done.
    let merge = [
        shard("x", &[], true),
        shard("y", &[], true),
        shard("m", &["x", "y"], false),
    ];
    assert!(created(&merge, &["x", "y"], InitialPosition::Latest).is_empty());
}

#[test]
fn a_merge_with_one_parent_leased_gets_its_other_parent_at_the_initial_position() {
    let merge = [
        shard("x", &[], true),
        shard("y", &[], true),
        shard("m", &["x", "y"], false),
    ];
    assert_eq!(created(&merge, &["x"], InitialPosition::Latest), ["y"]);
    assert_eq!(created(&merge, &["x"], InitialPosition::TrimHorizon), ["y"]);
}

#[test]
fn a_sync_that_stopped_half_way_is_completed_without_descendants() {
    // Trim horizon on an empty table creates 0..5; a crash left only 0 and 2.
    let rest = created(&java_example(), &["0", "2"], InitialPosition::TrimHorizon);
    assert_eq!(rest, ["1", "3", "4", "5"]);
    // Latest: the first worker created 4 and 10 before stopping.
    let rest = created(&java_example(), &["4", "10"], InitialPosition::Latest);
    assert_eq!(rest, ["9", "8"]);
}

#[test]
fn the_listing_order_does_not_matter() {
    let mut shards = java_example();
    let expected = created(&shards, &["7"], InitialPosition::TrimHorizon);
    for seed in 0..50 {
        fastrand::Rng::with_seed(seed).shuffle(&mut shards);
        assert_eq!(
            created(&shards, &["7"], InitialPosition::TrimHorizon),
            expected
        );
    }
}

#[test]
fn inconsistent_listings_unlisted_parents_and_cycles() {
    // An open child of an open parent: a reshard in progress; nothing for the child yet.
    let racing = [shard("p", &[], false), shard("c", &["p"], false)];
    assert_eq!(created(&racing, &[], InitialPosition::Latest), ["p"]);
    // Parents that expired are not listed: the shard is one of the oldest.
    let orphan = [shard("c", &["gone"], false)];
    assert_eq!(created(&orphan, &[], InitialPosition::TrimHorizon), ["c"]);
    // A malformed cycle ends.
    let cycle = [
        shard("a", &["b"], true),
        shard("b", &["a"], true),
        shard("c", &["a"], false),
    ];
    let _ = created(&cycle, &[], InitialPosition::TrimHorizon);
}

#[test]
fn finished_and_deleted_children_are_not_recreated() {
    // p finished (waiting for c2 to start), c1 finished and deleted, d1/d2 running.
    let family = [
        shard("p", &[], true),
        shard("c1", &["p"], true),
        shard("c2", &["p"], false),
        shard("d1", &["c1"], false),
        shard("d2", &["c1"], false),
    ];
    assert!(
        created(
            &family,
            &["p", "c2", "d1", "d2"],
            InitialPosition::TrimHorizon
        )
        .is_empty()
    );
}

#[test]
fn finished_leases_are_deleted_once_every_child_started() {
    let mut p = lease("p", Position::ShardEnd);
    p.counter = 9;
    p.child_shard_ids = vec!["c1".into(), "c2".into()];
    let started = lease("c1", Position::at("5", 0).unwrap());
    let waiting = lease("c2", Position::TrimHorizon);
    assert!(finished_to_delete(&[p.clone(), started.clone(), waiting], &[]).is_empty());
    let c2 = lease("c2", Position::ShardEnd);
    assert_eq!(
        finished_to_delete(&[p.clone(), started.clone(), c2], &[]),
        [("p".to_owned(), 9)]
    );
    // A gone child finished and was deleted itself.
    assert_eq!(
        finished_to_delete(&[p.clone(), started.clone()], &[]),
        [("p".to_owned(), 9)]
    );
    // A child whose item cannot be read is present and not started.
    assert!(finished_to_delete(&[p.clone(), started], &["c2".to_owned()]).is_empty());
    // Children unknown: kept.
    p.child_shard_ids.clear();
    assert!(finished_to_delete(&[p], &[]).is_empty());
}

/// A random reshard history: roots, then splits and merges of open shards; some of the
/// oldest closed shards have expired (not listed).
fn history() -> impl Strategy<Value = Vec<ShardInfo>> {
    (
        1usize..4,
        proptest::collection::vec((any::<bool>(), any::<u16>(), any::<u16>()), 0..10),
        0usize..4,
    )
        .prop_map(|(roots, ops, expired)| {
            let mut shards: Vec<ShardInfo> = (0..roots)
                .map(|i| shard(&format!("s{i}"), &[], false))
                .collect();
            for (split, a, b) in ops {
                let open: Vec<usize> = (0..shards.len()).filter(|&i| !shards[i].closed).collect();
                let first = open[usize::from(a) % open.len()];
                let parent = shards[first].id.clone();
                if split || open.len() < 2 {
                    shards[first].closed = true;
                    for _ in 0..2 {
                        let id = format!("s{}", shards.len());
                        shards.push(shard(&id, &[&parent], false));
                    }
                } else {
                    let others: Vec<usize> = open.into_iter().filter(|&i| i != first).collect();
                    let second = others[usize::from(b) % others.len()];
                    let adjacent = shards[second].id.clone();
                    shards[first].closed = true;
                    shards[second].closed = true;
                    let id = format!("s{}", shards.len());
                    shards.push(shard(&id, &[&parent, &adjacent], false));
                }
            }
            let mut dropped = 0;
            shards.retain(|s| {
                let expire = s.closed && dropped < expired;
                dropped += usize::from(expire);
                !expire
            });
            shards
        })
}

/// Every listed ancestor of `id`, through listed parents.
fn ancestors<'a>(by_id: &HashMap<&str, &'a ShardInfo>, id: &str) -> HashSet<&'a str> {
    let mut out = HashSet::new();
    let mut todo = vec![id];
    while let Some(next) = todo.pop() {
        for p in by_id
            .get(next)
            .map(|s| s.parents.as_slice())
            .unwrap_or_default()
        {
            if let Some(parent) = by_id.get(p.as_str())
                && out.insert(parent.id.as_str())
            {
                todo.push(&parent.id);
            }
        }
    }
    out
}

/// Whether every path up from `id` (through listed parents) meets a shard in `leased`.
fn every_path_meets(by_id: &HashMap<&str, &ShardInfo>, id: &str, leased: &HashSet<&str>) -> bool {
    if leased.contains(id) {
        return true;
    }
    let parents: Vec<&str> = by_id[id]
        .parents
        .iter()
        .filter(|p| by_id.contains_key(p.as_str()))
        .map(String::as_str)
        .collect();
    !parents.is_empty() && parents.iter().all(|p| every_path_meets(by_id, p, leased))
}

proptest! {
    #[test]
    fn created_leases_are_the_oldest_needed_and_leave_no_open_shard_behind(
        shards in history(),
        present_bits in any::<u64>(),
        initial in prop_oneof![Just(InitialPosition::Latest), Just(InitialPosition::TrimHorizon)],
        seed in any::<u64>(),
    ) {
        let present: HashSet<&str> = shards
            .iter()
            .enumerate()
            .filter(|(i, _)| present_bits >> (i % 64) & 1 == 1)
            .map(|(_, s)| s.id.as_str())
            .collect();
        let out = plan(&shards, &present, initial);
        let made: HashSet<&str> = out.iter().map(|l| l.key.as_str()).collect();
        let by_id: HashMap<&str, &ShardInfo> = shards.iter().map(|s| (s.id.as_str(), s)).collect();
        let leased: HashSet<&str> = present.union(&made).copied().collect();
        prop_assert!(made.is_disjoint(&present));
        for lease in &out {
            // Never a descendant of a shard that has or gets a lease.
            let ups = ancestors(&by_id, &lease.key);
            prop_assert!(ups.is_disjoint(&leased), "{} below {:?}", lease.key, ups.intersection(&leased).collect::<Vec<_>>());
            // Parents before children.
            prop_assert_eq!(&lease.checkpoint, &initial_checkpoint(initial));
        }
        // Every open shard is reached: whichever way up it goes, it meets a lease.
        for open in shards.iter().filter(|s| !s.closed) {
            prop_assert!(every_path_meets(&by_id, &open.id, &leased), "{} is left behind", open.id);
        }
        // The listing order does not matter.
        let mut shuffled = shards.clone();
        fastrand::Rng::with_seed(seed).shuffle(&mut shuffled);
        let again: Vec<String> = plan(&shuffled, &present, initial).into_iter().map(|l| l.key).collect();
        let keys: Vec<String> = out.into_iter().map(|l| l.key).collect();
        prop_assert_eq!(again, keys);
    }
}
