//! Intake: records in, hash keys in batches, predicted shard, into aggregation.

use kinesis_agg::HashKey;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::ledger::sweep_by;
use super::{Command, Driver, FlushWaiter};
use crate::error::PutErrorKind;
use crate::pending::{Incoming, Pending};
use crate::report::ShutdownReport;
use crate::stages::aggregation::alone;

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

/// Where an abort's report goes.
pub(super) type AbortReply = oneshot::Sender<ShutdownReport>;

impl Driver {
    /// Takes the commands in `buf`, then whatever else is queued already (up to
    /// [`BACKLOG_RECORDS`] records) before the stages run: records that waited in the queue
    /// past their deadline would otherwise go out in aggregates of the few taken together.
    /// Returns where to report when the driver must stop (aborted).
    pub(super) fn take_backlog(
        &mut self,
        buf: &mut Vec<Command>,
        commands: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Option<AbortReply> {
        let mut taken = 0;
        loop {
            taken += buf.iter().map(Command::records).sum::<usize>();
            if let Some(done) = self.on_commands(buf) {
                return Some(done);
            }
            if taken >= BACKLOG_RECORDS {
                return None;
            }
            while buf.len() < COMMANDS_AT_ONCE {
                match commands.try_recv() {
                    Ok(command) => buf.push(command),
                    Err(_) => break,
                }
            }
            if buf.is_empty() {
                return None;
            }
        }
    }

    /// Handles a batch of commands; returns where to report when the driver must stop
    /// (aborted: the commands after the abort stay in `commands` for the report).
    pub(super) fn on_commands(&mut self, commands: &mut Vec<Command>) -> Option<AbortReply> {
        let mut puts: Vec<Incoming> = Vec::new();
        let mut drained = commands.drain(..);
        for command in drained.by_ref() {
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
                    let rest: Vec<Command> = drained.collect();
                    self.not_taken(rest);
                    return Some(done);
                }
            }
        }
        drop(drained);
        self.intake(puts);
        None
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
            sweep_by(&mut self.sweep_at, pending.expiry());
            self.route_to(pending, hash);
        }
        self.flush_ready(now);
    }

    /// Routes a record again (after a retry or a new map): its hash key computed anew.
    pub(super) fn route(&mut self, pending: Pending) {
        let hash = pending.hash_key();
        self.route_to(pending, hash);
        self.flush_ready(Instant::now());
    }

    /// Hands the Kinesis records the aggregation finished on to the lanes (the scratch
    /// vector is empty between steps: it is no place to wait).
    fn flush_ready(&mut self, now: Instant) {
        for o in self.ready.drain(..) {
            self.lanes.push(o, now);
        }
    }

    /// Sends a record to the aggregate of the shard predicted for `hash`; before the first
    /// map it waits (until its deadline at most); in a gap of the map it goes alone.
    fn route_to(&mut self, pending: Pending, hash: HashKey) {
        if self.missing {
            self.fail(pending, PutErrorKind::StreamNotFound);
            return;
        }
        let Some(map) = &self.map else {
            self.premap.0.push(pending);
            return;
        };
        match map.predict_place(hash) {
            Some((index, shard)) => {
                self.aggregation
                    .add_at(index, &shard.id, pending, &mut self.ready)
            }
            None => {
                // A gap: the map is wrong. Alone, the record goes where its hash key says.
                self.refresh.invalidate(Instant::now());
                self.ready.push(alone(None, pending));
            }
        }
    }

    /// Without a map (the first listing is under way, stalls or fails), records go out
    /// alone with their own hash keys (the KPL's fallback) once they are due: when a first
    /// listing failed or timed out (`all`), or once half their TTL has passed (a slow first
    /// listing is waited for: the map lets them go aggregated, a shard at a time; in
    /// ordered mode they go one per hash key at a time).
    pub(super) fn release_premap(&mut self, now: Instant, all: bool) {
        if self.map.is_some() || self.premap.0.is_empty() {
            return;
        }
        // A flush or a shutdown waits for the map too (within the same bound): sending
        // records alone because a caller flushed would give up aggregation for nothing.
        let (due, wait): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.premap.0)
            .into_iter()
            .partition(|p| all || premap_due(p) <= now);
        self.premap.0 = wait;
        for p in due {
            self.lanes.push(alone(None, p), now);
        }
    }

    /// When the first record waiting for a map goes without one.
    pub(super) fn premap_next(&self) -> Option<Instant> {
        self.premap.0.iter().map(premap_due).min()
    }

    /// Registers a flush: everything held goes now, and `done` is answered once every
    /// record received so far is completed.
    fn flush(&mut self, done: oneshot::Sender<()>) {
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
        self.flush_ready(Instant::now());
    }
}

/// When a record waiting for a first map goes without one (see `release_premap`).
fn premap_due(p: &Pending) -> Instant {
    p.arrived() + (p.expiry() - p.arrived()) / 2
}
