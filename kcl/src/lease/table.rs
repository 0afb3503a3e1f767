//! The lease table itself: created if missing (PAY_PER_REQUEST, hash key `leaseKey`), with
//! the two keys-only global secondary indexes of `index.rs`: the Java KCL 3.x's
//! `LeaseOwnerToLeaseKeyIndex` (`leaseOwner` HASH, `leaseKey` RANGE) and kcl's sparse
//! `KclHandoverToLeaseKeyIndex` (`kclHandoverTo` HASH, `leaseKey` RANGE). An existing table
//! without them gets them added, one at a time (DynamoDB builds one new index at a time:
//! the owner index first, the hand-over index once the owner index is ACTIVE); where that is
//! refused (some local servers), workers fall back to the other index, then to scans.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TableStatus,
};

use super::LeaseStoreError;
use super::codec::attr;
use super::index::{HANDOVER_INDEX, OWNER_INDEX};
use super::store::LeaseStore;

type Result<T> = std::result::Result<T, LeaseStoreError>;

/// What DescribeTable said.
struct Described {
    status: Option<TableStatus>,
    /// The owner index's status, when the table has it.
    owner: Option<IndexStatus>,
    /// The hand-over index's status, when the table has it.
    handover: Option<IndexStatus>,
}

impl Described {
    fn remember(&self, store: &LeaseStore) {
        let active = |i: &Option<IndexStatus>| *i == Some(IndexStatus::Active);
        store
            .indexes
            .set(active(&self.owner), active(&self.handover));
    }
}

impl LeaseStore {
    /// Creates the table with both indexes unless it exists, adds a missing index to a
    /// table without it, and waits until the table is ACTIVE. Which indexes can be used is
    /// remembered for [`owned_by`](LeaseStore::owned_by) and
    /// [`handed_to`](LeaseStore::handed_to).
    pub(crate) async fn ensure_table(&self) -> Result<()> {
        let described = self.describe().await?;
        if described.status.is_none() {
            self.create().await?;
        } else {
            self.add_missing_index(&described).await;
        }
        for _ in 0..600 {
            let now = self.describe().await?;
            if now.status == Some(TableStatus::Active) {
                now.remember(self);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(LeaseStoreError::Timeout {
            operation: "DescribeTable (waiting for ACTIVE)",
            timeout: Duration::from_secs(60),
        })
    }

    /// Checks again which indexes have become usable (each is built in the background
    /// after being added to a table), adding the next missing one.
    pub(crate) async fn refresh_index_status(&self) -> Result<()> {
        let described = self.describe().await?;
        self.add_missing_index(&described).await;
        described.remember(self);
        Ok(())
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
        let index = |name: &str| {
            table.as_ref().and_then(|t| {
                t.global_secondary_indexes()
                    .iter()
                    .find(|i| i.index_name() == Some(name))
                    .map(|i| i.index_status().cloned().unwrap_or(IndexStatus::Active))
            })
        };
        Ok(Described {
            status: table.as_ref().and_then(|t| t.table_status().cloned()),
            owner: index(OWNER_INDEX),
            handover: index(HANDOVER_INDEX),
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
                    .attribute_definitions(string_attribute(attr::HANDOVER_TO)?)
                    .global_secondary_indexes(index(OWNER_INDEX, attr::LEASE_OWNER)?)
                    .global_secondary_indexes(index(HANDOVER_INDEX, attr::HANDOVER_TO)?)
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

    /// Adds the first missing index (the owner index, then the hand-over index once the
    /// owner index is ACTIVE): DynamoDB builds one new index of a table at a time.
    async fn add_missing_index(&self, described: &Described) {
        let (name, hash) = match (&described.owner, &described.handover) {
            (None, _) => (OWNER_INDEX, attr::LEASE_OWNER),
            (Some(IndexStatus::Active), None) => (HANDOVER_INDEX, attr::HANDOVER_TO),
            _ => return,
        };
        if let Err(e) = self.add_index(name, hash).await {
            // Another worker adding it at the same moment is refused the same way.
            tracing::debug!(table = %self.table, index = name, error = %e, "cannot add the index; the other index or scans find the leases given to this worker");
        } else {
            tracing::info!(table = %self.table, index = name, "adding the index");
        }
    }

    async fn add_index(&self, name: &'static str, hash: &str) -> Result<()> {
        let create = CreateGlobalSecondaryIndexAction::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash)?)
            .key_schema(key(attr::LEASE_KEY, KeyType::Range)?)
            .projection(keys_only())
            .build()
            .map_err(build_error)?;
        let update = GlobalSecondaryIndexUpdate::builder().create(create).build();
        self.call(
            self.timeouts.table,
            "UpdateTable (add an index)",
            self.client
                .update_table()
                .table_name(&self.table)
                .attribute_definitions(string_attribute(hash)?)
                .global_secondary_index_updates(update)
                .send(),
        )
        .await
        .map(drop)
    }
}

fn index(name: &str, hash: &str) -> Result<GlobalSecondaryIndex> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash)?)
        .key_schema(key(attr::LEASE_KEY, KeyType::Range)?)
        .projection(keys_only())
        .build()
        .map_err(build_error)
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
