//! Java in 3.x mode (`CLIENT_VERSION_CONFIG_3X`: a leader assigns leases, only to workers with
//! a fresh WorkerMetricStats row) beside kcl, which writes none: while a kcl worker holds
//! every lease, the Java worker's leader runs its assignment and takes nothing (the README's
//! claim); kcl keeps its leases, undisturbed by Java's `-CoordinatorState` (`Leader`,
//! `Migration3.0`) and `-WorkerMetricStats` items. Then kcl leaves gracefully (the
//! migration path: stop the kcl workers, the Java 3.x fleet takes over): the leader assigns
//! the released leases to Java, which resumes each right after kcl's checkpoint, inside an
//! aggregate.

use std::time::Duration;

use super::checks;
use super::daemon::{Control, Mode};
use super::events::Kind;
use super::produce;
use super::table::{self, Sampler};
use super::{Setup, assert_no_unexpected_java_errors};

/// The leader's assignment found nothing to assign (every lease held by kcl).
const NOTHING_TO_ASSIGN: &str = "Total expiredOrUnassignedLeases count : 0";

pub async fn run() {
    let s = Setup::new("java-3x", 4).await;
    let (kinesis, stream) = (&s.env.kinesis, &s.env.stream);
    let shards = produce::open_shards(kinesis, stream).await;
    let keys = produce::keys_by_shard(&shards, 4);
    produce::put(kinesis, stream, &produce::round("r1", &keys, 5, 3, 4)).await;
    let at: Vec<String> = (0..shards.len()).map(|n| format!("r1-s{n}-a1.2")).collect();
    s.kcl.set_control(Control {
        at: at.clone(),
        ..Control::default()
    });
    let sampler = Sampler::start(&s.env.dynamodb, &s.app);
    let (k, task) = s.start_kcl("kcl-1");
    crate::common::wait_leases(&[&k], Duration::from_secs(60), |sets| sets[0].len() == 4).await;
    let all_held_us = super::events::wall_us();
    s.kcl
        .wait(
            "kcl's checkpoints inside the aggregates",
            Duration::from_secs(60),
            |ev| ev.iter().filter(|e| e.checkpointed().is_some()).count() == at.len(),
        )
        .await;

    let mut java = s.start_java("java-1", Mode::Version3x, &Control::default());
    java.wait_log(NOTHING_TO_ASSIGN, Duration::from_secs(150))
        .await;
    let first = java.log().matches(NOTHING_TO_ASSIGN).count();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while java.log().matches(NOTHING_TO_ASSIGN).count() < first + 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the leader's assignment ran only once in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    s.step("Java 3.x's leader ran its assignment twice beside kcl's leases");
    assert!(
        java.events().is_empty(),
        "Java 3.x took a lease kcl held: {:?}",
        java.events()
    );
    let owners: Vec<Option<String>> = sampler
        .samples()
        .iter()
        .filter(|s| s.wall_us > all_held_us)
        .flat_map(|s| s.leases.iter().map(|l| l.owner.clone()))
        .collect();
    assert!(
        owners.iter().all(|o| o.as_deref() == Some("kcl-1")),
        "a lease left kcl-1 while it ran"
    );
    assert!(
        !s.kcl.events().iter().any(|e| e.kind == Kind::LeaseLost),
        "kcl lost a lease"
    );
    let status = k.status();
    assert_eq!(
        (status.held_leases.len(), status.consumer_errors),
        (4, 0),
        "{status:?}"
    );
    check_java_tables(&s).await;

    k.graceful_shutdown().await;
    task.await.unwrap().unwrap();
    produce::put(kinesis, stream, &produce::round("r2", &keys, 2, 1, 2)).await;
    java.wait_events(
        "Java's deliveries on every lease",
        Duration::from_secs(120),
        |ev| {
            shards
                .iter()
                .all(|(id, _)| ev.iter().any(|e| &e.shard == id && e.record().is_some()))
        },
    )
    .await;
    s.step("kcl left; Java 3.x took every lease over");
    let in_stream = produce::read_back(kinesis, stream).await;
    let java_events = java.events();
    for (shard, _) in &shards {
        let checkpoint =
            checks::last_checkpoint(&s.kcl.events(), "kcl-1", shard).expect("kcl checkpointed");
        checks::assert_takes_up_at(&java_events, &in_stream, "java-1", shard, 0, &checkpoint);
    }
    java.terminate(Duration::from_secs(60)).await;
    assert_no_unexpected_java_errors(&java);
    s.report("java_3x_takes_no_lease_kcl_holds_and_takes_over_when_kcl_leaves");
}

/// Java 3.x's coordinator items (the leader lock, the migration state) and its own worker
/// metrics row are there, in tables kcl never reads.
async fn check_java_tables(s: &Setup) {
    let d = &s.env.dynamodb;
    let keys: Vec<String> = table::scan(d, &format!("{}-CoordinatorState", s.app))
        .await
        .iter()
        .filter_map(|i| i.get("key").and_then(|k| k.as_s().ok()).cloned())
        .collect();
    assert!(
        keys.iter().any(|k| k == "Leader") && keys.iter().any(|k| k == "Migration3.0"),
        "{keys:?}"
    );
    let metrics = table::scan(d, &format!("{}-WorkerMetricStats", s.app)).await;
    let workers: Vec<&str> = metrics
        .iter()
        .filter_map(|i| i.get("wid").and_then(|w| w.as_s().ok()))
        .map(String::as_str)
        .collect();
    assert_eq!(workers, ["java-1"], "WorkerMetricStats rows");
}
