//! Delivery promises: every record produced is delivered at least once, and per key the
//! first deliveries come in production order (across splits and merges too).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use super::facts::{Delivery, Produced, RecordId, Stored};
use super::report::Violation;

/// Where and when a record was first delivered.
#[derive(Clone, Debug)]
pub struct First<'a> {
    /// (delivery start, index in the log, index in the batch): the delivery order.
    pub order: (Instant, usize, usize),
    pub delivery: &'a Delivery,
}

/// The first delivery of every record delivered.
pub fn first_deliveries(deliveries: &[Delivery]) -> HashMap<RecordId, First<'_>> {
    let mut first: HashMap<RecordId, First<'_>> = HashMap::new();
    for (i, d) in deliveries.iter().enumerate() {
        for (j, (_, id)) in d.records.iter().enumerate() {
            let candidate = First {
                order: (d.start, i, j),
                delivery: d,
            };
            match first.get(id) {
                Some(f) if f.order <= candidate.order => {}
                _ => {
                    first.insert(*id, candidate);
                }
            }
        }
    }
    first
}

/// Every record produced was delivered at least once (to some processor).
pub fn every_record_delivered(
    produced: &[Produced],
    stored: &[Stored],
    deliveries: &[Delivery],
    t0: Instant,
) -> Vec<Violation> {
    let delivered: BTreeSet<RecordId> = deliveries
        .iter()
        .flat_map(|d| d.records.iter().map(|(_, id)| *id))
        .collect();
    let missing: BTreeMap<RecordId, Instant> = produced
        .iter()
        .filter(|p| !delivered.contains(&p.id))
        .map(|p| (p.id, p.at))
        .collect();
    let mut by_shard: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in stored {
        if let Some(at) = missing.get(&s.id) {
            let ms = at.saturating_duration_since(t0).as_millis();
            by_shard
                .entry(&s.shard)
                .or_default()
                .push(format!("{} at {} (produced at {ms}ms)", s.id, s.position));
        }
    }
    by_shard
        .into_iter()
        .map(|(shard, records)| Violation {
            checker: "every record delivered",
            what: format!("{} record(s) of {shard} never delivered", records.len()),
            events: records,
        })
        .collect()
}

/// Per key, the first deliveries are in production order: record n+1 of a key is never
/// first delivered before record n. Two first deliveries from the same shard to
/// different processors are left to the owner checker (overlapping owners).
pub fn per_key_order(
    produced: &[Produced],
    deliveries: &[Delivery],
    t0: Instant,
) -> Vec<Violation> {
    let first = first_deliveries(deliveries);
    let mut by_key: BTreeMap<u32, Vec<RecordId>> = BTreeMap::new();
    for p in produced {
        by_key.entry(p.id.key).or_default().push(p.id);
    }
    let mut out = Vec::new();
    for ids in by_key.values_mut() {
        ids.sort();
        ids.dedup();
        for pair in ids.windows(2) {
            let (Some(a), Some(b)) = (first.get(&pair[0]), first.get(&pair[1])) else {
                continue;
            };
            let same_shard_other_owner = a.delivery.shard == b.delivery.shard
                && a.delivery.acquisition != b.delivery.acquisition;
            if b.order < a.order && !same_shard_other_owner {
                out.push(Violation {
                    checker: "per-key order",
                    what: format!("{} first delivered before {}", pair[1], pair[0]),
                    events: vec![describe(pair[1], b, t0), describe(pair[0], a, t0)],
                });
            }
        }
    }
    out
}

fn describe(id: RecordId, f: &First<'_>, t0: Instant) -> String {
    let d = f.delivery;
    let at = d.start.saturating_duration_since(t0).as_millis();
    format!(
        "{id} first delivered at {at}ms to {} on {} (acquisition {})",
        d.worker, d.shard, d.acquisition
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::fixtures::{delivery, id, produced};
    use super::*;
    use kcl::Position;

    #[test]
    fn a_record_never_delivered_is_flagged() {
        let t = Instant::now();
        let p = produced(&[id(0, 0), id(0, 1)], t);
        let stored = vec![Stored {
            shard: "s".into(),
            position: Position::at("2", 0).unwrap(),
            id: id(0, 1),
        }];
        let ds = vec![delivery("a", "s", 0, t, &[(1, id(0, 0))])];
        let v = every_record_delivered(&p, &stored, &ds, t);
        assert_eq!(v.len(), 1);
        assert!(v[0].events[0].contains("k0:1"), "{v:?}");
        let ds = vec![delivery("a", "s", 0, t, &[(1, id(0, 0)), (2, id(0, 1))])];
        assert!(every_record_delivered(&p, &stored, &ds, t).is_empty());
    }

    #[test]
    fn a_child_delivered_before_its_parent_breaks_per_key_order() {
        let t = Instant::now();
        let p = produced(&[id(3, 0), id(3, 1)], t);
        // k3:1 (in the child) first delivered before k3:0 (in the parent).
        let ds = vec![
            delivery("a", "child", 1, t, &[(9, id(3, 1))]),
            delivery(
                "b",
                "parent",
                2,
                t + Duration::from_millis(5),
                &[(1, id(3, 0))],
            ),
        ];
        let v = per_key_order(&p, &ds, t);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].what.contains("k3:1 first delivered before k3:0"));
        // In order, with a duplicate later: fine.
        let ds = vec![
            delivery("b", "parent", 2, t, &[(1, id(3, 0))]),
            delivery(
                "a",
                "child",
                1,
                t + Duration::from_millis(5),
                &[(9, id(3, 1))],
            ),
            delivery(
                "c",
                "parent",
                3,
                t + Duration::from_millis(9),
                &[(1, id(3, 0))],
            ),
        ];
        assert!(per_key_order(&p, &ds, t).is_empty());
        // Inside one batch, the batch order counts.
        let ds = vec![delivery("a", "s", 1, t, &[(2, id(3, 1)), (1, id(3, 0))])];
        assert_eq!(per_key_order(&p, &ds, t).len(), 1);
    }
}
