//! Which leases shard sync creates, and which finished leases it deletes: pure functions
//! of the shard list and the table.
//!
//! Creation follows the Java KCL: leases are created for the oldest shards that still need
//! processing, and for no descendant of a shard that has (or gets) a lease: descendants get
//! theirs when their parents reach their shard end, so a child never starts before its
//! parents are done, whichever worker syncs, however far an earlier sync got, and in
//! whatever order ListShards lists the shards.
//!
//! A shard is *covered* when it has a lease, or when one of its listed parents is covered
//! or will be read from its start (with TRIM_HORIZON or AT_TIMESTAMP, a shard without a
//! lease and without listed parents: the oldest shards kept). Walking up from every open
//! shard without a lease (through shards without leases), a lease at the initial position
//! is created for each shard that is not covered and is either open or a parent of a
//! covered shard. So with TRIM_HORIZON the oldest shards are created, with LATEST the open
//! shards and the uncovered parents of covered ones (read from LATEST, they end at once and
//! let their children start). On an empty table this creates the leases of the shards
//! listed with the initial position's ShardFilter. An open shard with an open parent is an
//! inconsistent listing (a reshard in progress) and waits for the next sync.

use std::collections::{BTreeMap, HashMap, HashSet};

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

/// The leases to create, parents before children, for the shards listed and the keys
/// present in the table (unreadable items count as present).
pub(crate) fn plan(
    shards: &[ShardInfo],
    present: &HashSet<&str>,
    initial: InitialPosition,
) -> Vec<Lease> {
    let graph = Graph::new(shards, present, initial);
    let mut create: BTreeMap<(usize, &str), &ShardInfo> = BTreeMap::new();
    let mut covered: HashMap<&str, bool> = HashMap::new();
    for shard in shards
        .iter()
        .filter(|s| !s.closed && !present.contains(s.id.as_str()))
    {
        if graph.parents(shard).any(|p| !p.closed) {
            continue;
        }
        if !graph.visit(shard, &mut covered, &mut create) {
            create.insert((graph.depth(shard), &shard.id), shard);
        }
    }
    let checkpoint = initial_checkpoint(initial);
    create
        .into_values()
        .map(|s| s.lease_at(checkpoint.clone()))
        .collect()
}

/// The listed shards, what the table holds, and the initial position.
struct Graph<'a> {
    by_id: HashMap<&'a str, &'a ShardInfo>,
    present: &'a HashSet<&'a str>,
    from_start: bool,
}

impl<'a> Graph<'a> {
    fn new(
        shards: &'a [ShardInfo],
        present: &'a HashSet<&'a str>,
        initial: InitialPosition,
    ) -> Self {
        Graph {
            by_id: shards.iter().map(|s| (s.id.as_str(), s)).collect(),
            present,
            from_start: initial != InitialPosition::Latest,
        }
    }

    /// The parents of `shard` that are listed (the others expired).
    fn parents(&self, shard: &'a ShardInfo) -> impl Iterator<Item = &'a ShardInfo> + '_ {
        shard
            .parents
            .iter()
            .filter_map(|p| self.by_id.get(p.as_str()).copied())
    }

    /// How many generations of listed ancestors a shard has (creation order).
    fn depth(&self, shard: &'a ShardInfo) -> usize {
        let mut depth = 0;
        let mut level: Vec<&ShardInfo> = vec![shard];
        while depth <= self.by_id.len() {
            let mut next: Vec<&ShardInfo> = level.iter().flat_map(|s| self.parents(s)).collect();
            next.sort_by(|a, b| a.id.cmp(&b.id));
            next.dedup_by(|a, b| a.id == b.id);
            if next.is_empty() {
                break;
            }
            level = next;
            depth += 1;
        }
        depth
    }

    /// Whether a shard without a lease and without listed parents is read from its start.
    fn read_from_start(&self, shard: &ShardInfo) -> bool {
        self.from_start
            && !self.present.contains(shard.id.as_str())
            && self.parents(shard).next().is_none()
    }

    /// Whether `shard` is covered (memoized in `covered`); records in `create` the parents
    /// of covered shards that need a lease.
    fn visit(
        &self,
        shard: &'a ShardInfo,
        covered: &mut HashMap<&'a str, bool>,
        create: &mut BTreeMap<(usize, &'a str), &'a ShardInfo>,
    ) -> bool {
        if let Some(&known) = covered.get(shard.id.as_str()) {
            return known;
        }
        if self.present.contains(shard.id.as_str()) {
            covered.insert(&shard.id, true);
            return true;
        }
        // Provisionally not covered: a (malformed) cycle of parents ends here.
        covered.insert(&shard.id, false);
        let parents: Vec<&ShardInfo> = self.parents(shard).collect();
        let mut is_covered = false;
        let mut uncovered = Vec::new();
        for parent in &parents {
            if self.visit(parent, covered, create) || self.read_from_start(parent) {
                is_covered = true;
            }
            if !covered.get(parent.id.as_str()).copied().unwrap_or(false) {
                uncovered.push(*parent);
            }
        }
        if is_covered {
            for parent in uncovered {
                create.insert((self.depth(parent), &parent.id), parent);
            }
        }
        covered.insert(&shard.id, is_covered);
        is_covered
    }
}

/// Finished leases that may be deleted: `SHARD_END` with known children that have all
/// started (or are gone, having finished themselves). A child whose item cannot be read
/// (`unreadable`) is present and has not started. Returns (key, counter seen).
pub(crate) fn finished_to_delete(leases: &[Lease], unreadable: &[String]) -> Vec<(String, u64)> {
    let by_key: HashMap<&str, &Lease> = leases.iter().map(|l| (l.key.as_str(), l)).collect();
    let started = |child: &str| match by_key.get(child) {
        Some(lease) => lease.has_started(),
        None => !unreadable.iter().any(|k| k == child),
    };
    leases
        .iter()
        .filter(|l| l.is_finished() && !l.child_shard_ids.is_empty())
        .filter(|l| l.child_shard_ids.iter().all(|c| started(c)))
        .map(|l| (l.key.clone(), l.counter))
        .collect()
}

#[cfg(test)]
#[path = "sync_plan_tests.rs"]
mod tests;
