//! One SubscribeToShard call and its event stream, every wait under the event timeout:
//! the SDK puts no timeout on event streams (`send()` waits for the first message,
//! `recv()` for each next one, forever; aws-sdk-rust #1176).

use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::primitives::event_stream::EventReceiver;
use aws_sdk_kinesis::types::error::SubscribeToShardEventStreamError;
use aws_sdk_kinesis::types::{
    ShardIteratorType, StartingPosition, SubscribeToShardEvent, SubscribeToShardEventStream,
};

use super::FanOutError;
use crate::retrieval::{IteratorStart, RetrievalError};

/// An open subscription.
pub(crate) struct Subscription {
    events: EventReceiver<SubscribeToShardEventStream, SubscribeToShardEventStreamError>,
    timeout: Duration,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

/// Subscribes `consumer_arn` to `shard_id` from `start`, waiting at most `timeout` for
/// the service's answer.
pub(crate) async fn subscribe(
    client: &Client,
    consumer_arn: &str,
    shard_id: &str,
    start: &IteratorStart,
    timeout: Duration,
) -> Result<Subscription, FanOutError> {
    let send = client
        .subscribe_to_shard()
        .consumer_arn(consumer_arn)
        .shard_id(shard_id)
        .starting_position(starting_position(start)?)
        .send();
    match tokio::time::timeout(timeout, Box::pin(send)).await {
        Err(_) => Err(FanOutError::Stalled {
            waiting_for: "SubscribeToShard",
            timeout,
        }),
        Ok(Err(e)) => Err(FanOutError::from_send(e)),
        Ok(Ok(out)) => Ok(Subscription {
            events: out.event_stream,
            timeout,
        }),
    }
}

impl Subscription {
    /// The next event; `Ok(None)` when the service ended the subscription (after 5
    /// minutes, or at the end of a closed shard on some servers).
    pub(crate) async fn next(&mut self) -> Result<Option<SubscribeToShardEvent>, FanOutError> {
        loop {
            let recv = tokio::time::timeout(self.timeout, self.events.recv()).await;
            match recv {
                Err(_) => {
                    return Err(FanOutError::Stalled {
                        waiting_for: "SubscribeToShardEvent",
                        timeout: self.timeout,
                    });
                }
                Ok(Err(e)) => return Err(FanOutError::from_stream(e)),
                Ok(Ok(None)) => return Ok(None),
                Ok(Ok(Some(SubscribeToShardEventStream::SubscribeToShardEvent(event)))) => {
                    return Ok(Some(event));
                }
                Ok(Ok(Some(other))) => {
                    tracing::debug!(event = ?other, "skipping an event of an unknown type");
                }
            }
        }
    }
}

/// The SubscribeToShard starting position of `start`.
pub(crate) fn starting_position(start: &IteratorStart) -> Result<StartingPosition, FanOutError> {
    let b = StartingPosition::builder();
    let b = match start {
        IteratorStart::TrimHorizon => b.r#type(ShardIteratorType::TrimHorizon),
        IteratorStart::Latest => b.r#type(ShardIteratorType::Latest),
        IteratorStart::AtTimestamp(t) => b
            .r#type(ShardIteratorType::AtTimestamp)
            .timestamp(DateTime::from(*t)),
        IteratorStart::AtSequence(s) => b
            .r#type(ShardIteratorType::AtSequenceNumber)
            .sequence_number(s.as_str()),
        IteratorStart::AfterSequence(s) => b
            .r#type(ShardIteratorType::AfterSequenceNumber)
            .sequence_number(s.as_str()),
    };
    b.build().map_err(|e| {
        FanOutError::Kinesis(RetrievalError::Fatal {
            operation: "SubscribeToShard",
            message: e.to_string(),
        })
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a broken expectation panics
mod tests {
    use super::*;
    use crate::SequenceNumber;

    #[test]
    fn every_start_becomes_its_starting_position() {
        let seq = SequenceNumber::parse("42").unwrap();
        let p = starting_position(&IteratorStart::AfterSequence(seq.clone())).unwrap();
        assert_eq!(p.r#type(), &ShardIteratorType::AfterSequenceNumber);
        assert_eq!(p.sequence_number(), Some("42"));
        let p = starting_position(&IteratorStart::AtSequence(seq)).unwrap();
        assert_eq!(p.r#type(), &ShardIteratorType::AtSequenceNumber);
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let p = starting_position(&IteratorStart::AtTimestamp(t)).unwrap();
        assert_eq!(p.timestamp().map(|t| t.secs()), Some(1_700_000_000));
        let p = starting_position(&IteratorStart::TrimHorizon).unwrap();
        assert_eq!(p.r#type(), &ShardIteratorType::TrimHorizon);
        assert!(p.sequence_number().is_none());
        let p = starting_position(&IteratorStart::Latest).unwrap();
        assert_eq!(p.r#type(), &ShardIteratorType::Latest);
    }
}
