//! What to take and what to steal: a pure function of a table snapshot and a clock.
//!
//! Finished leases (`SHARD_END`) need no worker and are left out of every count. A
//! lease is available when it is unowned, expired, or owned by this worker's id but not
//! held here (a previous run of this worker). The target is ceil(leases / workers),
//! capped by `max_leases_for_worker`. Available leases are taken first, in random
//! order; only when none is available does the worker steal, from the most loaded
//! worker, the KCL's way.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use super::{ExpiryTracker, Lease};

/// Everything a taking decision depends on.
#[derive(Debug)]
pub(crate) struct TakerInput<'a> {
    pub(crate) leases: &'a [Lease],
    /// Lease items that cannot be read: unfinished leases nobody can take.
    pub(crate) unreadable: usize,
    pub(crate) tracker: &'a ExpiryTracker,
    pub(crate) me: &'a str,
    /// Leases this worker holds now.
    pub(crate) held: &'a HashSet<String>,
    /// Leases whose previous consumer here has not finished yet: not to be taken.
    pub(crate) busy: &'a HashSet<String>,
    pub(crate) now: Instant,
    pub(crate) failover: Duration,
    pub(crate) max_leases_for_worker: usize,
    pub(crate) max_leases_to_steal: usize,
}

/// The decision.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct TakePlan {
    /// Available leases to take, as seen in the snapshot.
    pub(crate) take: Vec<Lease>,
    /// Leases to steal from the most loaded worker.
    pub(crate) steal: Vec<Lease>,
    /// Counts behind it (the KCL's taker metrics).
    pub(crate) stats: TakerStats,
}

/// The taker's view of the table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TakerStats {
    /// `TotalLeases`: unfinished leases.
    pub(crate) total: usize,
    /// `ExpiredLeases`: available ones (unowned or expired).
    pub(crate) available: usize,
    /// `NumWorkers`: workers holding leases, this one included.
    pub(crate) workers: usize,
    /// Leases per worker aimed at.
    pub(crate) target: usize,
    /// `LeaseSpillover`: what the target exceeds `max_leases_for_worker` by.
    pub(crate) spillover: usize,
    /// Leases this worker holds.
    pub(crate) mine: usize,
}

/// Decides what this worker takes and steals now.
pub(crate) fn plan(input: &TakerInput<'_>, rng: &mut fastrand::Rng) -> TakePlan {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    counts.insert(input.me, 0);
    let mut available = Vec::new();
    let mut total = input.unreadable;
    for lease in input.leases {
        if lease.is_finished() {
            count_worker_of_finished(input, lease, &mut counts);
            continue;
        }
        total += 1;
        // A lease in a hand-off counts for the worker it is handed to (its `leaseOwner`),
        // on both sides: otherwise the receiver asks for more while it waits, and the
        // giver, still holding it, takes another in its place.
        if input.held.contains(&lease.key) && !lease.is_handing_off() {
            *counts.entry(input.me).or_default() += 1;
        } else if is_available(input, lease) {
            if !input.busy.contains(&lease.key) {
                available.push(lease);
            } else if lease.owner.as_deref() == Some(input.me) {
                // Handed to this worker and about to be taken.
                *counts.entry(input.me).or_default() += 1;
            }
        } else if let Some(owner) = lease.owner.as_deref() {
            *counts.entry(owner).or_default() += 1;
        }
    }
    let mine = counts.get(input.me).copied().unwrap_or(0);
    let mut stats = TakerStats {
        total,
        available: available.len(),
        workers: counts.len(),
        mine,
        ..TakerStats::default()
    };
    if total == 0 {
        return TakePlan::default();
    }
    let mut target = total.div_ceil(stats.workers).max(1);
    stats.spillover = target.saturating_sub(input.max_leases_for_worker);
    target = target.min(input.max_leases_for_worker);
    stats.target = target;
    let needed = target.saturating_sub(mine);
    let mut plan = TakePlan {
        stats,
        ..TakePlan::default()
    };
    if needed == 0 {
        return plan;
    }
    if !available.is_empty() {
        rng.shuffle(&mut available);
        plan.take = available.into_iter().take(needed).cloned().collect();
    } else {
        plan.steal = choose_steals(input, &counts, needed, target, rng);
    }
    plan
}

/// A worker that holds only finished leases (a Java worker keeps renewing the parent it
/// ended until the lease is deleted) is a live worker about to take work, usually that
/// parent's children: counted with no load, so the others do not aim at a share computed
/// without it, take or steal above it, and have it stolen back a pass later (a flip-flop).
/// An expired finished lease (kcl stops renewing at shard end) shows no live worker.
fn count_worker_of_finished<'a>(
    input: &TakerInput<'a>,
    lease: &'a Lease,
    counts: &mut BTreeMap<&'a str, usize>,
) {
    if let Some(owner) = lease.owner.as_deref()
        && !input
            .tracker
            .is_expired(&lease.key, input.now, input.failover)
    {
        counts.entry(owner).or_default();
    }
}

/// Unowned, expired, or this worker's without being held here (an earlier run). A lease
/// in a graceful hand-off belongs to the worker handing it over until it expires.
fn is_available(input: &TakerInput<'_>, lease: &Lease) -> bool {
    let expired = || {
        input
            .tracker
            .is_expired(&lease.key, input.now, input.failover)
    };
    match lease.actual_owner() {
        None => true,
        _ if lease.is_handing_off() => expired(),
        Some(owner) if owner == input.me => true,
        Some(_) => expired(),
    }
}

/// The KCL's rule: from the most loaded worker, steal min(needed, its excess), or 1 when
/// it is at target and this worker needs more than one; never more than the steal cap.
fn choose_steals(
    input: &TakerInput<'_>,
    counts: &BTreeMap<&str, usize>,
    needed: usize,
    target: usize,
    rng: &mut fastrand::Rng,
) -> Vec<Lease> {
    let Some((&victim, &load)) = counts
        .iter()
        .filter(|(w, _)| **w != input.me)
        .max_by_key(|(_, c)| **c)
    else {
        return Vec::new();
    };
    if load < target {
        return Vec::new();
    }
    let mut count = needed.min(load - target);
    if count == 0 && needed > 1 {
        count = 1;
    }
    count = count.min(input.max_leases_to_steal);
    let mut candidates: Vec<&Lease> = input
        .leases
        .iter()
        .filter(|l| !l.is_finished() && !l.is_handing_off() && l.owner.as_deref() == Some(victim))
        .filter(|l| !input.busy.contains(&l.key) && !input.held.contains(&l.key))
        .collect();
    rng.shuffle(&mut candidates);
    candidates.into_iter().take(count).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Position;

    fn lease(i: usize, owner: Option<&str>) -> Lease {
        let mut l = Lease::new(format!("shardId-{i:012}"), Position::TrimHorizon);
        l.owner = owner.map(str::to_owned);
        l.counter = 5;
        l
    }

    struct Case {
        leases: Vec<Lease>,
        tracker: ExpiryTracker,
        held: HashSet<String>,
        busy: HashSet<String>,
        unreadable: usize,
        now: Instant,
    }

    impl Case {
        fn new(leases: Vec<Lease>) -> Case {
            let now = Instant::now();
            let mut tracker = ExpiryTracker::default();
            tracker.observe(&leases, now);
            let held = leases
                .iter()
                .filter(|l| l.owner.as_deref() == Some("me"))
                .map(|l| l.key.clone())
                .collect();
            Case {
                leases,
                tracker,
                held,
                busy: HashSet::new(),
                unreadable: 0,
                now,
            }
        }

        fn plan_at(&self, now: Instant, max_workers: usize, steal: usize) -> TakePlan {
            let input = TakerInput {
                leases: &self.leases,
                unreadable: self.unreadable,
                tracker: &self.tracker,
                me: "me",
                held: &self.held,
                busy: &self.busy,
                now,
                failover: Duration::from_secs(10),
                max_leases_for_worker: max_workers,
                max_leases_to_steal: steal,
            };
            plan(&input, &mut fastrand::Rng::with_seed(7))
        }

        fn plan(&self) -> TakePlan {
            self.plan_at(self.now, usize::MAX, 1)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn takes_unowned_leases_up_to_the_target() {
        // 12 leases: 4 held by a, 8 unowned; 2 workers -> target 6.
        let leases: Vec<_> = (0..12).map(|i| lease(i, (i < 4).then_some("a"))).collect();
        let p = Case::new(leases).plan();
        assert_eq!(p.take.len(), 6);
        assert!(p.take.iter().all(|l| l.owner.is_none()));
        assert!(p.steal.is_empty());
        assert_eq!((p.stats.total, p.stats.workers, p.stats.target), (12, 2, 6));
    }

    #[tokio::test(start_paused = true)]
    async fn expired_leases_are_taken_after_failover_only() {
        let leases: Vec<_> = (0..4).map(|i| lease(i, Some("dead"))).collect();
        let case = Case::new(leases);
        assert!(case.plan().take.is_empty(), "not expired yet");
        let later = case.now + Duration::from_secs(10);
        let p = case.plan_at(later, usize::MAX, 1);
        assert_eq!(p.take.len(), 4, "all expired: dead counts as no worker");
        assert_eq!(p.stats.available, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn steals_one_at_a_time_from_the_most_loaded() {
        // a:5 b:4 c:3, me:0 -> target ceil(12/4)=3, need 3, most loaded a has 2 over.
        let owners = ["a", "a", "a", "a", "a", "b", "b", "b", "b", "c", "c", "c"];
        let leases: Vec<_> = owners
            .iter()
            .enumerate()
            .map(|(i, o)| lease(i, Some(o)))
            .collect();
        let case = Case::new(leases);
        let p = case.plan();
        assert!(p.take.is_empty());
        assert_eq!(p.steal.len(), 1);
        assert_eq!(p.steal[0].owner.as_deref(), Some("a"));
        let p = case.plan_at(case.now, usize::MAX, 5);
        assert_eq!(p.steal.len(), 2, "min(needed 3, excess 2)");
        assert!(p.steal.iter().all(|l| l.owner.as_deref() == Some("a")));
    }

    #[tokio::test(start_paused = true)]
    async fn steals_one_when_the_most_loaded_is_at_target_and_more_are_needed() {
        // 4/4/4 and a fourth worker: target 3, most loaded has 4 -> 1 over.
        let leases: Vec<_> = (0..12)
            .map(|i| lease(i, Some(["a", "b", "c"][i % 3])))
            .collect();
        let p = Case::new(leases).plan_at(Instant::now(), usize::MAX, 3);
        assert_eq!(p.steal.len(), 1);
        // 3/3 balanced with me at 2 of target 3 -> most loaded at target, need 1: no steal.
        let owners = ["a", "a", "a", "b", "b", "b", "me", "me"];
        let leases: Vec<_> = owners
            .iter()
            .enumerate()
            .map(|(i, o)| lease(i, Some(o)))
            .collect();
        assert!(Case::new(leases).plan().steal.is_empty());
        // a:3 (target 3), me:1 of target 3 (needs 2) -> steal 1 anyway.
        let owners = ["a", "a", "a", "b", "b", "b", "c", "c", "c", "me"];
        let leases: Vec<_> = owners
            .iter()
            .enumerate()
            .map(|(i, o)| lease(i, Some(o)))
            .collect();
        let p = Case::new(leases).plan_at(Instant::now(), usize::MAX, 3);
        assert_eq!(p.stats.target, 3);
        assert_eq!(p.steal.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_in_a_hand_off_counts_for_its_receiver_on_both_sides() {
        // a:4 b:4, and one of a's being handed to me: me is at 1 of target 3 and asks for
        // one more, not two; a (4 with the one it hands over) is seen at 3.
        let owners = ["a", "a", "a", "a", "b", "b", "b", "b", "me"];
        let mut leases: Vec<_> = owners
            .iter()
            .enumerate()
            .map(|(i, o)| lease(i, Some(o)))
            .collect();
        leases[8].checkpoint_owner = Some("a".into());
        let mut case = Case::new(leases);
        case.held.clear();
        case.busy.insert(case.leases[8].key.clone());
        let p = case.plan_at(case.now, usize::MAX, 5);
        assert_eq!((p.stats.mine, p.stats.target), (1, 3));
        assert_eq!(p.steal.len(), 1, "one more, from b (4) rather than a (3)");
        assert_eq!(p.steal[0].owner.as_deref(), Some("b"));
        // On the giver, which still holds the lease it hands over (to x): 4, not 5.
        let owners = ["me", "me", "me", "me", "b", "b", "b", "b", "x"];
        let mut leases: Vec<_> = owners
            .iter()
            .enumerate()
            .map(|(i, o)| lease(i, Some(o)))
            .collect();
        leases[8].checkpoint_owner = Some("me".into());
        let mut giver = Case::new(leases);
        giver.held.insert(giver.leases[8].key.clone());
        let p = giver.plan_at(giver.now, usize::MAX, 5);
        assert_eq!(
            p.stats.mine, 4,
            "the lease it hands over is not counted as its own"
        );
        assert!(
            p.take.is_empty() && p.steal.is_empty(),
            "at target 3 with 4"
        );
        // The receiver once the giver completed the hand-off, before it took the lease:
        // still counted as its own.
        case.leases[8].checkpoint_owner = None;
        let p = case.plan_at(case.now, usize::MAX, 5);
        assert_eq!(
            p.stats.mine, 1,
            "a completed hand-off waiting to be taken counts"
        );
        assert!(p.take.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_holding_only_a_finished_lease_counts_as_a_worker() {
        // j ended its shard (a split): its finished parent is all it holds, still renewed.
        // 5 unfinished leases: a holds 2, me 1, the 2 children unowned -> 3 workers, target
        // 2: me takes one child and leaves the other to j (with j uncounted: target 3, and
        // me would take both, to have one stolen back by j a pass later).
        let mut parent = lease(9, Some("j"));
        parent.checkpoint = Position::ShardEnd;
        let owners = [Some("a"), Some("a"), Some("me"), None, None];
        let mut leases: Vec<_> = owners
            .iter()
            .enumerate()
            .map(|(i, o)| lease(i, *o))
            .collect();
        leases.push(parent);
        let mut case = Case::new(leases);
        let p = case.plan();
        assert_eq!((p.stats.workers, p.stats.target), (3, 2));
        assert_eq!(p.take.len(), 1);
        // Once that finished lease expired (its owner gone; a's leases renewed), j is no
        // worker.
        let later = case.now + Duration::from_secs(10);
        for l in case
            .leases
            .iter_mut()
            .filter(|l| l.owner.is_some() && !l.is_finished())
        {
            l.counter += 1;
        }
        case.tracker.observe(&case.leases, later);
        let p = case.plan_at(later, usize::MAX, 1);
        assert_eq!((p.stats.workers, p.stats.target), (2, 3));
        assert_eq!(p.take.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn balanced_workers_take_nothing() {
        let owners = ["a", "a", "b", "b", "me", "me"];
        let leases: Vec<_> = owners
            .iter()
            .enumerate()
            .map(|(i, o)| lease(i, Some(o)))
            .collect();
        let p = Case::new(leases).plan();
        assert_eq!(
            p,
            TakePlan {
                stats: p.stats,
                ..TakePlan::default()
            }
        );
        assert_eq!((p.stats.target, p.stats.mine), (2, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn max_leases_for_worker_caps_the_target_and_reports_spillover() {
        let leases: Vec<_> = (0..10).map(|i| lease(i, None)).collect();
        let p = Case::new(leases).plan_at(Instant::now(), 4, 1);
        assert_eq!(p.take.len(), 4);
        assert_eq!(p.stats.spillover, 6);
    }

    #[tokio::test(start_paused = true)]
    async fn finished_busy_and_own_stale_leases() {
        let mut finished = lease(0, None);
        finished.checkpoint = Position::ShardEnd;
        let mut stale_mine = lease(1, Some("me"));
        stale_mine.counter = 9;
        let busy = lease(2, None);
        let mut case = Case::new(vec![finished, stale_mine, busy]);
        case.held.clear(); // a previous run of "me" owned lease 1
        case.busy.insert("shardId-000000000002".into());
        let p = case.plan();
        assert_eq!(p.stats.total, 2, "the finished lease is not counted");
        let keys: Vec<_> = p.take.iter().map(|l| l.key.as_str()).collect();
        assert_eq!(keys, ["shardId-000000000001"]);
    }

    #[tokio::test(start_paused = true)]
    async fn unreadable_leases_count_as_unfinished_and_are_never_taken() {
        // 3 readable unowned leases and 3 unreadable items, 1 worker: all 3 taken, target 6.
        let mut case = Case::new((0..3).map(|i| lease(i, None)).collect());
        case.unreadable = 3;
        let p = case.plan();
        assert_eq!(p.take.len(), 3);
        assert_eq!(
            (p.stats.total, p.stats.target, p.stats.available),
            (6, 6, 3)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn more_workers_than_leases_means_one_each() {
        let owners = ["a", "b", "c"];
        let mut leases: Vec<_> = owners
            .iter()
            .enumerate()
            .map(|(i, o)| lease(i, Some(o)))
            .collect();
        leases.push(lease(3, None));
        let p = Case::new(leases).plan();
        assert_eq!(p.stats.target, 1);
        assert_eq!(p.take.len(), 1);
        let owners = ["a", "b"];
        let leases: Vec<_> = owners
            .iter()
            .enumerate()
            .map(|(i, o)| lease(i, Some(o)))
            .collect();
        let p = Case::new(leases).plan();
        assert!(
            p.steal.is_empty(),
            "a and b hold one each: nothing to steal"
        );
    }
}
