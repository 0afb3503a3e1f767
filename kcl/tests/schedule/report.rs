//! Running every checker over a run's facts, and telling what was found.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use testkit::Outcome;

use super::facts::{Facts, WriteKind};
use super::scenario::Scenario;
use super::{check_checkpoints, check_delivery, check_liveness, check_owners};

/// A broken promise, with the events that show it.
#[derive(Clone, Debug)]
pub struct Violation {
    pub checker: &'static str,
    pub what: String,
    pub events: Vec<String>,
}

/// Every checker over `f`.
pub fn check_all(f: &Facts) -> Vec<Violation> {
    let mut v = check_delivery::every_record_delivered(&f.produced, &f.stored, &f.deliveries, f.t0);
    v.extend(check_delivery::per_key_order(
        &f.produced,
        &f.deliveries,
        f.t0,
    ));
    v.extend(check_checkpoints::never_backwards(
        &f.writes,
        &f.final_leases,
        f.t0,
    ));
    v.extend(check_checkpoints::only_delivered(
        &f.writes,
        &f.deliveries,
        &f.stored,
        f.t0,
    ));
    v.extend(check_owners::one_owner_at_a_time(
        &f.writes,
        &f.deliveries,
        f.failover,
        f.t0,
    ));
    v.extend(super::check_lease_loss::applied_writes_keep_the_lease(
        &f.writes,
        &f.lifecycle,
        f.t0,
    ));
    v.extend(super::foreign::foreign_items_untouched(&f.writes));
    v.extend(check_liveness::no_lease_left_unprocessed(
        &f.produced,
        &f.deliveries,
        &f.leases_at_end,
        &f.live,
    ));
    v
}

/// Harness sanity: the stream holds exactly what the producer acknowledged.
pub fn harness_errors(f: &Facts) -> Vec<String> {
    let produced: std::collections::BTreeSet<_> = f.produced.iter().map(|p| p.id).collect();
    let stored: std::collections::BTreeSet<_> = f.stored.iter().map(|s| s.id).collect();
    let mut out = Vec::new();
    if produced != stored {
        out.push(format!(
            "the stream holds {} records, the producer acknowledged {} ({} not in the stream)",
            stored.len(),
            produced.len(),
            produced.difference(&stored).count()
        ));
    }
    out
}

/// One line of what the run did: records, deliveries, faults by kind, lease writes.
pub fn summary(f: &Facts) -> String {
    let records: usize = f.deliveries.iter().map(|d| d.records.len()).sum();
    let mut faults: BTreeMap<String, usize> = BTreeMap::new();
    for e in &f.proxy_events {
        if let Some(fault) = &e.fault {
            let kind = format!("{fault:?}");
            let kind = kind
                .split(['{', '('])
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            let side = if e.proxy.ends_with("kinesis") {
                "kinesis"
            } else {
                "dynamodb"
            };
            *faults.entry(format!("{side}:{kind}")).or_default() += 1;
        }
    }
    let unseen = f
        .proxy_events
        .iter()
        .filter(|e| {
            e.upstream_status == Some(200)
                && !matches!(e.outcome, Outcome::Status { status: 200, .. })
        })
        .count();
    let applied = f
        .writes
        .iter()
        .filter(|w| w.applied && w.kind != WriteKind::Read)
        .count();
    let (lost, untaken) = losses(f);
    format!(
        "{} produced, {records} delivered in {} batches, {} shards read back, {applied} lease writes applied \
         ({unseen} requests applied but not answered 200), lease_lost {lost} ({untaken} with no take by \
         another worker), faults {faults:?}",
        f.produced.len(),
        f.deliveries.len(),
        f.stored
            .iter()
            .map(|s| &s.shard)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
    )
}

/// `lease_lost` calls, and how many came with no applied take of the shard by another
/// worker since the processor's acquisition (expiry, or a write refused for nothing).
fn losses(f: &Facts) -> (usize, usize) {
    let lost: Vec<_> = f
        .lifecycle
        .iter()
        .filter(|l| l.call == "lease_lost")
        .collect();
    let untaken = lost
        .iter()
        .filter(|l| {
            !f.writes.iter().any(|w| {
                w.applied
                    && w.kind == WriteKind::Take
                    && w.key == l.shard
                    && w.worker != l.worker
                    && w.end > l.acquired
                    && w.end <= l.at
            })
        })
        .count();
    (lost.len(), untaken)
}

/// The failure report: the seed (to replay), the scenario, what the run did, the
/// violations with their events.
pub fn failure(s: &Scenario, f: &Facts, violations: &[Violation], harness: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n=== seed {} FAILED: replay with KCL_SCHEDULE_SEED={} cargo test -p kinesis-kcl --test schedule",
        s.seed, s.seed
    );
    let _ = writeln!(
        out,
        "(the scenario is a function of the seed; timing is real, so a replay is close, not identical)"
    );
    let _ = write!(out, "{s}");
    let _ = writeln!(out, "run: {}", summary(f));
    for (t, what) in &f.journal {
        let _ = writeln!(out, "  {:>6}  {what}", f.ms(*t));
    }
    for h in harness {
        let _ = writeln!(out, "HARNESS: {h}");
    }
    let mut per_checker: BTreeMap<&str, usize> = BTreeMap::new();
    for v in violations {
        let n = per_checker.entry(v.checker).or_default();
        *n += 1;
        if *n > 5 {
            continue;
        }
        let _ = writeln!(out, "VIOLATION [{}] {}", v.checker, v.what);
        for e in &v.events {
            let _ = writeln!(out, "    {e}");
        }
    }
    let _ = writeln!(out, "violations per checker: {per_checker:?}");
    out
}

/// Every lease write and delivery of a run, one per line, by time (for
/// `KCL_SCHEDULE_DUMP=<dir>`: a failing seed writes `<dir>/seed-<n>.txt`).
pub fn dump(f: &Facts) -> String {
    let mut lines: Vec<(std::time::Instant, String)> = Vec::new();
    for w in &f.writes {
        let what = format!(
            "write {} {:?} {} applied={} fault={:?} end={}",
            w.worker,
            w.kind,
            w.key,
            w.applied,
            w.fault,
            f.ms(w.end)
        );
        lines.push((w.start, what));
    }
    for d in &f.deliveries {
        let (first, last) = (d.records.first(), d.records.last());
        let what = format!(
            "deliver {} {} acq={} ({}) {} records {:?} .. {:?}",
            d.worker,
            d.shard,
            d.acquisition,
            f.ms(d.acquired),
            d.records.len(),
            first.map(|(p, id)| format!("{id}@{p}")),
            last.map(|(p, id)| format!("{id}@{p}"))
        );
        lines.push((d.start, what));
    }
    for l in &f.lifecycle {
        lines.push((
            l.at,
            format!(
                "{} {} {} (acquired {})",
                l.call,
                l.worker,
                l.shard,
                f.ms(l.acquired)
            ),
        ));
    }
    lines.extend(f.journal.iter().cloned());
    lines.sort_by_key(|(t, _)| *t);
    lines
        .into_iter()
        .map(|(t, what)| format!("{:>8} {what}\n", f.ms(t)))
        .collect()
}
