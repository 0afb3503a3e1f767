//! Graceful hand-overs between kcl and Java (2.x-compatible mode), one shard, each giver's
//! processor checkpointing everything it was given in `shutdown_requested` and nothing
//! before: kcl -> Java (kcl shuts down gracefully and releases the lease; Java's taker takes
//! it), then Java -> kcl (SIGTERM: Java's graceful shutdown; the lease keeps its owner and
//! expires; the kcl worker waiting beside it takes it). Checked from what happened: each
//! receiver starts at the giver's final checkpoint as the table holds it, its first delivery
//! is the record right after it in the stream, and no record was delivered twice.

use std::time::{Duration, Instant};

use super::checks;
use super::daemon::{Control, Mode};
use super::events::{Event, Kind};
use super::produce::{self, InStream};
use super::table::{self, LeaseItem};
use super::{Setup, assert_no_unexpected_java_errors};

const SHARD: &str = "shardId-000000000000";

pub async fn run() {
    let s = Setup::new("java-handover", 1).await;
    let (kinesis, stream) = (&s.env.kinesis, &s.env.stream);
    let keys = produce::keys_by_shard(&produce::open_shards(kinesis, stream).await, 4);
    let on_shutdown = Control {
        on_shutdown: true,
        ..Control::default()
    };
    s.kcl.set_control(on_shutdown.clone());
    let r1 = produce::round("r1", &keys, 10, 3, 4);
    produce::put(kinesis, stream, &r1).await;
    let (k1, task1) = s.start_kcl("kcl-1");
    s.kcl
        .wait("kcl-1 delivered r1", Duration::from_secs(60), |ev| {
            records(ev) == 22
        })
        .await;
    // One lease, two workers: Java's target is 1 and kcl-1 holds 1, so Java steals nothing.
    let mut java = s.start_java("java-1", Mode::Compatible2x, &on_shutdown);
    java.wait_log("Initialization complete", Duration::from_secs(120))
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        java.events().is_empty(),
        "Java took the lease while kcl-1 held it"
    );
    assert!(
        !s.kcl.events().iter().any(|e| e.kind == Kind::LeaseLost),
        "kcl-1 lost its lease"
    );
    s.step("Java is up beside kcl-1");

    let released = Instant::now();
    k1.graceful_shutdown().await;
    task1.await.unwrap().unwrap();
    let given = checkpoint_given(&s, "kcl-1", &s.kcl.events()).await;
    let r2 = produce::round("r2", &keys, 10, 3, 4);
    produce::put(kinesis, stream, &r2).await;
    java.wait_events("Java's first delivery", Duration::from_secs(60), |ev| {
        ev.iter().any(|e| e.record().is_some())
    })
    .await;
    s.step(&format!(
        "kcl -> Java: Java delivered {:.1} s after kcl-1 left",
        released.elapsed().as_secs_f64()
    ));
    java.wait_events("Java delivered r2", Duration::from_secs(60), |ev| {
        records(ev) == 22
    })
    .await;
    let in_stream = produce::read_back(kinesis, stream).await;
    checks::assert_takes_up_at(&java.events(), &in_stream, "java-1", SHARD, 0, &given);

    let (k2, task2) = s.start_kcl("kcl-2");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before: Vec<Event> = s.kcl.events();
    assert!(
        !before.iter().any(|e| e.worker == "kcl-2"),
        "kcl-2 took the lease while Java held it"
    );
    let terminated = Instant::now();
    java.terminate(Duration::from_secs(60)).await;
    let given = checkpoint_given(&s, "java-1", &java.events()).await;
    let r3 = produce::round("r3", &keys, 10, 3, 4);
    produce::put(kinesis, stream, &r3).await;
    s.kcl
        .wait("kcl-2's first delivery", Duration::from_secs(60), |ev| {
            ev.iter()
                .any(|e| e.worker == "kcl-2" && e.record().is_some())
        })
        .await;
    s.step(&format!(
        "Java -> kcl: kcl-2 delivered {:.1} s after the SIGTERM",
        terminated.elapsed().as_secs_f64()
    ));
    s.kcl
        .wait("kcl-2 delivered r3", Duration::from_secs(60), |ev| {
            records(&of(ev, "kcl-2")) == 22
        })
        .await;
    k2.graceful_shutdown().await;
    task2.await.unwrap().unwrap();
    let in_stream = produce::read_back(kinesis, stream).await;
    checks::assert_takes_up_at(&s.kcl.events(), &in_stream, "kcl-2", SHARD, 0, &given);

    let all = checks::merged(&java.events(), &s.kcl.events());
    assert_eq!(
        checks::missing(&in_stream, &all),
        Vec::<&InStream>::new(),
        "records never delivered"
    );
    let twice = checks::duplicates(&all, &[SHARD.to_owned()]);
    assert!(
        twice.is_empty(),
        "delivered twice across graceful hand-overs: {twice:?}"
    );
    assert_no_unexpected_java_errors(&java);
    s.report("graceful_handover_between_kcl_and_java");
}

fn records(events: &[Event]) -> usize {
    events.iter().filter(|e| e.record().is_some()).count()
}

fn of(events: &[Event], worker: &str) -> Vec<Event> {
    events
        .iter()
        .filter(|e| e.worker == worker)
        .cloned()
        .collect()
}

/// The giver's last processor call on the lease was `shutdown_requested` followed by a
/// successful checkpoint at its last delivery, and the table holds that checkpoint.
async fn checkpoint_given(s: &Setup, giver: &str, events: &[Event]) -> kcl::Position {
    let mine = of(events, giver);
    let last_record = mine
        .iter()
        .filter_map(Event::record)
        .next_back()
        .map(|(_, p)| p.clone())
        .unwrap();
    let shutdown = mine.iter().rposition(|e| e.kind == Kind::ShutdownRequested);
    // The Java KCL ends a consumer it shut down gracefully with `lease_lost` as well.
    let after: Vec<&Event> = shutdown
        .map(|i| mine[i + 1..].iter().collect())
        .unwrap_or_default();
    let (first, rest) = after
        .split_first()
        .map_or((None, &[][..]), |(f, r)| (Some(*f), r));
    assert!(
        matches!(first, Some(Event { kind: Kind::Checkpoint { position: Some(p), error: None }, .. }) if *p == last_record)
            && rest.iter().all(|e| e.kind == Kind::LeaseLost),
        "{giver}: no checkpoint at its last delivery {last_record} in shutdown_requested: {after:?}"
    );
    let leases: Vec<LeaseItem> = table::read_leases(&s.env.dynamodb, &s.app).await;
    assert_eq!(
        leases[0].checkpoint, last_record,
        "the table after {giver} left: {:?}",
        leases[0]
    );
    last_record
}
