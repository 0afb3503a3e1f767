//! A mixed fleet in Java's 2.x-compatible mode: two kcl workers and a Java worker share 4
//! shards while records are produced, one shard is split, and the fleet goes on. Checked
//! from what happened: every record of the stream delivered, per key the first deliveries
//! in production order (across the split), no lease coming back to an owner it had left
//! (owner changes counted from the table over time), and neither side broken by the other's
//! items (Java's `throughputKBps`, its GSI and tables; kcl's leases for Java).

use std::time::Duration;

use super::checks;
use super::daemon::{Control, JavaWorker, Mode};
use super::produce::{self, InStream, Producer};
use super::table::{self, Sample, Sampler};
use super::{Setup, assert_no_unexpected_java_errors, on_dynalite};
use crate::common::Running;

pub async fn run() {
    let s = Setup::new("java-fleet", 4).await;
    let sampler = Sampler::start(&s.env.dynamodb, &s.app);
    let mut producer = Producer::start(&s.env.kinesis, &s.env.stream);
    // Both sides checkpoint every batch (so the children of the split get checkpoints and
    // kcl's cleanup deletes the ended parent, whoever holds it).
    let control = Control {
        every_batch: true,
        ..Control::default()
    };
    s.kcl.set_control(control.clone());
    let kcl = [s.start_kcl("kcl-1"), s.start_kcl("kcl-2")];
    let mut java = s.start_java("java-1", Mode::Compatible2x, &control);
    java.wait_events("Java's first deliveries", Duration::from_secs(120), |ev| {
        ev.iter().any(|e| e.record().is_some())
    })
    .await;
    s.step("Java took a lease and delivered");
    tokio::time::sleep(Duration::from_secs(5)).await;

    let (parent, children) = split_a_shard(&s, &mut producer, &sampler).await;
    s.kcl
        .wait(
            "deliveries on both children",
            Duration::from_secs(90),
            |kcl_events| {
                let all = checks::merged(&java.events(), kcl_events);
                children
                    .iter()
                    .all(|c| all.iter().any(|e| &e.shard == c && e.record().is_some()))
            },
        )
        .await;
    s.step("both children delivered");
    tokio::time::sleep(Duration::from_secs(8)).await;
    producer.pause().await;
    let in_stream = produce::read_back(&s.env.kinesis, &s.env.stream).await;
    s.kcl
        .wait(
            "every record of the stream",
            Duration::from_secs(90),
            |kcl_events| {
                checks::missing(&in_stream, &checks::merged(&java.events(), kcl_events)).is_empty()
            },
        )
        .await;
    s.step("every record delivered");

    let all = checks::merged(&java.events(), &s.kcl.events());
    assert_eq!(
        checks::keys_out_of_order(&producer.produced(), &all),
        Vec::<String>::new(),
        "keys out of order"
    );
    let samples = sampler.samples();
    check_leases(&samples, &parent);
    check_java_items_did_not_break_kcl(&s, &samples, &kcl).await;
    wait_settled(&mut java, &sampler).await;
    java.terminate(Duration::from_secs(60)).await;
    assert_no_unexpected_java_errors(&java);
    report(&s, &samples, &all, &in_stream, &java);
}

/// Splits a shard (on ferrokinesis, which reports no `ChildShards`, one a kcl worker
/// holds: the Java KCL finds a shard's children only there; elsewhere one Java holds), with
/// production paused around it so no aggregate straddles the new hash ranges. Returns the
/// parent and its children.
async fn split_a_shard(
    s: &Setup,
    producer: &mut Producer,
    sampler: &Sampler,
) -> (String, Vec<String>) {
    let java_ends_it = std::env::var_os(testkit::KINESIS_ENDPOINT_ENV).is_some();
    let leases = sampler.samples().pop().unwrap().leases;
    let parent = leases
        .iter()
        .find(|l| {
            l.owner
                .as_deref()
                .is_some_and(|o| o.starts_with("java") == java_ends_it)
        })
        .expect("a lease of the chosen side")
        .key
        .clone();
    let shards = produce::open_shards(&s.env.kinesis, &s.env.stream).await;
    let range = shards.iter().find(|(id, _)| id == &parent).unwrap().1;
    let middle = range.start().get() / 2 + range.end().get() / 2;
    producer.pause().await;
    s.env
        .kinesis
        .split_shard()
        .stream_name(&s.env.stream)
        .shard_to_split(&parent)
        .new_starting_hash_key(middle.to_string())
        .send()
        .await
        .unwrap();
    testkit::streams::wait_active(&s.env.kinesis, &s.env.stream)
        .await
        .unwrap();
    producer.resume();
    let after = produce::open_shards(&s.env.kinesis, &s.env.stream).await;
    let children: Vec<String> = after
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| !shards.iter().any(|(old, _)| old == id))
        .collect();
    assert_eq!(children.len(), 2, "{children:?}");
    s.step(&format!(
        "split {parent} (held by {}) into {children:?}",
        if java_ends_it { "Java" } else { "kcl" }
    ));
    (parent, children)
}

/// No lease comes back to an owner it had left while every worker ran (a flip-flop), and
/// the parent ended (SHARD_END or cleaned up).
fn check_leases(samples: &[Sample], parent: &str) {
    let flips = checks::flip_flops(samples);
    assert!(
        flips.is_empty(),
        "leases that came back to an earlier owner: {flips:?}"
    );
    let last = samples.last().unwrap();
    let parent_now = last.leases.iter().find(|l| l.key == parent);
    assert!(
        parent_now.is_none_or(|l| l.checkpoint == kcl::Position::ShardEnd),
        "the parent did not end: {parent_now:?}"
    );
    for lease in last
        .leases
        .iter()
        .filter(|l| l.checkpoint != kcl::Position::ShardEnd)
    {
        assert!(lease.owner.is_some(), "unowned at the end: {lease:?}");
    }
}

/// What Java wrote was there while kcl worked: `throughputKBps` on leases kcl took or held,
/// the GSI, the `-CoordinatorState` (`Migration3.0`) and `-WorkerMetricStats` (Java's row)
/// tables; kcl's workers had no consumer error and still hold leases.
async fn check_java_items_did_not_break_kcl(s: &Setup, samples: &[Sample], kcl: &[Running]) {
    // kcl's scans and balancing read Java's leases with `throughputKBps` throughout (the
    // resume scenario has kcl take such leases over).
    let java_lease_with_throughput = samples.iter().flat_map(|s| &s.leases).any(|l| {
        l.throughput_kbps.is_some() && l.owner.as_deref().is_some_and(|o| o.starts_with("java"))
    });
    assert!(
        java_lease_with_throughput,
        "Java never wrote throughputKBps beside the kcl workers"
    );
    let d = &s.env.dynamodb;
    assert!(
        table::has_active_gsi(d, &s.app).await,
        "the GSI (made by Java{})",
        if on_dynalite() { " or beforehand" } else { "" }
    );
    let coordinator = table::scan(d, &format!("{}-CoordinatorState", s.app)).await;
    assert!(coordinator.iter().any(|i| {
        i.get("key")
            .and_then(|k| k.as_s().ok())
            .is_some_and(|k| k == "Migration3.0")
    }));
    let metrics = table::scan(d, &format!("{}-WorkerMetricStats", s.app)).await;
    assert!(metrics.iter().any(|i| {
        i.get("wid")
            .and_then(|k| k.as_s().ok())
            .is_some_and(|k| k == "java-1")
    }));
    for (handle, _) in kcl {
        let status = handle.status();
        assert_eq!(status.consumer_errors, 0, "{status:?}");
        assert!(!status.held_leases.is_empty(), "{status:?}");
    }
}

/// Waits until no lease changed owner for 3 s, Java's processors were initialized on every
/// lease Java holds, and Java holds no ended lease: a SIGTERM while a shard consumer is still
/// starting, or while Java holds a lease it ended (until someone deletes it), makes the
/// daemon's shutdown hook time out waiting for that consumer (an ERROR of Java's own, seen
/// whatever the other workers do).
async fn wait_settled(java: &mut JavaWorker, sampler: &Sampler) {
    let name = java.name.clone();
    let settled = |events: &[super::events::Event]| {
        let samples = sampler.samples();
        let Some(last) = samples.last() else {
            return false;
        };
        let recent = samples
            .iter()
            .filter(|s| s.wall_us + 3_000_000 >= last.wall_us);
        let owners = |s: &Sample| {
            s.leases
                .iter()
                .map(|l| (l.key.clone(), l.owner.clone()))
                .collect::<Vec<_>>()
        };
        let stable = recent.map(owners).all(|o| o == owners(last));
        let started = samples
            .first()
            .is_some_and(|f| f.wall_us + 3_000_000 <= last.wall_us);
        let java_holds = || {
            last.leases
                .iter()
                .filter(|l| l.owner.as_deref() == Some(name.as_str()))
        };
        let initialized = java_holds().all(|l| {
            l.checkpoint != kcl::Position::ShardEnd
                && events.iter().any(|e| {
                    e.shard == l.key && matches!(e.kind, super::events::Kind::Initialize { .. })
                })
        });
        stable && started && initialized
    };
    java.wait_events("the leases settled", Duration::from_secs(60), settled)
        .await;
}

fn report(
    s: &Setup,
    samples: &[Sample],
    all: &[super::events::Event],
    in_stream: &[InStream],
    java: &JavaWorker,
) {
    let shards: Vec<String> = in_stream.iter().map(|r| r.shard.clone()).collect();
    let dups = checks::duplicates(all, &shards);
    let changes = checks::owner_changes(samples);
    eprintln!(
        "{} records in the stream, {} delivered twice; owner changes per lease {changes:?}; Java's first record after {:?}",
        in_stream.len(),
        dups.len(),
        java.first_record_after()
    );
    s.report("mixed_fleet_2x_shares_the_shards_through_a_split");
}
