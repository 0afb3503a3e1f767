//! Progress once the faults stop: nothing produced afterwards is left undelivered, and
//! no unfinished lease is left without a live worker holding it.

use std::collections::{BTreeMap, BTreeSet};

use kcl::Position;

use super::facts::{Delivery, FinalLease, Produced, RecordId};
use super::report::Violation;

/// Once faults stop, no lease is left unprocessed: every record produced after the
/// faults stopped is delivered, and every unfinished lease (checkpoint not SHARD_END)
/// is owned by a live worker that says it holds it.
pub fn no_lease_left_unprocessed(
    produced: &[Produced],
    deliveries: &[Delivery],
    leases: &[FinalLease],
    live: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<Violation> {
    let delivered: BTreeSet<RecordId> = deliveries
        .iter()
        .flat_map(|d| d.records.iter().map(|(_, id)| *id))
        .collect();
    let late: Vec<String> = produced
        .iter()
        .filter(|p| p.after_faults && !delivered.contains(&p.id))
        .map(|p| p.id.to_string())
        .collect();
    let mut out = Vec::new();
    if !late.is_empty() {
        out.push(Violation {
            checker: "no lease left unprocessed",
            what: format!(
                "{} record(s) produced after the faults stopped were never delivered",
                late.len()
            ),
            events: late.into_iter().take(10).collect(),
        });
    }
    for lease in leases.iter().filter(|l| l.checkpoint != Position::ShardEnd) {
        let held = lease
            .owner
            .as_ref()
            .and_then(|o| live.get(o))
            .is_some_and(|h| h.contains(&lease.key));
        if !held {
            out.push(Violation {
                checker: "no lease left unprocessed",
                what: format!(
                    "{} at {} is owned by {:?}, which is not a live worker holding it",
                    lease.key, lease.checkpoint, lease.owner
                ),
                events: live
                    .iter()
                    .map(|(w, h)| format!("live {w} holds {h:?}"))
                    .collect(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::fixtures::{at, delivery, id};
    use super::*;

    #[test]
    fn undelivered_late_records_and_orphaned_leases_are_flagged() {
        let t = Instant::now();
        let late = Produced {
            id: id(1, 0),
            at: t,
            after_faults: true,
        };
        let early = Produced {
            id: id(2, 0),
            at: t,
            after_faults: false,
        };
        let live = BTreeMap::from([("a".to_owned(), BTreeSet::from(["s".to_owned()]))]);
        let owned = |key: &str, owner: &str, cp| FinalLease {
            key: key.into(),
            owner: Some(owner.into()),
            checkpoint: cp,
        };
        let ds = vec![delivery("a", "s", 0, t, &[(1, id(1, 0))])];
        let leases = vec![
            owned("s", "a", at(1)),
            owned("old", "gone", Position::ShardEnd),
        ];
        assert!(no_lease_left_unprocessed(&[late.clone(), early], &ds, &leases, &live).is_empty());
        let v = no_lease_left_unprocessed(&[late], &[], &leases, &live);
        assert_eq!(v.len(), 1);
        assert!(v[0].what.contains("after the faults stopped"));
        let orphaned = vec![owned("s", "a", at(1)), owned("t", "gone", at(2))];
        let v = no_lease_left_unprocessed(&[], &ds, &orphaned, &live);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].what.starts_with("t at 2/0 is owned by Some(\"gone\")"));
    }
}
