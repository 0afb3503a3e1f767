//! Completion bookkeeping, expiry, and abort.

use std::sync::atomic::Ordering as AtomicOrdering;

use tokio::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::intake::AbortReply;
use super::outcome::Landing;
use super::{Command, Driver};
use crate::error::PutErrorKind;
use crate::pending::{Deliveries, Pending};
use crate::record::Record;
use crate::report::ShutdownReport;

impl Driver {
    /// Counts a completion against the outstanding records and the flushes waiting.
    fn completed(&mut self, seq: u64) {
        self.completed_many(1, &[seq]);
    }

    /// Counts `count` completions; `seqs` are their sequence numbers, needed only while a
    /// flush waits (empty otherwise).
    fn completed_many(&mut self, count: usize, seqs: &[u64]) {
        self.outstanding = self.outstanding.saturating_sub(count);
        if self.flushes.is_empty() {
            return;
        }
        for waiter in &mut self.flushes {
            let before = seqs.iter().filter(|&&seq| seq < waiter.bound).count();
            waiter.remaining = waiter.remaining.saturating_sub(before);
        }
        if self.flushes.iter().any(|w| w.remaining == 0) {
            let (done, waiting) = std::mem::take(&mut self.flushes)
                .into_iter()
                .partition(|w| w.remaining == 0);
            self.flushes = waiting;
            for w in done {
                let _ = w.done.send(());
            }
        }
    }

    /// Completes a record with its error, handing it back. Its budget share is returned
    /// first, so a caller seeing the result sees the room.
    pub(super) fn fail(&mut self, pending: Pending, kind: PutErrorKind) -> Record {
        self.held.release(1, pending.charge());
        self.completed(pending.seq);
        if kind == PutErrorKind::Expired {
            self.metrics.shard(None).expired.increment(1);
        }
        pending.fail(kind)
    }

    /// Completes the user records of one Kinesis record as written, in order.
    pub(super) fn succeed_all(&mut self, mut users: Vec<Pending>, landing: &Landing) {
        let Landing {
            shard_id,
            sequence_number,
            bytes,
            sent,
        } = landing;
        let detailed = self.metrics.detailed();
        let handles = self.metrics.shard(Some(shard_id)).clone();
        handles.user_records_put.increment(users.len() as u64);
        let data: usize = users.iter().map(Pending::size).sum();
        handles.user_records_data_put.increment(data as u64);
        handles.kinesis_records_put.increment(1);
        handles.kinesis_records_data_put.increment(*bytes as u64);
        if detailed {
            handles
                .user_records_per_kinesis_record
                .record(users.len() as f64);
            for u in &users {
                handles.retries_per_record.record(u.attempts().len() as f64);
            }
        }
        // One release for the whole Kinesis record, before any of its records completes.
        let count = users.len();
        self.held
            .release(count, crate::budget::charge_of(count, data));
        // Counted as completed once delivered, so a flush answered sees every result.
        let seqs: Vec<u64> = if self.flushes.is_empty() {
            Vec::new()
        } else {
            users.iter().map(|u| u.seq).collect()
        };
        let mut deliveries = Deliveries::default();
        for (index, user) in users.drain(..).enumerate() {
            let (shard_id, sequence_number) = (shard_id.clone(), sequence_number.clone());
            let last = sent.attempt(user.idle_since(), None);
            user.succeed(
                shard_id,
                sequence_number,
                index as u64,
                last,
                &mut deliveries,
            );
        }
        deliveries.finish();
        self.aggregation.recycle(users);
        self.completed_many(count, &seqs);
    }

    /// Stops on an abort: whatever is still queued for the driver (not taken in) and
    /// everything held fail with `ShutDown`; the report lists them all, and marks those
    /// written but not verified.
    pub(super) fn stop(
        &mut self,
        done: AbortReply,
        commands: &mut mpsc::UnboundedReceiver<Command>,
    ) {
        commands.close();
        let mut rest = Vec::new();
        while let Ok(command) = commands.try_recv() {
            rest.push(command);
        }
        self.not_taken(rest);
        let _ = done.send(self.abort());
    }

    /// Commands that came after an abort: their records fail with `ShutDown` and are
    /// reported; flushes are answered.
    pub(super) fn not_taken(&mut self, commands: Vec<Command>) {
        for command in commands {
            match command {
                Command::Put(incoming, _) => {
                    self.untaken.extend(incoming.fail(PutErrorKind::ShutDown))
                }
                Command::PutMany(many, _) => {
                    for incoming in many {
                        self.untaken.extend(incoming.fail(PutErrorKind::ShutDown));
                    }
                }
                Command::Flush(done) => {
                    let _ = done.send(());
                }
                Command::Abort(done) => {
                    let _ = done.send(ShutdownReport::default());
                }
            }
        }
    }

    /// Fails everything with `ShutDown` (requests in flight are abandoned: their records
    /// may or may not have been written) and reports the records, in put order.
    fn abort(&mut self) -> ShutdownReport {
        let mut held = self.take_everything();
        let mut unsent: Vec<(u64, Record)> = Vec::new();
        let mut unverified = Vec::new();
        for h in &mut held {
            for p in std::mem::take(&mut h.users) {
                let seq = p.seq;
                match &h.landing {
                    Some(landing) => {
                        let mut p = p;
                        landing.record_unverified(&mut p);
                        let written = landing.written(p.to_record());
                        self.fail(p, PutErrorKind::ShutDown);
                        unverified.push((seq, written));
                    }
                    None => unsent.push((seq, self.fail(p, PutErrorKind::ShutDown))),
                }
            }
        }
        unsent.sort_by_key(|(seq, _)| *seq);
        unverified.sort_by_key(|(seq, _)| *seq);
        let mut records: Vec<Record> = std::mem::take(&mut self.untaken);
        records.splice(0..0, unsent.into_iter().map(|(_, r)| r));
        ShutdownReport {
            unsent: records,
            unverified: unverified.into_iter().map(|(_, u)| u).collect(),
            flushed: false,
        }
    }

    /// Publishes the oldest outstanding record's put time, at most every 10 ms (at once
    /// when nothing is outstanding any more).
    pub(super) fn publish_stats(&mut self, now: Instant) {
        let changed = (self.outstanding == 0) != self.published_empty;
        if now < self.stats_at && !changed {
            self.stats_dirty = true;
            return;
        }
        self.stats_dirty = false;
        self.published_empty = self.outstanding == 0;
        self.stats_at = now + Duration::from_millis(10);
        let oldest = self.oldest();
        let value = oldest.map_or(0, |o| {
            u64::try_from(o.saturating_duration_since(self.shared.epoch).as_nanos())
                .unwrap_or(u64::MAX - 1)
                + 1
        });
        self.stats.oldest.store(value, AtomicOrdering::Relaxed);
        self.metrics.pending(self.outstanding);
    }
}
