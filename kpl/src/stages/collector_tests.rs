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

fn none() -> HashSet<Arc<str>> {
    HashSet::new()
}

#[tokio::test(start_paused = true)]
async fn waits_for_the_deadline_unless_full() {
    let mut c = Collector::new(500, 5 << 20, false);
    let now = Instant::now();
    c.push(outgoing("a", 100, 50));
    assert!(c.take(now, false, &none()).is_none());
    assert_eq!(c.next_deadline(), Some(now + Duration::from_millis(50)));
    tokio::time::advance(Duration::from_millis(50)).await;
    assert_eq!(
        c.take(Instant::now(), false, &none()).map(|b| b.len()),
        Some(1)
    );
    assert!(c.is_empty() && c.next_deadline().is_none());
}

#[tokio::test(start_paused = true)]
async fn count_and_size_limits_split_requests() {
    let mut c = Collector::new(3, 1000, false);
    for _ in 0..7 {
        c.push(outgoing("a", 100, 1000));
    }
    let now = Instant::now();
    assert_eq!(c.take(now, false, &none()).map(|b| b.len()), Some(3));
    assert_eq!(c.take(now, false, &none()).map(|b| b.len()), Some(3));
    assert!(c.take(now, false, &none()).is_none(), "one left, not due");
    assert_eq!(
        c.take(now, true, &none()).map(|b| b.len()),
        Some(1),
        "flush forces it"
    );

    let mut c = Collector::new(500, 1000, false);
    for _ in 0..5 {
        c.push(outgoing("a", 300, 1000));
    }
    let sizes: Vec<usize> = std::iter::from_fn(|| c.take(now, true, &none()))
        .map(|b| b.len())
        .collect();
    assert_eq!(sizes, [3, 2]);
}

#[tokio::test(start_paused = true)]
async fn a_shard_holding_256_kib_forces_a_request() {
    let mut c = Collector::new(500, 5 << 20, false);
    let now = Instant::now();
    c.push(outgoing("a", 200 * 1024, 1000));
    c.push(outgoing("b", 200 * 1024, 1000));
    assert!(c.take(now, false, &none()).is_none());
    c.push(outgoing("a", 60 * 1024, 1000));
    assert_eq!(c.take(now, false, &none()).map(|b| b.len()), Some(3));
}

#[tokio::test(start_paused = true)]
async fn ordered_mode_takes_one_per_shard_and_skips_busy_shards() {
    let mut c = Collector::new(500, 5 << 20, true);
    let now = Instant::now();
    for shard in ["a", "a", "b", "c", "b"] {
        c.push(outgoing(shard, 10, 0));
    }
    let busy: HashSet<Arc<str>> = [Arc::from("c")].into_iter().collect();
    let first: Vec<String> = c
        .take(now, false, &busy)
        .unwrap()
        .iter()
        .map(|o| o.shard.as_deref().unwrap().to_owned())
        .collect();
    assert_eq!(first, ["a", "b"]);
    let second: Vec<String> = c
        .take(now, false, &none())
        .unwrap()
        .iter()
        .map(|o| o.shard.as_deref().unwrap().to_owned())
        .collect();
    assert_eq!(second, ["a", "c", "b"]);
    assert!(c.is_empty());
}
