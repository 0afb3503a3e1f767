//! The consumer side of a shard's buffer, the same for both sources: a task reads ahead
//! of the processor into a bounded channel of batches (polling's GetRecords loop,
//! fan-out's subscription); the source hands the batches out in order and frees their
//! room in the prefetch budget. Dropping it ends the task.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::budget::Budget;
use super::{Batch, RecordSource, RetrievalError};

/// What a reading task sends.
pub(crate) type Sender = mpsc::Sender<Result<Batch, RetrievalError>>;

/// A shard's batches, read ahead by a task of their own.
pub(crate) struct BufferedSource {
    rx: mpsc::Receiver<Result<Batch, RetrievalError>>,
    budget: Arc<Budget>,
    task: JoinHandle<()>,
    /// The operation named when the task ended without a word.
    operation: &'static str,
}

impl BufferedSource {
    /// Spawns `reader` with a sender for up to `batches` batches (one more while the last
    /// waits for room), `budget` counting what the channel holds.
    pub(crate) fn spawn<F>(
        budget: Arc<Budget>,
        batches: usize,
        operation: &'static str,
        reader: impl FnOnce(Sender) -> F,
    ) -> BufferedSource
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(batches + 1);
        let task = tokio::spawn(reader(tx));
        BufferedSource {
            rx,
            budget,
            task,
            operation,
        }
    }
}

impl Drop for BufferedSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RecordSource for BufferedSource {
    fn next_batch(&mut self) -> BoxFuture<'_, Result<Batch, RetrievalError>> {
        Box::pin(async move {
            match self.rx.recv().await {
                Some(Ok(batch)) => {
                    self.budget.remove(batch.records.len(), batch.bytes);
                    Ok(batch)
                }
                Some(Err(e)) => Err(e),
                None => Err(RetrievalError::Fatal {
                    operation: self.operation,
                    message: "the reading task ended".into(),
                }),
            }
        })
    }
}
