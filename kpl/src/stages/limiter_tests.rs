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
async fn throttles_within_a_second_cut_the_rate_once() {
    let (mut l, now) = limit(100);
    for _ in 0..10 {
        l.throttled(now);
    }
    assert_eq!(
        l.factor(),
        CUT,
        "ten throttled records of one second are one cut"
    );
    l.throttled(now + Duration::from_millis(999));
    assert_eq!(l.factor(), CUT);
}

#[tokio::test(start_paused = true)]
async fn throttles_that_keep_coming_cut_deeper_down_to_the_floor() {
    let (mut l, now) = limit(100);
    l.throttled(now);
    l.throttled(now + Duration::from_secs(1));
    assert!(
        (l.factor() - CUT * CUT_PERSISTENT).abs() < 1e-9,
        "{}",
        l.factor()
    );
    for s in 2..100 {
        l.throttled(now + Duration::from_secs(s));
    }
    assert_eq!(l.factor(), MIN_FACTOR);
}

#[tokio::test(start_paused = true)]
async fn a_throttle_long_after_the_last_cuts_by_the_small_step() {
    let (mut l, now) = limit(100);
    l.throttled(now);
    l.throttled(now + PERSISTENT + Duration::from_millis(1));
    assert!((l.factor() - CUT * CUT).abs() < 1e-9, "{}", l.factor());
}

#[tokio::test(start_paused = true)]
async fn success_gives_the_rate_back_in_proportion_to_time() {
    let (mut l, now) = limit(100);
    l.throttled(now);
    // successes in the same instant give nothing back: no burst of recovery per record
    for _ in 0..1000 {
        l.succeeded(now);
    }
    assert_eq!(l.factor(), CUT);
    // a 5 % cut leaves it near the rate it throttled at: the slow recovery
    l.succeeded(now + Duration::from_secs(1));
    assert!((l.factor() - (CUT + RECOVERY_PER_S)).abs() < 1e-9);
    l.succeeded(now + Duration::from_secs(100));
    assert_eq!(l.factor(), 1.0);
}

#[tokio::test(start_paused = true)]
async fn a_deep_cut_is_made_good_fast_up_to_near_the_last_throttle() {
    let (mut l, now) = limit(100);
    l.throttled(now);
    l.throttled(now + Duration::from_secs(1));
    let ceiling = CUT;
    let cut = CUT * CUT_PERSISTENT;
    // well below NEAR x the rate it last throttled at: the fast recovery, up to there
    let t = now + Duration::from_secs(1) + Duration::from_millis(500);
    l.succeeded(t);
    assert!((l.factor() - (cut + FAST_RECOVERY_PER_S * 0.5)).abs() < 1e-9);
    l.succeeded(t + Duration::from_secs(2));
    let near = ceiling * NEAR;
    assert!(
        l.factor() > near && l.factor() < near + 2.0 * RECOVERY_PER_S,
        "{}",
        l.factor()
    );
}

#[tokio::test(start_paused = true)]
async fn a_cut_drops_the_tokens_saved_up() {
    let (mut l, now) = limit(100);
    assert!(l.try_take(now, 10));
    l.throttled(now);
    assert!(
        !l.try_take(now, 10),
        "nothing goes at once after a throttle"
    );
}
