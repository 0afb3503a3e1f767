//! The processors of a run: each logs every batch it is given (with the instant it was
//! given) and checkpoints by its worker's policy, after every batch, every few, or at
//! random (at everything, or at a record inside the batch, sub-sequence included).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kcl::{Checkpointer, ProcessRecordsInput, ShardProcessor};
use testkit::rng::Rng;

use super::facts::{Delivery, Lifecycle, RecordId};
use super::scenario::Policy;

/// The delivery log every processor of a run writes to.
#[derive(Clone, Default)]
pub struct DeliveryLog {
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    lifecycle: Arc<Mutex<Vec<Lifecycle>>>,
    next_acquisition: Arc<AtomicU64>,
    /// Records that could not be parsed (a harness or consumer bug worth seeing).
    pub garbled: Arc<AtomicU64>,
}

impl DeliveryLog {
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// The lifecycle calls processors got (`lease_lost`, `shard_ended`, ...).
    pub fn lifecycle(&self) -> Vec<Lifecycle> {
        self.lifecycle.lock().unwrap().clone()
    }

    /// A fresh processor instance number.
    pub fn acquisition(&self) -> u64 {
        self.next_acquisition.fetch_add(1, Ordering::Relaxed)
    }

    pub fn push(&self, delivery: Delivery) {
        self.deliveries.lock().unwrap().push(delivery);
    }

    /// A factory for the processors of `worker`, checkpointing by `policy`.
    pub fn factory(
        &self,
        worker: &str,
        policy: Policy,
        seed: u64,
    ) -> impl Fn(&str) -> Recorder + Send + Sync + 'static {
        let (log, worker) = (self.clone(), worker.to_owned());
        move |shard: &str| {
            let acquisition = log.acquisition();
            Recorder {
                log: log.clone(),
                worker: worker.clone(),
                shard: shard.to_owned(),
                acquisition,
                acquired: Instant::now(),
                policy,
                rng: Rng::new(seed ^ acquisition),
                batches: 0,
            }
        }
    }
}

/// One shard's processor.
pub struct Recorder {
    log: DeliveryLog,
    worker: String,
    shard: String,
    acquisition: u64,
    acquired: Instant,
    policy: Policy,
    rng: Rng,
    batches: u32,
}

impl Recorder {
    fn record(&self, input: &ProcessRecordsInput, start: Instant) {
        let mut records = Vec::with_capacity(input.records.len());
        for r in &input.records {
            match RecordId::parse(&r.data) {
                Some(id) => records.push((r.position(), id)),
                None => {
                    self.log.garbled.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.log.push(Delivery {
            worker: self.worker.clone(),
            acquisition: self.acquisition,
            acquired: self.acquired,
            shard: self.shard.clone(),
            start,
            records,
            via_stream: false,
        });
    }

    async fn checkpoint_by_policy(&mut self, input: &ProcessRecordsInput) {
        self.batches += 1;
        let result = match self.policy {
            Policy::EveryBatch | Policy::Stream => input.checkpointer.checkpoint().await,
            Policy::EveryFew(n) if self.batches.is_multiple_of(n) => {
                input.checkpointer.checkpoint().await
            }
            Policy::EveryFew(_) => Ok(()),
            Policy::Random(p) if self.rng.chance(p) => {
                let i = self.rng.below(input.records.len());
                match input.records.get(i) {
                    Some(r) if self.rng.chance(50) => {
                        let cp = &input.checkpointer;
                        cp.checkpoint_at(&r.sequence_number, r.sub_sequence_number)
                            .await
                    }
                    _ => input.checkpointer.checkpoint().await,
                }
            }
            Policy::Random(_) => Ok(()),
        };
        // Failures are expected under faults: the records come again (at-least-once).
        let _ = result;
    }
}

impl Recorder {
    fn called(&self, call: &'static str) {
        self.log.lifecycle.lock().unwrap().push(Lifecycle {
            worker: self.worker.clone(),
            acquired: self.acquired,
            shard: self.shard.clone(),
            call,
            at: Instant::now(),
        });
    }
}

impl ShardProcessor for Recorder {
    async fn lease_lost(&mut self) {
        self.called("lease_lost");
    }

    async fn process_records(&mut self, input: ProcessRecordsInput) {
        self.record(&input, Instant::now());
        self.checkpoint_by_policy(&input).await;
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        self.called("shard_ended");
        // As a careful user: retry what may succeed when tried again.
        for _ in 0..5 {
            match checkpointer.checkpoint().await {
                Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(100)).await,
                _ => return,
            }
        }
    }

    async fn shutdown_requested(&mut self, checkpointer: Checkpointer) {
        self.called("shutdown_requested");
        let _ = checkpointer.checkpoint().await;
    }
}
