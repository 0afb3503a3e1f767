//! Tests of the lease table's admin view against the embedded DynamoDB.

use super::*;

/// A table with one unowned lease at TRIM_HORIZON, its store and its admin view.
async fn table_with_a_lease() -> (testkit::LocalAws, LeaseStore, LeaseTable) {
    let aws = testkit::LocalAws::start().await.unwrap();
    let client = aws.dynamodb_client();
    let admin = LeaseTable::new(&client, "admin-app");
    let store = admin.store.clone();
    store.ensure_table().await.unwrap();
    let lease = Lease::new("shardId-000000000000", Position::TrimHorizon);
    assert!(store.create_if_absent(&lease).await.unwrap());
    (aws, store, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_fenced_on_a_counter_a_worker_moved_on_writes_nothing() {
    let (_aws, store, admin) = table_with_a_lease().await;
    let key = "shardId-000000000000";
    let seen = admin.get(key).await.unwrap();
    // A worker takes and releases it between the read and the write.
    store.take(key, seen.counter, None, "w1").await.unwrap();
    store.release(key, "w1").await.unwrap();
    let err = admin.write_reset(seen, Position::Latest).await.unwrap_err();
    assert_eq!(
        err,
        AdminError::Changed {
            shard: key.into(),
            counter: 0
        }
    );
    assert!(err.to_string().contains("nothing was written"), "{err}");
    let now = admin.get(key).await.unwrap();
    assert_eq!((now.checkpoint, now.counter), (Position::TrimHorizon, 2));
    // Read again: it goes through, the counter one up.
    let reset = admin
        .reset_checkpoint(key, Position::Latest, false)
        .await
        .unwrap();
    assert_eq!(admin.get(key).await.unwrap(), reset);
    assert_eq!((reset.checkpoint, reset.counter), (Position::Latest, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lease_is_reset_only_when_forced_and_then_has_no_owner() {
    let (_aws, store, admin) = table_with_a_lease().await;
    let key = "shardId-000000000000";
    store.take(key, 0, None, "w1").await.unwrap();
    let refused = admin.reset_checkpoint(key, Position::Latest, false).await;
    assert_eq!(
        refused,
        Err(AdminError::Held {
            shard: key.into(),
            owner: "w1".into()
        })
    );
    assert_eq!(
        admin.get(key).await.unwrap().checkpoint,
        Position::TrimHorizon
    );
    let forced = admin
        .reset_checkpoint(key, Position::Latest, true)
        .await
        .unwrap();
    assert_eq!(admin.get(key).await.unwrap(), forced);
    assert_eq!(forced.owner, None);
    // The worker's next renewal is fenced out.
    assert!(
        store
            .renew(key, 1, "w1")
            .await
            .unwrap_err()
            .is_condition_failed()
    );
    let listing = admin.list().await.unwrap();
    assert_eq!(listing.leases, vec![forced]);
    assert!(listing.owners().is_empty());
    let missing = admin.get("shardId-000000000009").await.unwrap_err();
    assert!(
        matches!(missing, AdminError::LeaseNotFound { .. }),
        "{missing}"
    );
    let no_table = LeaseTable::new(&store.client, "no-such-table").list().await;
    assert!(
        matches!(no_table, Err(AdminError::TableMissing { .. })),
        "{no_table:?}"
    );
}
