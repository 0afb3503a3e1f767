//! The owner task of one stream: the only place that knows the order of the stages.
//!
//! Records flow one way: intake (hash keys, predicted shard) -> aggregation -> limiter ->
//! collector -> sender; outcomes come back as completed requests and either complete user
//! records or send them to the front again. One `select!` waits on the commands, the
//! requests in flight, the shard listing, a free connection and the next deadline.

mod backoff;
mod intake;
mod lifecycle;
mod outcome;

use backoff::Backoff;

use std::collections::HashSet;

use crate::FastMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use aws_sdk_kinesis::Client;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::{AbortHandle, JoinError, JoinHandle};
use tokio::time::{Duration, Instant, sleep_until};

use crate::budget::Permit;
use crate::config::{Ordering, ProducerConfig};
use crate::io::listing::ListError;
use crate::io::sender::{self, Sent};
use crate::metrics::Metrics;
use crate::pending::{Incoming, Outgoing, Pending, StreamName};
use crate::record::Record;
use crate::stages::aggregation::Aggregation;
use crate::stages::collector::Collector;
use crate::stages::limiter::Limiter;
use crate::stages::refresh::RefreshPolicy;
use crate::stages::shard_map::ShardMap;

/// What the producer asks of a stream's driver.
#[derive(Debug)]
pub(crate) enum Command {
    /// A record to write, with its share of the budget.
    Put(Incoming, Permit),
    /// Records of one batch put, in order, with their shares of the budget.
    PutMany(Vec<Incoming>, Permit),
    /// Answer once every record received before this is completed.
    Flush(oneshot::Sender<()>),
    /// Fail everything held with `ShutDown`, hand the records back and stop.
    Abort(oneshot::Sender<Vec<Record>>),
}

/// What all drivers of a producer share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ProducerConfig,
    pub(crate) client: Client,
    pub(crate) connections: Arc<Semaphore>,
    pub(crate) budget: Arc<crate::budget::Budget>,
    /// Origin of the `oldest` timestamps.
    pub(crate) epoch: Instant,
}

/// What a driver publishes for the producer's accessors.
#[derive(Debug, Default)]
pub(crate) struct StreamStats {
    /// Nanoseconds after the epoch when the oldest outstanding record was put, plus one;
    /// 0 when nothing is outstanding.
    pub(crate) oldest: AtomicU64,
}

type RequestFuture = Pin<Box<dyn Future<Output = (u64, Result<Sent, JoinError>)> + Send>>;

/// Records of one Kinesis record inside a request.
#[derive(Debug)]
pub(crate) struct Sending {
    shard: Option<Arc<str>>,
    users: Vec<Pending>,
    /// The Kinesis record's size (data + partition key).
    bytes: usize,
}

/// A request in flight.
#[derive(Debug)]
struct InFlight {
    records: Vec<Sending>,
    abort: AbortHandle,
    oldest: Instant,
}

/// Records written to a shard other than the predicted one, waiting for a fresh map to
/// tell whether they all belong there.
#[derive(Debug)]
struct Unverified {
    landing: outcome::Landing,
    users: Vec<Pending>,
}

/// Waits for the records received before a flush.
#[derive(Debug)]
struct FlushWaiter {
    bound: u64,
    remaining: usize,
    done: oneshot::Sender<()>,
}

/// The state of one stream's pipeline.
pub(crate) struct Driver {
    stream: StreamName,
    shared: Arc<Shared>,
    stats: Arc<StreamStats>,
    metrics: Metrics,
    map: Option<ShardMap>,
    refresh: RefreshPolicy,
    listing: Option<JoinHandle<Result<ShardMap, ListError>>>,
    missing: bool,
    /// The last shard listing failed (records may go out without a map).
    listing_failed: bool,
    premap: Vec<Pending>,
    aggregation: Aggregation,
    limiter: Limiter,
    collector: Collector,
    in_flight: FuturesUnordered<RequestFuture>,
    requests: FastMap<u64, InFlight>,
    busy: HashSet<Arc<str>>,
    unverified: Vec<Unverified>,
    spare_connection: Option<OwnedSemaphorePermit>,
    waiting_connection: bool,
    collector_blocked: bool,
    backoff: Backoff,
    flushes: Vec<FlushWaiter>,
    closing: bool,
    next_seq: u64,
    next_request: u64,
    outstanding: usize,
    sweep_at: Option<Instant>,
    stats_at: Instant,
    /// A publication was skipped (rate limit); `stats_at` is then a wake-up.
    stats_dirty: bool,
    published_empty: bool,
    ready: Vec<Outgoing>,
    /// The budget shares of every record received and not yet completed, returned as
    /// records complete (and all at once if the driver is dropped).
    held: Permit,
}

impl Driver {
    pub(crate) fn new(stream: Arc<str>, shared: Arc<Shared>, stats: Arc<StreamStats>) -> Driver {
        let c = &shared.config;
        let now = Instant::now();
        Driver {
            metrics: Metrics::new(c.metrics_level, c.metrics_granularity, stream.clone()),
            refresh: RefreshPolicy::new(c.shard_map_refresh_interval, now),
            aggregation: Aggregation::new(
                c.aggregation_enabled,
                c.aggregation_max_size,
                c.aggregation_max_count,
            ),
            limiter: Limiter::new(c.rate_limit),
            collector: Collector::new(
                c.collection_max_count,
                c.collection_max_size,
                c.ordering == Ordering::PerShard,
            ),
            stream: Arc::new(stream),
            stats,
            map: None,
            listing: None,
            missing: false,
            listing_failed: false,
            premap: Vec::new(),
            in_flight: FuturesUnordered::new(),
            requests: FastMap::default(),
            busy: HashSet::new(),
            unverified: Vec::new(),
            spare_connection: None,
            waiting_connection: false,
            collector_blocked: false,
            backoff: Backoff::default(),
            flushes: Vec::new(),
            closing: false,
            next_seq: 0,
            next_request: 0,
            outstanding: 0,
            sweep_at: None,
            stats_at: now,
            stats_dirty: false,
            published_empty: true,
            ready: Vec::new(),
            held: shared.budget.empty(),
            shared,
        }
    }

    /// Runs until aborted, or until the producer is dropped and everything is completed.
    pub(crate) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut buf = Vec::with_capacity(intake::COMMANDS_AT_ONCE);
        loop {
            let now = Instant::now();
            // Read before the pressure is looked at (in `pump` and below): a put that starts
            // waiting after this wakes the loop, however late it starts listening.
            let pressure_seen = self.shared.budget.pressure_epoch();
            self.pump(now);
            if self.closing && self.outstanding == 0 && self.in_flight.is_empty() {
                return;
            }
            let wake = self.next_wake(now);
            let connections = self.shared.connections.clone();
            let budget = self.shared.budget.clone();
            let pressured = self.shared.budget.under_pressure();
            let listing_active = self.listing.is_some();
            let listing = self.listing.as_mut();
            tokio::select! {
                biased;
                Some((id, sent)) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.on_sent(id, sent, Instant::now());
                }
                listed = async { match listing { Some(h) => h.await, None => std::future::pending().await } },
                    if listing_active => {
                    self.listing = None;
                    self.on_listed(listed, Instant::now());
                }
                n = commands.recv_many(&mut buf, intake::COMMANDS_AT_ONCE), if !self.closing => {
                    if n == 0 {
                        self.closing = true;
                    } else if self.take_backlog(&mut buf, &mut commands) {
                        return;
                    }
                }
                () = budget.pressured_since(pressure_seen), if !pressured => {}
                permit = connections.acquire_owned(), if self.waiting_connection => {
                    self.spare_connection = permit.ok();
                    self.waiting_connection = false;
                }
                () = sleep_until(wake) => {}
            }
        }
    }

    /// Moves records through the stages as far as they may go now.
    fn pump(&mut self, now: Instant) {
        self.start_listing(now);
        self.sweep(now);
        self.release_premap(now);
        let mut ready = std::mem::take(&mut self.ready);
        self.aggregation.take_due(now, &mut ready);
        if self.send_everything() {
            self.aggregation.take_all(&mut ready);
        }
        for o in ready.drain(..) {
            self.limiter.push(o, now);
        }
        self.limiter.release(now, &mut ready);
        for o in ready.drain(..) {
            self.collector.push(o);
        }
        self.ready = ready;
        self.send_ready(now);
        // A connection waited for and not used goes back at once: held across a wait, it
        // would stop every other stream (all of them, with `max_connections = 1`).
        self.spare_connection = None;
        self.publish_stats(now);
    }

    /// Whether everything held goes now rather than at its deadline: on shutdown, while a
    /// flush waits, or when puts wait for room that only sending what is held can free
    /// (nothing of this stream is in flight; while requests are in flight their completions
    /// free room, and sending at every event would only shrink aggregates and requests).
    fn send_everything(&self) -> bool {
        self.closing
            || !self.flushes.is_empty()
            || (self.in_flight.is_empty() && self.shared.budget.under_pressure())
    }

    /// Starts every request the collector has ready while connections are free.
    fn send_ready(&mut self, now: Instant) {
        self.collector_blocked = false;
        let force = self.send_everything();
        while self.collector.ready(now, force) {
            if self.backoff.active(now) {
                self.collector_blocked = true;
                return;
            }
            let permit = match self.spare_connection.take() {
                Some(p) => p,
                None => match self.shared.connections.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => {
                        self.waiting_connection = true;
                        self.collector_blocked = true;
                        return;
                    }
                },
            };
            let Some(batch) = self.collector.take(now, force, &self.busy) else {
                self.spare_connection = Some(permit);
                self.collector_blocked = true;
                return;
            };
            self.send(batch, permit, now);
        }
    }

    fn send(&mut self, batch: Vec<Outgoing>, permit: OwnedSemaphorePermit, now: Instant) {
        let id = self.next_request;
        self.next_request += 1;
        let ordered = self.shared.config.ordering == Ordering::PerShard;
        let mut records = Vec::with_capacity(batch.len());
        let mut sending = Vec::with_capacity(batch.len());
        let mut oldest = now;
        for o in batch {
            if let (true, Some(shard)) = (ordered, &o.shard) {
                self.busy.insert(shard.clone());
            }
            oldest = oldest.min(o.oldest);
            let handles = self.metrics.shard(o.shard.as_ref()).clone();
            for u in o.users.iter().filter(|u| u.attempts().is_empty()) {
                handles
                    .buffering_time
                    .record((now - u.arrived()).as_secs_f64() * 1000.0);
            }
            let bytes = o.size();
            records.push(o.record);
            sending.push(Sending {
                shard: o.shard,
                users: o.users,
                bytes,
            });
        }
        let c = &self.shared.config;
        let handle = sender::spawn(
            self.shared.client.clone(),
            (*self.stream).clone(),
            id,
            records,
            c.request_timeout,
            permit,
        );
        let abort = handle.abort_handle();
        self.requests.insert(
            id,
            InFlight {
                records: sending,
                abort,
                oldest,
            },
        );
        self.in_flight
            .push(Box::pin(async move { (id, handle.await) }));
    }

    /// The next instant something is due.
    fn next_wake(&self, now: Instant) -> Instant {
        let collector = if self.collector_blocked {
            None
        } else {
            self.collector.next_deadline()
        };
        let backoff = if self.collector.is_empty() {
            None
        } else {
            self.backoff.until
        };
        [
            self.aggregation.next_deadline(),
            self.limiter.next_ready(now),
            collector,
            self.refresh.next_at(),
            self.sweep_at,
            self.premap
                .iter()
                .map(|p| p.deadline())
                .min()
                .filter(|_| self.premap_releasable()),
            backoff,
            self.stats_dirty.then_some(self.stats_at),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + Duration::from_secs(1))
        .max(now)
    }
}
