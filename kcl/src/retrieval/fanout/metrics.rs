//! Fan-out metrics, named as the KCL names its operation metrics (`<Operation>.Success`
//! with 1 or 0 per call, `<Operation>.Time` in milliseconds), every one labelled with the
//! shard:
//!
//! | name | kind | what |
//! |---|---|---|
//! | `SubscribeToShard.Success` | histogram, 1 or 0 | each subscription attempt: answered (1) or failed (0) |
//! | `SubscribeToShard.Time` | histogram, ms | from the call to its answer (the first message) |
//! | `SubscribeToShard.RecordsReceived` | counter | Kinesis records received in events |
//! | `SubscribeToShard.BytesReceived` | counter | their data bytes |
//! | `SubscribeToShard.Resubscriptions` | counter, label `reason` | subscriptions made again: `renewal` (the service ended one), `stall`, `error` |
//! | `SubscribeToShard.Stalls` | counter | subscriptions with no answer or event within the event timeout |
//! | `SubscribeToShard.ConsecutiveFailures` | gauge | failed subscriptions in a row (0 once an event arrives) |
//! | `MillisBehindLatest` | gauge | from each event, as for polling |

use std::time::Duration;

pub(crate) fn attempt(shard: &str, succeeded: bool, took: Duration) {
    let label = shard.to_owned();
    metrics::histogram!("SubscribeToShard.Success", "shard" => label.clone())
        .record(if succeeded { 1.0 } else { 0.0 });
    metrics::histogram!("SubscribeToShard.Time", "shard" => label).record(took.as_secs_f64() * 1e3);
}

pub(crate) fn received(shard: &str, records: usize, bytes: usize, millis_behind_latest: i64) {
    let label = shard.to_owned();
    metrics::counter!("SubscribeToShard.RecordsReceived", "shard" => label.clone())
        .increment(records as u64);
    metrics::counter!("SubscribeToShard.BytesReceived", "shard" => label.clone())
        .increment(bytes as u64);
    metrics::gauge!("MillisBehindLatest", "shard" => label).set(millis_behind_latest as f64);
}

/// Why a shard is subscribed to again.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Again {
    Renewal,
    Stall,
    Error,
}

pub(crate) fn resubscribing(shard: &str, why: Again) {
    let label = shard.to_owned();
    let reason = match why {
        Again::Renewal => "renewal",
        Again::Stall => "stall",
        Again::Error => "error",
    };
    metrics::counter!("SubscribeToShard.Resubscriptions", "shard" => label.clone(), "reason" => reason)
        .increment(1);
    if why == Again::Stall {
        metrics::counter!("SubscribeToShard.Stalls", "shard" => label).increment(1);
    }
}

pub(crate) fn failures(shard: &str, consecutive: u32) {
    metrics::gauge!("SubscribeToShard.ConsecutiveFailures", "shard" => shard.to_owned())
        .set(f64::from(consecutive));
}
