//! One task per held shard: drives its processor through the state machine.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::state::{ConsumerEvent, ConsumerState, ShutdownReason, transition};
use super::{ConsumerError, shard_end};
use crate::lease::{HeldLease, HeldLeases, Lease, LostReason, ValidityWatch};
use crate::retrieval::{Batch, RecordSource, Retriever, ShardEnding, ShardSpec};
use crate::worker::Stats;
use crate::{Checkpointer, InitializeInput, ProcessRecordsInput, Record, ShardProcessor};

/// Everything a shard consumer works with.
pub(crate) struct ConsumerContext {
    /// The lease as taken.
    pub(crate) lease: Lease,
    pub(crate) held: Arc<HeldLease>,
    pub(crate) leases: Arc<HeldLeases>,
    pub(crate) retriever: Retriever,
    /// Raised when the worker shuts down gracefully.
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) parent_poll: Duration,
    /// Most user records per `process_records` call.
    pub(crate) max_records_per_call: usize,
    pub(crate) stats: Arc<Stats>,
}

/// How a shard consumer ended.
#[derive(Debug)]
pub(crate) struct ConsumerOutcome {
    pub(crate) reason: ShutdownReason,
    /// Set when the consumer gave its lease up because something failed.
    pub(crate) error: Option<ConsumerError>,
}

struct Consumer<P> {
    ctx: ConsumerContext,
    processor: P,
    checkpointer: Checkpointer,
    /// The lease's validity: checked before each delivery, waited on as the watchdog.
    validity: ValidityWatch,
    source: Option<Box<dyn RecordSource>>,
    /// Set once the shard has no more records.
    ending: Option<ShardEnding>,
    error: Option<ConsumerError>,
}

/// Runs a shard consumer until it is done.
pub(crate) async fn run<P: ShardProcessor>(ctx: ConsumerContext, processor: P) -> ConsumerOutcome {
    let checkpointer = Checkpointer::new(
        ctx.lease.key.clone(),
        ctx.held.token,
        ctx.leases.clone(),
        ctx.lease.checkpoint.clone(),
    );
    let validity = ctx.held.validity.watch();
    let mut consumer = Consumer {
        ctx,
        processor,
        checkpointer,
        validity,
        source: None,
        ending: None,
        error: None,
    };
    let mut state = ConsumerState::WaitingOnParents;
    loop {
        let event = match state {
            ConsumerState::WaitingOnParents => consumer.wait_for_parents().await,
            ConsumerState::Initializing => consumer.initialize().await,
            ConsumerState::Processing => consumer.process().await,
            ConsumerState::ShuttingDown(reason) => match consumer.pending_shutdown() {
                // A stronger reason came before the shutdown work ran: it decides.
                Some(stronger) if stronger > reason => ConsumerEvent::Shutdown(stronger),
                _ => consumer.shut_down(reason).await,
            },
            ConsumerState::Done(reason) => {
                return ConsumerOutcome {
                    reason,
                    error: consumer.error,
                };
            }
        };
        state = transition(state, event);
    }
}

impl<P: ShardProcessor> Consumer<P> {
    fn key(&self) -> &str {
        &self.ctx.lease.key
    }

    /// A shutdown already signalled, strongest reason first. A lease past its validity
    /// deadline is lost from here on.
    fn pending_shutdown(&self) -> Option<ShutdownReason> {
        if let Err(reason) = self.ctx.held.validity.check(Instant::now()) {
            self.lost(reason);
            Some(ShutdownReason::LeaseLost)
        } else if *self.ctx.shutdown.borrow() {
            Some(ShutdownReason::Requested)
        } else {
            None
        }
    }

    /// Drops the lease from the worker's registry (a no-op when it already was).
    fn lost(&self, reason: LostReason) {
        let held = &self.ctx.held;
        self.ctx.leases.lose(&held.key, held.token, reason);
    }

    /// Waits for a shutdown signal, the lease's watchdog included; never returns otherwise.
    async fn shutdown_signal(&mut self) -> ShutdownReason {
        let (validity, shutdown) = (&mut self.validity, &mut self.ctx.shutdown);
        let lost = tokio::select! {
            reason = validity.invalid() => reason,
            _ = shutdown.wait_for(|s| *s) => return ShutdownReason::Requested,
        };
        self.lost(lost);
        ShutdownReason::LeaseLost
    }

    async fn wait_for_parents(&mut self) -> ConsumerEvent {
        loop {
            if let Some(r) = self.pending_shutdown() {
                return ConsumerEvent::Shutdown(r);
            }
            if parents_done(&self.ctx.leases, &self.ctx.lease).await {
                return ConsumerEvent::ParentsDone;
            }
            let poll = self.ctx.parent_poll;
            tokio::select! {
                r = self.shutdown_signal() => return ConsumerEvent::Shutdown(r),
                () = tokio::time::sleep(poll) => {}
            }
        }
    }

    async fn initialize(&mut self) -> ConsumerEvent {
        if let Some(r) = self.pending_shutdown() {
            return ConsumerEvent::Shutdown(r);
        }
        let lease = &self.ctx.lease;
        let input = InitializeInput {
            shard_id: lease.key.clone(),
            checkpoint: lease.checkpoint.clone(),
            pending_checkpoint: lease.pending_checkpoint.clone(),
            pending_checkpoint_state: lease.pending_checkpoint_state.clone(),
        };
        let spec = ShardSpec {
            id: lease.key.clone(),
            hash_range: lease.hash_range,
        };
        self.source = self.ctx.retriever.open(spec, &lease.checkpoint);
        self.processor.initialize(input).await;
        ConsumerEvent::Initialized
    }

    async fn process(&mut self) -> ConsumerEvent {
        if let Some(r) = self.pending_shutdown() {
            return ConsumerEvent::Shutdown(r);
        }
        let Some(mut source) = self.source.take() else {
            // The lease was already at SHARD_END: only the shard end work is left.
            self.ending = Some(ShardEnding::default());
            return ConsumerEvent::ShardEndReached;
        };
        let next = tokio::select! {
            r = self.shutdown_signal() => Err(r),
            batch = source.next_batch() => Ok(batch),
        };
        self.source = Some(source);
        match next {
            Err(reason) => ConsumerEvent::Shutdown(reason),
            Ok(Ok(batch)) => self.deliver(batch).await,
            Ok(Err(e)) => {
                tracing::error!(shard = self.key(), error = %e, "retrieval failed; giving the lease up");
                self.error = Some(ConsumerError::Retrieval {
                    shard_id: self.key().to_owned(),
                    source: e,
                });
                self.source = None;
                ConsumerEvent::Shutdown(ShutdownReason::LeaseLost)
            }
        }
    }

    /// Delivers a batch in calls of at most `max_records_per_call` user records, checking
    /// the lease and the shutdown signals before each call: a consumer that lost its lease
    /// delivers nothing more, not even the rest of the batch.
    async fn deliver(&mut self, batch: Batch) -> ConsumerEvent {
        let Batch {
            records,
            millis_behind_latest,
            end,
            ..
        } = batch;
        let max = self.ctx.max_records_per_call.max(1);
        if records.len() <= max {
            if let Some(event) = self.deliver_call(records, millis_behind_latest).await {
                return event;
            }
        } else {
            let mut rest = records.into_iter();
            loop {
                let call: Vec<Record> = rest.by_ref().take(max).collect();
                if call.is_empty() {
                    break;
                }
                if let Some(event) = self.deliver_call(call, millis_behind_latest).await {
                    return event;
                }
            }
        }
        match end {
            Some(ending) => {
                self.ending = Some(ending);
                ConsumerEvent::ShardEndReached
            }
            None => ConsumerEvent::BatchDelivered,
        }
    }

    /// One `process_records` call; `Some(shutdown)` instead when a shutdown is pending.
    async fn deliver_call(
        &mut self,
        records: Vec<Record>,
        millis_behind_latest: Option<i64>,
    ) -> Option<ConsumerEvent> {
        if let Some(r) = self.pending_shutdown() {
            return Some(ConsumerEvent::Shutdown(r));
        }
        let last = records.last()?;
        self.checkpointer.delivered(last.position());
        let count = records.len() as u64;
        let bytes: usize = records.iter().map(|r| r.data.len()).sum();
        self.processor
            .process_records(ProcessRecordsInput {
                records,
                millis_behind_latest,
                checkpointer: self.checkpointer.clone(),
            })
            .await;
        self.ctx.stats.delivered(count, bytes as u64);
        None
    }

    async fn shut_down(&mut self, reason: ShutdownReason) -> ConsumerEvent {
        self.source = None;
        match reason {
            ShutdownReason::LeaseLost => self.processor.lease_lost().await,
            ShutdownReason::Requested => {
                self.processor
                    .shutdown_requested(self.checkpointer.clone())
                    .await;
            }
            ShutdownReason::ShardEnd => {
                let ending = self.ending.take().unwrap_or_default();
                let lease = self.ctx.lease.clone();
                let leases = self.ctx.leases.clone();
                if let Err(e) = shard_end::finish(
                    &leases,
                    &lease,
                    &ending,
                    &self.checkpointer,
                    &mut self.processor,
                )
                .await
                {
                    tracing::error!(shard = self.key(), error = %e, "shard end not completed");
                    let lost = matches!(e, ConsumerError::LeaseLost { .. });
                    self.error = Some(e);
                    if lost {
                        self.processor.lease_lost().await;
                    }
                }
            }
        }
        ConsumerEvent::ShutdownComplete
    }
}

/// Whether every parent lease of `lease` is finished or gone.
async fn parents_done(leases: &HeldLeases, lease: &Lease) -> bool {
    for parent in &lease.parent_shard_ids {
        match leases.store().get(parent).await {
            Ok(None) => {}
            Ok(Some(p)) if p.is_finished() => {}
            Ok(Some(_)) => return false,
            Err(e) => {
                tracing::debug!(shard = %lease.key, parent, error = %e, "cannot read the parent lease");
                return false;
            }
        }
    }
    true
}
