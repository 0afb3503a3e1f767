//! The leases this worker holds: each with the counter it holds (the fence of every
//! write), a per-acquisition concurrency token, and its [`Validity`] (the one place that
//! says whether it may still be acted on). Writes to one lease are serialized by its
//! fence, so a renewal and a checkpoint never race on the counter; writes to different
//! leases never wait for each other.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::validity::Validity;
use super::{LeaseStore, LeaseStoreError};

/// Identifies one acquisition of a lease by this worker: a processor's checkpointer
/// carries it, and a lease lost and taken again gets a new one.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ConcurrencyToken(u64);

/// Why a held lease was dropped.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum LostReason {
    /// A conditional write failed: another worker took it (or it was deleted).
    Fenced,
    /// Not confirmed by a successful write for the hold time: others may take it now.
    Expired,
    /// The worker is stopping without releasing.
    WorkerStopping,
}

/// One held lease.
#[derive(Debug)]
pub(crate) struct HeldLease {
    pub(crate) key: String,
    pub(crate) token: ConcurrencyToken,
    /// The counter we hold; the lock serializes writes to the lease.
    pub(super) fence: tokio::sync::Mutex<Fence>,
    pub(crate) validity: Validity,
    /// `Some(new owner)` once a write showed a graceful hand-off of this lease in progress.
    handoff: watch::Sender<Option<String>>,
}

impl HeldLease {
    /// The worker this lease is being handed to, once a hand-off was seen.
    pub(crate) fn handoff_to(&self) -> Option<String> {
        self.handoff.borrow().clone()
    }

    /// Watches for a hand-off.
    pub(crate) fn handoff_watch(&self) -> watch::Receiver<Option<String>> {
        self.handoff.subscribe()
    }

    /// A write showed a hand-off to `to` in progress.
    pub(super) fn handoff_requested(&self, to: String) {
        self.handoff.send_if_modified(|h| {
            let new = h.is_none();
            if new {
                *h = Some(to);
            }
            new
        });
    }
}

#[derive(Debug)]
pub(super) struct Fence {
    pub(super) counter: u64,
    /// When the earliest write whose outcome is unknown (a server error, no answer, a
    /// dropped connection) since the last confirmed one was sent: it may have moved the
    /// counter to `counter + 1`.
    pub(super) unknown_since: Option<Instant>,
}

/// The registry of held leases.
#[derive(Debug)]
pub(crate) struct HeldLeases {
    pub(super) store: LeaseStore,
    pub(super) me: String,
    failover: Duration,
    map: Mutex<HashMap<String, Arc<HeldLease>>>,
    next_token: AtomicU64,
    changed: watch::Sender<BTreeSet<String>>,
    /// Deadlines of leases dropped here that the table may still name this worker for,
    /// unrenewed (a lease that expired, a last write that failed): see
    /// [`expire_together`](Self::expire_together).
    abandoned: Mutex<Vec<Instant>>,
    pub(crate) lost_total: AtomicU64,
}

/// Attempts of one write when DynamoDB throttles or fails transiently.
pub(super) const WRITE_ATTEMPTS: u32 = 3;

impl HeldLeases {
    pub(crate) fn new(store: LeaseStore, me: String, failover: Duration) -> Self {
        HeldLeases {
            store,
            me,
            failover,
            map: Mutex::new(HashMap::new()),
            next_token: AtomicU64::new(1),
            changed: watch::channel(BTreeSet::new()).0,
            abandoned: Mutex::new(Vec::new()),
            lost_total: AtomicU64::new(0),
        }
    }

    pub(crate) fn store(&self) -> &LeaseStore {
        &self.store
    }

    pub(crate) fn worker_id(&self) -> &str {
        &self.me
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<HeldLease>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, map: &HashMap<String, Arc<HeldLease>>) {
        self.changed.send_replace(map.keys().cloned().collect());
        metrics::gauge!("CurrentLeases", "worker" => self.me.clone()).set(map.len() as f64);
    }

    /// Registers a lease just taken with `counter` by a write sent at `sent`, under a
    /// fresh token.
    pub(crate) fn insert(&self, key: &str, counter: u64, sent: Instant) -> Arc<HeldLease> {
        let token = ConcurrencyToken(self.next_token.fetch_add(1, Ordering::Relaxed));
        let held = Arc::new(HeldLease {
            key: key.to_owned(),
            token,
            fence: tokio::sync::Mutex::new(Fence {
                counter,
                unknown_since: None,
            }),
            validity: Validity::new(sent, self.failover),
            handoff: watch::channel(None).0,
        });
        let mut map = self.lock();
        if let Some(old) = map.insert(key.to_owned(), held.clone()) {
            old.validity.lose(LostReason::Fenced);
        }
        self.publish(&map);
        held
    }

    /// The held lease for `key` if it is still the acquisition `token` names.
    pub(crate) fn get(&self, key: &str, token: ConcurrencyToken) -> Option<Arc<HeldLease>> {
        self.lock().get(key).filter(|h| h.token == token).cloned()
    }

    /// Keys held now.
    pub(crate) fn keys(&self) -> BTreeSet<String> {
        self.lock().keys().cloned().collect()
    }

    /// Watches the set of held keys.
    pub(crate) fn subscribe(&self) -> watch::Receiver<BTreeSet<String>> {
        self.changed.subscribe()
    }

    fn snapshot(&self) -> Vec<Arc<HeldLease>> {
        self.lock().values().cloned().collect()
    }

    /// Drops a lease locally (if still this acquisition) and marks it lost, which every
    /// consumer of it sees.
    pub(crate) fn lose(&self, key: &str, token: ConcurrencyToken, reason: LostReason) {
        let mut map = self.lock();
        if map.get(key).is_some_and(|h| h.token == token)
            && let Some(held) = map.remove(key)
        {
            if held.validity.check(Instant::now()) == Err(LostReason::Expired) {
                self.abandon(&held);
            }
            held.validity.lose(reason);
            self.publish(&map);
            if reason != LostReason::WorkerStopping {
                self.lost_total.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("LostLeases", "worker" => self.me.clone()).increment(1);
                tracing::warn!(worker = %self.me, lease = key, ?reason, "lease lost");
            }
        }
    }

    /// Drops a lease locally without counting a loss (its consumer is done with it).
    pub(crate) fn forget(&self, key: &str, token: ConcurrencyToken) {
        let mut map = self.lock();
        if map.get(key).is_some_and(|h| h.token == token)
            && let Some(held) = map.remove(key)
        {
            held.validity.lose(LostReason::WorkerStopping);
            self.publish(&map);
        }
    }

    /// Records that the table may still name this worker as the holder of `held`, which
    /// is no longer renewed.
    fn abandon(&self, held: &HeldLease) {
        if let Some(deadline) = held.validity.deadline() {
            self.abandoned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(deadline);
        }
    }

    /// The earliest deadline of a lease held, or of one abandoned.
    fn earliest_deadline(&self) -> Option<Instant> {
        let abandoned = self
            .abandoned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .min()
            .copied();
        let held = self
            .lock()
            .values()
            .filter_map(|h| h.validity.deadline())
            .min();
        abandoned.into_iter().chain(held).min()
    }

    /// Runs for the worker's life: once the deadline of any lease held or abandoned passes,
    /// every lease held is lost. The leases this worker holds thus expire together, as the
    /// table shows them: another worker that sees any one of them stand still for the
    /// failover time may take all of them (`kclHolder` tells it they are a kcl worker's).
    /// Deadlines move only by writes that succeeded, so this costs nothing while the
    /// table answers; when it stops answering, all leases expire at about the same time
    /// anyway.
    pub(crate) async fn expire_together(self: Arc<Self>) {
        let mut changed = self.changed.subscribe();
        loop {
            let now = Instant::now();
            match self.earliest_deadline() {
                Some(deadline) if deadline <= now => {
                    if !self.keys().is_empty() {
                        tracing::warn!(worker = %self.me, "a lease expired: giving up every lease held with it");
                    }
                    self.lose_all(LostReason::Expired);
                    self.abandoned
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .retain(|d| *d > now);
                }
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        _ = changed.changed() => {}
                    }
                }
                None => {
                    let _ = changed.changed().await;
                }
            }
        }
    }

    /// Drops every lease locally, marking each lost (stop without release).
    pub(crate) fn lose_all(&self, reason: LostReason) {
        for held in self.snapshot() {
            self.lose(&held.key, held.token, reason);
        }
    }

    /// Releases a held lease in the table (owner removed, counter + 1) and drops it.
    pub(crate) async fn release(&self, held: &HeldLease) -> Result<(), LeaseStoreError> {
        self.pass_on(held, |_| self.store.release(&held.key, &self.me))
            .await
    }

    /// Completes a hand-off of a held lease to `to` (after the processor's final
    /// checkpoint) and drops it.
    pub(crate) async fn complete_handoff(
        &self,
        held: &HeldLease,
        to: &str,
    ) -> Result<(), LeaseStoreError> {
        self.pass_on(held, |counter| async move {
            self.store
                .complete_handoff(&held.key, counter, &self.me, to)
                .await
                .map(|_| ())
        })
        .await
    }

    /// Starts a hand-off of a held lease to `to`, this worker its `checkpointOwner`: `to`
    /// finds it through the hand-over index and waits while the processor makes its final
    /// checkpoint; the lease stays held here until [`complete_handoff`](Self::complete_handoff).
    pub(crate) async fn offer(&self, held: &HeldLease, to: &str) -> Result<(), LeaseStoreError> {
        let _fence = held.fence.lock().await;
        self.store
            .initiate_handoff(&held.key, &self.me, to, true)
            .await?;
        held.handoff_requested(to.to_owned());
        Ok(())
    }

    /// Assigns a held lease to `to` (after the processor's final checkpoint) and drops it.
    pub(crate) async fn assign(&self, held: &HeldLease, to: &str) -> Result<(), LeaseStoreError> {
        self.pass_on(held, |counter| async move {
            self.store
                .assign(&held.key, counter, &self.me, to)
                .await
                .map(|_| ())
        })
        .await
    }

    /// Runs the last write of a held lease (`op(counter)`, retried when worth it) and drops
    /// the lease, whatever the outcome.
    async fn pass_on<F, Fut>(&self, held: &HeldLease, op: F) -> Result<(), LeaseStoreError>
    where
        F: Fn(u64) -> Fut,
        Fut: Future<Output = Result<(), LeaseStoreError>>,
    {
        let fence = held.fence.lock().await;
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            match op(fence.counter).await {
                Err(e) if e.is_retryable() && attempt < WRITE_ATTEMPTS => {
                    tokio::time::sleep(crate::backoff::delay(attempt, Duration::from_millis(40)))
                        .await;
                }
                other => break other,
            }
        };
        drop(fence);
        if result.as_ref().is_err_and(|e| !e.is_condition_failed()) {
            // The write may not have landed: the table may still name this worker.
            self.abandon(held);
        }
        self.forget(&held.key, held.token);
        result
    }

    /// Deletes a held lease whose checkpoint is `SHARD_END` (fenced on the counter held)
    /// and drops it.
    pub(crate) async fn delete_finished(&self, held: &HeldLease) -> Result<(), LeaseStoreError> {
        let fence = held.fence.lock().await;
        self.store.delete_finished(&held.key, fence.counter).await?;
        drop(fence);
        self.forget(&held.key, held.token);
        Ok(())
    }

    /// Releases every held lease.
    pub(crate) async fn release_all(&self) {
        let leases = self.snapshot();
        let releases = leases.iter().map(|held| async move {
            if let Err(e) = self.release(held).await {
                tracing::warn!(lease = %held.key, error = %e, "could not release the lease; it will expire");
            }
        });
        futures::future::join_all(releases).await;
    }
}

#[cfg(test)]
#[path = "held_tests.rs"]
mod tests;
