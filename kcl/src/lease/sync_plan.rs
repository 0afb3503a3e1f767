//! Which leases shard sync creates: a pure function of the shard list and the table.
//!
//! On an empty table the initial position decides: LATEST creates leases for the open
//! shards only; TRIM_HORIZON and AT_TIMESTAMP create leases for every shard listed (the
//! ListShards filter normally lists just the shards open at that point; children wait
//! for their parents either way). On a table with leases, a shard gets a lease when it is
//! open, or when it is closed and one of its parents has an unfinished lease (a parent
//! still to be read, so this child must be read too). A shard whose parent has a lease
//! starts at TRIM_HORIZON; an open shard with no parent lease starts at the initial
//! position. Finished children are never recreated: their closed parents are finished
//! or gone.

use std::collections::{HashMap, HashSet};

use kinesis_agg::HashRange;

use super::Lease;
use crate::{InitialPosition, Position};

/// What shard sync needs of a shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShardInfo {
    pub(crate) id: String,
    /// Parent and adjacent parent shard ids.
    pub(crate) parents: Vec<String>,
    pub(crate) hash_range: Option<HashRange>,
    /// Whether the shard has an ending sequence number.
    pub(crate) closed: bool,
}

impl ShardInfo {
    /// A lease for this shard at `checkpoint`.
    pub(crate) fn lease_at(&self, checkpoint: Position) -> Lease {
        let mut lease = Lease::new(self.id.clone(), checkpoint);
        lease.parent_shard_ids = self.parents.clone();
        lease.hash_range = self.hash_range;
        lease
    }
}

/// The checkpoint a lease created at the configured initial position starts at.
pub(crate) fn initial_checkpoint(initial: InitialPosition) -> Position {
    match initial {
        InitialPosition::Latest => Position::Latest,
        InitialPosition::TrimHorizon => Position::TrimHorizon,
        InitialPosition::AtTimestamp(_) => Position::AtTimestamp,
    }
}

/// The leases to create.
pub(crate) fn plan(shards: &[ShardInfo], leases: &[Lease], initial: InitialPosition) -> Vec<Lease> {
    if leases.is_empty() {
        return plan_empty(shards, initial);
    }
    let existing: HashMap<&str, &Lease> = leases.iter().map(|l| (l.key.as_str(), l)).collect();
    let mut with_lease: HashSet<&str> = existing.keys().copied().collect();
    let mut unfinished: HashSet<&str> = leases
        .iter()
        .filter(|l| !l.is_finished())
        .map(|l| l.key.as_str())
        .collect();
    let mut out = Vec::new();
    // Closed chains (a closed child of a closed child) need several passes.
    loop {
        let before = out.len();
        let missing: Vec<&ShardInfo> = shards
            .iter()
            .filter(|s| !with_lease.contains(s.id.as_str()))
            .collect();
        for shard in missing {
            let parent_leased = shard
                .parents
                .iter()
                .any(|p| with_lease.contains(p.as_str()));
            let parent_unfinished = shard
                .parents
                .iter()
                .any(|p| unfinished.contains(p.as_str()));
            let checkpoint = match (shard.closed, parent_leased) {
                (false, true) => Position::TrimHorizon,
                (false, false) => initial_checkpoint(initial),
                (true, _) if parent_unfinished => Position::TrimHorizon,
                (true, _) => continue,
            };
            with_lease.insert(&shard.id);
            unfinished.insert(&shard.id);
            out.push(shard.lease_at(checkpoint));
        }
        if out.len() == before {
            return out;
        }
    }
}

fn plan_empty(shards: &[ShardInfo], initial: InitialPosition) -> Vec<Lease> {
    let checkpoint = initial_checkpoint(initial);
    shards
        .iter()
        .filter(|s| !(initial == InitialPosition::Latest && s.closed))
        .map(|s| s.lease_at(checkpoint.clone()))
        .collect()
}

/// Finished leases that may be deleted: `SHARD_END` with known children that have all
/// started (or are gone, having finished themselves). Returns (key, counter seen).
pub(crate) fn finished_to_delete(leases: &[Lease]) -> Vec<(String, u64)> {
    let by_key: HashMap<&str, &Lease> = leases.iter().map(|l| (l.key.as_str(), l)).collect();
    leases
        .iter()
        .filter(|l| l.is_finished() && !l.child_shard_ids.is_empty())
        .filter(|l| {
            l.child_shard_ids.iter().all(|c| {
                by_key
                    .get(c.as_str())
                    .is_none_or(|child| child.has_started())
            })
        })
        .map(|l| (l.key.clone(), l.counter))
        .collect()
}

#[cfg(test)]
mod tests {
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

    fn keys(leases: &[Lease]) -> Vec<(&str, &Position)> {
        leases
            .iter()
            .map(|l| (l.key.as_str(), &l.checkpoint))
            .collect()
    }

    /// p split into c1 and c2; c1 split again into d1 and d2.
    fn family() -> Vec<ShardInfo> {
        vec![
            shard("p", &[], true),
            shard("c1", &["p"], true),
            shard("c2", &["p"], false),
            shard("d1", &["c1"], false),
            shard("d2", &["c1"], false),
        ]
    }

    #[test]
    fn empty_table_latest_takes_open_shards_only() {
        let out = plan(&family(), &[], InitialPosition::Latest);
        assert_eq!(
            keys(&out),
            [
                ("c2", &Position::Latest),
                ("d1", &Position::Latest),
                ("d2", &Position::Latest)
            ]
        );
        assert_eq!(out[1].parent_shard_ids, ["c1"]);
    }

    #[test]
    fn empty_table_trim_horizon_takes_every_listed_shard() {
        let out = plan(&family(), &[], InitialPosition::TrimHorizon);
        assert_eq!(out.len(), 5);
        assert!(out.iter().all(|l| l.checkpoint == Position::TrimHorizon));
        let at = plan(
            &family(),
            &[],
            InitialPosition::AtTimestamp(std::time::UNIX_EPOCH),
        );
        assert!(at.iter().all(|l| l.checkpoint == Position::AtTimestamp));
    }

    #[test]
    fn children_of_an_unfinished_parent_are_created_at_trim_horizon_through_closed_chains() {
        let leases = [lease("p", Position::Latest)];
        let out = plan(&family(), &leases, InitialPosition::Latest);
        assert_eq!(
            keys(&out),
            [
                ("c1", &Position::TrimHorizon),
                ("c2", &Position::TrimHorizon),
                ("d1", &Position::TrimHorizon),
                ("d2", &Position::TrimHorizon)
            ]
        );
    }

    #[test]
    fn finished_and_deleted_children_are_not_recreated() {
        // p finished (waiting for c2 to start), c1 finished and deleted, d1/d2 running.
        let mut p = lease("p", Position::ShardEnd);
        p.child_shard_ids = vec!["c1".into(), "c2".into()];
        let leases = [
            p,
            lease("c2", Position::TrimHorizon),
            lease("d1", Position::Latest),
            lease("d2", Position::Latest),
        ];
        assert!(plan(&family(), &leases, InitialPosition::TrimHorizon).is_empty());
    }

    #[test]
    fn new_open_shards_without_parent_leases_use_the_initial_position() {
        let shards = [shard("a", &[], false), shard("b", &[], false)];
        let out = plan(
            &shards,
            &[lease("a", Position::Latest)],
            InitialPosition::TrimHorizon,
        );
        assert_eq!(keys(&out), [("b", &Position::TrimHorizon)]);
        let out = plan(
            &shards,
            &[lease("a", Position::Latest)],
            InitialPosition::Latest,
        );
        assert_eq!(keys(&out), [("b", &Position::Latest)]);
    }

    #[test]
    fn merge_children_list_both_parents() {
        let shards = [
            shard("x", &[], true),
            shard("y", &[], true),
            shard("m", &["x", "y"], false),
        ];
        let leases = [lease("x", Position::Latest), lease("y", Position::ShardEnd)];
        let out = plan(&shards, &leases, InitialPosition::Latest);
        assert_eq!(keys(&out), [("m", &Position::TrimHorizon)]);
        assert_eq!(out[0].parent_shard_ids, ["x", "y"]);
    }

    #[test]
    fn finished_leases_are_deleted_once_every_child_started() {
        let mut p = lease("p", Position::ShardEnd);
        p.counter = 9;
        p.child_shard_ids = vec!["c1".into(), "c2".into()];
        let started = lease("c1", Position::at("5", 0).unwrap());
        let waiting = lease("c2", Position::TrimHorizon);
        assert!(finished_to_delete(&[p.clone(), started.clone(), waiting]).is_empty());
        let c2 = lease("c2", Position::ShardEnd);
        assert_eq!(
            finished_to_delete(&[p.clone(), started.clone(), c2]),
            [("p".to_owned(), 9)]
        );
        // A gone child finished and was deleted itself.
        assert_eq!(
            finished_to_delete(&[p.clone(), started]),
            [("p".to_owned(), 9)]
        );
        // Children unknown: kept.
        p.child_shard_ids.clear();
        assert!(finished_to_delete(&[p]).is_empty());
    }
}
