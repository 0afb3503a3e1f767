//! Where flows publish their checkpoints and the one task that writes them: every
//! `checkpointIntervalMillis` when something changed, at once when asked, and a last time
//! at shutdown. A failed write is retried at the next interval (the previous file stays).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::checkpoint::{Checkpoints, FileCheckpoint, Store};
use crate::flow::stopped;

/// The checkpoints of every flow, as last published.
#[derive(Debug, Default)]
pub(crate) struct Board {
    state: Mutex<(Checkpoints, bool)>,
    urgent: Notify,
}

impl Board {
    pub(crate) fn new(checkpoints: Checkpoints) -> Board {
        Board {
            state: Mutex::new((checkpoints, false)),
            urgent: Notify::new(),
        }
    }

    /// Replaces a flow's checkpoints; `now`: write them without waiting for the interval.
    pub(crate) fn publish(&self, flow: &str, entries: Vec<FileCheckpoint>, now: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.0.get(flow) != Some(&entries) {
            state.0.insert(flow.to_owned(), entries);
            state.1 = true;
        }
        drop(state);
        if now {
            self.urgent.notify_one();
        }
    }

    fn take_changed(&self) -> Option<Checkpoints> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = std::mem::replace(&mut state.1, false);
        changed.then(|| state.0.clone())
    }

    fn mark_changed(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
    }
}

/// Writes the board until `stop` turns true, then once more.
pub(crate) async fn write_loop(
    store: Store,
    board: Arc<Board>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let store = Arc::new(store);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = board.urgent.notified() => {}
            _ = stopped(&mut stop) => break,
        }
        write(&store, &board).await;
    }
    write(&store, &board).await;
}

async fn write(store: &Arc<Store>, board: &Arc<Board>) {
    let Some(checkpoints) = board.take_changed() else {
        return;
    };
    let s = store.clone();
    let result = tokio::task::spawn_blocking(move || s.save(&checkpoints)).await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "checkpoint not written; trying again at the next interval");
            board.mark_changed();
        }
        Err(e) => {
            tracing::warn!(error = %e, "checkpoint writer task failed");
            board.mark_changed();
        }
    }
}
