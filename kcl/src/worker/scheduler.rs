//! The worker's main loop: start-up, taking leases, starting and reaping shard
//! consumers, and the two ways of stopping.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{Id, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use super::{Control, Worker, WorkerError, sync};
use crate::ShardProcessorFactory;
use crate::lease::taker::{self, TakerInput};
use crate::lease::{ConcurrencyToken, ExpiryTracker, Lease, LostReason, renew_while_held};
use crate::shard::ConsumerError;
use crate::shard::ShutdownReason;
use crate::shard::consumer::{self, ConsumerContext, ConsumerOutcome};

pub(crate) struct Scheduler<F: ShardProcessorFactory> {
    w: Worker<F>,
    consumers: JoinSet<ConsumerOutcome>,
    /// One renewal task per held lease; each ends when its lease is lost or dropped.
    renewers: JoinSet<()>,
    /// Task id -> (lease key, acquisition token).
    tasks: HashMap<Id, (String, ConcurrencyToken)>,
    /// Leases whose consumer failed: not taken again before the instant.
    cooldown: HashMap<String, Instant>,
    tracker: ExpiryTracker,
    graceful: watch::Sender<bool>,
    rng: fastrand::Rng,
}

impl<F: ShardProcessorFactory> Scheduler<F> {
    pub(crate) fn new(w: Worker<F>) -> Self {
        Scheduler {
            w,
            consumers: JoinSet::new(),
            renewers: JoinSet::new(),
            tasks: HashMap::new(),
            cooldown: HashMap::new(),
            tracker: ExpiryTracker::default(),
            graceful: watch::channel(false).0,
            rng: fastrand::Rng::new(),
        }
    }

    pub(crate) async fn run(mut self) -> Result<(), WorkerError> {
        let mut control = self.w.shared.control.subscribe();
        if !self.start_up(&mut control).await? {
            return Ok(());
        }
        let mut background = JoinSet::new();
        background.spawn(sync_loop(
            self.w.leases.store().clone(),
            self.w.stream.clone(),
            self.w.config.clone(),
        ));
        let mut take = tokio::time::interval(self.w.config.lease_taker_interval);
        take.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = until(&mut control, |c| c != Control::Run) => break,
                Some(done) = self.consumers.join_next_with_id() => self.reap(done).await,
                Some(_) = self.renewers.join_next(), if !self.renewers.is_empty() => {}
                _ = take.tick() => self.take_round(&control).await,
            }
        }
        let how = *control.borrow();
        match how {
            Control::Graceful => self.stop_gracefully(&mut control).await,
            Control::Run | Control::Immediate => self.stop_now().await,
        }
        background.abort_all();
        self.renewers.abort_all();
        tracing::info!(worker = %self.w.config.worker_identifier, ?how, "worker stopped");
        Ok(())
    }

    /// Creates the table if needed and runs the first shard sync, retrying what can be
    /// retried. `false` when a shutdown came first.
    async fn start_up(&self, control: &mut watch::Receiver<Control>) -> Result<bool, WorkerError> {
        let store = self.w.leases.store();
        let mut attempt = 0;
        loop {
            if *control.borrow() != Control::Run {
                return Ok(false);
            }
            attempt += 1;
            let result = match store.ensure_table().await {
                Ok(()) => sync::sync_shards(store, &self.w.stream, self.w.config.initial_position)
                    .await
                    .map(|_| ()),
                Err(e) => Err(e.into()),
            };
            match result {
                Ok(()) => return Ok(true),
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, attempt, "start-up failed; retrying");
                    let wait = crate::backoff::delay(attempt, Duration::from_millis(200));
                    tokio::select! {
                        _ = control.changed() => {}
                        () = tokio::time::sleep(wait) => {}
                    }
                }
                Err(sync::SyncError::Table(e)) => return Err(WorkerError::LeaseTable(e)),
                Err(sync::SyncError::Kinesis(e)) => return Err(WorkerError::Stream(e)),
            }
        }
    }

    fn running_keys(&self) -> HashSet<String> {
        let now = Instant::now();
        self.tasks
            .values()
            .map(|(k, _)| k.clone())
            .chain(
                self.cooldown
                    .iter()
                    .filter(|(_, t)| **t > now)
                    .map(|(k, _)| k.clone()),
            )
            .collect()
    }

    /// One taker pass: scan, decide, take. Nothing is taken once a shutdown was asked for
    /// (a lease taken only to be released would have cost its owner a replay).
    async fn take_round(&mut self, control: &watch::Receiver<Control>) {
        let scan = match self.w.leases.store().list(false).await {
            Ok(scan) => scan,
            Err(e) => {
                tracing::debug!(error = %e, "lease scan failed; skipping this taker pass");
                return;
            }
        };
        let now = Instant::now();
        self.tracker.observe(&scan.leases, now);
        self.cooldown.retain(|_, t| *t > now);
        let held: HashSet<String> = self.w.leases.keys().into_iter().collect();
        let busy = self.running_keys();
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
        let wanted: Vec<Lease> = plan.take.into_iter().chain(plan.steal).collect();
        if *control.borrow() != Control::Run {
            return;
        }
        let me = cfg.worker_identifier.clone();
        let store = self.w.leases.store().clone();
        let takes = wanted.into_iter().map(|lease| {
            let (store, me) = (store.clone(), me.clone());
            async move {
                let sent = Instant::now();
                let r = store
                    .take(&lease.key, lease.counter, lease.owner.as_deref(), &me)
                    .await;
                (lease, sent, r)
            }
        });
        for (mut lease, sent, result) in futures::future::join_all(takes).await {
            match result {
                Ok(counter) => {
                    if lease.owner.as_ref().is_some_and(|o| *o != me) {
                        tracing::info!(lease = %lease.key, from = ?lease.owner, "took a lease from another worker");
                    }
                    lease.counter = counter;
                    lease.owner = Some(me.clone());
                    self.start_consumer(lease, sent);
                }
                Err(e) => {
                    tracing::debug!(lease = %lease.key, error = %e, "could not take the lease")
                }
            }
        }
    }

    fn start_consumer(&mut self, lease: Lease, sent: Instant) {
        let held = self.w.leases.insert(&lease.key, lease.counter, sent);
        self.renewers.spawn(renew_while_held(
            self.w.leases.clone(),
            held.clone(),
            self.w.config.lease_renewal_interval,
        ));
        self.w.shared.stats.taken();
        let key = lease.key.clone();
        let processor = self.w.factory.create(&key);
        let ctx = ConsumerContext {
            lease,
            held: held.clone(),
            leases: self.w.leases.clone(),
            retriever: self.w.retriever.clone(),
            shutdown: self.graceful.subscribe(),
            parent_poll: self.w.config.parent_shard_poll_interval,
            max_records_per_call: self.w.config.max_records_per_call,
            stats: self.w.shared.stats.clone(),
        };
        let id = self.consumers.spawn(consumer::run(ctx, processor)).id();
        self.tasks.insert(id, (key, held.token));
    }

    /// A consumer task ended: forget, release or cool down its lease.
    async fn reap(&mut self, done: Result<(Id, ConsumerOutcome), tokio::task::JoinError>) {
        let (id, outcome) = match done {
            Ok((id, outcome)) => (id, outcome),
            Err(e) => {
                let key = self
                    .tasks
                    .get(&e.id())
                    .map(|(k, _)| k.clone())
                    .unwrap_or_default();
                (
                    e.id(),
                    ConsumerOutcome {
                        reason: ShutdownReason::LeaseLost,
                        error: Some(ConsumerError::Panicked { shard_id: key }),
                    },
                )
            }
        };
        let Some((key, token)) = self.tasks.remove(&id) else {
            return;
        };
        let leases = &self.w.leases;
        if let Some(error) = outcome.error {
            tracing::error!(lease = %key, %error, "shard consumer failed; releasing its lease");
            self.w.shared.stats.consumer_error();
            self.cooldown
                .insert(key.clone(), Instant::now() + self.w.config.failover_time);
            self.release(&key, token).await;
            return;
        }
        match outcome.reason {
            ShutdownReason::ShardEnd => leases.forget(&key, token),
            ShutdownReason::Requested => self.release(&key, token).await,
            ShutdownReason::LeaseLost => leases.lose(&key, token, LostReason::Fenced),
        }
    }

    async fn release(&self, key: &str, token: ConcurrencyToken) {
        let Some(held) = self.w.leases.get(key, token) else {
            return;
        };
        match self.w.leases.release(&held).await {
            Ok(()) => self.w.shared.stats.released(),
            Err(e) => tracing::warn!(lease = key, error = %e, "could not release; it will expire"),
        }
    }

    /// Graceful: every consumer runs `shutdown_requested`, then every lease is released.
    async fn stop_gracefully(&mut self, control: &mut watch::Receiver<Control>) {
        self.graceful.send_replace(true);
        loop {
            tokio::select! {
                () = until(control, |c| c == Control::Immediate) => {
                    // As documented for an immediate shutdown: every consumer still running
                    // sees its lease lost (and its processor's lease_lost, unless it is
                    // already in its final call); nothing more is released.
                    self.stop_now().await;
                    return;
                }
                done = self.consumers.join_next_with_id() => match done {
                    Some(done) => self.reap(done).await,
                    None => break,
                },
            }
        }
        self.w.leases.release_all().await;
    }

    /// Immediate: consumers see their leases lost; nothing is released.
    async fn stop_now(&mut self) {
        self.w.leases.lose_all(LostReason::WorkerStopping);
        while let Some(done) = self.consumers.join_next_with_id().await {
            if let Ok((id, _)) = done {
                self.tasks.remove(&id);
            }
        }
    }
}

/// Resolves once the control value satisfies `f` (holding no borrow across awaits).
async fn until(control: &mut watch::Receiver<Control>, f: impl Fn(Control) -> bool) {
    loop {
        let now = *control.borrow_and_update();
        if f(now) {
            return;
        }
        if control.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn report(worker: &str, stats: &taker::TakerStats) {
    let w = worker.to_owned();
    metrics::gauge!("TotalLeases", "worker" => w.clone()).set(stats.total as f64);
    metrics::gauge!("NumWorkers", "worker" => w.clone()).set(stats.workers as f64);
    metrics::gauge!("ExpiredLeases", "worker" => w.clone()).set(stats.available as f64);
    metrics::gauge!("LeaseSpillover", "worker" => w).set(stats.spillover as f64);
}

async fn sync_loop(
    store: crate::lease::LeaseStore,
    stream: crate::retrieval::StreamClient,
    config: crate::Config,
) {
    let start = Instant::now();
    let mut shard_sync = tokio::time::interval_at(
        start + config.shard_sync_interval,
        config.shard_sync_interval,
    );
    let mut cleanup = tokio::time::interval_at(
        start + config.lease_cleanup_interval,
        config.lease_cleanup_interval,
    );
    shard_sync.set_missed_tick_behavior(MissedTickBehavior::Delay);
    cleanup.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shard_sync.tick() => {
                if let Err(e) = sync::sync_shards(&store, &stream, config.initial_position).await {
                    tracing::warn!(error = %e, "shard sync failed; will retry");
                }
            }
            _ = cleanup.tick() => {
                if config.cleanup_leases_upon_shard_completion
                    && let Err(e) = sync::clean_up(&store).await
                {
                    tracing::warn!(error = %e, "finished lease cleanup failed; will retry");
                }
            }
        }
    }
}
