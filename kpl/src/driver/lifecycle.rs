//! Completion bookkeeping, expiry, and abort.

use std::sync::atomic::Ordering as AtomicOrdering;

use tokio::time::{Duration, Instant};

use super::Driver;
use super::outcome::Landing;
use crate::error::PutErrorKind;
use crate::pending::{Deliveries, Pending};
use crate::record::Record;

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

    /// Fails expired records wherever they wait (aggregation, limiter, collector, before the
    /// first map); the others of the same aggregates are routed again.
    pub(super) fn sweep(&mut self, now: Instant) {
        if self.sweep_at.is_none_or(|at| at > now) {
            return;
        }
        let mut back = self.aggregation.take_expiring(now);
        for o in self
            .limiter
            .take_expiring(now)
            .into_iter()
            .chain(self.collector.take_expiring(now))
        {
            back.extend(o.users);
        }
        let (expired, kept): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.premap)
            .into_iter()
            .partition(|p| p.expiry() <= now);
        self.premap = kept;
        back.extend(expired);
        for p in back {
            if p.expiry() <= now {
                self.fail(p, PutErrorKind::Expired);
            } else {
                self.route(p);
            }
        }
        let premap = self.premap.iter().map(|p| p.expiry()).min();
        let held = [
            self.aggregation.next_expiry(),
            self.limiter.next_expiry(),
            self.collector.next_expiry(),
            premap,
        ];
        self.sweep_at = held.into_iter().flatten().min();
        if self.sweep_at.is_none() && self.outstanding > 0 {
            // Records in flight or awaiting a map: look again after they come back.
            self.sweep_at = Some(
                now + self
                    .shared
                    .config
                    .record_max_buffered_time
                    .max(Duration::from_millis(100)),
            );
        }
    }

    /// Every record held outside requests in flight.
    pub(super) fn take_all_held(&mut self) -> Vec<Pending> {
        let mut held = std::mem::take(&mut self.premap);
        held.extend(self.aggregation.drain());
        for o in self
            .limiter
            .drain()
            .into_iter()
            .chain(self.collector.drain())
        {
            held.extend(o.users);
        }
        for u in std::mem::take(&mut self.unverified) {
            held.extend(u.users);
        }
        held
    }

    /// Fails everything with `ShutDown` (requests in flight are abandoned: their records
    /// may or may not have been written) and returns the records.
    pub(super) fn abort(&mut self) -> Vec<Record> {
        let mut held = self.take_all_held();
        for (_, request) in self.requests.drain() {
            request.abort.abort();
            for sending in request.records {
                held.extend(sending.users);
            }
        }
        self.in_flight.clear();
        self.busy.clear();
        held.sort_by_key(|p| p.seq);
        held.into_iter()
            .map(|p| self.fail(p, PutErrorKind::ShutDown))
            .collect()
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
        let oldest = [
            self.premap.iter().map(|p| p.arrived()).min(),
            self.aggregation.oldest(),
            self.limiter.oldest(),
            self.collector.oldest(),
            self.requests.values().map(|r| r.oldest).min(),
            self.unverified
                .iter()
                .flat_map(|u| u.users.iter().map(|p| p.arrived()))
                .min(),
        ]
        .into_iter()
        .flatten()
        .min();
        let value = oldest.map_or(0, |o| {
            u64::try_from(o.saturating_duration_since(self.shared.epoch).as_nanos())
                .unwrap_or(u64::MAX - 1)
                + 1
        });
        self.stats.oldest.store(value, AtomicOrdering::Relaxed);
        self.metrics.pending(self.outstanding);
    }
}
