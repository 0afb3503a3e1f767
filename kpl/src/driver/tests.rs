#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::pending::Completion;
use crate::stages::shard_map::Shard;
use kinesis_agg::{HashKey, HashRange, UserRecord};

/// A driver of stream "s" with a map of one shard (nothing is sent: no server).
fn driver(config: ProducerConfig) -> Driver {
    let shared = Arc::new(Shared {
        client: testkit::kinesis_client("http://127.0.0.1:1"),
        connections: Arc::new(Semaphore::new(config.max_connections)),
        budget: crate::budget::Budget::new(
            config.max_outstanding_records,
            config.max_outstanding_bytes,
        ),
        epoch: Instant::now(),
        config,
    });
    let mut d = Driver::new(Arc::from("s"), shared, Arc::default());
    let all = HashRange::new(HashKey::new(0), HashKey::new(u128::MAX)).unwrap();
    d.map = Some(ShardMap::new(vec![Shard {
        id: Arc::from("shard-0"),
        range: all,
    }]));
    d
}

fn incoming(i: usize) -> (Incoming, oneshot::Receiver<crate::pending::Outcome>) {
    let (tx, rx) = oneshot::channel();
    let record = UserRecord::new(format!("k{i}"), format!("v{i}")).unwrap();
    let arrived = Instant::now();
    (
        Incoming::new(record, Arc::from("s"), Completion::One(tx), arrived),
        rx,
    )
}

#[tokio::test(start_paused = true)]
async fn an_abort_right_after_puts_reports_every_record_taken_in_or_still_queued() {
    // Records just taken in (here: without aggregation, straight past the aggregation
    // stage) are held somewhere the report must look; so are records queued after the
    // abort, which the driver never takes in.
    let mut d = driver(ProducerConfig::default().aggregation_enabled(false));
    let (puts, _rx): (Vec<Incoming>, Vec<_>) = (0..50).map(incoming).unzip();
    let (after, _after_rx) = incoming(50);
    let (queued, _queued_rx) = incoming(51);
    let (tx, mut rx) = mpsc::unbounded_channel();
    tx.send(Command::Put(queued, d.shared.budget.empty()))
        .unwrap();
    let (done, report) = oneshot::channel();
    let mut commands = vec![
        Command::PutMany(puts, d.shared.budget.empty()),
        Command::Abort(done),
        Command::Put(after, d.shared.budget.empty()),
    ];
    let stop = d
        .on_commands(&mut commands)
        .expect("the abort stops the driver");
    d.stop(stop, &mut rx);
    let unsent: Vec<String> = report
        .await
        .unwrap()
        .unsent
        .into_iter()
        .map(|r| r.partition_key)
        .collect();
    let expected: Vec<String> = (0..52).map(|i| format!("k{i}")).collect();
    assert_eq!(unsent, expected, "every record handed back, in put order");
}
