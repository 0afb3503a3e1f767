use super::*;
use crate::testing::pending;
use kinesis_agg::{EncodedRecord, Unsealed};
use tokio::time::Duration;

fn outgoing(shard: &str, size: usize, deadline_ms: u64) -> Outgoing {
    let (p, _rx) = pending(
        0,
        "k",
        &"x".repeat(size.saturating_sub(1)),
        deadline_ms,
        60_000,
    );
    let record = Unsealed::from(EncodedRecord::single(p.record.clone()));
    Outgoing::new(Some(Arc::from(shard)), record, vec![p])
}

#[tokio::test(start_paused = true)]
async fn waits_for_the_deadline_unless_full() {
    let mut c = Collector::new(500, 5 << 20);
    let now = Instant::now();
    c.push(outgoing("a", 100, 50));
    assert!(c.take(now, false).is_none());
    assert_eq!(c.next_deadline(), Some(now + Duration::from_millis(50)));
    tokio::time::advance(Duration::from_millis(50)).await;
    assert_eq!(c.take(Instant::now(), false).map(|b| b.len()), Some(1));
    assert!(c.is_empty() && c.next_deadline().is_none());
}

#[tokio::test(start_paused = true)]
async fn count_and_size_limits_split_requests() {
    let mut c = Collector::new(3, 1000);
    for _ in 0..7 {
        c.push(outgoing("a", 100, 1000));
    }
    let now = Instant::now();
    assert_eq!(c.take(now, false).map(|b| b.len()), Some(3));
    assert_eq!(c.take(now, false).map(|b| b.len()), Some(3));
    assert!(c.take(now, false).is_none(), "one left, not due");
    assert_eq!(
        c.take(now, true).map(|b| b.len()),
        Some(1),
        "flush forces it"
    );

    let mut c = Collector::new(500, 1000);
    for _ in 0..5 {
        c.push(outgoing("a", 300, 1000));
    }
    let sizes: Vec<usize> = std::iter::from_fn(|| c.take(now, true))
        .map(|b| b.len())
        .collect();
    assert_eq!(sizes, [3, 2]);
}

#[tokio::test(start_paused = true)]
async fn a_shard_holding_256_kib_forces_a_request() {
    let mut c = Collector::new(500, 5 << 20);
    let now = Instant::now();
    c.push(outgoing("a", 200 * 1024, 1000));
    c.push(outgoing("b", 200 * 1024, 1000));
    assert!(c.take(now, false).is_none());
    c.push(outgoing("a", 60 * 1024, 1000));
    assert_eq!(c.take(now, false).map(|b| b.len()), Some(3));
}

#[tokio::test(start_paused = true)]
async fn ordered_a_shards_newer_record_never_overtakes_one_that_did_not_fit() {
    // 2b: the older record of shard "a" does not fit beside "b"'s; the newer, smaller one
    // of "a" would. The lanes hand the collector one record of a shard at a time.
    let mut lanes = crate::stages::lanes::Lanes::new(100, true);
    let mut c = Collector::new(500, 60 * 1024);
    let now = Instant::now();
    lanes.push(outgoing("b", 30 * 1024, 0), now);
    let mut older = outgoing("a", 40 * 1024, 0);
    older.users[0].seq = 1;
    lanes.push(older, now);
    let mut newer = outgoing("a", 10, 0);
    newer.users[0].seq = 2;
    lanes.push(newer, now);
    let mut order = Vec::new();
    for _ in 0..4 {
        let mut released = Vec::new();
        lanes.release(now, &mut released);
        released.into_iter().for_each(|o| c.push(o));
        while let Some(batch) = c.take(now, true) {
            for o in batch {
                if o.shard.as_deref() == Some("a") {
                    order.push(o.users[0].seq);
                }
                lanes.settled(o.shard.as_ref(), o.record.explicit_hash_key());
            }
        }
    }
    assert_eq!(order, [1, 2], "shard a's records left out of order");
}
