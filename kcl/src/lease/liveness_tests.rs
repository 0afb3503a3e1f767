use super::*;
use crate::Position;

const FAILOVER: Duration = Duration::from_secs(10);
const RENEWAL: Duration = Duration::from_millis(3333);

fn lease(key: &str, owner: &str, holder: Option<&str>, counter: u64) -> Lease {
    let mut l = Lease::new(key, Position::TrimHorizon);
    l.owner = Some(owner.into());
    l.kcl_holder = holder.map(str::to_owned);
    l.counter = counter;
    l
}

fn kcl(key: &str, owner: &str, counter: u64) -> Lease {
    lease(key, owner, Some(owner), counter)
}

fn seen(leases: &[Lease], now: Instant) -> ExpiryTracker {
    let mut t = ExpiryTracker::default();
    t.observe(leases, now);
    t
}

#[tokio::test(start_paused = true)]
async fn each_worker_watches_the_next_kcl_worker_in_the_ring() {
    let now = Instant::now();
    let leases = [
        kcl("s0", "a", 1),
        kcl("s1", "b", 1),
        kcl("s2", "c", 1),
        lease("s3", "java", None, 1),
        lease("s4", "java2", Some("b"), 1), // a Java worker took it from b
    ];
    let t = seen(&leases, now);
    let next = |me| successor(&leases, &t, me, now, FAILOVER);
    assert_eq!(next("a").as_deref(), Some("b"));
    assert_eq!(next("b").as_deref(), Some("c"));
    assert_eq!(next("c").as_deref(), Some("a"), "the ring wraps");
    assert_eq!(
        next("new").as_deref(),
        Some("a"),
        "a worker holding nothing watches too"
    );
    let alone = [kcl("s0", "a", 1), lease("s3", "java", None, 1)];
    let t = seen(&alone, now);
    assert_eq!(successor(&alone, &t, "a", now, FAILOVER), None);
}

#[tokio::test(start_paused = true)]
async fn only_leases_a_kcl_worker_holds_tell_of_it() {
    let mut handing = kcl("s1", "b", 1);
    handing.checkpoint_owner = Some("a".into());
    let mut finished = kcl("s0", "b", 1);
    finished.checkpoint = Position::ShardEnd;
    let leases = [
        finished,
        handing,
        lease("s2", "b", Some("x"), 1),
        kcl("s4", "b", 1),
        kcl("s3", "b", 1),
    ];
    assert_eq!(
        lease_of(&leases, "b", None).map(|l| l.key.as_str()),
        Some("s3")
    );
    assert_eq!(
        lease_of(&leases, "b", Some("s3")).map(|l| l.key.as_str()),
        Some("s4")
    );
    let gone: Vec<&str> = leases_of_gone(&leases, "b")
        .iter()
        .map(|l| l.key.as_str())
        .collect();
    assert_eq!(gone, ["s4", "s3"]);
}

#[tokio::test(start_paused = true)]
async fn a_lease_standing_still_for_the_failover_time_shows_its_worker_gone() {
    let t0 = Instant::now();
    let mut w = Watched::new("b", &kcl("s1", "b", 5), t0);
    let at = |s: f64| t0 + Duration::from_secs_f64(s);
    let read = |c| Some(kcl("s1", "b", c));
    assert_eq!(
        w.observe(read(5).as_ref(), at(2.0), FAILOVER, RENEWAL),
        Verdict::Alive
    );
    assert_eq!(
        w.observe(read(6).as_ref(), at(3.5), FAILOVER, RENEWAL),
        Verdict::Alive
    );
    // Counted from the first read of counter 6, not from the watch's start.
    assert_eq!(
        w.observe(read(6).as_ref(), at(7.0), FAILOVER, RENEWAL),
        Verdict::Alive
    );
    assert_eq!(
        w.observe(read(6).as_ref(), at(8.0), FAILOVER, RENEWAL),
        Verdict::Overdue
    );
    assert_eq!(
        w.observe(read(6).as_ref(), at(13.4), FAILOVER, RENEWAL),
        Verdict::Overdue
    );
    assert_eq!(
        w.observe(read(6).as_ref(), at(13.5), FAILOVER, RENEWAL),
        Verdict::Gone
    );
}

#[tokio::test(start_paused = true)]
async fn a_lease_that_went_elsewhere_tells_nothing() {
    let t0 = Instant::now();
    let mut w = Watched::new("b", &kcl("s1", "b", 5), t0);
    let later = t0 + FAILOVER * 2;
    let java = lease("s1", "java", Some("b"), 5);
    let mut finished = kcl("s1", "b", 5);
    finished.checkpoint = Position::ShardEnd;
    for read in [None, Some(&java), Some(&finished), Some(&kcl("s1", "c", 5))] {
        assert_eq!(w.observe(read, later, FAILOVER, RENEWAL), Verdict::Moved);
    }
}

#[tokio::test(start_paused = true)]
async fn settled_only_when_kcl_workers_hold_every_unfinished_lease() {
    let now = Instant::now();
    let mut done = lease("s9", "java", None, 1);
    done.checkpoint = Position::ShardEnd;
    let kcl_only = vec![kcl("s0", "a", 1), kcl("s1", "b", 1), done];
    assert!(
        !is_settled(&kcl_only, &seen(&kcl_only, now), now, FAILOVER),
        "a first sight tells nothing"
    );
    let seen = |leases: &[Lease], now| {
        let mut t = seen(leases, now);
        let renewed: Vec<Lease> = (leases.iter().cloned())
            .map(|mut l| {
                l.counter += 1;
                l
            })
            .collect();
        t.observe(&renewed, now);
        t
    };
    assert!(is_settled(&kcl_only, &seen(&kcl_only, now), now, FAILOVER));
    let mut unowned = kcl_only.clone();
    unowned.push(Lease::new("s2", Position::TrimHorizon));
    assert!(!is_settled(&unowned, &seen(&unowned, now), now, FAILOVER));
    let mut java = kcl_only.clone();
    java.push(lease("s2", "java", None, 1));
    assert!(!is_settled(&java, &seen(&java, now), now, FAILOVER));
    let t = seen(&kcl_only, now);
    assert!(
        !is_settled(&kcl_only, &t, now + FAILOVER, FAILOVER),
        "an expired lease waits for a pass"
    );
}

#[tokio::test(start_paused = true)]
async fn a_gone_verdict_holds_only_if_a_consistent_read_shows_the_same_counter() {
    let w = Watched::new("b", &kcl("s1", "b", 5), Instant::now());
    assert!(w.confirmed_by(&[kcl("s0", "b", 9), kcl("s1", "b", 5)]));
    // The reads were stale: the worker renewed.
    assert!(!w.confirmed_by(&[kcl("s1", "b", 6)]));
    assert!(!w.confirmed_by(&[kcl("s1", "c", 5)]));
    assert!(!w.confirmed_by(&[]));
}
