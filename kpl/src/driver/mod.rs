//! The owner task of one stream: the only place that knows the order of the stages.
//!
//! Records flow one way: intake (hash keys, predicted shard) -> aggregation -> lanes (one
//! queue per shard, its rate limit, its order) -> collector -> sender; outcomes come back
//! as completed requests and either complete user records or send them to the front again.
//! Every place a record waits is listed once, in the ledger ([`ledger`]). One `select!`
//! waits on the commands, the requests in flight, the shard listing, a free connection and
//! the next deadline.

mod backoff;
mod intake;
mod ledger;
mod lifecycle;
mod listing;
mod outcome;
mod send;

use backoff::Backoff;
use ledger::{Premap, Requests, Unverified};

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use aws_sdk_kinesis::Client;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Duration, Instant, sleep_until};

use crate::budget::Permit;
use crate::config::{Ordering, ProducerConfig};
use crate::io::listing::ListError;
use crate::metrics::Metrics;
use crate::pending::{Incoming, Outgoing, StreamName};
use crate::record::Record;
use crate::report::ShutdownReport;
use crate::stages::aggregation::Aggregation;
use crate::stages::collector::Collector;
use crate::stages::lanes::Lanes;
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
    Abort(oneshot::Sender<ShutdownReport>),
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
    // Where records wait (the ledger lists them all): before the first map, in aggregates,
    // in the shards' lanes, in the collector, in requests, written and awaiting a map.
    premap: Premap,
    aggregation: Aggregation,
    lanes: Lanes,
    collector: Collector,
    requests: Requests,
    unverified: Unverified,
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
    /// Scratch space for Kinesis records on their way from one stage to the next; empty
    /// between the driver's steps (it is no place to wait).
    ready: Vec<Outgoing>,
    /// The budget shares of every record received and not yet completed, returned as
    /// records complete (and all at once if the driver is dropped).
    held: Permit,
    /// Records of commands that came after an abort, for its report.
    untaken: Vec<Record>,
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
            lanes: Lanes::new(c.rate_limit, c.ordering == Ordering::PerShard),
            collector: Collector::new(c.collection_max_count, c.collection_max_size),
            stream: Arc::new(stream),
            stats,
            map: None,
            listing: None,
            missing: false,
            premap: Premap::default(),
            requests: Requests::default(),
            unverified: Unverified::default(),
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
            untaken: Vec::new(),
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
            if self.closing && self.outstanding == 0 && self.requests.is_empty() {
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
                Some((id, sent)) = self.requests.next(), if !self.requests.is_empty() => {
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
                    } else if let Some(done) = self.take_backlog(&mut buf, &mut commands) {
                        self.stop(done, &mut commands);
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
        self.release_premap(now, false);
        let mut ready = std::mem::take(&mut self.ready);
        self.aggregation.take_due(now, &mut ready);
        if self.send_everything() {
            self.aggregation.take_all(&mut ready);
        }
        for o in ready.drain(..) {
            self.lanes.push(o, now);
        }
        self.lanes.release(now, &mut ready);
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
    /// (nothing of this stream is in flight and nothing waits in a lane for its shard's
    /// rate limit; while requests are in flight their completions free room, and while
    /// lanes wait for their limits the room comes as they go: sending at every event would
    /// only shrink aggregates and requests, and under the limits put more records behind
    /// them, each woken for and carried at a cost).
    fn send_everything(&self) -> bool {
        self.closing
            || !self.flushes.is_empty()
            || (self.requests.is_empty()
                && self.lanes.is_empty()
                && self.shared.budget.under_pressure())
    }

    /// Whether records of one shard are kept in order (`Ordering::PerShard`).
    fn ordered(&self) -> bool {
        self.shared.config.ordering == Ordering::PerShard
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
            self.lanes.next_ready(now),
            collector,
            self.refresh.next_at(),
            self.sweep_at,
            self.premap_next().filter(|_| self.map.is_none()),
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

#[cfg(test)]
mod tests;
