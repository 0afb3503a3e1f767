//! Lease items to and from DynamoDB attributes, with the Java KCL's names and types.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use kinesis_agg::HashRange;

use super::Lease;
use crate::{Position, PositionError};

/// The attribute names of the KCL lease table.
pub(crate) mod attr {
    pub(crate) const LEASE_KEY: &str = "leaseKey";
    pub(crate) const LEASE_OWNER: &str = "leaseOwner";
    pub(crate) const LEASE_COUNTER: &str = "leaseCounter";
    pub(crate) const CHECKPOINT: &str = "checkpoint";
    pub(crate) const CHECKPOINT_SUB: &str = "checkpointSubSequenceNumber";
    pub(crate) const PENDING_CHECKPOINT: &str = "pendingCheckpoint";
    pub(crate) const PENDING_CHECKPOINT_SUB: &str = "pendingCheckpointSubSequenceNumber";
    pub(crate) const PENDING_CHECKPOINT_STATE: &str = "pendingCheckpointState";
    pub(crate) const OWNER_SWITCHES: &str = "ownerSwitchesSinceCheckpoint";
    pub(crate) const PARENT_SHARD_ID: &str = "parentShardId";
    pub(crate) const CHILD_SHARD_IDS: &str = "childShardIds";
    pub(crate) const STARTING_HASH_KEY: &str = "startingHashKey";
    pub(crate) const ENDING_HASH_KEY: &str = "endingHashKey";
    pub(crate) const ENTITY_TYPE: &str = "entityType";
    pub(crate) const CHECKPOINT_OWNER: &str = "checkpointOwner";
    /// kcl's own: the worker a lease is being given to by its owner (a leaver's offer or
    /// assignment), until a take removes it. Keys the hand-over index.
    pub(crate) const HANDOVER_TO: &str = "kclHandoverTo";
    /// kcl's own: the kcl worker that last took the lease (see `Lease::kcl_holder`).
    pub(crate) const KCL_HOLDER: &str = "kclHolder";
}

/// An item that is not a readable lease.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseDecodeError {
    /// A required attribute is missing.
    #[error("lease item has no {0} attribute")]
    Missing(&'static str),
    /// An attribute has another DynamoDB type than the KCL writes.
    #[error("lease attribute {attribute} is not of type {expected}")]
    WrongType {
        /// The attribute.
        attribute: &'static str,
        /// The type the KCL writes (S, N, SS, B).
        expected: &'static str,
    },
    /// A number attribute that is not a non-negative integer.
    #[error("lease attribute {attribute} = {value:?} is not a non-negative integer")]
    BadNumber {
        /// The attribute.
        attribute: &'static str,
        /// Its value.
        value: String,
    },
    /// A checkpoint that is neither a sentinel nor a sequence number.
    #[error("lease checkpoint: {0}")]
    Checkpoint(#[from] PositionError),
    /// A hash range that is not one.
    #[error("lease hash range: {0}")]
    HashRange(#[from] kinesis_agg::HashRangeError),
}

type Item = HashMap<String, AttributeValue>;

/// What an item of the lease table is to a worker of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ItemKind {
    /// A lease of this stream.
    Lease(Box<Lease>),
    /// A lease item that cannot be read (a wrong type, a bad checkpoint, ...): present and
    /// unfinished for every decision, never taken. `key` is its `leaseKey`, or `?`.
    Unreadable {
        /// The item's `leaseKey`.
        key: String,
        /// What is wrong with it.
        error: LeaseDecodeError,
    },
    /// Not a lease of a single-stream application: another entity kind of a shared KCL 3.x
    /// table (`entityType` other than LEASE), or a multi-stream lease
    /// (`account:stream:epoch:shardId`). Never taken, stolen, counted or deleted.
    NotOurs,
}

/// Classifies an item.
pub(crate) fn classify(item: &Item) -> ItemKind {
    let lease_entity = match item.get(attr::ENTITY_TYPE) {
        None => true,
        Some(AttributeValue::S(t)) => t == "LEASE",
        Some(_) => false,
    };
    let key = match item.get(attr::LEASE_KEY) {
        Some(AttributeValue::S(k)) => Some(k.as_str()),
        _ => None,
    };
    if !lease_entity || key.is_some_and(|k| k.contains(':')) {
        return ItemKind::NotOurs;
    }
    match decode(item) {
        Ok(lease) => ItemKind::Lease(Box::new(lease)),
        Err(error) => ItemKind::Unreadable {
            key: key.unwrap_or("?").to_owned(),
            error,
        },
    }
}

/// The full item for a new lease (what `create` puts).
pub(crate) fn encode(lease: &Lease) -> Item {
    let mut item = Item::new();
    item.insert(attr::LEASE_KEY.into(), s(&lease.key));
    item.insert(attr::LEASE_COUNTER.into(), n(lease.counter));
    if let Some(owner) = &lease.owner {
        item.insert(attr::LEASE_OWNER.into(), s(owner));
    }
    item.insert(
        attr::OWNER_SWITCHES.into(),
        n(lease.owner_switches_since_checkpoint),
    );
    let (checkpoint, sub) = lease.checkpoint.to_table();
    item.insert(attr::CHECKPOINT.into(), AttributeValue::S(checkpoint));
    item.insert(attr::CHECKPOINT_SUB.into(), n(sub));
    if let Some(pending) = &lease.pending_checkpoint {
        let (p, psub) = pending.to_table();
        item.insert(attr::PENDING_CHECKPOINT.into(), AttributeValue::S(p));
        item.insert(attr::PENDING_CHECKPOINT_SUB.into(), n(psub));
    }
    if let Some(state) = &lease.pending_checkpoint_state {
        item.insert(attr::PENDING_CHECKPOINT_STATE.into(), b(state));
    }
    if let Some(ss) = string_set(&lease.parent_shard_ids) {
        item.insert(attr::PARENT_SHARD_ID.into(), ss);
    }
    if let Some(ss) = string_set(&lease.child_shard_ids) {
        item.insert(attr::CHILD_SHARD_IDS.into(), ss);
    }
    if let Some(range) = &lease.hash_range {
        let (start, end) = hash_range_strings(range);
        item.insert(attr::STARTING_HASH_KEY.into(), AttributeValue::S(start));
        item.insert(attr::ENDING_HASH_KEY.into(), AttributeValue::S(end));
    }
    item
}

/// Reads a lease item.
pub(crate) fn decode(item: &Item) -> Result<Lease, LeaseDecodeError> {
    let key = get_s(item, attr::LEASE_KEY)?.ok_or(LeaseDecodeError::Missing(attr::LEASE_KEY))?;
    let counter = get_n(item, attr::LEASE_COUNTER)?.unwrap_or(0);
    let checkpoint = match get_s(item, attr::CHECKPOINT)? {
        Some(c) => Position::from_table(&c, get_n(item, attr::CHECKPOINT_SUB)?.unwrap_or(0))?,
        None => return Err(LeaseDecodeError::Missing(attr::CHECKPOINT)),
    };
    let pending_checkpoint = match get_s(item, attr::PENDING_CHECKPOINT)? {
        Some(p) if !p.is_empty() => Some(Position::from_table(
            &p,
            get_n(item, attr::PENDING_CHECKPOINT_SUB)?.unwrap_or(0),
        )?),
        _ => None,
    };
    let hash_range = match (
        get_s(item, attr::STARTING_HASH_KEY)?,
        get_s(item, attr::ENDING_HASH_KEY)?,
    ) {
        (Some(start), Some(end)) => Some(HashRange::from_decimal(&start, &end)?),
        _ => None,
    };
    Ok(Lease {
        key,
        owner: get_s(item, attr::LEASE_OWNER)?,
        checkpoint_owner: get_s(item, attr::CHECKPOINT_OWNER)?,
        counter,
        checkpoint,
        pending_checkpoint,
        pending_checkpoint_state: get_b(item, attr::PENDING_CHECKPOINT_STATE)?,
        owner_switches_since_checkpoint: get_n(item, attr::OWNER_SWITCHES)?.unwrap_or(0),
        parent_shard_ids: get_ss(item, attr::PARENT_SHARD_ID)?,
        child_shard_ids: get_ss(item, attr::CHILD_SHARD_IDS)?,
        hash_range,
        kcl_holder: get_s(item, attr::KCL_HOLDER)?,
    })
}

/// The decimal strings of a hash range, as the table stores them.
pub(crate) fn hash_range_strings(range: &HashRange) -> (String, String) {
    (range.start().to_string(), range.end().to_string())
}

pub(crate) fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

pub(crate) fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn b(v: &Bytes) -> AttributeValue {
    AttributeValue::B(Blob::new(v.to_vec()))
}

/// A string set; `None` for an empty list (DynamoDB has no empty sets).
pub(crate) fn string_set(values: &[String]) -> Option<AttributeValue> {
    let mut v: Vec<String> = values.to_vec();
    v.sort();
    v.dedup();
    (!v.is_empty()).then_some(AttributeValue::Ss(v))
}

fn get_s(item: &Item, name: &'static str) -> Result<Option<String>, LeaseDecodeError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
        Some(_) => Err(wrong(name, "S")),
    }
}

fn get_n(item: &Item, name: &'static str) -> Result<Option<u64>, LeaseDecodeError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => {
            v.parse::<u64>()
                .map(Some)
                .map_err(|_| LeaseDecodeError::BadNumber {
                    attribute: name,
                    value: v.clone(),
                })
        }
        Some(_) => Err(wrong(name, "N")),
    }
}

fn get_ss(item: &Item, name: &'static str) -> Result<Vec<String>, LeaseDecodeError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(Vec::new()),
        Some(AttributeValue::Ss(v)) => {
            let mut v = v.clone();
            v.sort();
            Ok(v)
        }
        Some(_) => Err(wrong(name, "SS")),
    }
}

fn get_b(item: &Item, name: &'static str) -> Result<Option<Bytes>, LeaseDecodeError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::B(v)) => Ok(Some(Bytes::copy_from_slice(v.as_ref()))),
        Some(_) => Err(wrong(name, "B")),
    }
}

fn wrong(attribute: &'static str, expected: &'static str) -> LeaseDecodeError {
    LeaseDecodeError::WrongType {
        attribute,
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_lease() -> Lease {
        Lease {
            key: "shardId-000000000002".into(),
            owner: Some("w1".into()),
            checkpoint_owner: None,
            counter: 17,
            checkpoint: Position::at("4959", 3).unwrap(),
            pending_checkpoint: Some(Position::at("4960", 0).unwrap()),
            pending_checkpoint_state: Some(Bytes::from_static(b"state")),
            owner_switches_since_checkpoint: 2,
            parent_shard_ids: vec!["shardId-000000000000".into()],
            child_shard_ids: vec!["shardId-000000000004".into(), "shardId-000000000003".into()],
            hash_range: Some(HashRange::from_decimal("0", "12345").unwrap()),
            kcl_holder: None,
        }
    }

    #[test]
    fn items_carry_the_kcl_names_and_types() {
        let item = encode(&full_lease());
        let kind = |name: &str| match item.get(name) {
            Some(AttributeValue::S(_)) => "S",
            Some(AttributeValue::N(_)) => "N",
            Some(AttributeValue::Ss(_)) => "SS",
            Some(AttributeValue::B(_)) => "B",
            Some(_) => "other",
            None => "missing",
        };
        for (name, t) in [
            ("leaseKey", "S"),
            ("leaseOwner", "S"),
            ("leaseCounter", "N"),
            ("checkpoint", "S"),
            ("checkpointSubSequenceNumber", "N"),
            ("pendingCheckpoint", "S"),
            ("pendingCheckpointSubSequenceNumber", "N"),
            ("pendingCheckpointState", "B"),
            ("ownerSwitchesSinceCheckpoint", "N"),
            ("parentShardId", "SS"),
            ("childShardIds", "SS"),
            ("startingHashKey", "S"),
            ("endingHashKey", "S"),
        ] {
            assert_eq!(kind(name), t, "{name}");
        }
        assert_eq!(item.len(), 13);
        assert_eq!(item.get("checkpoint"), Some(&s("4959")));
        assert_eq!(item.get("checkpointSubSequenceNumber"), Some(&n(3)));
    }

    #[test]
    fn round_trip_and_minimal_items() {
        let lease = full_lease();
        let mut expected = lease.clone();
        expected.child_shard_ids.sort();
        assert_eq!(decode(&encode(&lease)).unwrap(), expected);

        let minimal = Lease::new("shardId-000000000001", Position::ShardEnd);
        let item = encode(&minimal);
        assert!(!item.contains_key("leaseOwner"));
        assert!(!item.contains_key("parentShardId"));
        assert_eq!(item.get("checkpoint"), Some(&s("SHARD_END")));
        assert_eq!(decode(&item).unwrap(), minimal);
    }

    #[test]
    fn bad_items_are_typed_errors() {
        let mut item = encode(&full_lease());
        item.insert("leaseCounter".into(), s("7"));
        assert_eq!(
            decode(&item),
            Err(LeaseDecodeError::WrongType {
                attribute: "leaseCounter",
                expected: "N"
            })
        );
        item.insert("leaseCounter".into(), AttributeValue::N("-1".into()));
        assert!(matches!(
            decode(&item),
            Err(LeaseDecodeError::BadNumber { .. })
        ));
        item.insert("leaseCounter".into(), n(1));
        item.insert("checkpoint".into(), s("BOGUS"));
        assert!(matches!(
            decode(&item),
            Err(LeaseDecodeError::Checkpoint(_))
        ));
        item.remove("checkpoint");
        assert_eq!(decode(&item), Err(LeaseDecodeError::Missing("checkpoint")));
    }

    #[test]
    fn items_are_ours_unreadable_or_not_ours() {
        let mut lease = full_lease();
        lease.child_shard_ids.sort();
        assert_eq!(
            classify(&encode(&lease)),
            ItemKind::Lease(Box::new(lease.clone()))
        );
        let mut tagged = encode(&lease);
        tagged.insert("entityType".into(), s("LEASE"));
        assert_eq!(classify(&tagged), ItemKind::Lease(Box::new(lease.clone())));
        // KCL 3.x entities sharing the table.
        for kind in ["WORKER_METRIC_STATS", "LEADER", "CLIENT_VERSION_MIGRATION"] {
            let mut other = HashMap::new();
            other.insert("leaseKey".to_owned(), s("worker-1"));
            other.insert("entityType".to_owned(), s(kind));
            assert_eq!(classify(&other), ItemKind::NotOurs, "{kind}");
        }
        // A multi-stream application's lease, readable or not.
        let mut multi = lease.clone();
        multi.key = "123456789012:orders:1700000000:shardId-000000000002".into();
        assert_eq!(classify(&encode(&multi)), ItemKind::NotOurs);
        // A lease of ours that cannot be read keeps its key.
        let mut broken = encode(&lease);
        broken.insert("leaseCounter".into(), s("7"));
        assert!(matches!(
            classify(&broken),
            ItemKind::Unreadable { key, error: LeaseDecodeError::WrongType { .. } } if key == lease.key
        ));
        let mut keyless = encode(&lease);
        keyless.insert("leaseKey".into(), AttributeValue::N("1".into()));
        assert!(matches!(classify(&keyless), ItemKind::Unreadable { key, .. } if key == "?"));
    }
}
