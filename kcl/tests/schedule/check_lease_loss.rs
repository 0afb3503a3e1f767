//! A write the server applied never costs the lease (issue 11, defect 2): re-sending a
//! write whose answer was lost (a reset or 5xx after the server acted) meets a refused
//! condition, because the first one moved the counter; the worker must then re-read the
//! item (ours with the next counter means the write succeeded), not drop the lease.

use std::time::{Duration, Instant};

use super::facts::{LeaseWrite, Lifecycle, WriteKind};
use super::report::Violation;

/// How soon after the refused re-send a `lease_lost` counts as caused by it.
const CAUSED_WITHIN: Duration = Duration::from_millis(500);

/// When a worker's write on a lease was applied but not answered 200, and the same
/// request sent again was refused (ConditionalCheckFailed), the worker does not end that
/// lease's processor with `lease_lost` within 500 ms of the refusal without having read
/// the item again, while no other worker wrote the lease since the first write.
pub fn applied_writes_keep_the_lease(
    writes: &[LeaseWrite],
    lifecycle: &[Lifecycle],
    t0: Instant,
) -> Vec<Violation> {
    let ms = |t: Instant| t.saturating_duration_since(t0).as_millis();
    let mut out = Vec::new();
    for first in writes
        .iter()
        .filter(|w| w.applied && !w.confirmed && w.kind != WriteKind::Read)
    {
        let resent = writes.iter().find(|w| {
            w.worker == first.worker && w.body == first.body && w.start > first.start && w.refused
        });
        let Some(resent) = resent else { continue };
        let lost = lifecycle.iter().find(|l| {
            l.call == "lease_lost"
                && l.worker == first.worker
                && l.shard == first.key
                && l.acquired <= first.start
                && l.at >= resent.end
                && l.at <= resent.end + CAUSED_WITHIN
        });
        let Some(lost) = lost else { continue };
        let touched = writes.iter().any(|w| {
            w.key == first.key
                && w.start >= first.start
                && w.start <= lost.at
                && ((w.worker != first.worker && w.applied && w.kind != WriteKind::Read)
                    || (w.worker == first.worker && w.kind == WriteKind::Read))
        });
        if !touched {
            out.push(Violation {
                checker: "applied writes keep the lease",
                what: format!(
                    "{} lost {} at {}ms right after the server refused the re-sent {:?} it had applied",
                    first.worker, first.key, ms(lost.at), first.kind
                ),
                events: vec![
                    format!("{:?} sent {}ms, applied, client saw {:?}", first.kind, ms(first.start), first.fault),
                    format!("the same request sent again {}ms, refused", ms(resent.start)),
                ],
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::write;
    use super::*;

    #[test]
    fn dropping_a_lease_on_the_refused_resend_of_an_applied_write_is_flagged() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let mut first = write("a", "s", WriteKind::Renew, t, 100);
        first.confirmed = false;
        let mut resent = write("a", "s", WriteKind::Renew, t, 700);
        resent.body = first.body.clone();
        (resent.applied, resent.confirmed, resent.refused) = (false, false, true);
        let lost = Lifecycle {
            worker: "a".into(),
            acquired: ms(0),
            shard: "s".into(),
            call: "lease_lost",
            at: ms(720),
        };
        let v = applied_writes_keep_the_lease(
            &[first.clone(), resent.clone()],
            std::slice::from_ref(&lost),
            t,
        );
        assert_eq!(v.len(), 1, "{v:?}");
        // Re-reading the item first, or another worker's write, explains the loss.
        let read = write("a", "s", WriteKind::Read, t, 705);
        assert!(
            applied_writes_keep_the_lease(
                &[first.clone(), resent.clone(), read],
                std::slice::from_ref(&lost),
                t
            )
            .is_empty()
        );
        let take = write("b", "s", WriteKind::Take, t, 300);
        assert!(applied_writes_keep_the_lease(&[first, resent, take], &[lost], t).is_empty());
    }
}
