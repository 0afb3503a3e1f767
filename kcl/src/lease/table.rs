//! The lease table itself: created if missing (PAY_PER_REQUEST, hash key `leaseKey`), with
//! the global secondary index the Java KCL 3.x creates, `LeaseOwnerToLeaseKeyIndex`
//! (`leaseOwner` HASH, `leaseKey` RANGE, KEYS_ONLY), through which a worker finds the leases
//! assigned to it without scanning the table. An existing table without the index gets it
//! added; where that is refused (some local servers), workers fall back to scans.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TableStatus,
};

use super::LeaseStoreError;
use super::codec::attr;
use super::store::LeaseStore;

/// The name of the owner index (the Java KCL 3.x's).
pub(crate) const OWNER_INDEX: &str = "LeaseOwnerToLeaseKeyIndex";

type Result<T> = std::result::Result<T, LeaseStoreError>;

/// What DescribeTable said.
struct Described {
    status: Option<TableStatus>,
    /// The owner index's status, when the table has it.
    index: Option<IndexStatus>,
}

impl LeaseStore {
    /// Creates the table with the owner index unless it exists, adds the index to a table
    /// without it, and waits until the table is ACTIVE. Whether the index can be used is
    /// remembered for [`owned_by`](LeaseStore::owned_by).
    pub(crate) async fn ensure_table(&self) -> Result<()> {
        let described = self.describe().await?;
        if described.status.is_none() {
            self.create().await?;
        } else if described.index.is_none() {
            self.add_owner_index().await;
        }
        for _ in 0..600 {
            let now = self.describe().await?;
            if now.status == Some(TableStatus::Active) {
                self.set_index_ready(now.index == Some(IndexStatus::Active));
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(LeaseStoreError::Timeout {
            operation: "DescribeTable (waiting for ACTIVE)",
            timeout: Duration::from_secs(60),
        })
    }

    /// Checks again whether the owner index has become usable (it is built in the
    /// background after being added to a table).
    pub(crate) async fn refresh_index_status(&self) -> Result<bool> {
        let ready = self.describe().await?.index == Some(IndexStatus::Active);
        self.set_index_ready(ready);
        Ok(ready)
    }

    async fn describe(&self) -> Result<Described> {
        let described = self
            .call(
                self.timeouts.table,
                "DescribeTable",
                self.client.describe_table().table_name(&self.table).send(),
            )
            .await;
        let table = match described {
            Ok(out) => out.table,
            Err(LeaseStoreError::TableMissing { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(Described {
            status: table.as_ref().and_then(|t| t.table_status().cloned()),
            index: table.as_ref().and_then(|t| {
                t.global_secondary_indexes()
                    .iter()
                    .find(|i| i.index_name() == Some(OWNER_INDEX))
                    .map(|i| i.index_status().cloned().unwrap_or(IndexStatus::Active))
            }),
        })
    }

    async fn create(&self) -> Result<()> {
        let created = self
            .call(
                self.timeouts.table,
                "CreateTable",
                self.client
                    .create_table()
                    .table_name(&self.table)
                    .billing_mode(BillingMode::PayPerRequest)
                    .key_schema(key(attr::LEASE_KEY, KeyType::Hash)?)
                    .attribute_definitions(string_attribute(attr::LEASE_KEY)?)
                    .attribute_definitions(string_attribute(attr::LEASE_OWNER)?)
                    .global_secondary_indexes(owner_index()?)
                    .send(),
            )
            .await;
        match created {
            Ok(_) => {
                tracing::info!(table = %self.table, "created the lease table");
                Ok(())
            }
            // ResourceInUseException: another worker created it meanwhile.
            Err(LeaseStoreError::Fatal { message, .. })
                if message.contains("ResourceInUse") || message.contains("already exists") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Adds the owner index; a refusal leaves the table without it (scans then find the
    /// leases assigned to this worker).
    async fn add_owner_index(&self) {
        let index = match owner_index_action() {
            Ok(index) => index,
            Err(e) => {
                tracing::warn!(error = %e, "cannot describe the owner index");
                return;
            }
        };
        let added = match string_attribute(attr::LEASE_OWNER) {
            Ok(owner) => {
                self.call(
                    self.timeouts.table,
                    "UpdateTable (add owner index)",
                    self.client
                        .update_table()
                        .table_name(&self.table)
                        .attribute_definitions(owner)
                        .global_secondary_index_updates(index)
                        .send(),
                )
                .await
            }
            Err(e) => Err(e),
        };
        match added {
            Ok(_) => {
                tracing::info!(table = %self.table, index = OWNER_INDEX, "adding the owner index")
            }
            Err(e) => tracing::warn!(
                table = %self.table,
                error = %e,
                "cannot add the owner index; leases assigned to this worker are found by scans"
            ),
        }
    }
}

fn owner_index() -> Result<GlobalSecondaryIndex> {
    GlobalSecondaryIndex::builder()
        .index_name(OWNER_INDEX)
        .key_schema(key(attr::LEASE_OWNER, KeyType::Hash)?)
        .key_schema(key(attr::LEASE_KEY, KeyType::Range)?)
        .projection(keys_only())
        .build()
        .map_err(build_error)
}

fn owner_index_action() -> Result<GlobalSecondaryIndexUpdate> {
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(OWNER_INDEX)
        .key_schema(key(attr::LEASE_OWNER, KeyType::Hash)?)
        .key_schema(key(attr::LEASE_KEY, KeyType::Range)?)
        .projection(keys_only())
        .build()
        .map_err(build_error)?;
    Ok(GlobalSecondaryIndexUpdate::builder().create(create).build())
}

fn keys_only() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::KeysOnly)
        .build()
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(build_error)
}

fn string_attribute(name: &str) -> Result<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(name)
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
