//! Checkpoints cross both ways. Java (2.x-compatible mode) checkpoints at chosen records,
//! plain ones and inside aggregates; a kcl worker that joins takes its share and resumes
//! each lease right after Java's last checkpoint. Then kcl checkpoints inside aggregates
//! (sub-sequence numbers), leaves gracefully without a final checkpoint, and Java takes the
//! leases back and resumes right after kcl's checkpoint, inside the same aggregate.

use std::time::Duration;

use kcl::Position;

use super::checks::{self, acquisition};
use super::daemon::{Control, JavaWorker, Mode};
use super::produce::{self, InStream};
use super::{Setup, assert_no_unexpected_java_errors};
use crate::common::Running;

pub async fn run() {
    let s = Setup::new("java-resume", 4).await;
    let (kinesis, stream) = (&s.env.kinesis, &s.env.stream);
    let shards = produce::open_shards(kinesis, stream).await;
    let keys = produce::keys_by_shard(&shards, 8);
    produce::put(kinesis, stream, &produce::round("r1", &keys, 20, 4, 5)).await;
    // Java checkpoints plain records on s0 and s2, inside aggregates on s1 and s3.
    let at = ["r1-s0-p12", "r1-s1-a2.3", "r1-s2-p7", "r1-s3-a1.1"].map(String::from);
    let control = Control {
        at: at.into(),
        ..Control::default()
    };
    let mut java = s.start_java("java-1", Mode::Compatible2x, &control);
    java.wait_events(
        "every r1 record and 4 checkpoints",
        Duration::from_secs(120),
        |ev| {
            ev.iter().filter(|e| e.record().is_some()).count() >= 160
                && ev.iter().filter(|e| e.checkpointed().is_some()).count() >= 4
        },
    )
    .await;
    s.step("Java delivered r1 and checkpointed");
    // Java's next renewals write throughputKBps (3.x code, in 2.x-compatible mode too): kcl
    // is to take over leases carrying it.
    let d = &s.env.dynamodb;
    for _ in 0..100 {
        if super::table::read_leases(d, &s.app)
            .await
            .iter()
            .all(|l| l.throughput_kbps.is_some())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (moved, kcl) = kcl_takes_its_share_at_javas_checkpoints(&s, &java).await;
    kcl_checkpoints_inside_aggregates_and_leaves(&s, kcl, &shards, &keys, &moved).await;
    java_resumes_at_kcls_checkpoints(&s, &mut java, &moved).await;

    let in_stream = produce::read_back(kinesis, stream).await;
    let all = checks::merged(&java.events(), &s.kcl.events());
    assert_eq!(
        checks::missing(&in_stream, &all),
        Vec::<&InStream>::new(),
        "records never delivered"
    );
    assert_no_unexpected_java_errors(&java);
    let dups = checks::duplicates(&all, &moved);
    eprintln!(
        "moved {moved:?}; records delivered twice on them: {}",
        dups.len()
    );
    s.report("checkpoints_cross_between_java_and_kcl");
}

/// A kcl worker joins and takes 2 of the 4 leases; each starts at Java's last checkpoint
/// and its first record is the one right after it. Returns the leases it took, and it.
async fn kcl_takes_its_share_at_javas_checkpoints(
    s: &Setup,
    java: &JavaWorker,
) -> (Vec<String>, Running) {
    let (k, task) = s.start_kcl("kcl-1");
    crate::common::wait_leases(&[&k], Duration::from_secs(60), |sets| sets[0].len() == 2).await;
    let moved: Vec<String> = k.status().held_leases.into_iter().collect();
    s.kcl
        .wait("a delivery on both leases", Duration::from_secs(60), |ev| {
            moved
                .iter()
                .all(|m| ev.iter().any(|e| &e.shard == m && e.record().is_some()))
        })
        .await;
    s.step("kcl took 2 leases and delivered");
    // The leases kcl took carry what Java's renewals wrote (throughputKBps, 3.x code, written
    // in 2.x-compatible mode too): kcl took, renewed and checkpointed such items.
    let leases = super::table::read_leases(&s.env.dynamodb, &s.app).await;
    for lease in leases.iter().filter(|l| moved.contains(&l.key)) {
        assert!(
            lease.throughput_kbps.is_some(),
            "no throughputKBps from Java on {lease:?}"
        );
        assert_eq!(lease.owner.as_deref(), Some("kcl-1"), "{lease:?}");
    }
    let in_stream = produce::read_back(&s.env.kinesis, &s.env.stream).await;
    let java_events = java.events();
    for shard in &moved {
        let checkpoint =
            checks::last_checkpoint(&java_events, "java-1", shard).expect("Java checkpointed");
        checks::assert_takes_up_at(&s.kcl.events(), &in_stream, "kcl-1", shard, 0, &checkpoint);
    }
    (moved, (k, task))
}

/// kcl checkpoints at the 3rd user record of the 2nd aggregate of round r2 on each of its
/// leases, then shuts down gracefully (no final checkpoint: the leases are released at
/// those sub-sequence checkpoints).
async fn kcl_checkpoints_inside_aggregates_and_leaves(
    s: &Setup,
    (k, task): Running,
    shards: &[(String, kcl::agg::HashRange)],
    keys: &[Vec<String>],
    moved: &[String],
) {
    let at: Vec<String> = shards
        .iter()
        .enumerate()
        .filter(|(_, (id, _))| moved.contains(id))
        .map(|(n, _)| format!("r2-s{n}-a1.2"))
        .collect();
    s.kcl.set_control(Control {
        at: at.clone(),
        ..Control::default()
    });
    produce::put(
        &s.env.kinesis,
        &s.env.stream,
        &produce::round("r2", keys, 5, 3, 5),
    )
    .await;
    s.kcl
        .wait(
            "kcl's checkpoints inside r2's aggregates",
            Duration::from_secs(60),
            |ev| ev.iter().filter(|e| e.checkpointed().is_some()).count() >= at.len(),
        )
        .await;
    k.graceful_shutdown().await;
    task.await.unwrap().unwrap();
    s.step("kcl checkpointed inside aggregates and left");
}

/// Java takes the released leases back; each starts at kcl's checkpoint (sub-sequence 2)
/// and its first record is the next user record of that aggregate.
async fn java_resumes_at_kcls_checkpoints(s: &Setup, java: &mut JavaWorker, moved: &[String]) {
    java.wait_events(
        "a delivery on each lease taken back",
        Duration::from_secs(90),
        |ev| {
            moved.iter().all(|m| {
                acquisition(ev, "java-1", m, 1)
                    .iter()
                    .any(|e| e.record().is_some())
            })
        },
    )
    .await;
    s.step("Java took the leases back and delivered");
    let in_stream = produce::read_back(&s.env.kinesis, &s.env.stream).await;
    let java_events = java.events();
    for shard in moved {
        let checkpoint =
            checks::last_checkpoint(&s.kcl.events(), "kcl-1", shard).expect("kcl checkpointed");
        assert!(
            matches!(checkpoint, Position::At { sub_seq: 2, .. }),
            "{checkpoint}"
        );
        checks::assert_takes_up_at(&java_events, &in_stream, "java-1", shard, 1, &checkpoint);
    }
}
