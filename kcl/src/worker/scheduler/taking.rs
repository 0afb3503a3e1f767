//! How leases come to this worker: the taker's pass over a full scan (unowned and expired
//! leases are taken, a lease of a loaded worker is asked for by a graceful hand-off), the
//! hand-over index (leases a leaver offered or assigned to this worker), and the
//! hand-offs this worker waits on, taken once the old owner completes them, or by force
//! after the hand-off timeout or once the lease expired.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::super::Control;
use super::{PendingReceive, Scheduler, report};
use crate::ShardProcessorFactory;
use crate::lease::liveness;
use crate::lease::taker::{self, TakerInput};
use crate::lease::{ExpiryTracker, Lease, TableScan};

impl<F: ShardProcessorFactory> Scheduler<F> {
    /// One taker pass: scan, decide, take and ask. Nothing is taken once a shutdown was
    /// asked for (a lease taken only to be handed on would cost its owner a replay).
    /// Returns the wait until the next pass: the discovery interval when another worker
    /// won a race for a lease this pass tried to take (workers started together: the table
    /// changed under the plan), the settled interval when the table is settled (see
    /// `liveness::is_settled`), else the taker interval.
    pub(super) async fn take_round(&mut self, control: &watch::Receiver<Control>) -> Duration {
        let taker_interval = self.w.config.lease_taker_interval;
        let scan = match self.w.leases.store().list(false).await {
            Ok(scan) => scan,
            Err(e) => {
                tracing::debug!(error = %e, "lease scan failed; skipping this taker pass");
                return self.jittered(taker_interval);
            }
        };
        let (now, scan) = self.seen_scan(scan);
        self.cooldown.retain(|_, t| *t > now);
        let held: HashSet<String> = self.w.leases.keys().into_iter().collect();
        let busy = self.busy_keys();
        let cfg = &self.w.config;
        let input = TakerInput {
            leases: &scan.leases,
            unreadable: scan.unreadable.len(),
            tracker: &self.tracker,
            me: &cfg.worker_identifier,
            held: &held,
            busy: &busy,
            now,
            failover: cfg.failover_time,
            max_leases_for_worker: cfg.max_leases_for_worker,
            max_leases_to_steal: cfg.max_leases_to_steal_at_one_time,
        };
        let plan = taker::plan(&input, &mut self.rng);
        report(&cfg.worker_identifier, &plan.stats);
        self.w.shared.stats.taker_pass(plan.stats.available);
        self.loads = live_loads(&scan.leases, &self.tracker, input.me, now, input.failover);
        let settled = plan.take.is_empty()
            && plan.steal.is_empty()
            && self.pending.is_empty()
            && !cfg.liveness_check_interval.is_zero()
            && liveness::is_settled(&scan.leases, &self.tracker, now, cfg.failover_time);
        self.aim_watch(&scan.leases, now);
        if *control.borrow() != Control::Run {
            return self.jittered(taker_interval);
        }
        if !plan.steal.is_empty() {
            tracing::info!(stats = ?plan.stats, "below target with nothing available: asking for a lease");
        }
        let raced = self.take_all(plan.take).await;
        for lease in plan.steal {
            self.ask_for(lease).await;
        }
        if raced {
            self.w.config.lease_discovery_interval
        } else if settled {
            self.jittered(self.w.config.settled_taker_interval)
        } else {
            self.jittered(taker_interval)
        }
    }

    /// Records a full scan just made: for shard sync and cleanup, and for expiry.
    pub(super) fn seen_scan(&mut self, scan: TableScan) -> (Instant, Arc<TableScan>) {
        let now = Instant::now();
        let scan = Arc::new(scan);
        self.scans.send_replace(Some((now, scan.clone())));
        self.tracker.observe(&scan.leases, now);
        (now, scan)
    }

    /// Takes leases seen as available (unowned, expired, or this worker's from an earlier
    /// run), concurrently. `true` when a take was refused because the lease had changed.
    pub(super) async fn take_all(&mut self, leases: Vec<Lease>) -> bool {
        let me = self.w.config.worker_identifier.clone();
        let store = self.w.leases.store().clone();
        let takes = leases.into_iter().map(|lease| {
            let (store, me) = (store.clone(), me.clone());
            async move {
                let sent = Instant::now();
                let previous = lease.actual_owner().map(str::to_owned);
                let r = store
                    .take(&lease.key, lease.counter, previous.as_deref(), &me)
                    .await;
                (lease, sent, r)
            }
        });
        let mut raced = false;
        for (lease, sent, result) in futures::future::join_all(takes).await {
            raced |= self.taken(lease, sent, result);
        }
        raced
    }

    /// Takes one lease seen with its counter, `previous` being its actual owner.
    async fn take_one(&mut self, lease: Lease, previous: Option<String>) {
        let me = self.w.config.worker_identifier.clone();
        let sent = Instant::now();
        let result = self
            .w
            .leases
            .store()
            .take(&lease.key, lease.counter, previous.as_deref(), &me)
            .await;
        let _raced = self.taken(lease, sent, result);
    }

    /// Starts the consumer of a lease taken; `true` when the take was refused because
    /// the lease had changed since the scan (another worker took it first).
    fn taken(
        &mut self,
        mut lease: Lease,
        sent: Instant,
        result: Result<u64, crate::LeaseStoreError>,
    ) -> bool {
        match result {
            Ok(counter) => {
                let me = self.w.config.worker_identifier.clone();
                if lease.actual_owner().is_some_and(|o| o != me) {
                    tracing::info!(lease = %lease.key, from = ?lease.actual_owner(), "took a lease from another worker");
                }
                lease.counter = counter;
                lease.owner = Some(me);
                lease.checkpoint_owner = None;
                self.start_consumer(lease, sent);
                false
            }
            Err(e) => {
                tracing::debug!(lease = %lease.key, error = %e, "could not take the lease");
                e.is_condition_failed()
            }
        }
    }

    /// Asks the owner of `lease` to hand it over (the Java KCL 3.x hand-off); this worker
    /// then waits for it in [`poll_pending`](Self::poll_pending).
    async fn ask_for(&mut self, lease: Lease) {
        let (Some(from), me) = (lease.owner.clone(), self.w.config.worker_identifier.clone())
        else {
            return;
        };
        match self
            .w
            .leases
            .store()
            .initiate_handoff(&lease.key, &from, &me, false)
            .await
        {
            Ok(()) => {
                tracing::info!(lease = %lease.key, %from, "asked for a graceful hand-off");
                let now = Instant::now();
                let pending = PendingReceive {
                    since: now,
                    counter: lease.counter,
                    counter_since: now,
                };
                self.pending.insert(lease.key, pending);
            }
            Err(e) => {
                tracing::debug!(lease = %lease.key, error = %e, "could not ask for the lease")
            }
        }
    }

    /// Looks at each hand-off this worker waits on: taken once the old owner completed
    /// it (at the old owner's final checkpoint), or by force after the hand-off timeout or
    /// once the lease's counter stood still for the failover time (the old owner is gone);
    /// dropped when the lease went elsewhere or is finished.
    pub(super) async fn poll_pending(&mut self) {
        let keys: Vec<String> = self.pending.keys().cloned().collect();
        let me = self.w.config.worker_identifier.clone();
        let (failover, timeout) = (
            self.w.config.failover_time,
            self.w.config.graceful_lease_handoff_timeout,
        );
        for key in keys {
            let lease = match self.w.leases.store().get(&key).await {
                Ok(Some(lease)) => lease,
                Ok(None) => {
                    self.pending.remove(&key);
                    continue;
                }
                Err(e) => {
                    tracing::debug!(lease = %key, error = %e, "cannot read a lease handed over");
                    continue;
                }
            };
            if lease.owner.as_deref() != Some(me.as_str()) || lease.is_finished() {
                self.pending.remove(&key);
                continue;
            }
            let now = Instant::now();
            let Some(pending) = self.pending.get_mut(&key) else {
                continue;
            };
            if lease.counter != pending.counter {
                (pending.counter, pending.counter_since) = (lease.counter, now);
            }
            let completed = !lease.is_handing_off();
            let gone = now - pending.counter_since >= failover;
            let late = now - pending.since >= timeout;
            if !(completed || gone || late) {
                continue;
            }
            if !completed {
                tracing::warn!(lease = %key, from = ?lease.checkpoint_owner, gone, "taking a lease whose owner did not hand it over");
            }
            self.pending.remove(&key);
            let previous = lease.actual_owner().map(str::to_owned);
            self.take_one(lease, previous).await;
        }
    }

    /// Finds the leases given to this worker (a leaver's offers and assignments) that it
    /// does not hold yet: through the hand-over index (no item read while none is on its
    /// way), or the owner index where the table has no hand-over index yet.
    pub(super) async fn discover(&mut self) {
        let me = self.w.config.worker_identifier.clone();
        let store = self.w.leases.store().clone();
        let (keys, marked) = match store.handed_to(&me).await {
            Ok(Some(keys)) => (keys, true),
            Ok(None) => {
                self.refresh_index().await;
                match store.owned_by(&me).await {
                    Ok(Some(keys)) => (keys, false),
                    Ok(None) => return,
                    Err(e) => return tracing::debug!(error = %e, "owner index query failed"),
                }
            }
            Err(e) => return tracing::debug!(error = %e, "hand-over index query failed"),
        };
        let mut known = self.busy_keys();
        known.extend(self.w.leases.keys());
        for key in keys.into_iter().filter(|k| !known.contains(k)) {
            let Ok(Some(lease)) = store.get(&key).await else {
                continue;
            };
            if lease.owner.as_deref() != Some(me.as_str()) || lease.is_finished() {
                if marked && let Err(e) = store.clear_handover_mark(&key, &me).await {
                    tracing::debug!(lease = %key, error = %e, "cannot clear a stale hand-over mark");
                }
                continue;
            }
            if lease.is_handing_off() {
                let now = Instant::now();
                let pending = PendingReceive {
                    since: now,
                    counter: lease.counter,
                    counter_since: now,
                };
                self.pending.insert(key, pending);
            } else {
                let previous = lease.actual_owner().map(str::to_owned);
                self.take_one(lease, previous).await;
            }
        }
    }

    /// Scans the table again for the live workers' loads (before a graceful shutdown: the
    /// taker's last scan may be 20 s old, and a worker that left since must not be given
    /// leases).
    pub(super) async fn refresh_loads(&mut self) {
        match self.w.leases.store().list(false).await {
            Ok(scan) => {
                let now = Instant::now();
                self.tracker.observe(&scan.leases, now);
                let cfg = &self.w.config;
                self.loads = live_loads(
                    &scan.leases,
                    &self.tracker,
                    &cfg.worker_identifier,
                    now,
                    cfg.failover_time,
                );
            }
            Err(e) => {
                tracing::debug!(error = %e, "lease scan failed; handing over by the last one")
            }
        }
    }

    /// Looks again (at most every half minute) which indexes became usable, adding the next
    /// missing one.
    async fn refresh_index(&mut self) {
        let now = Instant::now();
        if self
            .index_checked
            .is_some_and(|t| now - t < Duration::from_secs(30))
        {
            return;
        }
        self.index_checked = Some(now);
        if let Err(e) = self.w.leases.store().refresh_index_status().await {
            tracing::debug!(error = %e, "cannot describe the lease table");
        }
    }
}

/// Leases per live worker other than this one (a lease in a hand-off counts for its
/// receiver; expired owners left out, and workers handing a lease over, which may be
/// leaving themselves): where a graceful leaver hands its leases.
fn live_loads(
    leases: &[Lease],
    tracker: &ExpiryTracker,
    me: &str,
    now: Instant,
    failover: Duration,
) -> BTreeMap<String, usize> {
    let giving: HashSet<&str> = leases
        .iter()
        .filter_map(|l| l.checkpoint_owner.as_deref())
        .collect();
    let mut loads = BTreeMap::new();
    for lease in leases.iter().filter(|l| !l.is_finished()) {
        let Some(owner) = lease.owner.as_deref() else {
            continue;
        };
        let expired = tracker.is_expired(&lease.key, now, failover);
        if owner != me && !expired && !giving.contains(owner) {
            *loads.entry(owner.to_owned()).or_insert(0) += 1;
        }
    }
    loads
}
