//! The processor a [`RecordStream`](super::RecordStream)'s worker runs for each shard: it
//! passes batches to the stream, and at the end of a closed shard waits until the reader
//! has checkpointed everything before `SHARD_END` is written.

use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

use super::StreamRecord;
use super::taken::{TakenShard, TakenShards};
use crate::{Checkpointer, Position, ProcessRecordsInput, ShardProcessor, WorkerHandle};

pub(super) struct StreamProcessor {
    shard_id: Arc<str>,
    tx: mpsc::Sender<Vec<StreamRecord>>,
    shards: Arc<TakenShards>,
    handle: Arc<OnceLock<WorkerHandle>>,
    /// Set with the first batch (its checkpointer names this acquisition).
    shard: Option<Arc<TakenShard>>,
}

impl StreamProcessor {
    pub(super) fn new(
        shard_id: &str,
        tx: mpsc::Sender<Vec<StreamRecord>>,
        shards: Arc<TakenShards>,
        handle: Arc<OnceLock<WorkerHandle>>,
    ) -> Self {
        StreamProcessor {
            shard_id: Arc::from(shard_id),
            tx,
            shards,
            handle,
            shard: None,
        }
    }

    fn shard(&mut self, checkpointer: &Checkpointer) -> Arc<TakenShard> {
        self.shard
            .get_or_insert_with(|| {
                let shard = Arc::new(TakenShard::new(checkpointer.clone()));
                self.shards.register(shard.clone());
                shard
            })
            .clone()
    }

    fn unregister(&self) {
        if let Some(shard) = &self.shard {
            self.shards.unregister(shard);
        }
    }

    /// Resolves once the worker is asked to stop.
    async fn stopping(&self) {
        match self.handle.get() {
            Some(handle) => handle.shutdown_requested().await,
            None => std::future::pending().await,
        }
    }
}

impl ShardProcessor for StreamProcessor {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        let shard = self.shard(&input.checkpointer);
        let batch: Vec<StreamRecord> = input
            .records
            .into_iter()
            .map(|record| StreamRecord {
                shard_id: self.shard_id.clone(),
                record,
                shard: shard.clone(),
            })
            .collect();
        // A reader that stopped reading must not hold a shutdown up: the batch is then
        // dropped undelivered (it is after the last checkpoint, so it comes again).
        tokio::select! {
            _ = self.tx.send(batch) => {}
            () = self.stopping() => {}
        }
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        let mut last = checkpointer.watch();
        let covered = async {
            while !checkpointer.end_covered() {
                if last.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            () = covered => {}
            // The reader has not checkpointed the whole shard: SHARD_END is not written and
            // the shard is read again from its last checkpoint later.
            () = self.stopping() => return,
        }
        if checkpointer.last_checkpoint() != Position::ShardEnd
            && let Err(e) = checkpointer.checkpoint().await
        {
            tracing::warn!(shard = %self.shard_id, error = %e, "SHARD_END checkpoint failed");
        }
        self.unregister();
    }

    async fn lease_lost(&mut self) {
        self.unregister();
    }

    async fn shutdown_requested(&mut self, _checkpointer: Checkpointer) {
        self.unregister();
    }
}
