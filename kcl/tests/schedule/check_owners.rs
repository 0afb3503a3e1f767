//! One owner at a time: no two workers deliver records of one shard at overlapping
//! times, except within the failover time after the previous owner's last renewal.

use std::time::{Duration, Instant};

use super::facts::{Delivery, LeaseWrite, WriteKind};
use super::report::Violation;

/// Every delivery to worker A on shard S comes from a take of S by A (applied before
/// A's processor was created); and once another worker B took S after that take (at T,
/// when the server answered), any delivery to A that starts after T starts before A's
/// last applied write on S sent before T, plus the failover time. (Records taken from a
/// `RecordStream` are not judged here: the stream buffers batches ahead of its reader.)
pub fn one_owner_at_a_time(
    writes: &[LeaseWrite],
    deliveries: &[Delivery],
    failover: Duration,
    t0: Instant,
) -> Vec<Violation> {
    let applied: Vec<&LeaseWrite> = writes
        .iter()
        .filter(|w| w.applied && w.kind != WriteKind::Read)
        .collect();
    deliveries
        .iter()
        .filter(|d| !d.records.is_empty() && !d.via_stream)
        .filter_map(|d| judge(d, &applied, failover))
        .map(|verdict| verdict.violation(t0))
        .collect()
}

/// What is wrong with one delivery, if anything.
enum Verdict<'a> {
    /// Delivered without a take of the shard by this worker before.
    NeverTaken(&'a Delivery),
    /// Delivered after another worker took the shard, past the failover time after
    /// this worker's last write on it (sent at `last`).
    Overlap {
        d: &'a Delivery,
        taken: &'a LeaseWrite,
        other: &'a LeaseWrite,
        last: Instant,
    },
}

fn judge<'a>(
    d: &'a Delivery,
    applied: &[&'a LeaseWrite],
    failover: Duration,
) -> Option<Verdict<'a>> {
    let takes: Vec<&LeaseWrite> = applied
        .iter()
        .copied()
        .filter(|w| w.kind == WriteKind::Take && w.key == d.shard)
        .collect();
    let mine = takes
        .iter()
        .filter(|w| w.worker == d.worker && w.end <= d.acquired);
    let Some(taken) = mine.max_by_key(|w| w.end).copied() else {
        return Some(Verdict::NeverTaken(d));
    };
    let other = takes
        .iter()
        .filter(|w| w.worker != d.worker && w.end > taken.end && w.end < d.start)
        .min_by_key(|w| w.end)
        .copied()?;
    let last = applied
        .iter()
        .filter(|w| w.worker == d.worker && w.key == d.shard && w.start < other.end)
        .map(|w| w.start)
        .max()
        .unwrap_or(taken.start);
    (d.start >= last + failover).then_some(Verdict::Overlap {
        d,
        taken,
        other,
        last,
    })
}

impl Verdict<'_> {
    fn violation(&self, t0: Instant) -> Violation {
        let ms = |t: Instant| t.saturating_duration_since(t0).as_millis();
        let (what, events) = match self {
            Verdict::NeverTaken(d) => (
                format!(
                    "{} delivered {} at {}ms without having taken it",
                    d.worker,
                    d.shard,
                    ms(d.start)
                ),
                Vec::new(),
            ),
            Verdict::Overlap {
                d,
                taken,
                other,
                last,
            } => (
                format!(
                    "{} delivered {} at {}ms, after {} took it at {}ms and {}ms past its last lease write at {}ms",
                    d.worker,
                    d.shard,
                    ms(d.start),
                    other.worker,
                    ms(other.end),
                    (d.start - *last).as_millis(),
                    ms(*last)
                ),
                vec![
                    format!(
                        "{} took {} at {}-{}ms",
                        d.worker,
                        d.shard,
                        ms(taken.start),
                        ms(taken.end)
                    ),
                    format!(
                        "{} took {} at {}-{}ms",
                        other.worker,
                        d.shard,
                        ms(other.start),
                        ms(other.end)
                    ),
                    format!(
                        "{} delivered {} record(s), first {}",
                        d.worker,
                        d.records.len(),
                        d.records[0].0
                    ),
                ],
            ),
        };
        Violation {
            checker: "one owner at a time",
            what,
            events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{delivery, id, write};
    use super::*;
    use WriteKind::{Renew, Take};

    #[test]
    fn a_previous_owner_delivering_past_its_failover_time_is_flagged() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let failover = Duration::from_millis(1000);
        // a took s at 0 and renewed at 300; b stole it at 1100 (answered at 1101).
        let ws = vec![
            write("a", "s", Take, t, 0),
            write("a", "s", Renew, t, 300),
            write("b", "s", Take, t, 1100),
        ];
        let to_a = |start: u64| {
            let mut d = delivery("a", "s", 1, ms(start), &[(1, id(0, 1))]);
            d.acquired = ms(2);
            d
        };
        let mut to_b = delivery("b", "s", 2, ms(1150), &[(1, id(0, 1))]);
        to_b.acquired = ms(1102);
        // Before b's take, and after it within failover of a's renewal sent at 300: fine.
        let fine = [to_a(900), to_a(1299), to_b.clone()];
        assert!(one_owner_at_a_time(&ws, &fine, failover, t).is_empty());
        // At 1300 = 300 + failover, a delivers while b owns the shard.
        let v = one_owner_at_a_time(&ws, &[to_a(1300), to_b], failover, t);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].what
                .contains("a delivered s at 1300ms, after b took it at 1101ms"),
            "{v:?}"
        );
        // a taking s back later makes its new processor's deliveries fine again.
        let mut ws = ws;
        ws.push(write("a", "s", Take, t, 2000));
        let mut again = to_a(2100);
        again.acquired = ms(2002);
        assert!(one_owner_at_a_time(&ws, &[again], failover, t).is_empty());
    }

    #[test]
    fn delivering_a_shard_never_taken_is_flagged() {
        let t = Instant::now();
        let ws = vec![write("a", "s", Take, t, 0)];
        let d = delivery("b", "s", 1, t + Duration::from_millis(10), &[(1, id(0, 1))]);
        let v = one_owner_at_a_time(&ws, &[d], Duration::from_secs(1), t);
        assert_eq!(v.len(), 1);
        assert!(v[0].what.contains("without having taken it"));
    }
}
