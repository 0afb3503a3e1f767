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

/// The aggregates of the throttling benchmark: the KPL's default `AggregationMaxSize`.
const AGGREGATE: usize = 51_200;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test(start_paused = true)]
async fn a_throttle_sets_the_rate_just_under_what_the_shard_took() {
    // 150 % configured (the KPL's default); the shard took 20 aggregates in the second
    // before it throttled: that, less 1 %, is the new rate, in one step.
    let (mut l, now) = limit(150);
    for i in 0..20 {
        l.succeeded(now + Duration::from_millis(40 * i), AGGREGATE);
    }
    let t = now + Duration::from_millis(990);
    l.throttled(t);
    let took = 20.0 * AGGREGATE as f64 / (1.5 * SHARD_BYTES_PER_S);
    assert!(close(l.factor_at(t), took * KEEP), "{}", l.factor_at(t));
}

#[tokio::test(start_paused = true)]
async fn the_records_limit_counts_when_it_is_the_one_reached() {
    // 1,000 small records in the second: the records limit is what the shard took.
    let (mut l, now) = limit(150);
    for _ in 0..1000 {
        l.succeeded(now, 100);
    }
    l.throttled(now);
    assert!(close(l.factor_at(now), KEEP / 1.5), "{}", l.factor_at(now));
}

#[tokio::test(start_paused = true)]
async fn throttles_within_a_second_cut_the_rate_once() {
    let (mut l, now) = limit(100);
    for _ in 0..10 {
        l.throttled(now);
    }
    assert!(
        close(l.factor_at(now), DEEPEST_CUT),
        "ten throttles of one second are one cut"
    );
    l.throttled(now + Duration::from_millis(999));
    assert!(l.factor_at(now + Duration::from_millis(999)) > DEEPEST_CUT);
}

#[tokio::test(start_paused = true)]
async fn every_throttle_cuts_at_least_a_little() {
    // the shard took all that was sent and more (tokens saved up): still a 1 % cut
    let (mut l, now) = limit(100);
    for _ in 0..1000 {
        l.succeeded(now, 10);
    }
    l.throttled(now);
    assert!(close(l.factor_at(now), LEAST_CUT), "{}", l.factor_at(now));
}

#[tokio::test(start_paused = true)]
async fn a_shard_that_took_nothing_halves_the_rate_down_to_the_floor() {
    let (mut l, now) = limit(100);
    l.throttled(now);
    assert!(close(l.factor_at(now), DEEPEST_CUT));
    for s in 1..40 {
        l.throttled(now + Duration::from_secs(s));
    }
    assert!(close(
        l.factor_at(now + Duration::from_secs(39)),
        MIN_FACTOR
    ));
}

#[tokio::test(start_paused = true)]
async fn a_halving_is_made_good_fast_up_to_near_the_rate_it_cut() {
    let (mut l, now) = limit(100);
    l.throttled(now);
    let half = now + Duration::from_millis(1500);
    assert!(close(
        l.factor_at(half),
        DEEPEST_CUT + FAST_RECOVERY_PER_S * 1.5
    ));
    let later = now + Duration::from_secs(6);
    let f = l.factor_at(later);
    assert!((NEAR..NEAR + 0.01).contains(&f), "{f}");
}

#[tokio::test(start_paused = true)]
async fn after_a_cut_the_rate_probes_slowly_then_faster() {
    let (mut l, now) = limit(150);
    for _ in 0..20 {
        l.succeeded(now, AGGREGATE);
    }
    l.throttled(now);
    let cut = l.factor_at(now);
    let at = |s: u64| l.factor_at(now + Duration::from_secs(s)) / cut;
    assert!(at(1) < 1.001, "{}", at(1));
    assert!((1.009..1.011).contains(&at(10)), "{}", at(10));
    assert!(at(30) > 1.08, "{}", at(30));
    assert!(
        close(l.factor_at(now + Duration::from_secs(200)), 1.0),
        "never above the configured rate"
    );
}

/// A shard as the embedded server counts it: 1 MiB per window, a window starting at the
/// first record after the previous one ended.
struct WindowedShard {
    start: Option<Instant>,
    used: usize,
}

impl WindowedShard {
    fn takes(&mut self, now: Instant, size: usize) -> bool {
        if self.start.is_none_or(|s| now >= s + Duration::from_secs(1)) {
            self.start = Some(now);
            self.used = 0;
        }
        let fits = self.used + size <= 1024 * 1024;
        if fits {
            self.used += size;
        }
        fits
    }
}

#[tokio::test(start_paused = true)]
async fn a_shard_counting_per_second_windows_is_held_at_over_95_percent() {
    // Twice the shard's capacity waiting, 50 KiB aggregates, the default 150 %: the rate
    // settles on the 20 aggregates a window takes (97.7 % of 1 MiB), with few throttles.
    let (mut l, t0) = limit(150);
    let mut shard = WindowedShard {
        start: None,
        used: 0,
    };
    let (mut now, end) = (t0, t0 + Duration::from_secs(120));
    let (mut taken, mut throttles) = (0, 0);
    while now < end {
        if l.try_take(now, AGGREGATE) {
            let arrives = now + Duration::from_millis(2);
            if shard.takes(arrives, AGGREGATE) {
                l.succeeded(arrives + Duration::from_millis(2), AGGREGATE);
                taken += AGGREGATE;
            } else {
                l.throttled(arrives + Duration::from_millis(2));
                throttles += 1;
            }
        }
        now = l.ready_at(AGGREGATE).max(now + Duration::from_millis(1));
    }
    let share = taken as f64 / (120.0 * SHARD_BYTES_PER_S);
    assert!(share >= 0.95, "share {share:.4}, {throttles} throttles");
    assert!(throttles < 60, "share {share:.4}, {throttles} throttles");
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
