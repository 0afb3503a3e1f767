//! The Java KCL 3.x hand-off protocol between kcl and Java (2.x-compatible mode, whose
//! renewals honour `checkpointOwner` too). Two shards, Java holding both; every processor
//! checkpoints only in `shutdown_requested`, at its last delivery, so any replay shows.
//!
//! - Java -> kcl: a kcl worker joins and asks for its share by hand-off (`leaseOwner` kcl,
//!   `checkpointOwner` Java, seen in the table); Java's processor gets `shutdown_requested`
//!   and checkpoints, Java clears `checkpointOwner`, kcl starts at that checkpoint before the
//!   hand-off timeout would have forced it.
//! - kcl -> Java: the kcl worker leaves gracefully and assigns its lease to Java, the one
//!   other live worker (`leaseOwner` Java, seen in the table); Java takes it up at kcl's
//!   final checkpoint.
//!
//! Neither move delivers a record twice; Java keeps its other lease throughout.

use std::time::{Duration, Instant};

use super::checks::{self, acquisition};
use super::daemon::{Control, Mode};
use super::events::{Event, Kind};
use super::produce;
use super::table::{Sample, Sampler};
use super::{Setup, assert_no_unexpected_java_errors};

pub async fn run() {
    let s = Setup::new("java-handoff", 2).await;
    let (kinesis, stream) = (&s.env.kinesis, &s.env.stream);
    let keys = produce::keys_by_shard(&produce::open_shards(kinesis, stream).await, 4);
    let sampler = Sampler::start(&s.env.dynamodb, &s.app);
    let on_shutdown = Control {
        on_shutdown: true,
        ..Control::default()
    };
    s.kcl.set_control(on_shutdown.clone());
    produce::put(kinesis, stream, &produce::round("r1", &keys, 10, 3, 4)).await;
    let mut java = s.start_java("java-1", Mode::Compatible2x, &on_shutdown);
    java.wait_events(
        "Java delivered r1 on both shards",
        Duration::from_secs(120),
        |ev| records(ev) == 44,
    )
    .await;
    s.step("Java holds both leases");

    let asked = Instant::now();
    let (k, task) = s.start_kcl("kcl-1");
    let held =
        crate::common::wait_leases(&[&k], Duration::from_secs(60), |sets| sets[0].len() == 1).await;
    let moved = held[0].iter().next().unwrap().clone();
    produce::put(kinesis, stream, &produce::round("r2", &keys, 10, 3, 4)).await;
    s.kcl
        .wait("kcl's first delivery", Duration::from_secs(60), |ev| {
            ev.iter().any(|e| e.record().is_some())
        })
        .await;
    let took = asked.elapsed();
    s.step(&format!(
        "Java -> kcl: {moved} handed over, kcl delivered {:.1} s after it started",
        took.as_secs_f64()
    ));
    let handing = sampler
        .samples()
        .into_iter()
        .find(|s| in_handoff(s, &moved, "kcl-1", "java-1"));
    assert!(
        handing.is_some(),
        "{moved} never had leaseOwner kcl-1 and checkpointOwner java-1 in the table"
    );
    let given = final_checkpoint(&java.events(), "java-1", &moved);
    let in_stream = produce::read_back(kinesis, stream).await;
    checks::assert_takes_up_at(&s.kcl.events(), &in_stream, "kcl-1", &moved, 0, &given);
    assert!(
        took < Duration::from_secs(15),
        "the hand-off was forced ({took:?}), not completed by Java"
    );

    java.wait_events(
        "Java delivered r2 on its lease",
        Duration::from_secs(60),
        |ev| records(ev) == 66,
    )
    .await;
    s.kcl
        .wait(
            "kcl delivered r2 on its lease",
            Duration::from_secs(60),
            |ev| records(ev) == 22,
        )
        .await;
    let (left, left_us) = (Instant::now(), super::events::wall_us());
    k.graceful_shutdown().await;
    task.await.unwrap().unwrap();
    let given = final_checkpoint(&s.kcl.events(), "kcl-1", &moved);
    produce::put(kinesis, stream, &produce::round("r3", &keys, 10, 3, 4)).await;
    java.wait_events(
        "Java's deliveries on the lease kcl gave",
        Duration::from_secs(90),
        |ev| {
            acquisition(ev, "java-1", &moved, 1)
                .iter()
                .any(|e| e.record().is_some())
        },
    )
    .await;
    s.step(&format!(
        "kcl -> Java: Java delivered on {moved} {:.1} s after kcl left",
        left.elapsed().as_secs_f64()
    ));
    let samples = sampler.samples();
    let mut assigned = samples.iter().filter(|s| s.wall_us >= left_us);
    assert!(
        assigned.any(|s| s
            .leases
            .iter()
            .any(|l| l.key == moved && l.owner.as_deref() == Some("java-1"))),
        "kcl did not assign {moved} to java-1"
    );
    let in_stream = produce::read_back(kinesis, stream).await;
    checks::assert_takes_up_at(&java.events(), &in_stream, "java-1", &moved, 1, &given);

    java.wait_events("every record", Duration::from_secs(60), |ev| {
        checks::missing(&in_stream, &checks::merged(ev, &s.kcl.events())).is_empty()
    })
    .await;
    let all = checks::merged(&java.events(), &s.kcl.events());
    let shards: Vec<String> = in_stream.iter().map(|r| r.shard.clone()).collect();
    let twice = checks::duplicates(&all, &shards);
    assert!(
        twice.is_empty(),
        "delivered twice across the hand-offs: {twice:?}"
    );
    let other_lost = java
        .events()
        .iter()
        .any(|e| e.shard != moved && e.kind == Kind::LeaseLost);
    assert!(!other_lost, "Java lost the lease it kept");
    assert_no_unexpected_java_errors(&java);
    s.report("handoff_between_kcl_and_java_through_checkpoint_owner");
}

fn records(events: &[Event]) -> usize {
    events.iter().filter(|e| e.record().is_some()).count()
}

fn in_handoff(sample: &Sample, key: &str, to: &str, from: &str) -> bool {
    sample.leases.iter().any(|l| {
        l.key == key
            && l.owner.as_deref() == Some(to)
            && l.checkpoint_owner.as_deref() == Some(from)
    })
}

/// The giver's checkpoint in `shutdown_requested` on `shard`: at its last delivery there.
fn final_checkpoint(events: &[Event], giver: &str, shard: &str) -> kcl::Position {
    let mine: Vec<&Event> = events
        .iter()
        .filter(|e| e.worker == giver && e.shard == shard)
        .collect();
    let last = mine
        .iter()
        .filter_map(|e| e.record())
        .next_back()
        .map(|(_, p)| p.clone())
        .unwrap();
    let at = mine
        .iter()
        .rposition(|e| e.kind == Kind::ShutdownRequested)
        .expect("shutdown_requested");
    let checkpoint = mine.get(at + 1).map(|e| &e.kind);
    assert!(
        matches!(checkpoint, Some(Kind::Checkpoint { position: Some(p), error: None }) if *p == last),
        "{giver} on {shard}: no checkpoint at its last delivery {last} in shutdown_requested: {checkpoint:?}"
    );
    last
}
