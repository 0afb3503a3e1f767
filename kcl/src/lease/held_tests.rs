use super::*;
use crate::lease::StoreTimeouts;

const FAILOVER: Duration = Duration::from_secs(10);

/// Held leases whose store is never called (the tests make no writes).
fn held_leases() -> Arc<HeldLeases> {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let timeouts = StoreTimeouts {
        lease: Duration::from_secs(1),
        table: Duration::from_secs(1),
    };
    let store = LeaseStore::new(&client, "app", timeouts);
    Arc::new(HeldLeases::new(store, "me".into(), FAILOVER))
}

#[tokio::test(start_paused = true)]
async fn one_lease_expiring_gives_up_every_lease_held() {
    let leases = held_leases();
    let t0 = Instant::now();
    let early = leases.insert("s0", 1, t0);
    let late = leases.insert("s1", 1, t0);
    tokio::spawn(leases.clone().expire_together());
    // s1 renewed, s0 not.
    tokio::time::sleep(FAILOVER / 2).await;
    late.validity.confirm(Instant::now());
    tokio::time::sleep(FAILOVER / 2).await;
    assert_eq!(
        early.validity.check(Instant::now()),
        Err(LostReason::Expired)
    );
    assert_eq!(
        late.validity.check(Instant::now()),
        Err(LostReason::Expired)
    );
    assert!(leases.keys().is_empty(), "{:?}", leases.keys());
}

#[tokio::test(start_paused = true)]
async fn renewed_leases_are_kept() {
    let leases = held_leases();
    let a = leases.insert("s0", 1, Instant::now());
    let b = leases.insert("s1", 1, Instant::now());
    tokio::spawn(leases.clone().expire_together());
    for _ in 0..10 {
        tokio::time::sleep(FAILOVER / 3).await;
        a.validity.confirm(Instant::now());
        b.validity.confirm(Instant::now());
    }
    assert_eq!(leases.keys().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_lease_dropped_unrenewed_takes_the_others_with_it_at_its_deadline() {
    let leases = held_leases();
    let dropped = leases.insert("s0", 1, Instant::now());
    let kept = leases.insert("s1", 1, Instant::now());
    tokio::spawn(leases.clone().expire_together());
    // s0's last write failed without an answer: the table may still name this worker.
    leases.abandon(&dropped);
    leases.forget("s0", dropped.token);
    for _ in 0..2 {
        tokio::time::sleep(FAILOVER / 3).await;
        kept.validity.confirm(Instant::now());
    }
    assert_eq!(kept.validity.check(Instant::now()), Ok(()));
    tokio::time::sleep(FAILOVER / 3).await;
    kept.validity.confirm(Instant::now());
    tokio::task::yield_now().await;
    assert!(leases.keys().is_empty(), "{:?}", leases.keys());
    assert!(kept.validity.check(Instant::now()).is_err());
    // A lease taken afterwards is not given up for the old deadline.
    let fresh = leases.insert("s2", 2, Instant::now());
    tokio::time::sleep(FAILOVER / 3).await;
    assert_eq!(fresh.validity.check(Instant::now()), Ok(()));
}
