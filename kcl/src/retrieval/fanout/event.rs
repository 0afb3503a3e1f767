//! What one SubscribeToShardEvent says: its records, where to resubscribe after it, and
//! whether the shard ended there (with which children).
//!
//! Kinesis ends a closed shard with an event whose continuation sequence number is
//! absent (the Rust SDK makes it `""`) and whose child shards are listed. ferrokinesis
//! lists the children on every event once the shard is closed, with a continuation, and
//! ends the stream after the first closed-shard event without records: that event is
//! the end too. An event listing no children (`Some(vec![])` included) is never the end.

use aws_sdk_kinesis::types::{ChildShard, Record, SubscribeToShardEvent};

use crate::SequenceNumber;
use crate::lease::sync_plan::ShardInfo;
use crate::retrieval::ShardSpec;
use crate::retrieval::kinesis::child_info;

/// One event, taken apart.
#[derive(Debug)]
pub(crate) struct Classified {
    pub(crate) records: Vec<Record>,
    /// Where to resubscribe after this event (`None` when absent or unreadable).
    pub(crate) continuation: Option<SequenceNumber>,
    pub(crate) millis_behind_latest: i64,
    /// `Some(children)` when the shard ends with this event.
    pub(crate) end: Option<Vec<ChildShard>>,
}

/// Takes `event` apart.
pub(crate) fn classify(event: SubscribeToShardEvent) -> Classified {
    let continuation = SequenceNumber::parse(&event.continuation_sequence_number).ok();
    let children = event.child_shards.unwrap_or_default();
    let end = (!children.is_empty() && (continuation.is_none() || event.records.is_empty()))
        .then_some(children);
    Classified {
        records: event.records,
        continuation,
        millis_behind_latest: event.millis_behind_latest,
        end,
    }
}

/// The reported children of `shard`, unless they cannot be trusted: a child that lists
/// only this shard as its parent but whose hash range reaches outside this shard's is a
/// merge child missing its other parent (ferrokinesis reports a merge's child with one
/// parent at the end of the adjacent parent). `None` means: ask ListShards.
pub(crate) fn trusted_children(
    reported: &[ChildShard],
    shard: &ShardSpec,
) -> Option<Vec<ShardInfo>> {
    let children: Vec<ShardInfo> = reported.iter().map(child_info).collect();
    let trusted = children.iter().all(|c| {
        if !c.parents.contains(&shard.id) {
            return false;
        }
        let single = c.parents.len() == 1;
        match (shard.hash_range, c.hash_range) {
            (Some(mine), Some(theirs)) if single => {
                mine.contains(theirs.start()) && mine.contains(theirs.end())
            }
            (_, None) => false,
            _ => true,
        }
    });
    trusted.then_some(children)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a broken expectation panics
mod tests {
    use aws_sdk_kinesis::primitives::Blob;
    use aws_sdk_kinesis::types::HashKeyRange;
    use kinesis_agg::HashRange;

    use super::*;

    fn record(seq: &str) -> Record {
        Record::builder()
            .sequence_number(seq)
            .partition_key("k")
            .data(Blob::new("d"))
            .build()
            .unwrap()
    }

    fn child(id: &str, parents: &[&str], range: (&str, &str)) -> ChildShard {
        let mut b = ChildShard::builder().shard_id(id).hash_key_range(
            HashKeyRange::builder()
                .starting_hash_key(range.0)
                .ending_hash_key(range.1)
                .build()
                .unwrap(),
        );
        for p in parents {
            b = b.parent_shards(*p);
        }
        b.build().unwrap()
    }

    fn event(
        records: &[&str],
        continuation: &str,
        children: Option<Vec<ChildShard>>,
    ) -> SubscribeToShardEvent {
        SubscribeToShardEvent::builder()
            .set_records(Some(records.iter().map(|s| record(s)).collect()))
            .continuation_sequence_number(continuation)
            .millis_behind_latest(7)
            .set_child_shards(children)
            .build()
            .unwrap()
    }

    #[test]
    fn the_end_is_a_missing_continuation_with_children_or_an_empty_closed_event() {
        let kids = || Some(vec![child("c", &["p"], ("0", "9"))]);
        // Kinesis: the last event has no continuation and lists the children.
        let c = classify(event(&["5"], "", kids()));
        assert_eq!(c.records.len(), 1);
        assert!(c.continuation.is_none());
        assert_eq!(c.end.map(|k| k.len()), Some(1));
        // ferrokinesis: children on a closed shard's events; the end is the empty one.
        let c = classify(event(&["5"], "6", kids()));
        assert!(c.end.is_none(), "records are still coming");
        assert_eq!(c.continuation.unwrap().as_str(), "6");
        assert!(classify(event(&[], "6", kids())).end.is_some());
        // No children, or an empty list of them, is never the end.
        assert!(classify(event(&[], "", Some(vec![]))).end.is_none());
        assert!(classify(event(&[], "", None)).end.is_none());
        assert_eq!(classify(event(&[], "9", None)).millis_behind_latest, 7);
    }

    #[test]
    fn a_merge_child_reported_with_one_parent_is_not_trusted() {
        let upper = ((u128::MAX / 2) + 1).to_string();
        let max = u128::MAX.to_string();
        let me = ShardSpec {
            id: "p2".into(),
            hash_range: Some(HashRange::from_decimal(&upper, &max).unwrap()),
        };
        // A split's children lie inside the parent's range: trusted.
        let q = ((u128::MAX / 4) * 3).to_string();
        let split = [
            child("a", &["p2"], (&upper, &q)),
            child("b", &["p2"], (&q, &max)),
        ];
        assert_eq!(trusted_children(&split, &me).map(|c| c.len()), Some(2));
        // A merge's child with both parents: trusted.
        let merged = [child("m", &["p1", "p2"], ("0", &max))];
        let got = trusted_children(&merged, &me).unwrap();
        assert_eq!(got[0].parents, ["p1", "p2"]);
        // The same child listing only this parent (ferrokinesis): ask ListShards.
        assert!(trusted_children(&[child("m", &["p2"], ("0", &max))], &me).is_none());
        // A child that does not name this shard at all: ask ListShards.
        assert!(trusted_children(&[child("x", &["p9"], (&upper, &max))], &me).is_none());
    }
}
