//! The worker slots of a run: each has its own DynamoDB and Kinesis proxies (shared
//! observer log) and runs one worker at a time, started, aborted, shut down gracefully
//! and started again (under the same id or a new one).

use std::time::{Duration, Instant};

use kcl::{Config, InitialPosition, RecordStream, StreamId, Worker, WorkerError, WorkerHandle};
use testkit::{FaultProxy, LocalAws, ProxyLog, Rule};
use tokio::task::JoinHandle;

use super::facts::Incarnation;
use super::processor::DeliveryLog;
use super::scenario::{Policy, Scenario};

/// The application (and lease table) name.
pub const APP: &str = "schedule-app";

/// One worker slot.
pub struct Slot {
    pub name: String,
    pub policy: Policy,
    pub dynamodb: FaultProxy,
    pub kinesis: FaultProxy,
    pub running: Option<Running>,
    /// A graceful shutdown in progress.
    pub stopping: Option<JoinHandle<()>>,
    restarts: u32,
    /// Rules in force on each proxy, with when they end.
    pub dynamodb_rules: Vec<(Instant, Rule)>,
    pub kinesis_rules: Vec<(Instant, Rule)>,
}

/// A running worker.
pub struct Running {
    pub id: String,
    pub handle: WorkerHandle,
    pub task: JoinHandle<Result<(), WorkerError>>,
}

impl Slot {
    pub async fn new(aws: &LocalAws, log: &ProxyLog, index: usize, policy: Policy) -> Slot {
        let name = format!("w{index}");
        let dynamodb = FaultProxy::start_observed(aws.dynamodb_addr(), &name, log)
            .await
            .unwrap();
        let kinesis =
            FaultProxy::start_observed(aws.kinesis_addr(), &format!("{name}-kinesis"), log)
                .await
                .unwrap();
        Slot {
            name,
            policy,
            dynamodb,
            kinesis,
            running: None,
            stopping: None,
            restarts: 0,
            dynamodb_rules: Vec::new(),
            kinesis_rules: Vec::new(),
        }
    }

    /// Starts a worker (after a graceful shutdown in progress ended), under a new id when
    /// asked; returns its incarnation.
    pub async fn start(
        &mut self,
        s: &Scenario,
        stream: &str,
        deliveries: &DeliveryLog,
        new_id: bool,
    ) -> Option<Incarnation> {
        if let Some(stopping) = self.stopping.take() {
            let _ = stopping.await;
        }
        self.reap().await;
        if self.running.is_some() {
            return None;
        }
        if new_id {
            self.restarts += 1;
        }
        let id = match self.restarts {
            0 => self.name.clone(),
            n => format!("{}-r{n}", self.name),
        };
        // The default clients, SDK retries included, as a kcl user builds them.
        let kinesis = testkit::kinesis_client(&self.kinesis.endpoint());
        let dynamodb = testkit::dynamodb_client(&self.dynamodb.endpoint());
        let from = Instant::now();
        let config = config(s, stream, &id);
        let (handle, task) = if self.policy == Policy::Stream {
            let records = RecordStream::new(config, kinesis, dynamodb).unwrap();
            let handle = records.handle().clone();
            (
                handle,
                super::stream_reader::spawn(records, deliveries.clone(), id.clone(), s.seed),
            )
        } else {
            let factory = deliveries.factory(&id, self.policy, s.seed);
            let worker = Worker::new(config, kinesis, dynamodb, factory).unwrap();
            (worker.handle(), tokio::spawn(worker.run()))
        };
        self.running = Some(Running {
            id: id.clone(),
            handle,
            task,
        });
        Some(Incarnation {
            proxy: self.name.clone(),
            worker: id,
            from,
        })
    }

    /// Whether the worker's `run` ended by itself.
    pub fn exited(&self) -> bool {
        self.running.as_ref().is_some_and(|r| r.task.is_finished())
    }

    /// Forgets a worker whose `run` ended by itself (a start-up error): as a supervisor
    /// would, the next start replaces it. Returns how it ended.
    pub async fn reap(&mut self) -> Option<String> {
        if !self.exited() {
            return None;
        }
        let r = self.running.take()?;
        Some(format!("{} exited by itself: {:?}", r.id, r.task.await))
    }

    /// Aborts the run task (an abrupt stop: nothing released).
    pub fn abort(&mut self) {
        if let Some(r) = self.running.take() {
            r.task.abort();
        }
    }

    /// Starts a graceful shutdown in the background, aborting it after 10 s.
    pub fn graceful(&mut self) {
        if let Some(r) = self.running.take() {
            self.stopping = Some(tokio::spawn(async move {
                let shutdown = r.handle.graceful_shutdown();
                if tokio::time::timeout(Duration::from_secs(10), shutdown)
                    .await
                    .is_err()
                {
                    r.task.abort();
                }
            }));
        }
    }

    /// Sets the rules still in force at `now` on both proxies.
    pub fn apply_rules(&mut self, now: Instant) {
        self.dynamodb_rules.retain(|(until, _)| *until > now);
        self.kinesis_rules.retain(|(until, _)| *until > now);
        self.dynamodb
            .set_rules(self.dynamodb_rules.iter().map(|(_, r)| r.clone()).collect());
        self.kinesis
            .set_rules(self.kinesis_rules.iter().map(|(_, r)| r.clone()).collect());
    }

    /// Clears every fault.
    pub fn heal(&mut self) {
        self.dynamodb_rules.clear();
        self.kinesis_rules.clear();
        self.dynamodb.clear();
        self.kinesis.clear();
    }
}

/// A worker's configuration: the scenario's failover time (renewals every third of it),
/// fast taker, sync and parent polling, small batches, a short request timeout.
fn config(s: &Scenario, stream: &str, id: &str) -> Config {
    let mut c = Config::new(APP, StreamId::Name(stream.into())).with_failover_time(s.failover);
    c.worker_identifier = id.into();
    c.initial_position = InitialPosition::TrimHorizon;
    c.lease_taker_interval = Duration::from_millis(200);
    c.parent_shard_poll_interval = Duration::from_millis(100);
    c.idle_time_between_reads = Duration::from_millis(100);
    c.shard_sync_interval = Duration::from_secs(1);
    c.lease_cleanup_interval = Duration::from_secs(1);
    c.request_timeout = Duration::from_secs(2);
    c.max_records = 40;
    c
}
