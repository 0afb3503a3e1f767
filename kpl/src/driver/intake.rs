//! Intake: records in, hash keys in batches, predicted shard, into aggregation; and the
//! shard map that makes the prediction.

use kinesis_agg::HashKey;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Command, Driver, FlushWaiter};
use crate::error::PutErrorKind;
use crate::io::listing::{self, ListError};
use crate::pending::{Incoming, Pending};
use crate::stages::shard_map::ShardMap;

impl Command {
    /// The records it carries.
    fn records(&self) -> usize {
        match self {
            Command::Put(..) => 1,
            Command::PutMany(records, _) => records.len(),
            Command::Flush(_) | Command::Abort(_) => 0,
        }
    }
}

/// Commands taken from the queue at a time.
pub(super) const COMMANDS_AT_ONCE: usize = 1024;

/// Records taken in from a backlog before the stages run (a few milliseconds of intake).
const BACKLOG_RECORDS: usize = 32_768;

impl Driver {
    /// Takes the commands in `buf`, then whatever else is queued already (up to
    /// [`BACKLOG_RECORDS`] records) before the stages run: records that waited in the queue
    /// past their deadline would otherwise go out in aggregates of the few taken together.
    /// Returns true when the driver must stop (aborted).
    pub(super) fn take_backlog(
        &mut self,
        buf: &mut Vec<Command>,
        commands: &mut mpsc::UnboundedReceiver<Command>,
    ) -> bool {
        let mut taken = 0;
        loop {
            taken += buf.iter().map(Command::records).sum::<usize>();
            if self.on_commands(buf) {
                return true;
            }
            if taken >= BACKLOG_RECORDS {
                return false;
            }
            while buf.len() < COMMANDS_AT_ONCE {
                match commands.try_recv() {
                    Ok(command) => buf.push(command),
                    Err(_) => break,
                }
            }
            if buf.is_empty() {
                return false;
            }
        }
    }

    /// Handles a batch of commands; returns true when the driver must stop (aborted).
    pub(super) fn on_commands(&mut self, commands: &mut Vec<Command>) -> bool {
        let mut puts: Vec<Incoming> = Vec::new();
        for command in commands.drain(..) {
            match command {
                Command::Put(incoming, permit) => {
                    self.held.absorb(permit);
                    puts.push(incoming);
                }
                Command::PutMany(many, permit) => {
                    self.held.absorb(permit);
                    // A batch goes in as it came (no copy into `puts`).
                    self.intake(std::mem::take(&mut puts));
                    self.intake(many);
                }
                Command::Flush(done) => {
                    self.intake(std::mem::take(&mut puts));
                    self.flush(done);
                }
                Command::Abort(done) => {
                    self.intake(std::mem::take(&mut puts));
                    let records = self.abort();
                    let _ = done.send(records);
                    return true;
                }
            }
        }
        self.intake(puts);
        false
    }

    /// New records: hash keys in one batch (SIMD lanes), then each one routed.
    fn intake(&mut self, puts: Vec<Incoming>) {
        if puts.is_empty() {
            return;
        }
        self.metrics.received(puts.len() as u64);
        let md5s = HashKey::from_partition_keys(
            puts.iter()
                .map(|i| i.record().map_or("", |r| r.partition_key())),
        );
        let (buffered, ttl) = (
            self.shared.config.record_max_buffered_time,
            self.shared.config.record_ttl,
        );
        let now = Instant::now();
        for (incoming, md5) in puts.into_iter().zip(md5s) {
            let hash = incoming
                .record()
                .and_then(|r| r.explicit_hash_key())
                .unwrap_or(md5);
            let (deadline, expiry) = (incoming.arrived + buffered, incoming.arrived + ttl);
            let Some(pending) = Pending::new(
                incoming,
                &self.stream,
                self.next_seq,
                deadline.min(expiry),
                expiry,
            ) else {
                continue;
            };
            self.next_seq += 1;
            self.outstanding += 1;
            if pending.expiry() <= now {
                self.fail(pending, PutErrorKind::Expired);
                continue;
            }
            self.sweep_at = Some(
                self.sweep_at
                    .map_or(pending.expiry(), |s| s.min(pending.expiry())),
            );
            self.route_to(pending, hash);
        }
    }

    /// Routes a record again (after a retry or a new map): its hash key computed anew.
    pub(super) fn route(&mut self, pending: Pending) {
        let hash = pending.hash_key();
        self.route_to(pending, hash);
    }

    /// Sends a record to the aggregate of the shard predicted for `hash` (or holds it until
    /// the first map).
    fn route_to(&mut self, pending: Pending, hash: HashKey) {
        if self.missing {
            self.fail(pending, PutErrorKind::StreamNotFound);
            return;
        }
        let Some(map) = &self.map else {
            self.premap.push(pending);
            return;
        };
        let place = map.predict_place(hash);
        match place {
            Some((index, shard)) => {
                self.aggregation
                    .add_at(index, &shard.id, pending, &mut self.ready)
            }
            None if self.ordered() => {
                // Records of no known shard cannot be kept in order: wait for a complete map.
                self.refresh.invalidate(Instant::now());
                self.premap.push(pending);
            }
            None => self.aggregation.add(None, pending, &mut self.ready),
        }
    }

    /// Without a map because listing the shards fails: records whose deadline came go out
    /// unaggregated (as the KPL does). While the first listing is under way they wait for
    /// it; in ordered mode they wait for a map in any case (or their TTL).
    pub(super) fn release_premap(&mut self, now: Instant) {
        if !self.premap_releasable() {
            return;
        }
        let force = self.closing || !self.flushes.is_empty();
        let (due, wait): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.premap)
            .into_iter()
            .partition(|p| force || p.deadline() <= now);
        self.premap = wait;
        for p in due {
            self.aggregation.add(None, p, &mut self.ready);
        }
    }

    /// Whether held records may go out without a map.
    pub(super) fn premap_releasable(&self) -> bool {
        self.map.is_none() && self.listing_failed && !self.premap.is_empty() && !self.ordered()
    }

    pub(super) fn ordered(&self) -> bool {
        self.shared.config.ordering == crate::config::Ordering::PerShard
    }

    /// Starts a ListShards if the map is due for one.
    pub(super) fn start_listing(&mut self, now: Instant) {
        if !self.refresh.due(now) {
            return;
        }
        self.refresh.started();

        let (client, stream) = (self.shared.client.clone(), self.stream.clone());
        self.listing = Some(tokio::spawn(async move {
            listing::open_shards(&client, &stream).await
        }));
    }

    /// A listing ended.
    pub(super) fn on_listed(
        &mut self,
        listed: Result<Result<ShardMap, ListError>, tokio::task::JoinError>,
        now: Instant,
    ) {
        match listed {
            Ok(Ok(map)) if !map.is_empty() => {
                self.listing_failed = false;
                self.refresh.succeeded(now);
                self.missing = false;
                self.map = Some(map);
                self.after_new_map();
            }
            Ok(Err(ListError::StreamNotFound)) => {
                self.listing_failed = true;
                self.refresh.failed(now);
                self.missing = true;
                tracing::warn!(stream = %self.stream, "stream not found");
                for p in self.take_all_held() {
                    self.fail(p, PutErrorKind::StreamNotFound);
                }
            }
            Ok(Ok(_)) | Ok(Err(ListError::Failed(_))) | Err(_) => {
                tracing::debug!(stream = %self.stream, "listing shards failed; retrying with backoff");
                self.listing_failed = true;
                self.refresh.failed(now);
            }
        }
    }

    /// With a fresh map: route the held records, drop aggregates of closed shards (their
    /// records are routed again) and settle the records written to unexpected shards.
    fn after_new_map(&mut self) {
        let Some(map) = self.map.take() else { return };
        let orphans = self.aggregation.remap(|id| map.place(id));
        self.map = Some(map);
        for p in std::mem::take(&mut self.premap).into_iter().chain(orphans) {
            self.route(p);
        }
        self.settle_unverified();
    }

    /// Registers a flush: everything held goes now, and `done` is answered once every
    /// record received so far is completed.
    fn flush(&mut self, done: tokio::sync::oneshot::Sender<()>) {
        if self.outstanding == 0 {
            let _ = done.send(());
            return;
        }
        self.flushes.push(FlushWaiter {
            bound: self.next_seq,
            remaining: self.outstanding,
            done,
        });
        let mut ready = std::mem::take(&mut self.ready);
        self.aggregation.take_all(&mut ready);
        self.ready = ready;
    }
}
