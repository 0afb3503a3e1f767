//! Listing a stream's shards (ListShards, paginated) for the shard map.

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::{ShardFilter, ShardFilterType};

use crate::error::ErrorCode;
use crate::io::sender::request_error;
use crate::record::AttemptError;
use crate::stages::shard_map::ShardMap;

/// Why the shards could not be listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListError {
    /// The stream does not exist.
    StreamNotFound,
    /// Anything else (retried with backoff).
    Failed(AttemptError),
}

/// The stream's open shards.
pub(crate) async fn open_shards(client: &Client, stream: &str) -> Result<ShardMap, ListError> {
    let mut shards = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let request = match &next {
            Some(token) => client.list_shards().next_token(token),
            None => client.list_shards().stream_name(stream).shard_filter(
                ShardFilter::builder()
                    .r#type(ShardFilterType::AtLatest)
                    .build()
                    .map_err(|e| {
                        ListError::Failed(AttemptError::new(
                            ErrorCode::Other("InvalidRequest".into()),
                            e.to_string(),
                        ))
                    })?,
            ),
        };
        let page = request.send().await.map_err(|e| {
            let error = request_error(e);
            if error.code == ErrorCode::StreamNotFound {
                ListError::StreamNotFound
            } else {
                ListError::Failed(error)
            }
        })?;
        shards.extend(page.shards().iter().cloned());
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            return Ok(ShardMap::from_listed(&shards));
        }
    }
}
