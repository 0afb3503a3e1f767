//! The lease table's DynamoDB I/O. Every write is conditional, as the KCL's are.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus,
};
use bytes::Bytes;

use super::codec::{self, ItemKind, attr, n, s};
use super::scan::{ScanReport, TableScan};
use super::{Lease, LeaseStoreError};
use crate::Position;

/// The lease table of one application.
#[derive(Clone, Debug)]
pub(crate) struct LeaseStore {
    client: Client,
    table: String,
    timeouts: StoreTimeouts,
    report: ScanReport,
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
        }
    }

    /// Runs one SDK call (one attempt: the SDK does not retry) under `timeout` (the lease
    /// timeout for writes to held leases and their settling reads, the table timeout for
    /// the rest), classifying its error.
    async fn call<T, E>(
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

    /// Creates the table (PAY_PER_REQUEST, hash key `leaseKey` S) unless it exists, and
    /// waits until it is ACTIVE.
    pub(crate) async fn ensure_table(&self) -> Result<()> {
        if self.table_status().await? != Some(TableStatus::Active) {
            let created = self
                .call(
                    self.timeouts.table,
                    "CreateTable",
                    self.client
                        .create_table()
                        .table_name(&self.table)
                        .billing_mode(BillingMode::PayPerRequest)
                        .key_schema(key_schema()?)
                        .attribute_definitions(attribute_definition()?)
                        .send(),
                )
                .await;
            match created {
                Ok(_) => tracing::info!(table = %self.table, "created the lease table"),
                // ResourceInUseException: another worker created it meanwhile.
                Err(LeaseStoreError::Fatal { message, .. })
                    if message.contains("ResourceInUse") || message.contains("already exists") => {}
                Err(e) => return Err(e),
            }
        }
        for _ in 0..600 {
            if self.table_status().await? == Some(TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(LeaseStoreError::Timeout {
            operation: "DescribeTable (waiting for ACTIVE)",
            timeout: Duration::from_secs(60),
        })
    }

    async fn table_status(&self) -> Result<Option<TableStatus>> {
        let described = self
            .call(
                self.timeouts.table,
                "DescribeTable",
                self.client.describe_table().table_name(&self.table).send(),
            )
            .await;
        match described {
            Ok(out) => Ok(out.table().and_then(|t| t.table_status().cloned())),
            Err(LeaseStoreError::TableMissing { .. }) => Ok(None),
            Err(e) => Err(e),
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
        let out = self
            .call(
                self.timeouts.lease,
                "GetItem",
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .key(attr::LEASE_KEY, s(key))
                    .consistent_read(true)
                    .send(),
            )
            .await?;
        match out.item().map(codec::classify) {
            Some(ItemKind::Lease(lease)) => Ok(Some(lease)),
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

    /// Renews a held lease: counter + 1, fenced on the counter we hold. Returns the new counter.
    pub(crate) async fn renew(&self, key: &str, held: u64) -> Result<u64> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::LEASE_KEY, s(key))
            .update_expression("SET leaseCounter = :next")
            .condition_expression("attribute_exists(leaseKey) AND leaseCounter = :held")
            .expression_attribute_values(":next", n(held + 1))
            .expression_attribute_values(":held", n(held));
        self.call(self.timeouts.lease, "UpdateItem (renew)", update.send())
            .await?;
        Ok(held + 1)
    }

    /// Takes (or steals) a lease seen with `seen` counter and `previous` owner: owner := me,
    /// counter + 1, ownerSwitchesSinceCheckpoint + 1 when the owner changes.
    pub(crate) async fn take(
        &self,
        key: &str,
        seen: u64,
        previous: Option<&str>,
        me: &str,
    ) -> Result<u64> {
        let switches = previous.is_some_and(|p| p != me);
        let expression = if switches {
            "SET leaseOwner = :me, leaseCounter = :next ADD ownerSwitchesSinceCheckpoint :one REMOVE checkpointOwner"
        } else {
            "SET leaseOwner = :me, leaseCounter = :next REMOVE checkpointOwner"
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::LEASE_KEY, s(key))
            .update_expression(expression)
            .condition_expression("attribute_exists(leaseKey) AND leaseCounter = :seen")
            .expression_attribute_values(":me", s(me))
            .expression_attribute_values(":next", n(seen + 1))
            .expression_attribute_values(":seen", n(seen));
        if switches {
            update = update.expression_attribute_values(":one", n(1));
        }
        self.call(self.timeouts.lease, "UpdateItem (take)", update.send())
            .await?;
        Ok(seen + 1)
    }

    /// Releases a lease on graceful shutdown: owner removed, counter + 1, fenced on the
    /// owner being me.
    pub(crate) async fn release(&self, key: &str, me: &str) -> Result<()> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::LEASE_KEY, s(key))
            .update_expression(
                "SET leaseCounter = leaseCounter + :one REMOVE leaseOwner, checkpointOwner",
            )
            .condition_expression("leaseOwner = :me")
            .expression_attribute_values(":me", s(me))
            .expression_attribute_values(":one", n(1));
        self.call(self.timeouts.lease, "UpdateItem (release)", update.send())
            .await?;
        Ok(())
    }

    /// Writes a checkpoint (and clears a prepared one), fenced on counter and owner.
    pub(crate) async fn checkpoint(
        &self,
        key: &str,
        held: u64,
        me: &str,
        position: &Position,
    ) -> Result<u64> {
        let (checkpoint, sub) = position.to_table();
        let update = self
            .fenced_update(key, held, me)
            .update_expression(
                "SET checkpoint = :cp, checkpointSubSequenceNumber = :sub, \
                 ownerSwitchesSinceCheckpoint = :zero, leaseCounter = :next \
                 REMOVE pendingCheckpoint, pendingCheckpointSubSequenceNumber, pendingCheckpointState",
            )
            .expression_attribute_values(":cp", AttributeValue::S(checkpoint))
            .expression_attribute_values(":sub", n(sub))
            .expression_attribute_values(":zero", n(0));
        self.call(
            self.timeouts.lease,
            "UpdateItem (checkpoint)",
            update.send(),
        )
        .await?;
        Ok(held + 1)
    }

    /// Writes a prepared checkpoint with optional application state, fenced on counter
    /// and owner; the checkpoint itself is unchanged.
    pub(crate) async fn prepare_checkpoint(
        &self,
        key: &str,
        held: u64,
        me: &str,
        position: &Position,
        state: Option<&Bytes>,
    ) -> Result<u64> {
        let (pending, sub) = position.to_table();
        let mut update = self
            .fenced_update(key, held, me)
            .expression_attribute_values(":pcp", AttributeValue::S(pending))
            .expression_attribute_values(":psub", n(sub));
        update = match state {
            Some(state) => update
                .update_expression(
                    "SET pendingCheckpoint = :pcp, pendingCheckpointSubSequenceNumber = :psub, \
                     pendingCheckpointState = :pst, leaseCounter = :next",
                )
                .expression_attribute_values(":pst", codec::b(state)),
            None => update.update_expression(
                "SET pendingCheckpoint = :pcp, pendingCheckpointSubSequenceNumber = :psub, \
                 leaseCounter = :next REMOVE pendingCheckpointState",
            ),
        };
        self.call(
            self.timeouts.lease,
            "UpdateItem (prepare checkpoint)",
            update.send(),
        )
        .await?;
        Ok(held + 1)
    }

    /// Writes `childShardIds` at shard end, fenced on counter and owner.
    pub(crate) async fn set_child_shard_ids(
        &self,
        key: &str,
        held: u64,
        me: &str,
        children: &[String],
    ) -> Result<u64> {
        let Some(set) = codec::string_set(children) else {
            return Ok(held);
        };
        let update = self
            .fenced_update(key, held, me)
            .update_expression("SET childShardIds = :children, leaseCounter = :next")
            .expression_attribute_values(":children", set);
        self.call(
            self.timeouts.lease,
            "UpdateItem (child shard ids)",
            update.send(),
        )
        .await?;
        Ok(held + 1)
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

    fn fenced_update(
        &self,
        key: &str,
        held: u64,
        me: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(attr::LEASE_KEY, s(key))
            .condition_expression("leaseCounter = :held AND leaseOwner = :me")
            .expression_attribute_values(":held", n(held))
            .expression_attribute_values(":next", n(held + 1))
            .expression_attribute_values(":me", s(me))
    }
}

fn key_schema() -> Result<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(attr::LEASE_KEY)
        .key_type(KeyType::Hash)
        .build()
        .map_err(build_error)
}

fn attribute_definition() -> Result<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(attr::LEASE_KEY)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(build_error)
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> LeaseStoreError {
    LeaseStoreError::Fatal {
        operation: "CreateTable",
        message: e.to_string(),
    }
}
