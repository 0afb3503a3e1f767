//! The liveness watch (the rule is in `lease::liveness`): between taker scans, one lease of
//! the next kcl worker in the ring is read by key; once it shows its worker gone, a fresh
//! scan and a take of every lease that worker held.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::super::Control;
use super::Scheduler;
use crate::ShardProcessorFactory;
use crate::lease::Lease;
use crate::lease::liveness::{self, Verdict, Watched};

/// How often the watched lease is read while its renewal is overdue.
const OVERDUE_POLL: Duration = Duration::from_millis(250);

impl<F: ShardProcessorFactory> Scheduler<F> {
    /// After a scan: watch the next kcl worker, keeping what was seen of it when it is
    /// the one watched already.
    pub(super) fn aim_watch(&mut self, leases: &[Lease], now: Instant) {
        let cfg = &self.w.config;
        let next = (!cfg.liveness_check_interval.is_zero())
            .then(|| {
                let me = &cfg.worker_identifier;
                liveness::successor(leases, &self.tracker, me, now, cfg.failover_time)
            })
            .flatten();
        let Some(next) = next else {
            self.watched = None;
            return;
        };
        if self.watched.as_ref().is_none_or(|w| w.worker != next) {
            self.watched =
                liveness::lease_of(leases, &next, None).map(|l| Watched::new(&next, l, now));
        }
    }

    /// One read of the watched lease; how long until the next one.
    pub(super) async fn check_watched(&mut self, control: &watch::Receiver<Control>) -> Duration {
        let every = self.w.config.liveness_check_interval;
        let Some(key) = self.watched.as_ref().map(|w| w.key.clone()) else {
            return every;
        };
        let read = match self.w.leases.store().peek(&key).await {
            Ok(read) => read,
            Err(e) => {
                tracing::debug!(lease = %key, error = %e, "cannot read the watched lease");
                return every;
            }
        };
        let now = Instant::now();
        let (failover, renewal) = (
            self.w.config.failover_time,
            self.w.config.lease_renewal_interval,
        );
        let Some(watched) = self.watched.as_mut() else {
            return every;
        };
        match watched.observe(read.as_ref(), now, failover, renewal) {
            Verdict::Alive => every,
            Verdict::Overdue => OVERDUE_POLL.min(every),
            Verdict::Moved => {
                let worker = watched.worker.clone();
                self.pass_within(self.w.config.lease_taker_interval);
                let latest = self.scans.borrow().as_ref().map(|(_, scan)| scan.clone());
                self.watched = latest.and_then(|scan| {
                    liveness::lease_of(&scan.leases, &worker, Some(&key))
                        .map(|l| Watched::new(&worker, l, now))
                });
                every
            }
            Verdict::Gone => {
                // Leases move now (or a take fails): a pass within the taker interval
                // sees the table as it ends up.
                self.pass_within(self.w.config.lease_taker_interval);
                let Some(gone) = self.watched.take() else {
                    return every;
                };
                if *control.borrow() == Control::Run {
                    self.take_from_gone(gone).await;
                }
                every
            }
        }
    }

    /// Takes every lease a kcl worker seen gone held, by a consistent scan (the counters
    /// it left), once that scan confirms the verdict (the watch's reads are eventually
    /// consistent). Unconfirmed, the worker is watched on from the scan.
    async fn take_from_gone(&mut self, gone: Watched) {
        let worker = gone.worker.as_str();
        let scan = match self.w.leases.store().list(true).await {
            Ok(scan) => scan,
            Err(e) => {
                tracing::debug!(error = %e, "lease scan failed; watching on, to try again");
                self.watched = Some(gone);
                return;
            }
        };
        let (now, scan) = self.seen_scan(scan);
        if !gone.confirmed_by(&scan.leases) {
            tracing::debug!(%worker, "the watched lease moved after all: not gone");
            return self.aim_watch(&scan.leases, now);
        }
        let busy = self.busy_keys();
        let room = (self.w.config.max_leases_for_worker).saturating_sub(self.w.leases.keys().len());
        let take: Vec<Lease> = liveness::leases_of_gone(&scan.leases, worker)
            .into_iter()
            .filter(|l| !busy.contains(&l.key))
            .take(room)
            .cloned()
            .collect();
        tracing::info!(%worker, leases = take.len(), "a lease of a kcl worker stood still for the failover time: taking its leases");
        self.take_all(take).await;
        let rest: Vec<Lease> = (scan.leases.iter())
            .filter(|l| l.owner.as_deref() != Some(worker))
            .cloned()
            .collect();
        self.aim_watch(&rest, now);
    }
}
