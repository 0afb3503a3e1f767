//! Checkpoint promises, over the writes the server applied (the proxy log) and the items
//! left in the table: a checkpoint never moves backwards, and never covers a record the
//! writing worker was not delivered.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use kcl::Position;

use super::facts::{Delivery, FinalLease, LeaseWrite, RecordId, Stored, WriteKind};
use super::report::Violation;

/// Per lease key, the applied writes that set a checkpoint (creates and checkpoints),
/// in the order the server applied them, with the position each set.
pub fn history(writes: &[LeaseWrite]) -> BTreeMap<&str, Vec<(&LeaseWrite, &Position)>> {
    let mut out: BTreeMap<&str, Vec<(&LeaseWrite, &Position)>> = BTreeMap::new();
    for w in writes.iter().filter(|w| w.applied) {
        if let WriteKind::Create(p) | WriteKind::Checkpoint(p) = &w.kind {
            out.entry(&w.key).or_default().push((w, p));
        }
    }
    out.values_mut().for_each(|h| h.sort_by_key(|(w, _)| w.end));
    out
}

/// Checkpoints in the table never move backwards: per lease key, each applied write
/// (a lease created again included) sets a position at or after the one before, and the
/// item left in the table is at or after the last one written.
pub fn never_backwards(
    writes: &[LeaseWrite],
    finals: &[FinalLease],
    t0: Instant,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let history = history(writes);
    for (key, h) in &history {
        for pair in h.windows(2) {
            let ((a, pa), (b, pb)) = (pair[0], pair[1]);
            if pb < pa {
                out.push(Violation {
                    checker: "checkpoints never move backwards",
                    what: format!("{key}: {pa} then {pb}"),
                    events: vec![describe(a, pa, t0), describe(b, pb, t0)],
                });
            }
        }
    }
    for f in finals {
        let Some(&(w, last)) = history.get(f.key.as_str()).and_then(|h| h.last()) else {
            continue;
        };
        if f.checkpoint < *last {
            out.push(Violation {
                checker: "checkpoints never move backwards",
                what: format!(
                    "{}: the table holds {} after {last} was written",
                    f.key, f.checkpoint
                ),
                events: vec![describe(w, last, t0)],
            });
        }
    }
    out
}

/// A checkpoint never covers a record the writing worker was not delivered: a checkpoint
/// at P written at t by W over the table's previous checkpoint C covers the shard's
/// records in (C, P] (everything after C for SHARD_END), and W was delivered each of
/// them before t.
pub fn only_delivered(
    writes: &[LeaseWrite],
    deliveries: &[Delivery],
    stored: &[Stored],
    t0: Instant,
) -> Vec<Violation> {
    let mut earliest: HashMap<(&str, &str, &Position), Instant> = HashMap::new();
    for d in deliveries {
        for (p, _) in &d.records {
            let e = earliest
                .entry((d.worker.as_str(), d.shard.as_str(), p))
                .or_insert(d.start);
            *e = (*e).min(d.start);
        }
    }
    let mut shards: BTreeMap<&str, Vec<(&Position, RecordId)>> = BTreeMap::new();
    for s in stored {
        shards
            .entry(&s.shard)
            .or_default()
            .push((&s.position, s.id));
    }
    let mut out = Vec::new();
    for (key, h) in history(writes) {
        let mut previous = &Position::TrimHorizon;
        for (w, p) in h {
            if matches!(w.kind, WriteKind::Checkpoint(_)) {
                let covered = shards.get(key).into_iter().flatten();
                let undelivered: Vec<String> = covered
                    .filter(|(q, _)| *q > previous && *q <= p)
                    .filter(|(q, _)| {
                        earliest
                            .get(&(w.worker.as_str(), key, *q))
                            .is_none_or(|t| *t >= w.start)
                    })
                    .map(|(q, id)| format!("{id} at {q}"))
                    .collect();
                if !undelivered.is_empty() {
                    out.push(Violation {
                        checker: "checkpoints cover only delivered records",
                        what: format!(
                            "{key}: {} checkpointed {p} over {previous} before it was delivered {}",
                            w.worker,
                            undelivered.len()
                        ),
                        events: std::iter::once(describe(w, p, t0))
                            .chain(undelivered.into_iter().take(5))
                            .collect(),
                    });
                }
            }
            previous = p;
        }
    }
    out
}

fn describe(w: &LeaseWrite, p: &Position, t0: Instant) -> String {
    let ms = |t: Instant| t.saturating_duration_since(t0).as_millis();
    format!(
        "{} wrote {:?} = {p} on {} at {}-{}ms (fault {:?})",
        w.worker,
        w.kind,
        w.key,
        ms(w.start),
        ms(w.end),
        w.fault
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{at, delivery, id, write};
    use super::*;
    use WriteKind::{Checkpoint, Create};

    #[test]
    fn a_checkpoint_going_back_is_flagged() {
        let t = Instant::now();
        let mut ws = vec![
            write("a", "s", Create(Position::TrimHorizon), t, 0),
            write("a", "s", Checkpoint(at(5)), t, 10),
            write("b", "s", Checkpoint(at(3)), t, 20),
        ];
        let v = never_backwards(&ws, &[], t);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].what.contains("5/0 then 3/0"));
        // A write the server refused does not count; the table may not go back either.
        ws[2].applied = false;
        assert!(never_backwards(&ws, &[], t).is_empty());
        let fin = FinalLease {
            key: "s".into(),
            owner: None,
            checkpoint: at(4),
        };
        assert_eq!(never_backwards(&ws, &[fin], t).len(), 1);
        // A finished lease created again at TRIM_HORIZON goes back too.
        ws.push(write("a", "s", Checkpoint(Position::ShardEnd), t, 30));
        ws.push(write("b", "s", Create(Position::TrimHorizon), t, 40));
        assert_eq!(never_backwards(&ws, &[], t).len(), 1);
    }

    #[test]
    fn a_checkpoint_past_what_the_writer_was_delivered_is_flagged() {
        let t = Instant::now();
        let ms = |n| t + std::time::Duration::from_millis(n);
        let stored: Vec<Stored> = (1..=4)
            .map(|i| Stored {
                shard: "s".into(),
                position: at(i),
                id: id(0, i),
            })
            .collect();
        let ds = vec![
            delivery("a", "s", 1, ms(5), &[(1, id(0, 1)), (2, id(0, 2))]),
            delivery("b", "s", 2, ms(50), &[(3, id(0, 3)), (4, id(0, 4))]),
        ];
        let ok = vec![
            write("a", "s", Create(Position::TrimHorizon), t, 0),
            write("a", "s", Checkpoint(at(2)), t, 10),
            write("b", "s", Checkpoint(Position::ShardEnd), t, 60),
        ];
        assert!(only_delivered(&ok, &ds, &stored, t).is_empty());
        // a checkpoints 3, which only b was delivered; b's SHARD_END comes before b saw 4.
        let bad = vec![
            write("a", "s", Create(Position::TrimHorizon), t, 0),
            write("a", "s", Checkpoint(at(3)), t, 30),
            write("b", "s", Checkpoint(Position::ShardEnd), t, 40),
        ];
        let v = only_delivered(&bad, &ds, &stored, t);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(
            v.iter()
                .any(|v| v.what.contains("b checkpointed SHARD_END"))
        );
        assert!(v.iter().any(|v| v.what.contains("a checkpointed 3/0")));
    }
}
