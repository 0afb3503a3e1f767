//! A `futures::Sink` of records, for piping a `Stream` into Kinesis.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::FuturesUnordered;
use futures::{Sink, StreamExt};

use crate::error::PutError;
use crate::handle::PutHandle;
use crate::producer::Producer;
use crate::record::Record;

type Putting = Pin<Box<dyn Future<Output = Result<PutHandle, PutError>> + Send>>;

/// Sends records into a [`Producer`]. `poll_ready` waits for room (backpressure);
/// `poll_flush` and `poll_close` wait until every record sent is written. A record that
/// fails comes out as the sink's error (with the record), at the next poll.
///
/// ```no_run
/// # async fn demo(producer: kpl::Producer) -> Result<(), kpl::PutError> {
/// use futures::{SinkExt, StreamExt};
///
/// let records = futures::stream::iter(0..1000).map(|i| Ok(kpl::Record::new("orders", format!("k{i}"), "v")));
/// let mut sink = producer.sink();
/// sink.send_all(&mut Box::pin(records)).await?;
/// sink.close().await?; // every record written
/// # Ok(()) }
/// ```
pub struct PutSink {
    producer: Producer,
    putting: Option<Putting>,
    acks: FuturesUnordered<PutHandle>,
    failed: VecDeque<PutError>,
}

impl std::fmt::Debug for PutSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutSink")
            .field("unacknowledged", &self.acks.len())
            .field("failed", &self.failed.len())
            .finish()
    }
}

impl Producer {
    /// A [`Sink`] of records into this producer.
    pub fn sink(&self) -> PutSink {
        PutSink {
            producer: self.clone(),
            putting: None,
            acks: FuturesUnordered::new(),
            failed: VecDeque::new(),
        }
    }
}

impl PutSink {
    /// Drives the put in progress (waiting for room); Ready once there is none.
    fn poll_putting(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(putting) = self.putting.as_mut() {
            match putting.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(handle)) => self.acks.push(handle),
                Poll::Ready(Err(e)) => self.failed.push_back(e),
            }
            self.putting = None;
        }
        Poll::Ready(())
    }

    /// Collects the results that are in, keeping the failures.
    fn poll_acks(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while let Poll::Ready(Some(result)) = self.acks.poll_next_unpin(cx) {
            if let Err(e) = result {
                self.failed.push_back(e);
            }
        }
        if self.acks.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Sink<Record> for PutSink {
    type Error = PutError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), PutError>> {
        let this = &mut *self;
        let _ = this.poll_acks(cx);
        if let Some(e) = this.failed.pop_front() {
            return Poll::Ready(Err(e));
        }
        this.poll_putting(cx)
            .map(|()| match this.failed.pop_front() {
                Some(e) => Err(e),
                None => Ok(()),
            })
    }

    fn start_send(mut self: Pin<&mut Self>, record: Record) -> Result<(), PutError> {
        let producer = self.producer.clone();
        self.putting = Some(Box::pin(async move { producer.put(record).await }));
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), PutError>> {
        let this = &mut *self;
        if this.poll_putting(cx).is_pending() {
            return Poll::Pending;
        }
        let acked = this.poll_acks(cx);
        if let Some(e) = this.failed.pop_front() {
            return Poll::Ready(Err(e));
        }
        acked.map(Ok)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), PutError>> {
        self.poll_flush(cx)
    }
}
