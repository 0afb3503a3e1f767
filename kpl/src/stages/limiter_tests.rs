use super::*;
use crate::pending::Outgoing;
use crate::testing::pending;
use kinesis_agg::{EncodedRecord, Unsealed};

fn outgoing(shard: &str, size: usize) -> Outgoing {
    let (p, _rx) = pending(0, "k", &"x".repeat(size.saturating_sub(1)), 100, 60_000);
    let record = Unsealed::from(EncodedRecord::single(p.record.clone()));
    Outgoing::new(Some(Arc::from(shard)), record, vec![p])
}

#[tokio::test(start_paused = true)]
async fn records_per_second_are_capped_at_the_rate() {
    // 100 % of 1,000 records/s: a full bucket lets 1,000 go, then 1 per millisecond.
    let mut limiter = Limiter::new(100);
    let now = Instant::now();
    for _ in 0..1500 {
        limiter.push(outgoing("s", 10), now);
    }
    let mut out = Vec::new();
    limiter.release(now, &mut out);
    assert_eq!(out.len(), 1000);
    let next = limiter.next_ready(now).unwrap();
    assert!(next > now && next <= now + Duration::from_millis(1));
    tokio::time::advance(Duration::from_millis(100)).await;
    out.clear();
    limiter.release(Instant::now(), &mut out);
    assert!((99..=101).contains(&out.len()), "{}", out.len());
}

#[tokio::test(start_paused = true)]
async fn bytes_per_second_are_capped_and_shards_are_independent() {
    let mut limiter = Limiter::new(100);
    let now = Instant::now();
    for _ in 0..4 {
        limiter.push(outgoing("a", 400 * 1024), now);
    }
    limiter.push(outgoing("b", 10), now);
    let mut out = Vec::new();
    limiter.release(now, &mut out);
    let to_a = out
        .iter()
        .filter(|o| o.shard.as_deref() == Some("a"))
        .count();
    assert_eq!(to_a, 2, "1 MiB/s lets two 400 KiB records go at once");
    assert_eq!(out.len(), 3, "shard b is not held up by shard a");
    // 400 KiB more need about 0.2 s of refill beyond what is left
    let wait = limiter.next_ready(now).unwrap() - now;
    assert!(
        wait > Duration::from_millis(150) && wait < Duration::from_millis(250),
        "{wait:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_oversized_record_goes_when_the_bucket_is_full() {
    let mut limiter = Limiter::new(100);
    let now = Instant::now();
    limiter.push(outgoing("a", 3 * 1024 * 1024), now);
    limiter.push(outgoing("a", 10), now);
    let mut out = Vec::new();
    limiter.release(now, &mut out);
    assert_eq!(out.len(), 1);
    // the debt of 2 MiB takes about 2 s to repay before the next record goes
    let wait = limiter.next_ready(now).unwrap() - now;
    assert!(wait >= Duration::from_millis(1900), "{wait:?}");
}

#[tokio::test(start_paused = true)]
async fn throttling_slows_a_shard_and_success_recovers_it() {
    let mut limiter = Limiter::new(100);
    let now = Instant::now();
    limiter.push(outgoing("a", 10), now);
    limiter.throttled("a");
    limiter.throttled("a");
    assert_eq!(limiter.factor("a"), Some(0.25));
    for _ in 0..100 {
        limiter.throttled("a");
    }
    assert_eq!(limiter.factor("a"), Some(MIN_FACTOR));
    for _ in 0..100 {
        limiter.succeeded("a");
    }
    assert_eq!(limiter.factor("a"), Some(1.0));
}

#[tokio::test(start_paused = true)]
async fn unknown_shards_are_not_limited_and_expiry_is_found() {
    let mut limiter = Limiter::new(1);
    let now = Instant::now();
    let (p, _rx) = pending(0, "k", "x", 100, 50);
    let expiring = Outgoing::new(
        None,
        Unsealed::from(EncodedRecord::single(p.record.clone())),
        vec![p],
    );
    limiter.push(expiring, now);
    limiter.push(outgoing("a", 10), now);
    assert_eq!(limiter.next_ready(now), Some(now));
    assert_eq!(limiter.next_expiry(), Some(now + Duration::from_millis(50)));
    tokio::time::advance(Duration::from_millis(60)).await;
    assert_eq!(limiter.take_expiring(Instant::now()).len(), 1);
    assert_eq!(limiter.drain().len(), 1);
}
