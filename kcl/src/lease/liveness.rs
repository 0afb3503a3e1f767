//! Watching another kcl worker between taker scans, so a crashed worker's leases are taken
//! about the failover time after its last renewal rather than up to two taker intervals
//! later, without scanning the table more often.
//!
//! A kcl worker gives up all its leases as soon as any one of them expires
//! ([`HeldLeases::expire_together`](super::HeldLeases::expire_together)), and the take
//! that gave it each lease wrote `kclHolder`. So when one lease that `kclHolder` says a
//! kcl worker holds has stood still for the failover time (on this worker's clock, from
//! the first read of its current counter, as for any lease), that worker acts on none of
//! its leases any more: all of them may be taken. Each worker watches one: its successor
//! in the ring of kcl workers the latest scan showed (sorted by id), through one lease of
//! it, read by key (eventually consistent: half a read unit; a stale read can only delay
//! a verdict, and a `Gone` one is confirmed by a consistent scan before anything is
//! taken). Decisions here are pure; the reads and takes are the scheduler's.

use std::time::Duration;

use tokio::time::Instant;

use super::{ExpiryTracker, Lease};

/// The worker watched and the lease it is watched through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Watched {
    pub(crate) worker: String,
    pub(crate) key: String,
    counter: u64,
    /// When `counter` was first read.
    since: Instant,
}

/// What a read of the watched lease showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Renewed within the renewal interval (and a little).
    Alive,
    /// A renewal is overdue: read again soon.
    Overdue,
    /// Stood still for the failover time: the worker acts on none of its leases.
    Gone,
    /// The lease no longer tells (another owner, finished, handed off, deleted): watch
    /// the worker through another lease.
    Moved,
}

impl Watched {
    /// Starts watching `worker` through `lease` (read at `now`).
    pub(crate) fn new(worker: &str, lease: &Lease, now: Instant) -> Watched {
        Watched {
            worker: worker.to_owned(),
            key: lease.key.clone(),
            counter: lease.counter,
            since: now,
        }
    }

    /// Judges a read of the watched lease made at `now` (`None`: not in the table).
    pub(crate) fn observe(
        &mut self,
        read: Option<&Lease>,
        now: Instant,
        failover: Duration,
        renewal: Duration,
    ) -> Verdict {
        let Some(lease) = read.filter(|l| tells(l, &self.worker)) else {
            return Verdict::Moved;
        };
        if lease.counter != self.counter {
            (self.counter, self.since) = (lease.counter, now);
        }
        let still = now.saturating_duration_since(self.since);
        if still >= failover {
            Verdict::Gone
        } else if still > renewal + renewal / 4 {
            Verdict::Overdue
        } else {
            Verdict::Alive
        }
    }

    /// Whether a consistent read (`leases`) confirms a `Gone` verdict made on reads that
    /// may have been stale: the watched lease still at the counter that stood still, still
    /// the worker's.
    pub(crate) fn confirmed_by(&self, leases: &[Lease]) -> bool {
        leases
            .iter()
            .any(|l| l.key == self.key && l.counter == self.counter && tells(l, &self.worker))
    }
}

/// Whether `lease`'s counter shows whether `worker` is alive.
fn tells(lease: &Lease, worker: &str) -> bool {
    lease.is_held_by_kcl() && lease.owner.as_deref() == Some(worker)
}

/// The kcl worker after `me` in the ring of kcl workers holding unexpired leases in
/// `leases` (`me` included, sorted by id), if any other.
pub(crate) fn successor(
    leases: &[Lease],
    tracker: &ExpiryTracker,
    me: &str,
    now: Instant,
    failover: Duration,
) -> Option<String> {
    let mut ring: Vec<&str> = leases
        .iter()
        .filter(|l| l.is_held_by_kcl() && !tracker.is_expired(&l.key, now, failover))
        .filter_map(|l| l.owner.as_deref())
        .filter(|o| *o != me)
        .collect();
    ring.sort_unstable();
    ring.dedup();
    ring.iter()
        .find(|w| **w > me)
        .or_else(|| ring.first())
        .map(|w| (*w).to_owned())
}

/// A lease of `worker` to watch it through, other than `not` (the one that stopped
/// telling).
pub(crate) fn lease_of<'a>(
    leases: &'a [Lease],
    worker: &str,
    not: Option<&str>,
) -> Option<&'a Lease> {
    leases
        .iter()
        .filter(|l| tells(l, worker) && Some(l.key.as_str()) != not)
        .min_by(|a, b| a.key.cmp(&b.key))
}

/// The leases to take from `worker`, seen `Gone`: every lease it holds by `kclHolder`.
pub(crate) fn leases_of_gone<'a>(leases: &'a [Lease], worker: &str) -> Vec<&'a Lease> {
    leases.iter().filter(|l| tells(l, worker)).collect()
}

/// Whether a scan shows a table in which nothing waits for a taker pass: every unfinished
/// lease held by a kcl worker (none unowned, none in a hand-off, none held by a worker
/// that does not give its leases up together, such as a Java KCL worker), seen renewed
/// since this worker first saw it (a worker's first scan is never settled), none expired.
/// The watch ring then covers crashes and the hand-over index graceful moves, so the
/// scans may come at the settled pace.
pub(crate) fn is_settled(
    leases: &[Lease],
    tracker: &ExpiryTracker,
    now: Instant,
    failover: Duration,
) -> bool {
    leases.iter().filter(|l| !l.is_finished()).all(|l| {
        l.is_held_by_kcl()
            && tracker.seen_renewed(&l.key)
            && !tracker.is_expired(&l.key, now, failover)
    })
}

#[cfg(test)]
#[path = "liveness_tests.rs"]
mod tests;
