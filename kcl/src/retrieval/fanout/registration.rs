//! The application's stream consumer: described first, registered when missing,
//! waited for until ACTIVE, shared by every shard of the worker (and, by name, by every
//! worker of the application). One registration attempt runs at a time per worker;
//! after a failure every shard waits out the same backoff, so RegisterStreamConsumer's
//! limits (5 calls/s, 5 consumers CREATING per stream) are met with backoff, not with
//! one retry per shard. DescribeStreamConsumer is called at most once a second.

use std::time::Duration;

use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::types::ConsumerStatus;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::StreamId;
use crate::retrieval::{RetrievalError, StreamClient};

/// The least time between a DescribeStreamConsumer answer and the next call (the service
/// allows 20/s per stream, shared by every worker).
pub(crate) const DESCRIBE_GAP: Duration = Duration::from_secs(1);

/// Longest wait for a consumer to become ACTIVE in one attempt.
const ACTIVE_WAIT: Duration = Duration::from_secs(120);

type Result<T> = std::result::Result<T, RetrievalError>;

/// The stream consumer of this worker's application.
#[derive(Debug)]
pub(crate) struct Registration {
    client: StreamClient,
    name: String,
    configured_arn: Option<String>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The consumer's ARN once it was seen ACTIVE.
    arn: Option<String>,
    stream_arn: Option<String>,
    failures: u32,
    not_before: Option<Instant>,
    last_describe: Option<Instant>,
}

impl Registration {
    /// The consumer `name` of `client`'s stream, or the one at `configured_arn`.
    pub(crate) fn new(client: StreamClient, name: String, configured_arn: Option<String>) -> Self {
        Registration {
            client,
            name,
            configured_arn,
            state: Mutex::new(State::default()),
        }
    }

    /// The ACTIVE consumer's ARN: at once when known, otherwise after describing (and if
    /// missing, registering) it and waiting for it to become ACTIVE.
    pub(crate) async fn consumer_arn(&self) -> Result<String> {
        let mut s = self.state.lock().await;
        if let Some(arn) = &s.arn {
            return Ok(arn.clone());
        }
        if let Some(t) = s.not_before {
            tokio::time::sleep_until(t).await;
        }
        match self.until_active(&mut s).await {
            Ok(arn) => {
                tracing::info!(consumer = %self.name, %arn, "stream consumer is ACTIVE");
                s.failures = 0;
                s.arn = Some(arn.clone());
                Ok(arn)
            }
            Err(e) => {
                s.failures += 1;
                let wait = crate::backoff::delay(s.failures, Duration::from_secs(1));
                s.not_before = Some(Instant::now() + wait);
                tracing::warn!(consumer = %self.name, error = %e, failures = s.failures, "stream consumer registration failed; backing off");
                Err(e)
            }
        }
    }

    /// Forgets `arn` (the consumer was deleted): the next caller registers again.
    pub(crate) async fn forget(&self, arn: &str) {
        let mut s = self.state.lock().await;
        if s.arn.as_deref() == Some(arn) {
            s.arn = None;
        }
    }

    async fn until_active(&self, s: &mut State) -> Result<String> {
        let deadline = Instant::now() + ACTIVE_WAIT;
        let mut known = self.configured_arn.clone();
        while Instant::now() < deadline {
            match self.describe(s, known.as_deref()).await? {
                Some((arn, ConsumerStatus::Active)) => return Ok(arn),
                Some((arn, status)) => {
                    tracing::debug!(consumer = %self.name, ?status, "waiting for the stream consumer");
                    known = Some(arn);
                }
                None if self.configured_arn.is_some() => {
                    return Err(RetrievalError::NotFound {
                        operation: "DescribeStreamConsumer",
                        message: format!("no stream consumer at {known:?}"),
                    });
                }
                None => known = self.register(s).await?,
            }
        }
        Err(RetrievalError::Timeout {
            operation: "DescribeStreamConsumer",
            timeout: ACTIVE_WAIT,
        })
    }

    /// The consumer's ARN and status, `None` when it does not exist; paced.
    async fn describe(
        &self,
        s: &mut State,
        arn: Option<&str>,
    ) -> Result<Option<(String, ConsumerStatus)>> {
        if let Some(last) = s.last_describe {
            tokio::time::sleep_until(last + DESCRIBE_GAP).await;
        }
        let request = self.client.sdk().describe_stream_consumer();
        let request = match arn {
            Some(arn) => request.consumer_arn(arn),
            None => request
                .stream_arn(self.stream_arn(s).await?)
                .consumer_name(&self.name),
        };
        let answer = self
            .client
            .call("DescribeStreamConsumer", request.send())
            .await;
        // Counted from the answer: the next call leaves a second after the service saw
        // this one, whatever the delays on the way.
        s.last_describe = Some(Instant::now());
        match answer {
            Ok(out) => Ok(out
                .consumer_description()
                .map(|d| (d.consumer_arn().to_owned(), d.consumer_status().clone()))),
            Err(RetrievalError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Registers the consumer; its ARN, or `None` when it already existed
    /// (ResourceInUse: another worker registered it first).
    async fn register(&self, s: &mut State) -> Result<Option<String>> {
        let stream_arn = self.stream_arn(s).await?;
        let send = self
            .client
            .sdk()
            .register_stream_consumer()
            .stream_arn(stream_arn)
            .consumer_name(&self.name)
            .send();
        let timeout = self.client.timeout();
        let operation = "RegisterStreamConsumer";
        match tokio::time::timeout(timeout, send).await {
            Ok(Ok(out)) => {
                tracing::info!(consumer = %self.name, "registered the stream consumer");
                Ok(out.consumer().map(|c| c.consumer_arn().to_owned()))
            }
            Ok(Err(SdkError::ServiceError(e))) if e.err().is_resource_in_use_exception() => {
                Ok(None)
            }
            Ok(Err(e)) => Err(RetrievalError::from_sdk(operation, e)),
            Err(_) => Err(RetrievalError::Timeout { operation, timeout }),
        }
    }

    /// The stream's ARN (DescribeStreamSummary once, when the stream is named).
    async fn stream_arn(&self, s: &mut State) -> Result<String> {
        if let Some(arn) = &s.stream_arn {
            return Ok(arn.clone());
        }
        let arn = match self.client.stream() {
            StreamId::Arn(arn) => arn.clone(),
            StreamId::Name(name) => {
                let request = self
                    .client
                    .sdk()
                    .describe_stream_summary()
                    .stream_name(name);
                let out = self
                    .client
                    .call("DescribeStreamSummary", request.send())
                    .await?;
                out.stream_description_summary()
                    .map(|d| d.stream_arn().to_owned())
                    .ok_or_else(|| RetrievalError::NotFound {
                        operation: "DescribeStreamSummary",
                        message: format!("no description of stream {name}"),
                    })?
            }
        };
        s.stream_arn = Some(arn.clone());
        Ok(arn)
    }

    /// Deregisters the consumer (the application's last worker shut down gracefully).
    pub(crate) async fn deregister(&self) -> Result<()> {
        let mut s = self.state.lock().await;
        let request = self.client.sdk().deregister_stream_consumer();
        let request = match s.arn.clone().or_else(|| self.configured_arn.clone()) {
            Some(arn) => request.consumer_arn(arn),
            None => request
                .stream_arn(self.stream_arn(&mut s).await?)
                .consumer_name(&self.name),
        };
        self.client
            .call("DeregisterStreamConsumer", request.send())
            .await?;
        tracing::info!(consumer = %self.name, "deregistered the stream consumer");
        s.arn = None;
        Ok(())
    }
}
