//! The worker (the KCL's Scheduler): takes and renews leases, runs one consumer task per
//! held shard, syncs shards and cleans up finished leases.

mod scheduler;
mod stats;
mod sync;

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::watch;

pub(crate) use stats::Stats;
pub use stats::WorkerStatus;

use crate::lease::{HeldLeases, LeaseStore, LeaseStoreError, StoreTimeouts};
use crate::retrieval::{PollingSettings, RetrievalError, Retriever, StreamClient, WorkerPrefetch};
use crate::{Config, ConfigError, InitialPosition, ShardProcessorFactory};

/// A worker could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The lease table cannot be used (creation refused, access denied, ...).
    #[error("lease table: {0}")]
    LeaseTable(LeaseStoreError),
    /// The stream cannot be listed (not found, access denied, ...).
    #[error("stream: {0}")]
    Stream(RetrievalError),
}

impl WorkerError {
    /// Whether running again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            WorkerError::Config(_) => false,
            WorkerError::LeaseTable(e) => e.is_retryable(),
            WorkerError::Stream(e) => e.is_retryable(),
        }
    }
}

/// How the worker is asked to stop.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Control {
    Run,
    /// `shutdown_requested` on every shard, then release the leases.
    Graceful,
    /// Stop now: consumers see their lease lost; leases are not released (they expire).
    Immediate,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) stats: Arc<Stats>,
    /// Bytes prefetched over every shard.
    pub(crate) prefetch: Arc<WorkerPrefetch>,
    pub(crate) control: watch::Sender<Control>,
    pub(crate) finished: watch::Sender<bool>,
}

/// A KCL worker: consumes a stream with one [`ShardProcessor`](crate::ShardProcessor)
/// per held shard, sharing the work with every other worker of the same application
/// through the lease table (which Java KCL workers can share too).
///
/// ```no_run
/// # use kcl::{Checkpointer, ProcessRecordsInput, ShardProcessor};
/// # struct Printer;
/// # impl ShardProcessor for Printer {
/// #     async fn process_records(&mut self, i: ProcessRecordsInput) { let _ = i.checkpointer.checkpoint().await; }
/// #     async fn shard_ended(&mut self, c: Checkpointer) { let _ = c.checkpoint().await; }
/// # }
/// # async fn demo(kinesis: aws_sdk_kinesis::Client, dynamodb: aws_sdk_dynamodb::Client) -> Result<(), kcl::WorkerError> {
/// let config = kcl::Config::new("my-app", kcl::StreamId::Name("orders".into()));
/// let worker = kcl::Worker::new(config, kinesis, dynamodb, |_shard: &str| Printer)?;
/// let handle = worker.handle();
/// tokio::spawn(async move {
///     let _ = tokio::signal::ctrl_c().await;
///     handle.graceful_shutdown().await; // final checkpoints, then leases released
/// });
/// worker.run().await
/// # }
/// ```
pub struct Worker<F: ShardProcessorFactory> {
    config: Config,
    factory: Arc<F>,
    leases: Arc<HeldLeases>,
    stream: StreamClient,
    retriever: Retriever,
    shared: Arc<Shared>,
}

impl<F: ShardProcessorFactory> std::fmt::Debug for Worker<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Controls and observes a running [`Worker`]; cheap to clone.
///
/// ```no_run
/// # async fn demo(handle: kcl::WorkerHandle) {
/// println!("holding {:?}", handle.status().held_leases);
/// handle.graceful_shutdown().await;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct WorkerHandle {
    shared: Arc<Shared>,
    leases: Arc<HeldLeases>,
}

impl<F: ShardProcessorFactory> Worker<F> {
    /// A worker for `config`, reading with `kinesis` and keeping leases with `dynamodb`.
    pub fn new(
        config: Config,
        kinesis: aws_sdk_kinesis::Client,
        dynamodb: aws_sdk_dynamodb::Client,
        factory: F,
    ) -> Result<Worker<F>, ConfigError> {
        config.validate()?;
        let timeouts = StoreTimeouts {
            lease: config.lease_attempt_timeout(),
            table: config.request_timeout,
        };
        let store = LeaseStore::new(&dynamodb, &config.application_name, timeouts);
        let leases = Arc::new(HeldLeases::new(
            store,
            config.worker_identifier.clone(),
            config.failover_time,
        ));
        let prefetch = Arc::new(WorkerPrefetch::new(config.max_prefetch_bytes));
        let stream = StreamClient::new(kinesis, config.stream.clone(), config.request_timeout)
            .with_page_size(config.list_shards_page_size);
        let retriever = Retriever {
            client: stream.clone(),
            mode: config.retrieval_mode.clone(),
            polling: PollingSettings {
                max_records: config.max_records,
                idle_time_between_reads: config.idle_time_between_reads,
                limits: crate::retrieval::budget_limits(&config),
                worker: prefetch.clone(),
            },
            timestamp: match config.initial_position {
                InitialPosition::AtTimestamp(t) => Some(t),
                _ => None,
            },
            fan_out: crate::retrieval::FanOut::for_config(&stream, &config, prefetch.clone()),
        };
        let shared = Arc::new(Shared {
            stats: Arc::new(Stats::new(&config.worker_identifier)),
            prefetch,
            control: watch::channel(Control::Run).0,
            finished: watch::channel(false).0,
        });
        Ok(Worker {
            config,
            factory: Arc::new(factory),
            leases,
            stream,
            retriever,
            shared,
        })
    }

    /// A handle to stop and observe this worker.
    pub fn handle(&self) -> WorkerHandle {
        WorkerHandle {
            shared: self.shared.clone(),
            leases: self.leases.clone(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs until [`WorkerHandle::shutdown`] or [`WorkerHandle::graceful_shutdown`].
    /// Dropping this future stops the worker abruptly (nothing released: its leases
    /// expire after the failover time).
    pub async fn run(self) -> Result<(), WorkerError> {
        let _finished = FinishedGuard(self.shared.clone());
        // Boxed: the scheduler's state is large and lives as long as the worker.
        use tracing::Instrument as _;
        let span = tracing::info_span!("worker", id = %self.config.worker_identifier);
        Box::pin(scheduler::Scheduler::new(self).run().instrument(span)).await
    }
}

/// Marks the worker finished however `run` ends (returned or dropped).
struct FinishedGuard(Arc<Shared>);

impl Drop for FinishedGuard {
    fn drop(&mut self) {
        self.0.finished.send_replace(true);
    }
}

impl WorkerHandle {
    /// Stops the worker now: every consumer sees its lease lost; leases are not released
    /// (others take them after the failover time).
    pub fn shutdown(&self) {
        self.shared.control.send_if_modified(|c| {
            let changed = *c < Control::Immediate;
            *c = Control::Immediate;
            changed
        });
    }

    /// Shuts down gracefully: `shutdown_requested` is called on every held shard (the
    /// place for a final checkpoint), then the leases are released in the table (owner
    /// removed, counter bumped) so other workers take them at once. Resolves when the
    /// worker has stopped.
    pub async fn graceful_shutdown(&self) {
        self.shared.control.send_if_modified(|c| {
            let changed = *c < Control::Graceful;
            if changed {
                *c = Control::Graceful;
            }
            changed
        });
        self.finished().await;
    }

    /// Resolves once the worker's `run` has ended.
    pub async fn finished(&self) {
        let mut finished = self.shared.finished.subscribe();
        let _ = finished.wait_for(|f| *f).await;
    }

    /// A snapshot of the worker.
    pub fn status(&self) -> WorkerStatus {
        self.shared.stats.status(
            self.leases.keys(),
            self.leases
                .lost_total
                .load(std::sync::atomic::Ordering::Relaxed),
            self.shared.prefetch.bytes() as u64,
        )
    }

    /// Watches the set of leases held.
    pub fn held_leases(&self) -> watch::Receiver<BTreeSet<String>> {
        self.leases.subscribe()
    }

    /// Resolves once a shutdown (graceful or immediate) is requested.
    pub async fn shutdown_requested(&self) {
        let mut control = self.shared.control.subscribe();
        let _ = control.wait_for(|c| *c != Control::Run).await;
    }

    /// Whether a shutdown (graceful or immediate) was requested.
    pub fn is_shutting_down(&self) -> bool {
        *self.shared.control.borrow() != Control::Run
    }
}
