//! Reading and repairing an application's lease table from outside its workers (what
//! `kinesis leases` does): every lease as the table holds it, who holds how many, and a
//! checkpoint moved to a new position. Items are read and written with the worker's own
//! codec, so the attribute names and types live in one place.
//!
//! A reset is refused while the lease is held (unless forced), and its write is fenced on
//! the counter read: a worker that renewed or checkpointed meanwhile makes the reset fail
//! with [`AdminError::Changed`] instead of being overwritten. A forced reset also removes
//! the owner; the worker that held the lease finds its counter changed at its next
//! renewal, drops the lease, and whoever takes it next starts at the new checkpoint.
//!
//! ```no_run
//! use kcl::Position;
//! use kcl::admin::LeaseTable;
//!
//! # async fn demo() -> Result<(), kcl::admin::AdminError> {
//! let aws = aws_config::load_from_env().await;
//! let table = LeaseTable::new(&aws_sdk_dynamodb::Client::new(&aws), "billing");
//! let listing = table.list().await?;
//! for lease in &listing.leases {
//!     println!("{} {:?} {:?}", lease.key, lease.actual_owner(), lease.checkpoint);
//! }
//! // Replay shard 0 from the oldest record; refused while a worker holds it.
//! table
//!     .reset_checkpoint("shardId-000000000000", Position::TrimHorizon, false)
//!     .await?;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::lease::codec::{self, ItemKind, attr, n, s};
use crate::lease::{LeaseStore, StoreTimeouts};
use crate::{Lease, LeaseDecodeError, LeaseStoreError, Position};

/// An application's lease table, for reading and repairs.
#[derive(Clone, Debug)]
pub struct LeaseTable {
    store: LeaseStore,
}

/// Everything one scan of the table found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseListing {
    /// The readable leases, by shard id.
    pub leases: Vec<Lease>,
    /// Lease items that cannot be read: the item's `leaseKey` (or `?`) and what is wrong.
    pub unreadable: Vec<(String, LeaseDecodeError)>,
}

impl LeaseListing {
    /// Each worker holding leases, with how many it holds (the worker handing a lease
    /// over still holds it), by worker id.
    ///
    /// ```
    /// use kcl::{Lease, Position};
    /// use kcl::admin::LeaseListing;
    /// let mut a = Lease::new("shardId-0", Position::Latest);
    /// a.owner = Some("w1".into());
    /// let mut b = Lease::new("shardId-1", Position::Latest);
    /// b.owner = Some("w2".into());
    /// b.checkpoint_owner = Some("w1".into()); // being handed from w1 to w2
    /// let c = Lease::new("shardId-2", Position::Latest); // unowned: not counted
    /// let listing = LeaseListing { leases: vec![a, b, c], unreadable: vec![] };
    /// assert_eq!(listing.owners(), vec![("w1".to_owned(), 2)]);
    /// ```
    pub fn owners(&self) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for owner in self.leases.iter().filter_map(Lease::actual_owner) {
            *counts.entry(owner).or_default() += 1;
        }
        counts.into_iter().map(|(w, c)| (w.to_owned(), c)).collect()
    }
}

/// Why a lease table operation of [`LeaseTable`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// The table does not exist.
    #[error("lease table {table:?} does not exist")]
    TableMissing {
        /// The table.
        table: String,
    },
    /// The table has no lease for the shard.
    #[error("lease table {table:?} has no lease for shard {shard:?}")]
    LeaseNotFound {
        /// The table.
        table: String,
        /// The shard asked for.
        shard: String,
    },
    /// The lease is held by a worker and the reset was not forced.
    #[error("the lease of {shard} is held by worker {owner:?}")]
    Held {
        /// The shard.
        shard: String,
        /// The worker holding it.
        owner: String,
    },
    /// The lease changed between the read and the conditional write (a worker renewed,
    /// took or checkpointed it): nothing was written.
    #[error(
        "the lease of {shard} changed after it was read at counter {counter} (a worker renewed, took or checkpointed it); nothing was written"
    )]
    Changed {
        /// The shard.
        shard: String,
        /// The counter the write was fenced on.
        counter: u64,
    },
    /// Any other failure of the table's I/O.
    #[error(transparent)]
    Store(LeaseStoreError),
}

impl AdminError {
    /// Whether trying again may succeed (throttling, server errors, timeouts, a lease
    /// that changed under the write).
    pub fn is_retryable(&self) -> bool {
        match self {
            AdminError::Changed { .. } => true,
            AdminError::Store(e) => e.is_retryable(),
            _ => false,
        }
    }

    fn from_store(table: &str, e: LeaseStoreError) -> AdminError {
        match e {
            LeaseStoreError::TableMissing { .. } => AdminError::TableMissing {
                table: table.to_owned(),
            },
            other => AdminError::Store(other),
        }
    }
}

type Result<T> = std::result::Result<T, AdminError>;

impl LeaseTable {
    /// The lease table `table` (the application's name) through `client`; each call has
    /// a 10 s timeout and one attempt (the client's retries are turned off, as a worker's
    /// are, so a write retried after DynamoDB applied it cannot look like a conflict).
    ///
    /// ```
    /// # async fn demo() {
    /// let aws = aws_config::load_from_env().await;
    /// let table = kcl::admin::LeaseTable::new(&aws_sdk_dynamodb::Client::new(&aws), "billing")
    ///     .with_timeout(std::time::Duration::from_secs(3));
    /// assert_eq!(table.name(), "billing");
    /// # }
    /// ```
    pub fn new(client: &aws_sdk_dynamodb::Client, table: impl Into<String>) -> LeaseTable {
        LeaseTable::with_timeouts(client, table, Duration::from_secs(10))
    }

    /// The same table with `timeout` for each call.
    pub fn with_timeout(self, timeout: Duration) -> LeaseTable {
        let client = self.store.client.clone();
        LeaseTable::with_timeouts(&client, self.store.table, timeout)
    }

    fn with_timeouts(
        client: &aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        timeout: Duration,
    ) -> LeaseTable {
        let timeouts = StoreTimeouts {
            lease: timeout,
            table: timeout,
        };
        LeaseTable {
            store: LeaseStore::new(client, table, timeouts),
        }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.store.table
    }

    /// Every lease item of the table (a consistent, paginated scan), sorted by shard id.
    /// Items that are not leases of a single-stream application (KCL 3.x worker metrics,
    /// multi-stream leases) are left out; unreadable lease items are listed apart.
    pub async fn list(&self) -> Result<LeaseListing> {
        let table = self.name().to_owned();
        let mut listing = LeaseListing::default();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let scan = self
                .store
                .client
                .scan()
                .table_name(&table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            let page = self
                .store
                .call(self.store.timeouts.table, "Scan", scan.send())
                .await
                .map_err(|e| AdminError::from_store(&table, e))?;
            for item in page.items() {
                match codec::classify(item) {
                    ItemKind::Lease(lease) => listing.leases.push(lease),
                    ItemKind::Unreadable { key, error } => listing.unreadable.push((key, error)),
                    ItemKind::NotOurs => {}
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        listing.leases.sort_by(|a, b| a.key.cmp(&b.key));
        listing.unreadable.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(listing)
    }

    /// One lease, read consistently.
    pub async fn get(&self, shard: &str) -> Result<Lease> {
        let table = self.name();
        match self.store.get(shard).await {
            Ok(Some(lease)) => Ok(lease),
            Ok(None) => Err(AdminError::LeaseNotFound {
                table: table.to_owned(),
                shard: shard.to_owned(),
            }),
            Err(e) => Err(AdminError::from_store(table, e)),
        }
    }

    /// Moves the checkpoint of `shard` to `to` (a pending checkpoint is dropped and the
    /// owner switches since the checkpoint are zeroed), returning the lease as written.
    /// Refused with [`AdminError::Held`] while a worker holds the lease, unless `force`;
    /// a forced reset also removes the owner (and a hand-off in progress). The write is
    /// conditional on the counter read, and raises it by one: [`AdminError::Changed`]
    /// when a worker wrote the lease in between.
    pub async fn reset_checkpoint(&self, shard: &str, to: Position, force: bool) -> Result<Lease> {
        let lease = self.get(shard).await?;
        if let (Some(owner), false) = (lease.actual_owner(), force) {
            return Err(AdminError::Held {
                shard: shard.to_owned(),
                owner: owner.to_owned(),
            });
        }
        self.write_reset(lease, to).await
    }

    /// The reset's write, fenced on the counter of `lease` as read.
    async fn write_reset(&self, lease: Lease, to: Position) -> Result<Lease> {
        let shard = lease.key.clone();
        let shard = shard.as_str();
        let (checkpoint, sub) = to.to_table();
        let update = self
            .store
            .client
            .update_item()
            .table_name(self.name())
            .key(attr::LEASE_KEY, s(shard))
            .update_expression(
                "SET checkpoint = :cp, checkpointSubSequenceNumber = :sub, \
                 ownerSwitchesSinceCheckpoint = :zero, leaseCounter = :next \
                 REMOVE pendingCheckpoint, pendingCheckpointSubSequenceNumber, \
                 pendingCheckpointState, leaseOwner, checkpointOwner",
            )
            .condition_expression("attribute_exists(leaseKey) AND leaseCounter = :seen")
            .expression_attribute_values(":cp", AttributeValue::S(checkpoint))
            .expression_attribute_values(":sub", n(sub))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":seen", n(lease.counter))
            .expression_attribute_values(":next", n(lease.counter + 1));
        let written = self
            .store
            .call(
                self.store.timeouts.lease,
                "UpdateItem (reset checkpoint)",
                update.send(),
            )
            .await;
        let expected = Lease {
            owner: None,
            checkpoint_owner: None,
            counter: lease.counter + 1,
            checkpoint: to,
            pending_checkpoint: None,
            pending_checkpoint_state: None,
            owner_switches_since_checkpoint: 0,
            ..lease
        };
        match written {
            Ok(_) => Ok(expected),
            Err(LeaseStoreError::ConditionFailed { .. }) => Err(AdminError::Changed {
                shard: shard.to_owned(),
                counter: expected.counter - 1,
            }),
            // Applied or not: the table says.
            Err(e) if e.outcome_unknown() => match self.get(shard).await {
                Ok(now) if now == expected => Ok(expected),
                _ => Err(AdminError::Store(e)),
            },
            Err(e) => Err(AdminError::from_store(self.name(), e)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a broken expectation panics
mod tests {
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
}
