//! Quickstart: create a stream, write records with the `kpl` producer, consume them with
//! two `kcl` workers sharing one lease table, and check that every record arrived.
//!
//! Guarantee demonstrated: no record is lost end to end. The producer acknowledges each
//! record only once Kinesis has it (aggregated per predicted shard, retried on failure);
//! the workers split the shards between them through the lease table, de-aggregate with
//! each shard's hash range filter, and checkpoint after processing (at-least-once: a
//! record may be delivered twice, never zero times); every record is compared with what
//! was sent, and the workers shut down gracefully, releasing their leases.
//!
//! ```text
//! cargo run --release -p kinesis-examples --example quickstart [-- RECORDS] [--fan-out]
//! ```
//! `--fan-out` reads with enhanced fan-out (SubscribeToShard, one stream consumer for both
//! workers, deregistered when the last one leaves) instead of polling.
//! With no AWS configured it starts the embedded local servers (see `src/backend.rs`).
//! Against real AWS it creates (and leaves) a 16-shard stream and a lease table.

use kinesis_examples::story::{self, Error};

/// The producer keeps each shard under its write limit, so shards set its pace.
const SHARDS: i32 = 16;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut count = 200_000;
    let mut retrieval = kcl::RetrievalMode::Polling;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--fan-out" => retrieval = kcl::RetrievalMode::fan_out(),
            _ => {
                count = arg.parse().map_err(|e| {
                    format!("expected a record count or --fan-out, got {arg:?}: {e}")
                })?
            }
        }
    }
    let mode = match retrieval {
        kcl::RetrievalMode::Polling => "polling",
        kcl::RetrievalMode::FanOut { .. } => "enhanced fan-out",
    };
    let aws = kinesis_examples::connect().await?;
    println!("quickstart: using {}", aws.description);
    let stream = format!("quickstart-{}", std::process::id());
    let r = story::run(&aws, &stream, SHARDS, count, retrieval).await?;
    println!(
        "quickstart: produced {} user records in {} Kinesis records to {SHARDS} shards of \
         stream {stream} at {:.0} records/s (put to last ack)",
        r.sent, r.kinesis_records, r.produce_per_s
    );
    for (worker, records, leases) in &r.workers {
        println!("quickstart: {worker} processed {records} records, held {leases:?}");
    }
    println!(
        "quickstart: consumed by {mode} at {:.0} records/s (first to last delivery); all {} \
         arrived exactly as sent ({} delivered twice)",
        r.consume_per_s, r.received, r.duplicates
    );
    Ok(())
}
