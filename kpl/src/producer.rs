//! The producer handle: puts with backpressure, flush, shutdown, and what is outstanding.

use crate::FastMap;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::batch::{BatchHandle, BatchSlot};
use crate::budget::{Budget, Permit, charge};
use crate::config::{ConfigError, ProducerConfig};
use crate::driver::{Command, Driver, Shared, StreamStats};
use crate::error::{PutError, PutErrorKind};
use crate::handle::PutHandle;
use crate::pending::{Completion, Incoming, to_record};
use crate::record::{Attempts, Record};
use crate::validate::validate;

use crate::report::{Outstanding, ShutdownReport};

/// A Kinesis producer: a cheap `Clone` handle, usable from many tasks, writing any number
/// of streams. Each stream gets one task that owns its pipeline (aggregation per shard,
/// rate limit per shard, PutRecords collection, retries).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use kpl::{Producer, ProducerConfig, Record};
///
/// let producer = Producer::from_env(ProducerConfig::default()).await?;
/// let ack = producer.put(Record::new("orders", "customer-17", "{\"total\": 12}")).await?;
/// let result = ack.await?;                      // written: shard, sequence, sub-sequence
/// println!("{} {}", result.shard_id, result.sequence_number);
/// producer.shutdown(std::time::Duration::from_secs(10)).await;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Producer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    budget: Arc<Budget>,
    drivers: RwLock<FastMap<Arc<str>, DriverHandle>>,
    closed: AtomicBool,
}

#[derive(Debug)]
struct DriverHandle {
    commands: mpsc::UnboundedSender<Command>,
    stats: Arc<StreamStats>,
    task: tokio::task::AbortHandle,
}

impl DriverHandle {
    /// Whether the driver still runs (it stops only on shutdown, or if it failed).
    fn alive(&self) -> bool {
        !self.task.is_finished() && !self.commands.is_closed()
    }
}

impl Producer {
    /// A producer using `client` (its retry settings are replaced: the producer retries
    /// itself, recording each attempt; and unless the client names a protocol of its own,
    /// PutRecords bodies are written in one pass, as the SDK would write them). Validates
    /// `config`.
    pub fn new(
        config: ProducerConfig,
        client: aws_sdk_kinesis::Client,
    ) -> Result<Producer, ConfigError> {
        config.validate()?;
        let conf = crate::io::put_records_body::install(client.config())
            .retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
            .build();
        let budget = Budget::new(config.max_outstanding_records, config.max_outstanding_bytes);
        let shared = Arc::new(Shared {
            client: aws_sdk_kinesis::Client::from_conf(conf),
            connections: Arc::new(Semaphore::new(config.max_connections)),
            budget: budget.clone(),
            epoch: Instant::now(),
            config,
        });
        Ok(Producer {
            inner: Arc::new(Inner {
                shared,
                budget,
                drivers: RwLock::new(FastMap::default()),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// A producer with the standard AWS configuration from the environment (region,
    /// credentials, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_KINESIS`) and `config`'s connect timeout.
    pub async fn from_env(config: ProducerConfig) -> Result<Producer, ConfigError> {
        config.validate()?;
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(config.connect_timeout)
            .build();
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(timeouts)
            .load()
            .await;
        Producer::new(config, aws_sdk_kinesis::Client::new(&sdk))
    }

    /// The configuration in force.
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.shared.config
    }

    /// Validates `record`, waits for room under the outstanding bounds (backpressure), and
    /// hands it to its stream's pipeline. The handle resolves with the result.
    pub async fn put(&self, record: Record) -> Result<PutHandle, PutError> {
        let record = self.check_open(record)?;
        let (stream, user) = validate(record, self.inner.shared.config.max_user_record_size)?;
        let permit = self.inner.budget.acquire(charge(&user)).await;
        self.submit(stream, user, permit)
    }

    /// Like [`put`](Self::put), but fails at once with [`PutErrorKind::Backpressure`]
    /// instead of waiting for room.
    pub fn try_put(&self, record: Record) -> Result<PutHandle, PutError> {
        let record = self.check_open(record)?;
        let (stream, user) = validate(record, self.inner.shared.config.max_user_record_size)?;
        let Some(permit) = self.inner.budget.try_acquire(charge(&user)) else {
            return Err(PutError::new(
                PutErrorKind::Backpressure,
                to_record(&stream, &user),
                Attempts::default(),
            ));
        };
        self.submit(stream, user, permit)
    }

    /// Hands the record back when the producer is shut down; otherwise passes it on.
    fn check_open(&self, record: Record) -> Result<Record, PutError> {
        if self.inner.closed.load(AtomicOrdering::Acquire) {
            return Err(PutError::new(
                PutErrorKind::ShutDown,
                record,
                Attempts::default(),
            ));
        }
        Ok(record)
    }

    fn submit(
        &self,
        stream: Arc<str>,
        user: kinesis_agg::UserRecord,
        permit: Permit,
    ) -> Result<PutHandle, PutError> {
        if self.inner.closed.load(AtomicOrdering::Acquire) {
            return Err(PutError::new(
                PutErrorKind::ShutDown,
                to_record(&stream, &user),
                Attempts::default(),
            ));
        }
        let (done, rx) = oneshot::channel();
        let handle = PutHandle::new(rx, stream.clone());
        // If the driver is gone, the record comes back through `done` as ShutDown.
        let done = Completion::One(done);
        let incoming = Incoming::new(user, stream.clone(), done, Instant::now());
        self.send(&stream, Command::Put(incoming, permit));
        Ok(handle)
    }

    /// Puts `records` (any streams) with one future for all their results, in order:
    /// cheaper per record than [`put`](Self::put) (no channel and no future per record, one
    /// message to the stream's pipeline per group). Waits for room as `put` does; a record
    /// that is invalid, or put after shutdown, gets its error in its place and the others go on.
    ///
    /// ```no_run
    /// # async fn demo(producer: kpl::Producer, lines: Vec<String>) {
    /// let records = lines.into_iter().map(|l| kpl::Record::new("logs", "host-1", l));
    /// for (i, result) in producer.put_batch(records).await.await.into_iter().enumerate() {
    ///     if let Err(e) = result {
    ///         eprintln!("line {i} not written: {e}; record handed back: {:?}", e.record);
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn put_batch(&self, records: impl IntoIterator<Item = Record>) -> BatchHandle {
        let records: Vec<Record> = records.into_iter().collect();
        let records_len = records.len();
        let slot = BatchSlot::new(records_len);
        let max_size = self.inner.shared.config.max_user_record_size;
        let mut group = Group::new(&self.inner.budget);
        let mut arrived = Instant::now();
        for (index, record) in records.into_iter().enumerate() {
            // Places in a batch are 32-bit: a record past the 4 billionth (more than any
            // memory holds) is refused as over the bound.
            let checked = match u32::try_from(index) {
                Ok(at) => self
                    .check_open(record)
                    .and_then(|r| validate(r, max_size))
                    .map(|(stream, user)| (stream, user, at)),
                Err(_) => Err(PutError::new(
                    PutErrorKind::Backpressure,
                    record,
                    Attempts::default(),
                )),
            };
            let (stream, user, at) = match checked {
                Ok(checked) => checked,
                Err(e) => {
                    slot.complete(index, Err(Box::new(e)));
                    continue;
                }
            };
            if group.records.first().is_some_and(|g| g.stream != stream)
                || group.records.len() >= MAX_GROUP
            {
                self.send_group(&mut group);
            }
            if !self.inner.budget.try_grow(&mut group.permit, charge(&user)) {
                // What is held here cannot free room: send it before waiting.
                self.send_group(&mut group);
                let permit = self.inner.budget.acquire(charge(&user)).await;
                group.permit.absorb(permit);
                arrived = Instant::now(); // the rest are put after the wait
            }
            if group.records.capacity() == 0 {
                let left = records_len - index;
                group.records.reserve_exact(left.min(MAX_GROUP));
            }
            let done = Completion::Batch(slot.clone(), at);
            group
                .records
                .push(Incoming::new(user, stream, done, arrived));
        }
        self.send_group(&mut group);
        BatchHandle::new(slot)
    }

    /// Hands `group` (records of one stream, with their budget shares) to its driver; if the
    /// producer is shut down or the driver gone, dropping them completes each with `ShutDown`.
    fn send_group(&self, group: &mut Group) {
        let Some(stream) = group.records.first().map(|g| g.stream.clone()) else {
            return;
        };
        let records = std::mem::take(&mut group.records);
        let permit = std::mem::replace(&mut group.permit, self.inner.budget.empty());
        if self.inner.closed.load(AtomicOrdering::Acquire) {
            return;
        }
        self.send(&stream, Command::PutMany(records, permit));
    }

    /// Sends `command` to the stream's driver, started on first use (a shared lock on the
    /// common path: many tasks put at once). A driver that stopped for any reason but
    /// shutdown (a panic, its task aborted) is replaced by a new one: one failure does not
    /// fail every later put to its stream. Where the command cannot be delivered (no
    /// runtime to start a driver on) it is dropped, which completes its records with
    /// `ShutDown` and hands them back.
    fn send(&self, stream: &Arc<str>, command: Command) {
        let command = {
            let drivers = self.inner.drivers.read().unwrap_or_else(|e| e.into_inner());
            match drivers.get(stream) {
                Some(d) if d.alive() => match d.commands.send(command) {
                    Ok(()) => return,
                    Err(mpsc::error::SendError(command)) => command,
                },
                _ => command,
            }
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut drivers = self
            .inner
            .drivers
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let d = drivers
            .entry(stream.clone())
            .and_modify(|d| {
                if !d.alive() {
                    tracing::warn!(stream = %stream, "the stream's driver stopped; starting a new one");
                    *d = self.start_driver(stream, &runtime);
                }
            })
            .or_insert_with(|| self.start_driver(stream, &runtime));
        let _ = d.commands.send(command);
    }

    /// Starts the driver of `stream` on `runtime`.
    fn start_driver(&self, stream: &Arc<str>, runtime: &tokio::runtime::Handle) -> DriverHandle {
        let (commands, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(StreamStats::default());
        let driver = Driver::new(stream.clone(), self.inner.shared.clone(), stats.clone());
        let task = runtime.spawn(driver.run(rx)).abort_handle();
        DriverHandle {
            commands,
            stats,
            task,
        }
    }

    fn commands(&self) -> Vec<mpsc::UnboundedSender<Command>> {
        let drivers = self.inner.drivers.read().unwrap_or_else(|e| e.into_inner());
        drivers.values().map(|d| d.commands.clone()).collect()
    }

    /// Resolves once every record put before the call is written or failed; everything
    /// buffered is sent at once (no polling).
    pub async fn flush(&self) {
        let mut waits = Vec::new();
        for commands in self.commands() {
            let (done, rx) = oneshot::channel();
            if commands.send(Command::Flush(done)).is_ok() {
                waits.push(rx);
            }
        }
        for rx in waits {
            let _ = rx.await;
        }
    }

    /// Stops taking records, flushes until `deadline`, then fails what is left with
    /// [`PutErrorKind::ShutDown`] and hands those records back. Puts after this fail.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.inner.closed.store(true, AtomicOrdering::Release);
        let flushed = tokio::time::timeout(deadline, self.flush()).await.is_ok();
        let mut report = ShutdownReport {
            flushed,
            ..ShutdownReport::default()
        };
        for commands in self.commands() {
            let (done, rx) = oneshot::channel();
            if commands.send(Command::Abort(done)).is_ok() {
                let stream = rx.await.unwrap_or_default();
                report.unsent.extend(stream.unsent);
                report.unverified.extend(stream.unverified);
            }
        }
        report
    }

    /// Records and bytes outstanding, and the oldest one's age.
    pub fn outstanding(&self) -> Outstanding {
        let used = self.inner.budget.used();
        let drivers = self.inner.drivers.read().unwrap_or_else(|e| e.into_inner());
        let oldest = drivers
            .values()
            .map(|d| d.stats.oldest.load(AtomicOrdering::Relaxed))
            .filter(|n| *n > 0)
            .min();
        let oldest_age = oldest.map(|n| {
            let put_at = self.inner.shared.epoch + Duration::from_nanos(n - 1);
            Instant::now().saturating_duration_since(put_at)
        });
        Outstanding {
            records: used.records,
            bytes: used.bytes,
            oldest_age,
        }
    }
}

/// Most records of a batch put handed to a stream's pipeline in one message.
const MAX_GROUP: usize = 1024;

/// Records of a batch put on their way to one stream's pipeline, with their budget shares.
struct Group {
    records: Vec<Incoming>,
    permit: Permit,
}

impl Group {
    fn new(budget: &Arc<Budget>) -> Group {
        Group {
            records: Vec::new(),
            permit: budget.empty(),
        }
    }
}

#[cfg(test)]
#[path = "producer_tests.rs"]
mod tests;
