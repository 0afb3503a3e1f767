//! The leases this worker holds: each with the counter it holds (the fence of every
//! write), a per-acquisition concurrency token, its last renewal, and a signal raised
//! when it is lost. Writes to one lease are serialized, so a renewal and a checkpoint
//! never race on the counter.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

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
    /// Not renewed for the failover time: others may have taken it.
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
    counter: tokio::sync::Mutex<Fence>,
    last_renewed: Mutex<Instant>,
    lost: watch::Sender<Option<LostReason>>,
}

#[derive(Debug)]
struct Fence {
    counter: u64,
    /// Writes whose outcome is unknown (timeouts, dropped connections) since the last
    /// confirmed one: each may have bumped the counter.
    unknown: u64,
}

impl HeldLease {
    /// A receiver that sees `Some(reason)` once the lease is lost.
    pub(crate) fn lost_signal(&self) -> watch::Receiver<Option<LostReason>> {
        self.lost.subscribe()
    }

    /// Whether the lease was lost.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.borrow().is_some()
    }
}

/// The registry of held leases.
#[derive(Debug)]
pub(crate) struct HeldLeases {
    store: LeaseStore,
    me: String,
    failover: Duration,
    map: Mutex<HashMap<String, Arc<HeldLease>>>,
    next_token: AtomicU64,
    changed: watch::Sender<BTreeSet<String>>,
    pub(crate) lost_total: AtomicU64,
}

/// Attempts of one write when DynamoDB throttles or fails transiently.
const WRITE_ATTEMPTS: u32 = 3;

impl HeldLeases {
    pub(crate) fn new(store: LeaseStore, me: String, failover: Duration) -> Self {
        HeldLeases {
            store,
            me,
            failover,
            map: Mutex::new(HashMap::new()),
            next_token: AtomicU64::new(1),
            changed: watch::channel(BTreeSet::new()).0,
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

    /// Registers a lease just taken with `counter`, under a fresh token.
    pub(crate) fn insert(&self, key: &str, counter: u64) -> Arc<HeldLease> {
        let token = ConcurrencyToken(self.next_token.fetch_add(1, Ordering::Relaxed));
        let held = Arc::new(HeldLease {
            key: key.to_owned(),
            token,
            counter: tokio::sync::Mutex::new(Fence {
                counter,
                unknown: 0,
            }),
            last_renewed: Mutex::new(Instant::now()),
            lost: watch::channel(None).0,
        });
        let mut map = self.lock();
        if let Some(old) = map.insert(key.to_owned(), held.clone()) {
            old.lost.send_replace(Some(LostReason::Fenced));
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

    /// Drops a lease locally (if still this acquisition) and signals its consumer.
    pub(crate) fn lose(&self, key: &str, token: ConcurrencyToken, reason: LostReason) {
        let mut map = self.lock();
        if map.get(key).is_some_and(|h| h.token == token)
            && let Some(held) = map.remove(key)
        {
            held.lost.send_replace(Some(reason));
            self.publish(&map);
            if reason != LostReason::WorkerStopping {
                self.lost_total.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("LostLeases", "worker" => self.me.clone()).increment(1);
                tracing::warn!(worker = %self.me, lease = key, ?reason, "lease lost");
            }
        }
    }

    /// Drops a lease locally without signalling a loss (its consumer is done).
    pub(crate) fn forget(&self, key: &str, token: ConcurrencyToken) {
        let mut map = self.lock();
        if map.get(key).is_some_and(|h| h.token == token) {
            map.remove(key);
            self.publish(&map);
        }
    }

    /// Drops every lease locally, signalling each consumer (stop without release).
    pub(crate) fn lose_all(&self, reason: LostReason) {
        for held in self.snapshot() {
            self.lose(&held.key, held.token, reason);
        }
    }

    /// Runs one fenced write on a held lease: `op(counter)` returns the new counter.
    /// Retries throttling and transient failures; a failed condition after writes of
    /// unknown outcome re-reads the lease and adopts the counter those writes left when
    /// the lease is still ours. A failed condition otherwise drops the lease.
    pub(crate) async fn write<F, Fut>(&self, held: &HeldLease, op: F) -> Result<(), LeaseStoreError>
    where
        F: Fn(u64) -> Fut,
        Fut: Future<Output = Result<u64, LeaseStoreError>>,
    {
        let mut fence = held.counter.lock().await;
        if held.is_lost() {
            return Err(LeaseStoreError::ConditionFailed {
                operation: "write to a lost lease",
            });
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match op(fence.counter).await {
                Ok(next) => {
                    *fence = Fence {
                        counter: next,
                        unknown: 0,
                    };
                    self.renewed(held);
                    return Ok(());
                }
                Err(e) if e.is_condition_failed() && fence.unknown > 0 => {
                    if !self.adopt(held, &mut fence).await {
                        self.lose(&held.key, held.token, LostReason::Fenced);
                        return Err(e);
                    }
                }
                Err(e) if e.is_condition_failed() => {
                    self.lose(&held.key, held.token, LostReason::Fenced);
                    return Err(e);
                }
                Err(e) if e.is_retryable() && attempt < WRITE_ATTEMPTS => {
                    if !matches!(e, LeaseStoreError::Throttled { .. }) {
                        fence.unknown += 1;
                    }
                    tokio::time::sleep(crate::backoff::delay(attempt, Duration::from_millis(40)))
                        .await;
                }
                Err(e) => {
                    if e.is_retryable() && !matches!(e, LeaseStoreError::Throttled { .. }) {
                        fence.unknown += 1;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// After writes of unknown outcome: whether the table shows the lease still ours with
    /// a counter only those writes can explain (then it is adopted).
    async fn adopt(&self, held: &HeldLease, fence: &mut Fence) -> bool {
        let Ok(Some(lease)) = self.store.get(&held.key).await else {
            return false;
        };
        let ours = lease.owner.as_deref() == Some(self.me.as_str());
        let explained =
            lease.counter > fence.counter && lease.counter <= fence.counter + fence.unknown;
        if ours && explained {
            *fence = Fence {
                counter: lease.counter,
                unknown: 0,
            };
            true
        } else {
            false
        }
    }

    fn renewed(&self, held: &HeldLease) {
        *held.last_renewed.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Renews every held lease once; a lease not renewed for the failover time is
    /// dropped (others may take it by now).
    pub(crate) async fn renew_all(&self) {
        let leases = self.snapshot();
        let renewals = leases.iter().map(|held| async move {
            let result = self
                .write(held, |counter| self.store.renew(&held.key, counter))
                .await;
            if let Err(e) = result
                && e.is_retryable()
            {
                let last = *held.last_renewed.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= self.failover {
                    self.lose(&held.key, held.token, LostReason::Expired);
                } else {
                    tracing::debug!(lease = %held.key, error = %e, "renewal failed; will retry");
                }
            }
        });
        futures::future::join_all(renewals).await;
    }

    /// Releases a held lease in the table (owner removed, counter + 1) and drops it.
    pub(crate) async fn release(&self, held: &HeldLease) -> Result<(), LeaseStoreError> {
        let _fence = held.counter.lock().await;
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            match self.store.release(&held.key, &self.me).await {
                Err(e) if e.is_retryable() && attempt < WRITE_ATTEMPTS => {
                    tokio::time::sleep(crate::backoff::delay(attempt, Duration::from_millis(40)))
                        .await;
                }
                other => break other,
            }
        };
        self.forget(&held.key, held.token);
        result
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
