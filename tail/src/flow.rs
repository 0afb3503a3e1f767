//! One flow's task: every `pollIntervalMillis` it looks at the files, reads what is new
//! (waiting for room in the producer, so it never reads ahead of its bounds), sends it and
//! publishes its checkpoints; between polls it takes the producer's results. On stop it
//! reads nothing more, waits for what is in flight until the shutdown deadline, and
//! publishes its last checkpoints.

use std::collections::HashSet;
use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use tokio::sync::watch;
use tokio::time::{Duration, Instant};

use crate::board::Board;
use crate::checkpoint::FileCheckpoint;
use crate::config::PreparedFlow;
use crate::deliver::Deliver;
use crate::error::TailError;
use crate::stats::FlowSummary;
use crate::tracker::Tracker;

/// Most bytes read from one file per poll before the other files get their turn.
const READ_BUDGET: usize = 4 << 20;

/// A running flow.
struct Flow {
    flow: PreparedFlow,
    tracker: Tracker,
    deliver: Deliver,
    board: Arc<Board>,
    /// Files rotated away whose last line was handed out: closed once acknowledged.
    finishing: HashSet<u64>,
}

/// Runs `flow` until `stop` turns true; returns what it did.
pub(crate) async fn run_flow(
    flow: PreparedFlow,
    producer: kpl::Producer,
    resume: Option<Vec<FileCheckpoint>>,
    board: Arc<Board>,
    shutdown_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<FlowSummary, TailError> {
    let deliver = Deliver::new(producer, &flow);
    let mut run = Flow {
        flow,
        tracker: Tracker::new(resume),
        deliver,
        board,
        finishing: HashSet::new(),
    };
    let mut tick = tokio::time::interval(run.flow.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first = true;
    let mut stop_reading = stop.clone();
    'run: loop {
        tokio::select! {
            biased;
            _ = stopped(&mut stop) => break 'run,
            Some(done) = run.deliver.inflight.next() => {
                run.deliver.acknowledge(&run.flow, &mut run.tracker, done, false)?;
            }
            _ = tick.tick() => {
                tokio::select! {
                    biased;
                    _ = stopped(&mut stop_reading) => break 'run,
                    r = run.step(first) => r?,
                }
                first = false;
            }
        }
    }
    run.finish(shutdown_timeout).await
}

impl Flow {
    /// One poll: look, read, send, close what is finished, publish checkpoints.
    async fn step(&mut self, first: bool) -> Result<(), TailError> {
        if let Err(e) = self.tracker.poll(&self.flow) {
            tracing::warn!(pattern = %self.flow.key, error = %e, "cannot look at the files; trying again at the next poll");
        }
        let keys: Vec<u64> = self.tracker.sources.iter().map(|s| s.key).collect();
        for key in keys {
            self.read_source(key).await;
            self.take_results()?;
        }
        self.tracker
            .retire(&self.finishing.iter().copied().collect::<Vec<_>>());
        self.finishing
            .retain(|k| self.tracker.sources.iter().any(|s| s.key == *k));
        self.board
            .publish(&self.flow.key, self.tracker.checkpoints(), first);
        Ok(())
    }

    /// Reads what is new in one file (up to the budget) and sends it; hands out held-back
    /// records of idle files.
    async fn read_source(&mut self, key: u64) {
        let mut budget = READ_BUDGET;
        loop {
            let Some(source) = self.tracker.get_mut(key) else {
                return;
            };
            if !source.behind() || budget == 0 {
                break;
            }
            let mut units = Vec::new();
            let n = match source.read(&mut units) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(path = %source.path.display(), error = %e, "read failed; trying again at the next poll");
                    return;
                }
            };
            budget = budget.saturating_sub(n);
            self.deliver.send(&self.flow, source, units).await;
            if n == 0 {
                break;
            }
        }
        self.flush_idle(key).await;
    }

    /// A file idle for the buffer age hands out its pending multi-line record; a file
    /// rotated away (or a content without a file) idle for `rotatedFileIdleMillis` hands
    /// out its unfinished last line too and is marked to be closed.
    async fn flush_idle(&mut self, key: u64) {
        let (age, rotated) = (self.flow.max_buffer_age, self.flow.rotated_idle);
        let finishing = self.finishing.contains(&key);
        let Some(source) = self.tracker.get_mut(key) else {
            return;
        };
        let idle = Instant::now().saturating_duration_since(source.grew_at);
        let gone = (source.file.is_none() || !source.matched) && source.parked.is_none();
        let mut units = Vec::new();
        if gone && !finishing && !source.behind() && (idle >= rotated || source.file.is_none()) {
            source.flush(true, &mut units);
            self.finishing.insert(key);
        } else if source.framer.has_pending() && idle >= age {
            source.flush(false, &mut units);
        }
        if !units.is_empty() {
            self.deliver.send(&self.flow, source, units).await;
        }
    }

    /// Applies the results that are in, without waiting.
    fn take_results(&mut self) -> Result<(), TailError> {
        while let Some(Some(done)) = self.deliver.inflight.next().now_or_never() {
            self.deliver
                .acknowledge(&self.flow, &mut self.tracker, done, false)?;
        }
        Ok(())
    }

    /// Waits for what is in flight (until `timeout`), publishes the last checkpoints and
    /// shuts the producer down.
    async fn finish(mut self, timeout: Duration) -> Result<FlowSummary, TailError> {
        let deadline = Instant::now() + timeout;
        let flush = self.deliver.producer().clone();
        let flushing = tokio::spawn(async move { flush.flush().await });
        while !self.deliver.inflight.is_empty() {
            match tokio::time::timeout_at(deadline, self.deliver.inflight.next()).await {
                Ok(Some(done)) => {
                    self.deliver
                        .acknowledge(&self.flow, &mut self.tracker, done, true)?
                }
                Ok(None) | Err(_) => break,
            }
        }
        flushing.abort();
        self.board
            .publish(&self.flow.key, self.tracker.checkpoints(), true);
        let left = deadline.saturating_duration_since(Instant::now());
        self.deliver.producer().shutdown(left).await;
        Ok(FlowSummary {
            flow: self.flow.key.clone(),
            files: self.tracker.summary(),
        })
    }
}

/// Resolves once `stop` is true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
