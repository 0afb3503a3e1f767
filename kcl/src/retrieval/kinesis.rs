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
}

type Result<T> = std::result::Result<T, RetrievalError>;

impl StreamClient {
    pub(crate) fn new(client: Client, stream: StreamId, timeout: Duration) -> Self {
        StreamClient {
            client,
            stream,
            timeout,
        }
    }

    async fn call<T, E, R>(
        &self,
        operation: &'static str,
        request: impl Future<Output = std::result::Result<T, aws_sdk_kinesis::error::SdkError<E, R>>>,
    ) -> Result<T>
    where
        E: aws_sdk_kinesis::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
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
            let mut request = self.client.list_shards();
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
