//! The lease table as both sides see it: created beforehand (on dynalite, which refuses a
//! GSI's UpdateTable on a PAY_PER_REQUEST table, with both GSIs a kcl worker creates a
//! table with, the Java KCL 3.x's and kcl's hand-over index, so Java works beside the
//! latter; elsewhere the Java KCL adds its own and kcl then adds its), leases written before Java starts (so it skips its random wait
//! on an empty table), items read back, and a sampler that records every lease over time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType, TableStatus,
};
use kcl::Position;

use super::events::wall_us;

pub const GSI: &str = "LeaseOwnerToLeaseKeyIndex";

type Item = HashMap<String, AttributeValue>;

/// One lease item as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseItem {
    pub key: String,
    pub owner: Option<String>,
    pub checkpoint_owner: Option<String>,
    pub counter: u64,
    pub checkpoint: Position,
    pub throughput_kbps: Option<f64>,
    /// Every attribute name of the item.
    pub attributes: Vec<String>,
}

impl LeaseItem {
    fn from_item(item: &Item) -> LeaseItem {
        let s = |k: &str| match item.get(k) {
            Some(AttributeValue::S(v)) => Some(v.clone()),
            _ => None,
        };
        let n = |k: &str| match item.get(k) {
            Some(AttributeValue::N(v)) => v.parse::<f64>().ok(),
            _ => None,
        };
        let checkpoint = s("checkpoint").unwrap_or_else(|| "TRIM_HORIZON".into());
        let sub = n("checkpointSubSequenceNumber").unwrap_or(0.0) as u64;
        let mut attributes: Vec<String> = item.keys().cloned().collect();
        attributes.sort();
        LeaseItem {
            key: s("leaseKey").unwrap_or_default(),
            owner: s("leaseOwner"),
            checkpoint_owner: s("checkpointOwner"),
            counter: n("leaseCounter").unwrap_or(0.0) as u64,
            checkpoint: Position::from_table(&checkpoint, sub).unwrap(),
            throughput_kbps: n("throughputKBps"),
            attributes,
        }
    }
}

/// Creates the lease table (PAY_PER_REQUEST, `leaseKey` HASH), with `gsi` the index
/// `LeaseOwnerToLeaseKeyIndex` (`leaseOwner` HASH, `leaseKey` RANGE, KEYS_ONLY) as the Java
/// KCL 3.x adds it, and waits until it is ACTIVE.
pub async fn create_lease_table(dynamodb: &aws_sdk_dynamodb::Client, table: &str, gsi: bool) {
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let index = |name: &str, hash: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash))
            .key_schema(key("leaseKey", KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .unwrap()
    };
    let mut create = dynamodb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("leaseKey"))
        .key_schema(key("leaseKey", KeyType::Hash));
    if gsi {
        create = create
            .attribute_definitions(attr("leaseOwner"))
            .attribute_definitions(attr("kclHandoverTo"))
            .global_secondary_indexes(index(GSI, "leaseOwner"))
            .global_secondary_indexes(index("KclHandoverToLeaseKeyIndex", "kclHandoverTo"));
    }
    create.send().await.unwrap();
    for _ in 0..300 {
        let table = describe(dynamodb, table).await.unwrap();
        let gsi_active = table
            .global_secondary_indexes()
            .iter()
            .all(|g| g.index_status().is_some_and(|s| s.as_str() == "ACTIVE"));
        if table.table_status() == Some(&TableStatus::Active) && gsi_active {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("lease table {table} not ACTIVE in 15 s");
}

/// Whether the lease table has the GSI, ACTIVE.
pub async fn has_active_gsi(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> bool {
    let table = describe(dynamodb, table).await.unwrap();
    table.global_secondary_indexes().iter().any(|g| {
        g.index_name() == Some(GSI) && g.index_status().is_some_and(|s| s.as_str() == "ACTIVE")
    })
}

/// Every item of a table (one Scan page: these tables are small).
pub async fn scan(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Vec<Item> {
    let page = dynamodb.scan().table_name(table).send().await.unwrap();
    page.items.unwrap_or_default()
}

/// The table's description, or `None` when it does not exist.
pub async fn describe(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Option<aws_sdk_dynamodb::types::TableDescription> {
    let out = dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .ok()?;
    out.table
}

/// Writes an unowned lease at TRIM_HORIZON for each shard, as shard sync creates them (both
/// the Java KCL's and kcl's), so no worker sees an empty table.
pub async fn create_leases(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    shards: &[aws_sdk_kinesis::types::Shard],
) {
    for shard in shards {
        let range = shard.hash_key_range().unwrap();
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let n = |v: &str| AttributeValue::N(v.to_owned());
        let mut put = dynamodb
            .put_item()
            .table_name(table)
            .item("leaseKey", s(shard.shard_id()))
            .item("leaseCounter", n("0"))
            .item("checkpoint", s("TRIM_HORIZON"))
            .item("checkpointSubSequenceNumber", n("0"))
            .item("ownerSwitchesSinceCheckpoint", n("0"))
            .item("startingHashKey", s(range.starting_hash_key()))
            .item("endingHashKey", s(range.ending_hash_key()));
        if let Some(parent) = shard.parent_shard_id() {
            put = put.item("parentShardId", AttributeValue::Ss(vec![parent.to_owned()]));
        }
        put.condition_expression("attribute_not_exists(leaseKey)")
            .send()
            .await
            .unwrap();
    }
}

/// Every lease item, read consistently, by key.
pub async fn read_leases(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Vec<LeaseItem> {
    let items = crate::common::raw_items(dynamodb, table).await;
    let mut leases: Vec<LeaseItem> = items
        .iter()
        .filter(|i| !i.contains_key("entityType"))
        .map(LeaseItem::from_item)
        .collect();
    leases.sort_by(|a, b| a.key.cmp(&b.key));
    leases
}

/// One reading of the table.
#[derive(Clone, Debug)]
pub struct Sample {
    pub wall_us: u64,
    pub leases: Vec<LeaseItem>,
}

/// Reads the table every 200 ms until dropped.
pub struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Sampler {
        let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
        let (dynamodb, table, out) = (dynamodb.clone(), table.to_owned(), samples.clone());
        let task = tokio::spawn(async move {
            loop {
                let items = dynamodb
                    .scan()
                    .table_name(&table)
                    .consistent_read(true)
                    .send()
                    .await;
                if let Ok(page) = items {
                    let mut leases: Vec<LeaseItem> = page
                        .items()
                        .iter()
                        .filter(|i| !i.contains_key("entityType"))
                        .map(LeaseItem::from_item)
                        .collect();
                    leases.sort_by(|a, b| a.key.cmp(&b.key));
                    out.lock().unwrap().push(Sample {
                        wall_us: wall_us(),
                        leases,
                    });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Sampler { samples, task }
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().unwrap().clone()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The owners a lease had over the samples, consecutive repeats removed (`None`: unowned).
pub fn owner_history(samples: &[Sample], key: &str) -> Vec<Option<String>> {
    let mut history: Vec<Option<String>> = Vec::new();
    for lease in samples
        .iter()
        .flat_map(|s| s.leases.iter().filter(|l| l.key == key))
    {
        if history.last() != Some(&lease.owner) {
            history.push(lease.owner.clone());
        }
    }
    history
}
