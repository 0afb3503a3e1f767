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
//! // Guarantee shown: a reset never overwrites a lease a worker holds or wrote meanwhile.
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
    /// // Guarantee shown: a lease being handed over counts for the worker still holding it.
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
    /// // Guarantee shown: making the handle does no I/O; each later call has the timeout.
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
    ///
    /// ```no_run
    /// // Guarantee shown: every lease item is either listed or reported unreadable.
    /// # async fn demo(table: kcl::admin::LeaseTable) -> Result<(), kcl::admin::AdminError> {
    /// let listing = table.list().await?;
    /// for (key, error) in &listing.unreadable {
    ///     eprintln!("{key}: {error}");
    /// }
    /// # Ok(()) }
    /// ```
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
                    ItemKind::Lease(lease) => listing.leases.push(*lease),
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

    /// One lease, read consistently; [`AdminError::LeaseNotFound`] when the table has none
    /// for `shard`.
    ///
    /// ```no_run
    /// // Guarantee shown: a missing shard is a typed error, not an empty lease.
    /// # async fn demo(table: kcl::admin::LeaseTable) {
    /// let missing = table.get("shardId-999999999999").await;
    /// assert!(matches!(missing, Err(kcl::admin::AdminError::LeaseNotFound { .. })));
    /// # }
    /// ```
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
    ///
    /// ```no_run
    /// // Guarantee shown: a held lease is not reset unless forced; a lease written
    /// // meanwhile is not overwritten.
    /// use kcl::admin::AdminError;
    /// # async fn demo(table: kcl::admin::LeaseTable) -> Result<(), AdminError> {
    /// let to = kcl::Position::at("49590338271490256608559692538361571095921575989136588898", 0).unwrap();
    /// match table.reset_checkpoint("shardId-000000000000", to, false).await {
    ///     Ok(lease) => println!("checkpoint now {:?}, counter {}", lease.checkpoint, lease.counter),
    ///     Err(AdminError::Held { owner, .. }) => eprintln!("held by {owner}: stop it, or force"),
    ///     Err(e) if e.is_retryable() => eprintln!("try again: {e}"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
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
#[path = "admin_tests.rs"]
mod tests;
