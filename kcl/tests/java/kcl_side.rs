//! The `kcl` workers beside the Java ones: settings matching the Java workers' times, and a
//! processor that logs every call as an [`Event`] and checkpoints as the scenario says
//! (the same [`Control`] the Java processor reads).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kcl::{
    Checkpointer, Config, InitialPosition, InitializeInput, Position, ProcessRecordsInput,
    ShardProcessor, StreamId,
};

use super::daemon::Control;
use super::events::{Event, Kind, Side, wall_us};

/// A kcl worker's settings: failover as the Java workers', short intervals, TRIM_HORIZON.
pub fn kcl_config(app: &str, stream: &str, worker: &str, failover: Duration) -> Config {
    let mut c = Config::new(app, StreamId::Name(stream.into())).with_failover_time(failover);
    c.worker_identifier = worker.into();
    c.initial_position = InitialPosition::TrimHorizon;
    c.idle_time_between_reads = Duration::from_millis(200);
    c.parent_shard_poll_interval = Duration::from_millis(500);
    c.shard_sync_interval = Duration::from_secs(5);
    c.lease_cleanup_interval = Duration::from_secs(2);
    // Scans every 3 s (the default 20 s is the Java KCL's pace: only slower); hand-offs
    // forced after 15 s, as the Java workers' gracefulLeaseHandoffTimeoutMillis.
    c.lease_taker_interval = Duration::from_secs(3);
    c.graceful_lease_handoff_timeout = Duration::from_secs(15);
    c
}

/// What every kcl processor of a test did, and what they checkpoint.
#[derive(Clone, Default)]
pub struct KclLog {
    events: Arc<Mutex<Vec<Event>>>,
    control: Arc<Mutex<Control>>,
}

impl KclLog {
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    pub fn set_control(&self, control: Control) {
        *self.control.lock().unwrap() = control;
    }

    /// Waits until `f` holds over the events, up to `limit`.
    pub async fn wait(&self, what: &str, limit: Duration, f: impl Fn(&[Event]) -> bool) {
        let deadline = tokio::time::Instant::now() + limit;
        while !f(&self.events()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "kcl: timed out after {limit:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A processor factory for `worker`.
    pub fn factory(&self, worker: &str) -> impl Fn(&str) -> Recorder + Send + Sync + 'static {
        let (log, worker) = (self.clone(), worker.to_owned());
        move |shard: &str| Recorder {
            log: log.clone(),
            worker: worker.clone(),
            shard: shard.to_owned(),
            last: None,
        }
    }

    fn push(&self, worker: &str, shard: &str, kind: Kind) {
        self.events.lock().unwrap().push(Event {
            side: Side::Kcl,
            worker: worker.to_owned(),
            shard: shard.to_owned(),
            wall_us: wall_us(),
            kind,
        });
    }
}

/// Logs every call; checkpoints per the log's [`Control`], and at shard end.
pub struct Recorder {
    log: KclLog,
    worker: String,
    shard: String,
    last: Option<Position>,
}

impl Recorder {
    fn event(&self, kind: Kind) {
        self.log.push(&self.worker, &self.shard, kind);
    }

    async fn checkpoint(&self, checkpointer: &Checkpointer, position: Option<Position>) {
        let result = match &position {
            Some(Position::At { seq, sub_seq }) => checkpointer.checkpoint_at(seq, *sub_seq).await,
            _ => checkpointer.checkpoint().await,
        };
        let error = result.err().map(|e| e.to_string());
        self.event(Kind::Checkpoint { position, error });
    }
}

impl ShardProcessor for Recorder {
    async fn initialize(&mut self, input: InitializeInput) {
        self.event(Kind::Initialize {
            checkpoint: Some(input.checkpoint),
        });
    }

    async fn process_records(&mut self, input: ProcessRecordsInput) {
        let control = self.log.control.lock().unwrap().clone();
        for r in &input.records {
            let data = String::from_utf8_lossy(&r.data).into_owned();
            let at = control.at.contains(&data);
            self.event(Kind::Record {
                position: r.position(),
                pk: r.partition_key.to_string(),
                data,
            });
            self.last = Some(r.position());
            if at {
                self.checkpoint(&input.checkpointer, Some(r.position()))
                    .await;
            }
        }
        if control.every_batch && !input.records.is_empty() {
            self.checkpoint(&input.checkpointer, self.last.clone())
                .await;
        }
    }

    async fn lease_lost(&mut self) {
        self.event(Kind::LeaseLost);
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        self.event(Kind::ShardEnded);
        self.checkpoint(&checkpointer, None).await;
    }

    async fn shutdown_requested(&mut self, checkpointer: Checkpointer) {
        self.event(Kind::ShutdownRequested);
        let on_shutdown = self.log.control.lock().unwrap().on_shutdown;
        if on_shutdown && self.last.is_some() {
            self.checkpoint(&checkpointer, self.last.clone()).await;
        }
    }
}
