//! A `RecordStream` user: takes records one by one (each logged as a delivery when taken)
//! and checkpoints every record after taking it, at the record or, now and then, through
//! the shard's checkpointer ("everything I was given").

use std::time::Instant;

use futures::StreamExt;
use kcl::{RecordStream, WorkerError};
use testkit::rng::Rng;
use tokio::task::JoinHandle;

use super::facts::{Delivery, RecordId};
use super::processor::DeliveryLog;

/// Reads `stream` until it ends; dropping (aborting) the task drops the stream, which
/// stops its worker abruptly.
pub fn spawn(
    mut stream: RecordStream,
    log: DeliveryLog,
    worker: String,
    seed: u64,
) -> JoinHandle<Result<(), WorkerError>> {
    let acquisition = log.acquisition();
    tokio::spawn(async move {
        let mut rng = Rng::new(seed ^ acquisition);
        while let Some(r) = stream.next().await {
            let start = Instant::now();
            let Some(id) = RecordId::parse(&r.record.data) else {
                continue;
            };
            log.push(Delivery {
                worker: worker.clone(),
                acquisition,
                acquired: start,
                shard: r.shard_id.to_string(),
                start,
                records: vec![(r.record.position(), id)],
                via_stream: true,
            });
            // Failures are expected under faults: the records come again.
            let _ = if rng.chance(30) {
                r.checkpointer().checkpoint().await
            } else {
                r.checkpoint().await
            };
        }
        Ok(())
    })
}
