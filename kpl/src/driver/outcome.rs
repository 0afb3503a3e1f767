//! Outcomes: a finished request completes its user records, or sends them to the front
//! again, and tells the limiter and the shard map what it learned.

use std::sync::Arc;

use tokio::task::JoinError;
use tokio::time::Instant;

use super::Driver;
use super::ledger::{Sending, sweep_by};
use crate::error::{ErrorCode, PutErrorKind};
use crate::io::sender::{EntryOutcome, Sent};
use crate::pending::Pending;
use crate::record::{Attempt, AttemptError, Record};
use crate::report::UnverifiedRecord;
use crate::stages::aggregation::{self, alone};
use crate::stages::retrier::{self, Verdict};

impl Driver {
    /// A request ended (or its task failed).
    pub(super) fn on_sent(&mut self, id: u64, sent: Result<Sent, JoinError>, now: Instant) {
        let Some(request) = self.requests.by_id.remove(&id) else {
            return;
        };
        for s in &request.records {
            self.lanes.settled(s.shard.as_ref(), s.hash);
        }
        let sent = sent.unwrap_or_else(|e| Sent {
            started: now,
            finished: now,
            // The request's task failed: its outcome is unknown, as after a reset.
            result: Err(AttemptError::new(
                ErrorCode::Transient("ClientTaskFailed".into()),
                e.to_string(),
            )),
        });
        let users: usize = request.records.iter().map(|r| r.users.len()).sum();
        let millis = (sent.finished - sent.started).as_secs_f64() * 1000.0;
        self.metrics.request(millis, request.records.len(), users);
        let timing = Timing {
            started: sent.started,
            finished: sent.finished,
        };
        match sent.result {
            Err(error) => {
                // One error for every record of the request (not a copy each).
                let error = Arc::new(error);
                // A pause for the server's sake; a refused request (client error) fails its
                // records and does not hold back the others.
                if error.code.is_retryable() {
                    self.backoff.failed(now);
                }
                for sending in request.records {
                    self.judge_failure(sending, &error, timing, now);
                }
            }
            Ok(outcomes) => {
                self.backoff.succeeded();
                for (sending, outcome) in request.records.into_iter().zip(outcomes) {
                    self.judge_entry(sending, outcome, timing, now);
                }
            }
        }
    }

    fn judge_entry(&mut self, sending: Sending, outcome: EntryOutcome, sent: Timing, now: Instant) {
        let predicted = sending.shard.as_deref();
        if retrier::mispredicted(&outcome, predicted) {
            self.refresh.invalidate(now);
        }
        let c = &self.shared.config;
        let verdict = retrier::judge(
            &outcome,
            predicted,
            sending.users.len(),
            c.fail_if_throttled,
        );
        match outcome {
            EntryOutcome::Written {
                shard_id,
                sequence_number,
            } => {
                self.lanes.succeeded(&shard_id, now, sending.bytes);
                let landing = Landing {
                    shard_id,
                    sequence_number,
                    bytes: sending.bytes,
                    sent,
                };
                if verdict == Verdict::Check {
                    self.unverified.0.push((landing, sending.users));
                } else {
                    self.succeed_all(sending.users, &landing);
                }
            }
            EntryOutcome::Failed(error) => {
                let error = Arc::new(error);
                self.apply_failure(sending, verdict, &error, sent, now)
            }
        }
    }

    fn judge_failure(
        &mut self,
        sending: Sending,
        error: &Arc<AttemptError>,
        sent: Timing,
        now: Instant,
    ) {
        let verdict =
            retrier::judge_error(&error.code, self.shared.config.fail_if_throttled, error);
        self.apply_failure(sending, verdict, error, sent, now);
    }

    fn apply_failure(
        &mut self,
        mut sending: Sending,
        verdict: Verdict,
        error: &Arc<AttemptError>,
        sent: Timing,
        now: Instant,
    ) {
        record_attempts(&mut sending.users, sent, Some(error));
        self.metrics.errors(
            error.code.as_str(),
            sending.shard.as_ref(),
            sending.users.len() as u64,
        );
        match verdict {
            Verdict::Retry { throttled } => {
                if let (true, Some(shard)) = (throttled, &sending.shard) {
                    self.lanes.throttled(shard, now);
                }
                self.retry(sending, now);
            }
            Verdict::Fail(kind) => {
                if kind == PutErrorKind::StreamNotFound {
                    // Deleted (and perhaps created again): the listing tells which, now.
                    self.missing = true;
                    self.refresh.invalidate(now);
                }
                for user in sending.users {
                    self.fail(user, kind.clone());
                }
            }
            Verdict::Done | Verdict::Check => self.retry(sending, now),
        }
    }

    /// Sends records to the front again, due in half the buffering time (capped at their
    /// expiry). In ordered mode they stay together, in order, ahead of newer records of
    /// their shard; otherwise they are aggregated again with the others.
    fn retry(&mut self, sending: Sending, now: Instant) {
        let due = now + self.shared.config.record_max_buffered_time / 2;
        let mut live = Vec::with_capacity(sending.users.len());
        for mut user in sending.users {
            if user.expiry() <= now {
                self.fail(user, PutErrorKind::Expired);
                continue;
            }
            user.set_deadline(due.min(user.expiry()));
            sweep_by(&mut self.sweep_at, user.expiry());
            live.push(user);
        }
        if self.ordered() {
            self.requeue_front(live, now);
        } else {
            live.into_iter().for_each(|user| self.route(user));
        }
    }

    /// Ordered mode: puts records back at the front of the lanes of the shards the map
    /// predicts for them now, in order, aggregated again (a lane keeps the order it holds).
    pub(super) fn requeue_front(&mut self, users: Vec<Pending>, now: Instant) {
        // Grouped by shard, in order within each (order is per shard): full aggregates.
        let mut groups: Vec<(Option<Arc<str>>, Vec<Pending>)> = Vec::new();
        for user in users {
            let shard = self
                .map
                .as_ref()
                .and_then(|m| m.predict_place(user.hash_key()))
                .map(|(_, s)| s.id.clone());
            match groups.iter_mut().find(|(s, _)| *s == shard) {
                Some((_, group)) => group.push(user),
                None => groups.push((shard, vec![user])),
            }
        }
        let c = self.shared.clone();
        let c = &c.config;
        let mut packed = Vec::new();
        for (shard, group) in groups {
            packed.extend(aggregation::pack(
                c.aggregation_enabled,
                c.aggregation_max_size,
                c.aggregation_max_count,
                shard,
                group,
            ));
        }
        self.lanes.push_front(packed, now);
    }

    /// With a fresh map, records written to an unexpected shard are complete if every one of
    /// them belongs to that shard; otherwise (a consumer applying the KCL's hash range rule
    /// would drop them) they are all sent again.
    pub(super) fn settle_unverified(&mut self) {
        for (landing, users) in std::mem::take(&mut self.unverified.0) {
            let range = self
                .map
                .as_ref()
                .and_then(|m| m.get(&landing.shard_id))
                .map(|s| s.range);
            if range.is_some_and(|r| users.iter().all(|p| r.contains(p.hash_key()))) {
                self.succeed_all(users, &landing);
                continue;
            }
            let message = format!(
                "written to {} outside its hash range; sent again",
                landing.shard_id
            );
            self.resend(landing, users, &message);
        }
    }

    /// No map could be had (the listing failed or timed out): records written to an
    /// unexpected shard go again alone, with their own hash keys, so they land where a
    /// KCL-style consumer keeps them whatever the shards are (the KPL's fallback).
    pub(super) fn resend_unverified_alone(&mut self) {
        let now = Instant::now();
        let mut alone_again = Vec::new();
        for (landing, mut users) in std::mem::take(&mut self.unverified.0) {
            let message = format!(
                "written to {} as {}; no shard map to verify it; sent again alone",
                landing.shard_id, landing.sequence_number
            );
            self.note_wrong_shard(&landing, &mut users, &message);
            alone_again.extend(users.into_iter().map(|p| alone(None, p)));
        }
        self.lanes.push_front(alone_again, now);
    }

    /// Records the attempt that landed on the wrong shard, and counts it.
    fn note_wrong_shard(&mut self, landing: &Landing, users: &mut [Pending], message: &str) {
        let wrong = Arc::new(AttemptError::new(ErrorCode::WrongShard, message));
        record_attempts(users, landing.sent, Some(&wrong));
        self.metrics.errors(
            ErrorCode::WrongShard.as_str(),
            Some(&landing.shard_id),
            users.len() as u64,
        );
    }

    /// Sends records written to the wrong shard again (routed by the map as it is now).
    fn resend(&mut self, landing: Landing, mut users: Vec<Pending>, message: &str) {
        self.note_wrong_shard(&landing, &mut users, message);
        let hash = users.first().map(Pending::hash_key).unwrap_or_default();
        let sending = Sending {
            shard: None,
            hash,
            users,
            bytes: 0,
        };
        self.retry(sending, Instant::now());
    }
}

/// When a request started and ended.
#[derive(Copy, Clone, Debug)]
pub(super) struct Timing {
    started: Instant,
    finished: Instant,
}

impl Timing {
    /// The attempt this request was for a record idle since `idle_since`.
    pub(super) fn attempt(
        &self,
        idle_since: Instant,
        error: Option<&Arc<AttemptError>>,
    ) -> Attempt {
        Attempt {
            delay: self.started.saturating_duration_since(idle_since),
            duration: self.finished.saturating_duration_since(self.started),
            error: error.cloned(),
        }
    }
}

/// Where a Kinesis record was written (`bytes`: its data + partition key) and the request
/// that wrote it.
#[derive(Clone, Debug)]
pub(super) struct Landing {
    pub(super) shard_id: Arc<str>,
    pub(super) sequence_number: Arc<str>,
    pub(super) bytes: usize,
    pub(super) sent: Timing,
}

impl Landing {
    /// Records on `user` the attempt that wrote it here, not verified.
    pub(super) fn record_unverified(&self, user: &mut Pending) {
        let message = format!(
            "written to {} as {}; its hash range was not verified",
            self.shard_id, self.sequence_number
        );
        let error = AttemptError::new(ErrorCode::WrongShard, message);
        let attempt = self.sent.attempt(user.idle_since(), Some(&Arc::new(error)));
        user.push_attempt(attempt);
    }

    /// `record`, as written here (for the shutdown report).
    pub(super) fn written(&self, record: Record) -> UnverifiedRecord {
        UnverifiedRecord {
            record,
            shard_id: self.shard_id.clone(),
            sequence_number: self.sequence_number.clone(),
        }
    }
}

/// Adds this request's failed attempt to each record.
fn record_attempts(users: &mut [Pending], sent: Timing, error: Option<&Arc<AttemptError>>) {
    for user in users {
        let attempt = sent.attempt(user.idle_since(), error);
        user.push_attempt(attempt);
    }
}
