//! The future of one record's result.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::error::{PutError, PutErrorKind};
use crate::pending::Outcome;
use crate::record::{Attempts, PutResult, Record};

/// Resolves when the record is written ([`PutResult`]) or has failed ([`PutError`], with
/// the record). Dropping it does not cancel the record.
///
/// ```no_run
/// # async fn demo(producer: kpl::Producer) -> Result<(), kpl::PutError> {
/// let ack: kpl::PutHandle = producer.put(kpl::Record::new("orders", "k", "v")).await?;
/// let written = ack.await?;
/// assert!(written.attempts.last().is_some_and(|a| a.error.is_none()));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PutHandle {
    rx: oneshot::Receiver<Outcome>,
    stream: Arc<str>,
}

impl PutHandle {
    pub(crate) fn new(rx: oneshot::Receiver<Outcome>, stream: Arc<str>) -> PutHandle {
        PutHandle { rx, stream }
    }
}

impl Future for PutHandle {
    type Output = Result<PutResult, PutError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| {
            // Every record in the pipeline answers before it is dropped; a closed channel
            // can only mean the runtime itself went away.
            r.map(|outcome| outcome.map_err(|e| *e))
                .unwrap_or_else(|_| {
                    let record = Record::new(self.stream.clone(), String::new(), Bytes::new());
                    Err(PutError::new(
                        PutErrorKind::ShutDown,
                        record,
                        Attempts::default(),
                    ))
                })
        })
    }
}
