//! Outcomes: a finished request completes its user records, or sends them to the front
//! again, and tells the limiter and the shard map what it learned.

use std::sync::Arc;

use tokio::task::JoinError;
use tokio::time::Instant;

use super::{Driver, Sending, Unverified};
use crate::config::Ordering;
use crate::error::{ErrorCode, PutErrorKind};
use crate::io::sender::{EntryOutcome, Sent};
use crate::record::{Attempt, AttemptError};
use crate::stages::aggregation;
use crate::stages::retrier::{self, Verdict};

impl Driver {
    /// A request ended (or its task failed).
    pub(super) fn on_sent(&mut self, id: u64, sent: Result<Sent, JoinError>, now: Instant) {
        let Some(request) = self.requests.remove(&id) else {
            return;
        };
        for s in request.records.iter().filter_map(|r| r.shard.as_ref()) {
            self.busy.remove(s);
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
        match (verdict, outcome) {
            (
                Verdict::Done,
                EntryOutcome::Written {
                    shard_id,
                    sequence_number,
                },
            ) => {
                self.limiter.succeeded(&shard_id);
                let landing = Landing {
                    shard_id,
                    sequence_number,
                    bytes: sending.bytes,
                    sent,
                };
                self.succeed_all(sending.users, &landing);
            }
            (
                Verdict::Check,
                EntryOutcome::Written {
                    shard_id,
                    sequence_number,
                },
            ) => {
                self.limiter.succeeded(&shard_id);
                self.unverified.push(Unverified {
                    landing: Landing {
                        shard_id,
                        sequence_number,
                        bytes: sending.bytes,
                        sent,
                    },
                    users: sending.users,
                });
            }
            (verdict, EntryOutcome::Failed(error)) => {
                self.apply_failure(sending, verdict, &error, sent, now)
            }
            (_, EntryOutcome::Written { .. }) => {}
        }
    }

    fn judge_failure(
        &mut self,
        sending: Sending,
        error: &AttemptError,
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
        error: &AttemptError,
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
                    self.limiter.throttled(shard);
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
    /// expiry). In ordered mode they stay together, in order, ahead of newer records.
    fn retry(&mut self, sending: Sending, now: Instant) {
        let c = self.shared.clone();
        let c = &c.config;
        let due = now + c.record_max_buffered_time / 2;
        let mut live = Vec::with_capacity(sending.users.len());
        for mut user in sending.users {
            if user.expiry() <= now {
                self.fail(user, PutErrorKind::Expired);
                continue;
            }
            user.set_deadline(due.min(user.expiry()));
            self.sweep_at = Some(
                self.sweep_at
                    .map_or(user.expiry(), |s| s.min(user.expiry())),
            );
            live.push(user);
        }
        if c.ordering == Ordering::PerShard && sending.shard.is_some() {
            let packed = aggregation::pack(
                c.aggregation_enabled,
                c.aggregation_max_size,
                c.aggregation_max_count,
                sending.shard,
                live,
            );
            for o in packed.into_iter().rev() {
                self.collector.push_front(o);
            }
            return;
        }
        for user in live {
            self.route(user);
        }
    }

    /// With a fresh map, records written to an unexpected shard are complete if every one of
    /// them belongs to that shard; otherwise (a consumer applying the KCL's hash range rule
    /// would drop them) they are all sent again.
    pub(super) fn settle_unverified(&mut self) {
        for u in std::mem::take(&mut self.unverified) {
            let landing = u.landing;
            let range = self
                .map
                .as_ref()
                .and_then(|m| m.get(&landing.shard_id))
                .map(|s| s.range);
            if range.is_some_and(|r| u.users.iter().all(|p| r.contains(p.hash_key()))) {
                self.succeed_all(u.users, &landing);
                continue;
            }
            let mut users = u.users;
            let wrong = AttemptError::new(
                ErrorCode::WrongShard,
                format!(
                    "written to {} outside its hash range; sent again",
                    landing.shard_id
                ),
            );
            record_attempts(&mut users, landing.sent, Some(&wrong));
            self.metrics.errors(
                ErrorCode::WrongShard.as_str(),
                Some(&landing.shard_id),
                users.len() as u64,
            );
            let now = Instant::now();
            self.retry(
                Sending {
                    shard: None,
                    users,
                    bytes: 0,
                },
                now,
            );
        }
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
    pub(super) fn attempt(&self, idle_since: Instant, error: Option<&AttemptError>) -> Attempt {
        Attempt {
            delay: self.started.saturating_duration_since(idle_since),
            duration: self.finished.saturating_duration_since(self.started),
            error: error.map(|e| Box::new(e.clone())),
        }
    }
}

/// Where a Kinesis record was written (`bytes`: its data + partition key) and the request
/// that wrote it.
#[derive(Debug)]
pub(super) struct Landing {
    pub(super) shard_id: Arc<str>,
    pub(super) sequence_number: Arc<str>,
    pub(super) bytes: usize,
    pub(super) sent: Timing,
}

/// Adds this request's failed attempt to each record.
fn record_attempts(
    users: &mut [crate::pending::Pending],
    sent: Timing,
    error: Option<&AttemptError>,
) {
    for user in users {
        let attempt = sent.attempt(user.idle_since(), error);
        user.push_attempt(attempt);
    }
}
