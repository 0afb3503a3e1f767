//! Small hand-made facts for the checkers' unit tests.
#![cfg(test)]

use std::time::{Duration, Instant};

use kcl::Position;

use super::facts::{Delivery, LeaseWrite, Produced, RecordId, WriteKind};

pub fn id(key: u32, n: u32) -> RecordId {
    RecordId { key, n }
}

pub fn produced(ids: &[RecordId], at: Instant) -> Vec<Produced> {
    ids.iter()
        .map(|&id| Produced {
            id,
            at,
            after_faults: false,
        })
        .collect()
}

pub fn delivery(
    worker: &str,
    shard: &str,
    acq: u64,
    start: Instant,
    ids: &[(u32, RecordId)],
) -> Delivery {
    Delivery {
        worker: worker.into(),
        acquisition: acq,
        acquired: start,
        shard: shard.into(),
        start,
        via_stream: false,
        records: ids
            .iter()
            .map(|&(seq, id)| (Position::at(&seq.to_string(), 0).unwrap(), id))
            .collect(),
    }
}

/// Sequence number `seq`, sub-sequence 0.
pub fn at(seq: u32) -> Position {
    Position::at(&seq.to_string(), 0).unwrap()
}

/// An applied write of `kind` by `worker` on `key`, sent at `t0 + ms` and answered 1 ms later.
pub fn write(worker: &str, key: &str, kind: WriteKind, t0: Instant, ms: u64) -> LeaseWrite {
    let start = t0 + Duration::from_millis(ms);
    LeaseWrite {
        worker: worker.into(),
        key: key.into(),
        kind: kind.clone(),
        start,
        end: start + Duration::from_millis(1),
        applied: true,
        fault: None,
        confirmed: true,
        refused: false,
        body: format!("{kind:?} {ms}"),
    }
}
