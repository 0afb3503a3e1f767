//! The I/O edge of the pipeline: one PutRecords request, sealed, sent with a timeout,
//! and its per-entry outcomes.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use kinesis_agg::Unsealed;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tracing::Instrument;

use crate::error::ErrorCode;
use crate::record::AttemptError;

/// What one entry of a PutRecords request came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EntryOutcome {
    Written {
        shard_id: Arc<str>,
        sequence_number: Arc<str>,
    },
    Failed(AttemptError),
}

/// A finished request: the entries' outcomes in request order, or why the whole request failed.
#[derive(Debug)]
pub(crate) struct Sent {
    pub(crate) started: Instant,
    pub(crate) finished: Instant,
    pub(crate) result: Result<Vec<EntryOutcome>, AttemptError>,
}

/// Seals `records` (their MD5s together) and sends them as one PutRecords on a task of its
/// own; `permit` holds a connection slot until the request ends.
pub(crate) fn spawn(
    client: Client,
    stream: Arc<str>,
    id: u64,
    records: Vec<Unsealed>,
    timeout: Duration,
    permit: OwnedSemaphorePermit,
) -> tokio::task::JoinHandle<Sent> {
    let span = tracing::debug_span!("put_records", stream = %stream, request = id, records = records.len());
    tokio::spawn(
        async move {
            let started = Instant::now();
            let result =
                match tokio::time::timeout(timeout, put_records(&client, &stream, records)).await {
                    Ok(result) => result,
                    Err(_) => Err(AttemptError::new(
                        ErrorCode::Timeout,
                        format!("no response within {timeout:?}"),
                    )),
                };
            drop(permit);
            let finished = Instant::now();
            if let Err(e) = &result {
                tracing::debug!(code = e.code.as_str(), message = %e.message, "PutRecords failed");
            }
            Sent {
                started,
                finished,
                result,
            }
        }
        .instrument(span),
    )
}

async fn put_records(
    client: &Client,
    stream: &str,
    records: Vec<Unsealed>,
) -> Result<Vec<EntryOutcome>, AttemptError> {
    let sealed = Unsealed::seal_all(records);
    let mut entries = Vec::with_capacity(sealed.len());
    for r in sealed {
        let entry = PutRecordsRequestEntry::builder()
            .partition_key(r.partition_key)
            .explicit_hash_key(r.explicit_hash_key.to_string())
            .data(Blob::from_maybe_shared(r.data))
            .build()
            .map_err(|e| {
                AttemptError::new(ErrorCode::Other("InvalidRequest".into()), e.to_string())
            })?;
        entries.push(entry);
    }
    let count = entries.len();
    let output = client
        .put_records()
        .stream_name(stream)
        .set_records(Some(entries))
        .send()
        .await
        .map_err(request_error)?;
    let outcomes: Vec<EntryOutcome> = output.records().iter().map(entry_outcome).collect();
    if outcomes.len() != count {
        return Err(AttemptError::new(
            ErrorCode::InternalFailure,
            format!("PutRecords answered {} entries for {count}", outcomes.len()),
        ));
    }
    Ok(outcomes)
}

fn entry_outcome(entry: &aws_sdk_kinesis::types::PutRecordsResultEntry) -> EntryOutcome {
    match (
        entry.error_code(),
        entry.shard_id(),
        entry.sequence_number(),
    ) {
        (None, Some(shard), Some(seq)) => EntryOutcome::Written {
            shard_id: shard.into(),
            sequence_number: seq.into(),
        },
        (code, _, _) => EntryOutcome::Failed(AttemptError::new(
            code.map_or(ErrorCode::InternalFailure, ErrorCode::from_entry),
            entry.error_message().unwrap_or_default(),
        )),
    }
}

/// A whole-request failure, typed by its HTTP status and error class (see
/// [`ErrorCode::from_response`]).
pub(crate) fn request_error<E>(err: SdkError<E, HttpResponse>) -> AttemptError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = match &err {
        SdkError::TimeoutError(_) => ErrorCode::Timeout,
        SdkError::DispatchFailure(d) if d.is_timeout() => ErrorCode::Timeout,
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => ErrorCode::Network,
        SdkError::ServiceError(e) => {
            ErrorCode::from_response(Some(e.raw().status().as_u16()), err.code())
        }
        _ => ErrorCode::Other("ConstructionFailure".into()),
    };
    let message = match (&err, err.message()) {
        (SdkError::ServiceError(_), Some(message)) => message.to_owned(),
        _ => DisplayErrorContext(&err).to_string(),
    };
    AttemptError::new(code, message)
}
