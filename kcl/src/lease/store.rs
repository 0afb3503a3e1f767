//! The lease table's DynamoDB I/O: reads, creation and deletion here; the table and its
//! index in `table.rs`; the fenced writes to held leases in `writes.rs`. Every write is
//! conditional, as the KCL's are.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use super::codec::{self, ItemKind, attr, n, s};
use super::index::IndexReady;
use super::scan::{ScanReport, TableScan};
use super::{Lease, LeaseStoreError};

/// The lease table of one application.
#[derive(Clone, Debug)]
pub(crate) struct LeaseStore {
    pub(crate) client: Client,
    pub(crate) table: String,
    pub(crate) timeouts: StoreTimeouts,
    report: ScanReport,
    /// Which of the lease table's indexes exist and are ACTIVE.
    pub(super) indexes: Arc<IndexReady>,
}

/// How long one lease table call may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StoreTimeouts {
    /// Writes to held leases (renew, take, checkpoint, release, ...) and the read that
    /// settles a write of unknown outcome: shorter than the renewal interval, so a hung
    /// call never outlasts a renewal.
    pub(crate) lease: Duration,
    /// Scans, creations, deletions and table management.
    pub(crate) table: Duration,
}

type Result<T> = std::result::Result<T, LeaseStoreError>;

impl LeaseStore {
    /// The lease table `table` through `client`, each call given its timeout. The client's
    /// configuration is kept (credentials, endpoint, HTTP client, interceptors) but for the
    /// SDK's retries, which are turned off: a write retried inside the SDK after DynamoDB
    /// applied it would fail its condition and look like a lost lease. The store's callers
    /// retry, knowing which writes may have been applied.
    pub(crate) fn new(client: &Client, table: impl Into<String>, timeouts: StoreTimeouts) -> Self {
        let config = client
            .config()
            .to_builder()
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build();
        LeaseStore {
            client: Client::from_conf(config),
            table: table.into(),
            timeouts,
            report: ScanReport::default(),
            indexes: Arc::default(),
        }
    }

    /// Runs one SDK call (one attempt: the SDK does not retry) under `timeout` (the lease
    /// timeout for writes to held leases and their settling reads, the table timeout for
    /// the rest), classifying its error.
    pub(crate) async fn call<T, E>(
        &self,
        timeout: Duration,
        operation: &'static str,
        request: impl Future<
            Output = std::result::Result<
                T,
                aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
            >,
        >,
    ) -> Result<T>
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        match tokio::time::timeout(timeout, request).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(LeaseStoreError::from_sdk(operation, &self.table, e)),
            Err(_) => Err(LeaseStoreError::Timeout { operation, timeout }),
        }
    }

    /// Every lease of this stream (paginated Scan), and the keys of lease items that
    /// cannot be read; items that are not ours are left out.
    pub(crate) async fn list(&self, consistent: bool) -> Result<TableScan> {
        let mut scan = TableScan::default();
        let mut start: Option<std::collections::HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .call(
                    self.timeouts.table,
                    "Scan",
                    self.client
                        .scan()
                        .table_name(&self.table)
                        .consistent_read(consistent)
                        .set_exclusive_start_key(start.take())
                        .send(),
                )
                .await?;
            self.report.add_page(&self.table, page.items(), &mut scan);
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => {
                    self.report.finish(&self.table, &scan);
                    return Ok(scan);
                }
            }
        }
    }

    /// One lease, read consistently.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Lease>> {
        self.read(key, true).await
    }

    /// One lease, read eventually consistently (half a read unit): it may show an older
    /// version for a moment, so only for judgements a consistent read confirms.
    pub(crate) async fn peek(&self, key: &str) -> Result<Option<Lease>> {
        self.read(key, false).await
    }

    async fn read(&self, key: &str, consistent: bool) -> Result<Option<Lease>> {
        let out = self
            .call(
                self.timeouts.lease,
                "GetItem",
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .key(attr::LEASE_KEY, s(key))
                    .consistent_read(consistent)
                    .send(),
            )
            .await?;
        match out.item().map(codec::classify) {
            Some(ItemKind::Lease(lease)) => Ok(Some(*lease)),
            Some(ItemKind::Unreadable { error, .. }) => Err(LeaseStoreError::Decode {
                key: key.to_owned(),
                source: error,
            }),
            Some(ItemKind::NotOurs) | None => Ok(None),
        }
    }

    /// Creates a lease unless one exists for the key; `false` when it existed.
    pub(crate) async fn create_if_absent(&self, lease: &Lease) -> Result<bool> {
        let put = self
            .call(
                self.timeouts.table,
                "PutItem",
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(codec::encode(lease)))
                    .condition_expression("attribute_not_exists(leaseKey)")
                    .send(),
            )
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(LeaseStoreError::ConditionFailed { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes a finished lease, fenced on the counter seen and on `SHARD_END`.
    pub(crate) async fn delete_finished(&self, key: &str, seen: u64) -> Result<()> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(attr::LEASE_KEY, s(key))
            .condition_expression("leaseCounter = :seen AND checkpoint = :end")
            .expression_attribute_values(":seen", n(seen))
            .expression_attribute_values(":end", s(crate::position::SHARD_END));
        self.call(self.timeouts.table, "DeleteItem", delete.send())
            .await?;
        Ok(())
    }
}
