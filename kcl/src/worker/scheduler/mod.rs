//! The worker's main loop: start-up, the timers that bring leases in (the taker's scan,
//! the hand-over index, hand-offs waited on; `taking.rs`), starting and reaping shard
//! consumers, and the two ways of stopping (`stopping.rs`).

mod stopping;
mod taking;
mod watching;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{Id, JoinSet};
use tokio::time::{Instant, MissedTickBehavior, sleep_until};

use super::{Control, Worker, WorkerError, sync};
use crate::ShardProcessorFactory;
use crate::lease::liveness::Watched;
use crate::lease::taker;
use crate::lease::{
    ConcurrencyToken, ExpiryTracker, Lease, LostReason, TableScan, renew_while_held,
};
use crate::shard::ConsumerError;
use crate::shard::ShutdownReason;
use crate::shard::consumer::{self, ConsumerContext, ConsumerOutcome};

/// How often a hand-off this worker waits on is looked at.
const HANDOFF_POLL: Duration = Duration::from_millis(200);

pub(crate) struct Scheduler<F: ShardProcessorFactory> {
    w: Worker<F>,
    consumers: JoinSet<ConsumerOutcome>,
    /// One renewal task per held lease; each ends when its lease is lost or dropped.
    renewers: JoinSet<()>,
    /// Task id -> (lease key, acquisition token).
    tasks: HashMap<Id, (String, ConcurrencyToken)>,
    /// Leases whose consumer failed: not taken again before the instant.
    cooldown: HashMap<String, Instant>,
    /// Hand-offs to this worker in progress, by lease key.
    pending: HashMap<String, PendingReceive>,
    /// Leases per live worker other than this one, as of the last scan.
    loads: BTreeMap<String, usize>,
    /// When the indexes were last looked for.
    index_checked: Option<Instant>,
    tracker: ExpiryTracker,
    /// The kcl worker watched between scans, and through which lease.
    watched: Option<Watched>,
    /// A taker pass wanted by then at the latest: the table changed in a way a pass at
    /// the settled pace would see late (see [`Scheduler::pass_within`]).
    pass_due: Option<Instant>,
    /// The taker's latest scan and when it was made, for shard sync and cleanup.
    scans: watch::Sender<Option<(Instant, Arc<TableScan>)>>,
    graceful: watch::Sender<bool>,
    rng: fastrand::Rng,
}

/// A hand-off of a lease to this worker, waited on.
#[derive(Debug)]
struct PendingReceive {
    since: Instant,
    /// The counter last seen, and when it was first seen.
    counter: u64,
    counter_since: Instant,
}

impl<F: ShardProcessorFactory> Scheduler<F> {
    pub(crate) fn new(w: Worker<F>) -> Self {
        Scheduler {
            w,
            consumers: JoinSet::new(),
            renewers: JoinSet::new(),
            tasks: HashMap::new(),
            cooldown: HashMap::new(),
            pending: HashMap::new(),
            loads: BTreeMap::new(),
            index_checked: None,
            tracker: ExpiryTracker::default(),
            watched: None,
            pass_due: None,
            scans: watch::channel(None).0,
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
        background.spawn(self.w.leases.clone().expire_together());
        background.spawn(sync_loop(
            self.w.leases.store().clone(),
            self.w.stream.clone(),
            self.w.config.clone(),
            self.scans.subscribe(),
        ));
        let mut discovery = tokio::time::interval(self.w.config.lease_discovery_interval);
        discovery.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut handoffs = tokio::time::interval(HANDOFF_POLL);
        handoffs.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut next_take = pin!(sleep_until(Instant::now()));
        let mut next_watch = pin!(sleep_until(Instant::now()));
        loop {
            tokio::select! {
                biased;
                () = until(&mut control, |c| c != Control::Run) => break,
                Some(done) = self.consumers.join_next_with_id() => self.reap(done).await,
                Some(_) = self.renewers.join_next(), if !self.renewers.is_empty() => {}
                () = &mut next_take => {
                    let wait = self.take_round(&control).await;
                    next_take.as_mut().reset(Instant::now() + wait);
                }
                () = &mut next_watch, if self.watched.is_some() => {
                    let wait = self.check_watched(&control).await;
                    next_watch.as_mut().reset(Instant::now() + wait);
                }
                _ = handoffs.tick(), if !self.pending.is_empty() => self.poll_pending().await,
                _ = discovery.tick() => self.discover().await,
            }
            if let Some(due) = self.pass_due.take()
                && due < next_take.deadline()
            {
                next_take.as_mut().reset(due);
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
                Ok(()) => {
                    sync::sync_shards(store, &self.w.stream, self.w.config.initial_position, None)
                        .await
                        .map(drop)
                }
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

    /// Leases not to be taken now: a consumer here still runs, it failed recently, or a
    /// hand-off of it to this worker is in progress.
    fn busy_keys(&self) -> HashSet<String> {
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
            .chain(self.pending.keys().cloned())
            .collect()
    }

    /// Asks for a taker pass within `wait` (sooner if one is due sooner): the table
    /// changed in a way the watch does not cover (a lease released, lost, ended, or
    /// moved away from the worker watched), so it may not be settled any more.
    fn pass_within(&mut self, wait: Duration) {
        let due = Instant::now() + wait;
        self.pass_due = Some(self.pass_due.map_or(due, |d| d.min(due)));
    }

    /// `interval` plus up to a fifth (so workers started together do not scan together,
    /// and none scans more often than the interval says).
    fn jittered(&mut self, interval: Duration) -> Duration {
        interval.mul_f64(1.0 + 0.2 * self.rng.f64())
    }

    fn start_consumer(&mut self, lease: Lease, sent: Instant) {
        // Counted before the held set announces it, so a status read after the
        // announcement counts it.
        self.w.shared.stats.taken();
        let held = self.w.leases.insert(&lease.key, lease.counter, sent);
        self.renewers.spawn(renew_while_held(
            self.w.leases.clone(),
            held.clone(),
            self.w.config.lease_renewal_interval,
        ));
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

    /// A consumer task ended: forget, release or cool down its lease; a taker pass follows
    /// within the taker interval (within the discovery interval when its shard ended, its
    /// children being for the taking, or when it was handed over).
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
        let cfg = &self.w.config;
        let (taker, discovery) = (cfg.lease_taker_interval, cfg.lease_discovery_interval);
        if let Some(error) = outcome.error {
            tracing::error!(lease = %key, %error, "shard consumer failed; releasing its lease");
            self.w.shared.stats.consumer_error();
            self.cooldown
                .insert(key.clone(), Instant::now() + self.w.config.failover_time);
            self.release(&key, token).await;
            return self.pass_within(taker);
        }
        let leases = &self.w.leases;
        match outcome.reason {
            ShutdownReason::ShardEnd => {
                leases.forget(&key, token);
                return self.pass_within(discovery);
            }
            ShutdownReason::Requested => {
                // Handed to a worker the latest scan may not show: the next pass aims the
                // watch at it if it is this worker's successor.
                self.hand_over(&key, token).await;
                return self.pass_within(discovery);
            }
            ShutdownReason::LeaseLost => leases.lose(&key, token, LostReason::Fenced),
        }
        self.pass_within(taker);
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

/// Shard sync and the cleanup of finished leases, each at its interval, judging on the
/// taker's latest scan while it is recent (at most 1.5 taker intervals old, or 1.5
/// settled intervals while it shows no finished lease, for cleanup; a lease created
/// or changed since only makes a creation fail its condition or a deletion wait), or on a
/// scan of their own.
async fn sync_loop(
    store: crate::lease::LeaseStore,
    stream: crate::retrieval::StreamClient,
    config: crate::Config,
    scans: watch::Receiver<Option<(Instant, Arc<TableScan>)>>,
) {
    let start = Instant::now();
    let mut shard_sync = tokio::time::interval_at(
        start + config.shard_sync_interval,
        config.shard_sync_interval,
    );
    let mut cleanup = tokio::time::interval_at(
        start + config.lease_cleanup_interval + Duration::from_secs(1),
        config.lease_cleanup_interval,
    );
    shard_sync.set_missed_tick_behavior(MissedTickBehavior::Delay);
    cleanup.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let fresh = config.lease_taker_interval.mul_f64(1.5);
    let max_age = (config.lease_taker_interval)
        .max(config.settled_taker_interval)
        .mul_f64(1.5);
    let recent = |waiting: fn(&TableScan) -> bool| {
        scans
            .borrow()
            .as_ref()
            .filter(|(at, scan)| {
                at.elapsed() <= fresh || (at.elapsed() <= max_age && !waiting(scan))
            })
            .map(|(_, scan)| scan.clone())
    };
    let nothing = |_: &TableScan| false;
    // A finished lease waits for its children to start, which a settled table's scans
    // may not show for a minute: cleanup then scans on its own.
    let finished = |scan: &TableScan| scan.leases.iter().any(Lease::is_finished);
    loop {
        tokio::select! {
            _ = shard_sync.tick() => {
                let scan = recent(nothing);
                if let Err(e) = sync::sync_shards(&store, &stream, config.initial_position, scan).await {
                    tracing::warn!(error = %e, "shard sync failed; will retry");
                }
            }
            _ = cleanup.tick() => {
                if config.cleanup_leases_upon_shard_completion
                    && let Err(e) = sync::clean_up(&store, recent(finished)).await
                {
                    tracing::warn!(error = %e, "finished lease cleanup failed; will retry");
                }
            }
        }
    }
}
