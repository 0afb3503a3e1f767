//! Items of the lease table that are not this application's leases: a KCL 3.x
//! multi-stream lease (`account:stream:epoch:shardId`) owned by a worker that is gone,
//! and an item of another entity type. A single-stream worker never takes, steals,
//! renews, counts or deletes them.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};

use super::facts::LeaseWrite;
use super::report::Violation;

/// A multi-stream lease of another stream.
pub const MULTI_STREAM_KEY: &str = "123456789012:other-stream:1700000000:shardId-000000000000";
/// A worker metrics item (KCL 3.x).
pub const METRICS_KEY: &str = "worker-metrics-of-another-app";

/// Whether `key` is one of the foreign items.
pub fn is_foreign(key: &str) -> bool {
    key == MULTI_STREAM_KEY || key == METRICS_KEY
}

/// Creates the lease table (as the KCL does) and puts the foreign items in it.
pub async fn put(dynamodb: &aws_sdk_dynamodb::Client, table: &str) {
    let key = KeySchemaElement::builder()
        .attribute_name("leaseKey")
        .key_type(KeyType::Hash);
    let attr = AttributeDefinition::builder()
        .attribute_name("leaseKey")
        .attribute_type(ScalarAttributeType::S);
    dynamodb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key.build().unwrap())
        .attribute_definitions(attr.build().unwrap())
        .send()
        .await
        .unwrap();
    let s = |v: &str| AttributeValue::S(v.into());
    let n = |v: u64| AttributeValue::N(v.to_string());
    dynamodb
        .put_item()
        .table_name(table)
        .item("leaseKey", s(MULTI_STREAM_KEY))
        .item("leaseOwner", s("a-worker-long-gone"))
        .item("leaseCounter", n(7))
        .item("checkpoint", s("TRIM_HORIZON"))
        .item("checkpointSubSequenceNumber", n(0))
        .item("ownerSwitchesSinceCheckpoint", n(0))
        .send()
        .await
        .unwrap();
    dynamodb
        .put_item()
        .table_name(table)
        .item("leaseKey", s(METRICS_KEY))
        .item("entityType", s("WORKER_METRIC_STATS"))
        .item("leaseCounter", n(1))
        .send()
        .await
        .unwrap();
}

/// Items that are not this application's leases are never written (taken, renewed,
/// checkpointed, released or deleted) by its workers, successfully or not.
pub fn foreign_items_untouched(writes: &[LeaseWrite]) -> Vec<Violation> {
    writes
        .iter()
        .filter(|w| is_foreign(&w.key) && w.kind != super::facts::WriteKind::Read)
        .map(|w| Violation {
            checker: "foreign items untouched",
            what: format!(
                "{} sent {:?} on {} (applied {})",
                w.worker, w.kind, w.key, w.applied
            ),
            events: Vec::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::facts::WriteKind;
    use super::super::fixtures::write;
    use super::*;

    #[test]
    fn a_write_to_a_foreign_item_is_flagged() {
        let t = Instant::now();
        let mut refused = write("a", MULTI_STREAM_KEY, WriteKind::Take, t, 0);
        refused.applied = false;
        let ours = write("a", "shardId-000000000000", WriteKind::Take, t, 0);
        let v = foreign_items_untouched(&[refused, ours]);
        assert_eq!(v.len(), 1);
        assert!(v[0].what.contains("Take"));
    }
}
