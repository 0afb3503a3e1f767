use super::*;
use crate::testing::pending;
use kinesis_agg::{EncodedRecord, Unsealed};
use tokio::time::Duration;

/// A Kinesis record of one user record `seq` with key `pk`, for `shard`.
fn outgoing(shard: Option<&str>, seq: u64, pk: &str, size: usize) -> Outgoing {
    let (p, _rx) = pending(
        seq,
        pk,
        &"x".repeat(size.saturating_sub(pk.len())),
        100,
        60_000,
    );
    let record = Unsealed::from(EncodedRecord::single(p.record.clone()));
    Outgoing::new(shard.map(Arc::from), record, vec![p])
}

fn seqs(out: &[Outgoing]) -> Vec<u64> {
    out.iter()
        .flat_map(|o| o.users.iter().map(|u| u.seq))
        .collect()
}

fn hash(o: &Outgoing) -> HashKey {
    o.record.explicit_hash_key()
}

#[tokio::test(start_paused = true)]
async fn an_ordered_lane_lets_one_record_out_at_a_time() {
    let mut lanes = Lanes::new(100, true);
    let now = Instant::now();
    for seq in 0..3 {
        lanes.push(outgoing(Some("a"), seq, "k", 10), now);
    }
    lanes.push(outgoing(Some("b"), 9, "j", 10), now);
    let mut out = Vec::new();
    lanes.release(now, &mut out);
    let mut firsts = seqs(&out);
    firsts.sort_unstable();
    assert_eq!(firsts, [0, 9], "one per shard");
    out.clear();
    lanes.release(now, &mut out);
    assert!(out.is_empty(), "nothing more until the first is settled");
    assert_eq!(
        lanes.next_ready(now),
        None,
        "it waits for a settlement, not a time"
    );
    lanes.settled(Some(&Arc::from("a")), HashKey::default());
    lanes.release(now, &mut out);
    assert_eq!(seqs(&out), [1]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_goes_ahead_of_newer_records_and_through_the_rate_limit() {
    // 1 % of the shard limit: 10 records/s, a bucket of 10.
    let mut lanes = Lanes::new(1, true);
    let a: Arc<str> = Arc::from("a");
    let now = Instant::now();
    let mut out = Vec::new();
    for seq in 0..10 {
        lanes.push(outgoing(Some("a"), seq, "k", 10), now);
        lanes.release(now, &mut out);
        lanes.settled(Some(&a), HashKey::default());
    }
    assert_eq!(out.len(), 10, "the bucket's ten");
    lanes.push(outgoing(Some("a"), 11, "k", 10), now);
    // Record 9 failed: back at the front, ahead of 11.
    let retried = out.pop().map(|o| vec![o]).unwrap_or_default();
    lanes.push_front(retried, now);
    out.clear();
    lanes.release(now, &mut out);
    assert!(
        out.is_empty(),
        "the bucket is empty: the retry waits for it too"
    );
    let ready = lanes.next_ready(now).unwrap();
    assert!(
        ready > now && ready <= now + Duration::from_millis(100),
        "{ready:?}"
    );
    tokio::time::advance(Duration::from_millis(100)).await;
    lanes.release(Instant::now(), &mut out);
    assert_eq!(seqs(&out), [9]);
    lanes.settled(Some(&a), HashKey::default());
    tokio::time::advance(Duration::from_millis(100)).await;
    lanes.release(Instant::now(), &mut out);
    assert_eq!(seqs(&out), [9, 11]);
}

#[tokio::test(start_paused = true)]
async fn unordered_lanes_release_what_the_buckets_allow_and_unmapped_at_once() {
    let mut lanes = Lanes::new(1, false);
    let now = Instant::now();
    for seq in 0..15 {
        lanes.push(outgoing(Some("a"), seq, "k", 10), now);
    }
    for seq in 20..25 {
        lanes.push(outgoing(None, seq, "k", 10), now);
    }
    let mut out = Vec::new();
    lanes.release(now, &mut out);
    assert_eq!(out.len(), 10 + 5);
    assert_eq!(lanes.factor("a", now), Some(1.0));
    lanes.throttled("a", now);
    assert_eq!(lanes.factor("a", now), Some(0.5));
}

#[tokio::test(start_paused = true)]
async fn unmapped_records_go_one_per_hash_key_and_hold_the_shards_back() {
    let mut lanes = Lanes::new(100, true);
    let now = Instant::now();
    lanes.push(outgoing(None, 0, "k1", 10), now);
    lanes.push(outgoing(None, 1, "k1", 10), now);
    lanes.push(outgoing(None, 2, "k2", 10), now);
    lanes.push(outgoing(Some("a"), 3, "k3", 10), now);
    let mut out = Vec::new();
    lanes.release(now, &mut out);
    assert_eq!(seqs(&out), [0, 2], "one per key; the shard waits");
    let first = hash(&out[0]);
    lanes.settled(None, first);
    out.clear();
    lanes.release(now, &mut out);
    assert_eq!(seqs(&out), [1], "k2 is still out: the shard waits");
    lanes.settled(None, hash(&out[0]));
    lanes.settled(None, HashKey::from_partition_key("k2"));
    out.clear();
    lanes.release(now, &mut out);
    assert_eq!(seqs(&out), [3]);
}

#[tokio::test(start_paused = true)]
async fn a_new_map_moves_unmapped_records_to_the_front_of_their_lanes() {
    let mut lanes = Lanes::new(100, true);
    let now = Instant::now();
    lanes.push(outgoing(Some("a"), 5, "new", 10), now);
    lanes.push(outgoing(None, 1, "old", 10), now);
    lanes.push(outgoing(None, 2, "old", 10), now);
    // A record of "old" is out: the rest of the unmapped lane waits.
    let mut out = Vec::new();
    lanes.release(now, &mut out);
    assert_eq!(seqs(&out), [1]);
    lanes.adopt_unmapped(|_| Some(Arc::from("a")), now);
    lanes.settled(None, hash(&out[0]));
    out.clear();
    for _ in 0..2 {
        lanes.release(now, &mut out);
        lanes.settled(Some(&Arc::from("a")), HashKey::default());
    }
    assert_eq!(seqs(&out), [2, 5]);
}

#[tokio::test(start_paused = true)]
async fn expiring_and_drained_records_are_found_in_every_lane() {
    let mut lanes = Lanes::new(1, true);
    let now = Instant::now();
    let (p, _rx) = pending(0, "k", "x", 100, 50);
    let expiring = Outgoing::new(
        Some(Arc::from("a")),
        Unsealed::from(EncodedRecord::single(p.record.clone())),
        vec![p],
    );
    lanes.push(expiring, now);
    lanes.push(outgoing(None, 1, "j", 10), now);
    lanes.push(outgoing(Some("b"), 2, "i", 10), now);
    assert_eq!(lanes.next_expiry(), Some(now + Duration::from_millis(50)));
    assert_eq!(lanes.oldest(), Some(now));
    tokio::time::advance(Duration::from_millis(60)).await;
    assert_eq!(seqs(&lanes.take_expiring(Instant::now())), [0]);
    let mut left = seqs(&lanes.drain());
    left.sort_unstable();
    assert_eq!(left, [1, 2]);
    assert_eq!(lanes.oldest(), None);
    lanes.retain_open(|id| id == "b");
    assert!(lanes.factor("a", now).is_none() && lanes.factor("b", now).is_some());
}
