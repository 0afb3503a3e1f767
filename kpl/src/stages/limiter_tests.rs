use super::*;

fn limit(percent: u32) -> (ShardLimit, Instant) {
    let now = Instant::now();
    (ShardLimit::new(Rates::new(percent), now), now)
}

#[tokio::test(start_paused = true)]
async fn records_per_second_are_capped_at_the_rate() {
    // 100 % of 1,000 records/s: a full bucket lets 1,000 go, then 1 per millisecond.
    let (mut l, now) = limit(100);
    let taken = (0..1500).filter(|_| l.try_take(now, 10)).count();
    assert_eq!(taken, 1000);
    let next = l.ready_at(10);
    assert!(next > now && next <= now + Duration::from_millis(1));
    tokio::time::advance(Duration::from_millis(100)).await;
    let later = Instant::now();
    let taken = (0..500).filter(|_| l.try_take(later, 10)).count();
    assert!((99..=101).contains(&taken), "{taken}");
}

#[tokio::test(start_paused = true)]
async fn bytes_per_second_are_capped() {
    let (mut l, now) = limit(100);
    let taken = (0..4).filter(|_| l.try_take(now, 400 * 1024)).count();
    assert_eq!(taken, 2, "1 MiB/s lets two 400 KiB records go at once");
    // 400 KiB more need about 0.2 s of refill beyond what is left
    let wait = l.ready_at(400 * 1024) - now;
    assert!(
        wait > Duration::from_millis(150) && wait < Duration::from_millis(250),
        "{wait:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_oversized_record_goes_when_the_bucket_is_full() {
    let (mut l, now) = limit(100);
    assert!(l.try_take(now, 3 * 1024 * 1024));
    assert!(!l.try_take(now, 10));
    // the debt of 2 MiB takes about 2 s to repay before the next record goes
    let wait = l.ready_at(10) - now;
    assert!(wait >= Duration::from_millis(1900), "{wait:?}");
}

#[tokio::test(start_paused = true)]
async fn throttling_slows_a_shard_and_success_recovers_it() {
    let (mut l, _) = limit(100);
    l.throttled();
    l.throttled();
    assert_eq!(l.factor(), 0.25);
    for _ in 0..100 {
        l.throttled();
    }
    assert_eq!(l.factor(), MIN_FACTOR);
    for _ in 0..100 {
        l.succeeded();
    }
    assert_eq!(l.factor(), 1.0);
}
