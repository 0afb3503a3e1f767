//! The Kinesis calls the consumer makes: ListShards, GetShardIterator, GetRecords.

use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::operation::get_records::GetRecordsOutput;
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::{Shard, ShardFilter, ShardFilterType, ShardIteratorType};
use kinesis_agg::HashRange;

use super::RetrievalError;
use crate::lease::sync_plan::ShardInfo;
use crate::{InitialPosition, SequenceNumber, StreamId};

/// Where to open a shard iterator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IteratorStart {
    TrimHorizon,
    Latest,
    AtTimestamp(SystemTime),
    AtSequence(SequenceNumber),
    AfterSequence(SequenceNumber),
}

/// A Kinesis client bound to one stream.
#[derive(Clone, Debug)]
pub(crate) struct StreamClient {
    client: Client,
    stream: StreamId,
    timeout: Duration,
    page_size: Option<i32>,
}

type Result<T> = std::result::Result<T, RetrievalError>;

impl StreamClient {
    pub(crate) fn new(client: Client, stream: StreamId, timeout: Duration) -> Self {
        StreamClient {
            client,
            stream,
            timeout,
            page_size: None,
        }
    }

    /// The same client asking ListShards for pages of at most `page_size` shards.
    pub(crate) fn with_page_size(mut self, page_size: Option<u32>) -> Self {
        self.page_size = page_size.and_then(|n| i32::try_from(n).ok());
        self
    }

    async fn call<T, E>(
        &self,
        operation: &'static str,
        request: impl Future<
            Output = std::result::Result<
                T,
                aws_sdk_kinesis::error::SdkError<E, aws_sdk_kinesis::config::http::HttpResponse>,
            >,
        >,
    ) -> Result<T>
    where
        E: aws_sdk_kinesis::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(RetrievalError::from_sdk(operation, e)),
            Err(_) => Err(RetrievalError::Timeout {
                operation,
                timeout: self.timeout,
            }),
        }
    }

    /// Every shard, following ListShards pagination. With `filter_for` (an empty lease
    /// table), a ShardFilter asks only for the shards open at the initial position.
    pub(crate) async fn list_shards(
        &self,
        filter_for: Option<InitialPosition>,
    ) -> Result<Vec<ShardInfo>> {
        let mut shards = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut request = self.client.list_shards().set_max_results(self.page_size);
            request = match &next {
                // A NextToken carries the stream and the filter.
                Some(token) => request.next_token(token),
                None => {
                    let r = match &self.stream {
                        StreamId::Name(n) => request.stream_name(n),
                        StreamId::Arn(a) => request.stream_arn(a),
                    };
                    r.set_shard_filter(filter_for.and_then(shard_filter))
                }
            };
            let page = self.call("ListShards", request.send()).await?;
            shards.extend(page.shards().iter().map(shard_info));
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                return Ok(shards);
            }
        }
    }

    /// A shard iterator at `start`.
    pub(crate) async fn shard_iterator(
        &self,
        shard_id: &str,
        start: &IteratorStart,
    ) -> Result<String> {
        let mut request = self.client.get_shard_iterator().shard_id(shard_id);
        request = match &self.stream {
            StreamId::Name(n) => request.stream_name(n),
            StreamId::Arn(a) => request.stream_arn(a),
        };
        request = match start {
            IteratorStart::TrimHorizon => {
                request.shard_iterator_type(ShardIteratorType::TrimHorizon)
            }
            IteratorStart::Latest => request.shard_iterator_type(ShardIteratorType::Latest),
            IteratorStart::AtTimestamp(t) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(DateTime::from(*t)),
            IteratorStart::AtSequence(s) => request
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .starting_sequence_number(s.as_str()),
            IteratorStart::AfterSequence(s) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(s.as_str()),
        };
        let out = self.call("GetShardIterator", request.send()).await?;
        out.shard_iterator.ok_or_else(|| RetrievalError::NotFound {
            operation: "GetShardIterator",
            message: format!("no iterator returned for shard {shard_id}"),
        })
    }

    /// One GetRecords call.
    pub(crate) async fn get_records(&self, iterator: &str, limit: u32) -> Result<GetRecordsOutput> {
        let limit = i32::try_from(limit).unwrap_or(10_000);
        self.call(
            "GetRecords",
            self.client
                .get_records()
                .shard_iterator(iterator)
                .limit(limit)
                .send(),
        )
        .await
    }
}

fn shard_filter(initial: InitialPosition) -> Option<ShardFilter> {
    let builder = match initial {
        InitialPosition::Latest => ShardFilter::builder().r#type(ShardFilterType::AtLatest),
        InitialPosition::TrimHorizon => {
            ShardFilter::builder().r#type(ShardFilterType::AtTrimHorizon)
        }
        InitialPosition::AtTimestamp(t) => ShardFilter::builder()
            .r#type(ShardFilterType::AtTimestamp)
            .timestamp(DateTime::from(t)),
    };
    builder.build().ok()
}

/// What shard sync needs of a listed shard.
pub(crate) fn shard_info(shard: &Shard) -> ShardInfo {
    let parents = [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
        .into_iter()
        .flatten()
        .map(str::to_owned)
        .collect();
    ShardInfo {
        id: shard.shard_id().to_owned(),
        parents,
        hash_range: shard
            .hash_key_range()
            .and_then(|r| HashRange::from_decimal(r.starting_hash_key(), r.ending_hash_key()).ok()),
        closed: shard
            .sequence_number_range()
            .and_then(|r| r.ending_sequence_number())
            .is_some(),
    }
}

/// A child shard as GetRecords reports it at the end of its parent.
pub(crate) fn child_info(child: &aws_sdk_kinesis::types::ChildShard) -> ShardInfo {
    ShardInfo {
        id: child.shard_id().to_owned(),
        parents: child.parent_shards().to_vec(),
        hash_range: child
            .hash_key_range()
            .and_then(|r| HashRange::from_decimal(r.starting_hash_key(), r.ending_hash_key()).ok()),
        closed: false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // test code: a broken expectation panics
mod tests {
    use aws_sdk_kinesis::types::{ChildShard, HashKeyRange, SequenceNumberRange};

    use super::*;
    use crate::Position;

    fn range(start: &str, end: &str) -> HashKeyRange {
        HashKeyRange::builder()
            .starting_hash_key(start)
            .ending_hash_key(end)
            .build()
            .unwrap()
    }

    #[test]
    fn a_reported_child_becomes_an_open_shard_with_its_parents_and_range() {
        // A merge's child, as GetRecords reports it at the end of each parent.
        let child = ChildShard::builder()
            .shard_id("shardId-000000000003")
            .parent_shards("shardId-000000000001")
            .parent_shards("shardId-000000000002")
            .hash_key_range(range("0", "340282366920938463463374607431768211455"))
            .build()
            .unwrap();
        let info = child_info(&child);
        assert_eq!(info.id, "shardId-000000000003");
        assert_eq!(
            info.parents,
            ["shardId-000000000001", "shardId-000000000002"]
        );
        assert_eq!(
            info.hash_range,
            Some(HashRange::from_decimal("0", "340282366920938463463374607431768211455").unwrap())
        );
        assert!(!info.closed);
        let lease = info.lease_at(Position::TrimHorizon);
        assert_eq!(lease.parent_shard_ids, info.parents);
        assert_eq!(lease.hash_range, info.hash_range);
    }

    #[test]
    fn a_child_with_a_bad_range_keeps_its_parents_and_no_range() {
        let child = ChildShard::builder()
            .shard_id("shardId-000000000004")
            .parent_shards("shardId-000000000000")
            .hash_key_range(range("not a number", "1"))
            .build()
            .unwrap();
        let info = child_info(&child);
        assert_eq!(info.parents, ["shardId-000000000000"]);
        assert_eq!(info.hash_range, None);
    }

    #[test]
    fn a_listed_shard_is_closed_when_it_has_an_ending_sequence_number() {
        let sequences = |end: Option<&str>| {
            SequenceNumberRange::builder()
                .starting_sequence_number("1")
                .set_ending_sequence_number(end.map(str::to_owned))
                .build()
                .unwrap()
        };
        let shard = |end| {
            Shard::builder()
                .shard_id("shardId-000000000002")
                .parent_shard_id("shardId-000000000000")
                .adjacent_parent_shard_id("shardId-000000000001")
                .hash_key_range(range("10", "20"))
                .sequence_number_range(sequences(end))
                .build()
                .unwrap()
        };
        let open = shard_info(&shard(None));
        assert!(!open.closed);
        assert_eq!(
            open.parents,
            ["shardId-000000000000", "shardId-000000000001"]
        );
        assert_eq!(
            open.hash_range,
            Some(HashRange::from_decimal("10", "20").unwrap())
        );
        assert!(shard_info(&shard(Some("99"))).closed);
    }

    #[test]
    fn the_shard_filter_follows_the_initial_position() {
        let kind = |p| shard_filter(p).map(|f| f.r#type().clone());
        assert_eq!(
            kind(InitialPosition::Latest),
            Some(ShardFilterType::AtLatest)
        );
        assert_eq!(
            kind(InitialPosition::TrimHorizon),
            Some(ShardFilterType::AtTrimHorizon)
        );
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let filter = shard_filter(InitialPosition::AtTimestamp(at)).unwrap();
        assert_eq!(filter.r#type(), &ShardFilterType::AtTimestamp);
        assert_eq!(filter.timestamp().map(|t| t.secs()), Some(1_700_000_000));
    }
}
