use super::*;
use crate::testing::pending;
use kinesis_agg::{Deaggregated, Deaggregator};
use tokio::time::Duration;

fn shard(s: &str) -> Option<Arc<str>> {
    Some(Arc::from(s))
}

fn user_keys(o: Outgoing) -> Vec<String> {
    o.users
        .iter()
        .map(|u| u.record.partition_key().to_owned())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn shards_never_share_an_aggregate() {
    let mut agg = Aggregation::new(true, 51_200, u64::MAX);
    let mut out = Vec::new();
    for i in 0..10 {
        let (p, _rx) = pending(i, &format!("k{i}"), "x", 100, 1000);
        agg.add(shard(if i % 2 == 0 { "even" } else { "odd" }), p, &mut out);
    }
    assert!(out.is_empty(), "nothing is due yet");
    agg.take_all(&mut out);
    assert_eq!(out.len(), 2);
    for o in out {
        let expected = if o.shard.as_deref() == Some("even") {
            0
        } else {
            1
        };
        let keys = user_keys(o);
        assert_eq!(keys.len(), 5);
        assert!(
            keys.iter()
                .all(|k| k[1..].parse::<u32>().unwrap() % 2 == expected)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_aggregate_goes_at_once_and_the_record_starts_the_next() {
    let mut agg = Aggregation::new(true, 200, u64::MAX);
    let mut out = Vec::new();
    for i in 0..6 {
        let (p, _rx) = pending(i, &format!("key{i}"), &"d".repeat(50), 100, 1000);
        agg.add(shard("s"), p, &mut out);
    }
    assert!(!out.is_empty());
    agg.take_all(&mut out);
    let total: usize = out.iter().map(|o| o.users.len()).sum();
    assert_eq!(total, 6);
    for o in out {
        let record = o.record.seal();
        assert!(record.size() <= 200);
        // sub-records come back in the order of `users`
        let keys: Vec<String> = match Deaggregator::new().deaggregate(record.data.clone()) {
            Deaggregated::Aggregated(a) => {
                a.records().map(|r| r.partition_key.to_string()).collect()
            }
            _ => vec![record.partition_key.clone()],
        };
        assert_eq!(
            keys,
            o.users
                .iter()
                .map(|u| u.record.partition_key().to_owned())
                .collect::<Vec<_>>()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn deadlines_release_only_due_aggregates() {
    let mut agg = Aggregation::new(true, 51_200, u64::MAX);
    let mut out = Vec::new();
    let (early, _a) = pending(0, "a", "1", 50, 1000);
    let (late, _b) = pending(1, "b", "2", 150, 1000);
    agg.add(shard("s1"), early, &mut out);
    agg.add(shard("s2"), late, &mut out);
    let start = Instant::now();
    assert_eq!(agg.next_deadline(), Some(start + Duration::from_millis(50)));
    tokio::time::advance(Duration::from_millis(60)).await;
    agg.take_due(Instant::now(), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].shard.as_deref(), Some("s1"));
    assert_eq!(
        agg.next_deadline(),
        Some(start + Duration::from_millis(150))
    );
}

#[tokio::test(start_paused = true)]
async fn records_that_cannot_be_aggregated_go_alone() {
    let mut agg = Aggregation::new(true, 100, u64::MAX);
    let mut out = Vec::new();
    let (unknown, _a) = pending(0, "a", "x", 100, 1000);
    agg.add(None, unknown, &mut out);
    let (big, _b) = pending(1, "b", &"y".repeat(500), 100, 1000);
    agg.add(shard("s"), big, &mut out);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|o| o.users.len() == 1));
    let mut off = Aggregation::new(false, 51_200, u64::MAX);
    let (p, _c) = pending(2, "c", "z", 100, 1000);
    off.add(shard("s"), p, &mut out);
    assert_eq!(out.len(), 3);
    assert_eq!(off.next_deadline(), None);
}

#[tokio::test(start_paused = true)]
async fn expiring_aggregates_hand_their_records_back() {
    let mut agg = Aggregation::new(true, 51_200, u64::MAX);
    let mut out = Vec::new();
    let (short, _a) = pending(0, "a", "1", 1000, 50);
    let (long, _b) = pending(1, "b", "2", 1000, 5000);
    agg.add(shard("s"), short, &mut out);
    agg.add(shard("s"), long, &mut out);
    tokio::time::advance(Duration::from_millis(60)).await;
    let back = agg.take_expiring(Instant::now());
    assert_eq!(back.len(), 2, "the whole aggregate is taken apart");
    assert_eq!(agg.next_deadline(), None);
}

#[tokio::test(start_paused = true)]
async fn pack_keeps_order_across_aggregates() {
    let users: Vec<Pending> = (0..20)
        .map(|i| pending(i, &format!("k{i:02}"), &"d".repeat(40), 100, 1000).0)
        .collect();
    let packed = pack(true, 300, u64::MAX, shard("s"), users);
    assert!(packed.len() > 1);
    let keys: Vec<String> = packed.into_iter().flat_map(user_keys).collect();
    assert_eq!(
        keys,
        (0..20).map(|i| format!("k{i:02}")).collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn a_new_map_moves_aggregates_to_their_places_and_returns_closed_shards_records() {
    let mut agg = Aggregation::new(true, 51_200, u64::MAX);
    let mut out = Vec::new();
    let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
    agg.add_at(0, &a, pending(0, "k0", "x", 100, 1000).0, &mut out);
    agg.add_at(1, &b, pending(1, "k1", "x", 100, 1000).0, &mut out);
    // The new map has "b" first and no "a" (closed).
    let back = agg.remap(|id| (id == "b").then_some(0));
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].record.partition_key(), "k0");
    // "b"'s open aggregate is now at place 0: a record added there joins it.
    agg.add_at(0, &b, pending(2, "k2", "x", 100, 1000).0, &mut out);
    agg.take_all(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].shard.as_deref(), Some("b"));
    assert_eq!(user_keys(out.remove(0)), ["k1", "k2"]);
}

#[tokio::test(start_paused = true)]
async fn a_completed_aggregates_vector_is_reused_by_the_next_one() {
    let mut agg = Aggregation::new(true, 51_200, u64::MAX);
    let mut out = Vec::new();
    let mut receivers = Vec::new();
    for i in 0..10 {
        let (p, rx) = pending(i, &format!("k{i}"), "x", 100, 1000);
        receivers.push(rx);
        agg.add(shard("s"), p, &mut out);
    }
    agg.take_all(&mut out);
    let mut users = out.pop().map(|o| o.users).unwrap();
    users.reserve(1_000);
    let (capacity, address) = (users.capacity(), users.as_ptr());
    let (first, second) = (users.pop().unwrap(), users.pop().unwrap());
    agg.recycle(users);

    agg.add(shard("s"), first, &mut out);
    agg.add(shard("t"), second, &mut out);
    let buffers: Vec<&Buffer> = agg.buffers().collect();
    let reused = buffers.iter().find(|b| &*b.shard == "s").unwrap();
    assert_eq!(
        (reused.users.capacity(), reused.users.as_ptr()),
        (capacity, address)
    );
    assert_eq!(reused.users.len(), 1, "emptied before reuse");
    let fresh = buffers.iter().find(|b| &*b.shard == "t").unwrap();
    assert_ne!(fresh.users.as_ptr(), address, "one spare, used once");
}

fn seqs(out: &[Outgoing]) -> Vec<u64> {
    out.iter()
        .flat_map(|o| o.users.iter().map(|u| u.seq))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_record_too_large_to_aggregate_goes_after_its_shards_open_aggregate() {
    // 2a: the open aggregate holds older records of the shard; the large one must follow.
    let mut agg = Aggregation::new(true, 100, u64::MAX);
    let mut out = Vec::new();
    let s: Arc<str> = Arc::from("s");
    agg.add_at(0, &s, pending(0, "a", "1", 100, 1000).0, &mut out);
    agg.add_at(0, &s, pending(1, "b", "2", 100, 1000).0, &mut out);
    agg.add_at(
        0,
        &s,
        pending(2, "big", &"y".repeat(500), 100, 1000).0,
        &mut out,
    );
    agg.add_at(0, &s, pending(3, "c", "3", 100, 1000).0, &mut out);
    agg.take_all(&mut out);
    assert_eq!(seqs(&out), [0, 1, 2, 3]);
    // The same for an ordered retry, packed again.
    let users = [("a", "1"), ("big", "y"), ("c", "3")]
        .into_iter()
        .enumerate()
        .map(|(i, (k, d))| {
            let data = if k == "big" {
                "y".repeat(500)
            } else {
                d.to_owned()
            };
            pending(i as u64, k, &data, 100, 1000).0
        })
        .collect();
    assert_eq!(
        seqs(&pack(true, 100, u64::MAX, shard("s"), users)),
        [0, 1, 2]
    );
}

#[tokio::test(start_paused = true)]
async fn without_aggregation_records_keep_their_predicted_shard() {
    // 1: every record goes alone, but still to its shard's rate limit and order.
    let mut off = Aggregation::new(false, 51_200, u64::MAX);
    let mut out = Vec::new();
    let s: Arc<str> = Arc::from("shard-7");
    off.add_at(3, &s, pending(0, "k", "v", 100, 1000).0, &mut out);
    off.add(
        shard("shard-8"),
        pending(1, "j", "w", 100, 1000).0,
        &mut out,
    );
    let shards: Vec<Option<&str>> = out.iter().map(|o| o.shard.as_deref()).collect();
    assert_eq!(shards, [Some("shard-7"), Some("shard-8")]);
    let packed = pack(
        false,
        51_200,
        u64::MAX,
        shard("shard-7"),
        vec![pending(2, "k", "v", 100, 1000).0],
    );
    assert_eq!(packed[0].shard.as_deref(), Some("shard-7"));
}
