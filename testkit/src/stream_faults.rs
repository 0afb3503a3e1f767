//! Faults inside an event stream (`application/vnd.amazon.eventstream`, the body of a
//! SubscribeToShard answer): the response is forwarded message by message (each message
//! starts with its total length, a big-endian u32), and after the first `n` messages the
//! stream is cut with a reset, goes silent, or ends with an exception message.

use std::pin::Pin;
use std::task::{Context, Poll};

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::{Buf, Bytes, BytesMut};
use http::Response;
use http_body_util::BodyExt;
use hyper::body::Frame;
use tokio::sync::mpsc;

use crate::faults::Fault;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// The stream was cut on purpose.
#[derive(Debug, thiserror::Error)]
#[error("event stream reset by the fault proxy")]
struct StreamCut;

/// Whether a response is an event stream.
pub(crate) fn is_event_stream<B>(response: &Response<B>) -> bool {
    response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/vnd.amazon.eventstream"))
}

/// `response` with `fault` applied inside its event stream (unchanged otherwise).
pub(crate) fn apply(response: Response<Body>, fault: Fault) -> Response<Body> {
    let (after, then) = match fault {
        Fault::StreamReset { after_messages } => (after_messages, Then::Reset),
        Fault::StreamStall { after_messages } => (after_messages, Then::Stall),
        Fault::StreamException {
            after_messages,
            error_type,
        } => (after_messages, Then::Exception(error_type)),
        _ => return response,
    };
    if !is_event_stream(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(relay(body, after, then, tx));
    Response::from_parts(parts, ChannelBody(rx).boxed())
}

enum Then {
    Reset,
    Stall,
    Exception(String),
}

type Sent = Result<Frame<Bytes>, BoxError>;

/// Forwards whole messages until `after` passed, then does `then`.
async fn relay(mut body: Body, after: u32, then: Then, tx: mpsc::Sender<Sent>) {
    let mut pending = BytesMut::new();
    let mut passed = 0;
    loop {
        while let Some(len) = whole_message(&pending) {
            if passed >= after {
                drop(body); // the server's side ends here
                return cut(then, tx).await;
            }
            let message = pending.split_to(len).freeze();
            if tx.send(Ok(Frame::data(message))).await.is_err() {
                return;
            }
            passed += 1;
        }
        if passed >= after && pending.is_empty() {
            drop(body);
            return cut(then, tx).await;
        }
        match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => pending.extend_from_slice(data.chunk()),
                Err(frame) => {
                    let _ = tx.send(Ok(frame)).await;
                }
            },
            Some(Err(e)) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
            None => {
                if !pending.is_empty() {
                    let _ = tx.send(Ok(Frame::data(pending.freeze()))).await;
                }
                return;
            }
        }
    }
}

/// The length of the first message when `buf` holds all of it.
fn whole_message(buf: &[u8]) -> Option<usize> {
    let prefix: [u8; 4] = buf.get(..4)?.try_into().ok()?;
    let len = usize::try_from(u32::from_be_bytes(prefix)).ok()?;
    (len >= 4 && buf.len() >= len).then_some(len)
}

async fn cut(then: Then, tx: mpsc::Sender<Sent>) {
    match then {
        Then::Reset => {
            // hyper flushes what it wrote only when the body has nothing ready: a reset
            // ready at once would take the messages before it along.
            flushed(&tx).await;
            let _ = tx.send(Err(StreamCut.into())).await;
        }
        // Nothing more, the connection held open until the client gives up.
        Then::Stall => tx.closed().await,
        Then::Exception(error_type) => {
            let _ = tx.send(Ok(Frame::data(exception(&error_type)))).await;
        }
    }
}

/// Waits until the client side took every frame sent and had a moment to write them.
async fn flushed(tx: &mpsc::Sender<Sent>) {
    while tx.capacity() < tx.max_capacity() && !tx.is_closed() {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

/// An event stream exception message, as Kinesis encodes one.
pub(crate) fn exception(error_type: &str) -> Bytes {
    let payload = serde_json::json!({ "message": "injected by the testkit fault proxy" });
    let message = Message::new(Bytes::from(payload.to_string()))
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String("exception".into()),
        ))
        .add_header(Header::new(
            ":exception-type",
            HeaderValue::String(error_type.to_owned().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ));
    let mut buf = Vec::new();
    match aws_smithy_eventstream::frame::write_message_to(&message, &mut buf) {
        Ok(()) => Bytes::from(buf),
        Err(_) => Bytes::new(),
    }
}

/// A body fed by the relay task.
struct ChannelBody(mpsc::Receiver<Sent>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.0.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_told_apart_by_their_length_prefix() {
        let m = exception("ResourceInUseException");
        assert_eq!(whole_message(&m), Some(m.len()));
        assert_eq!(whole_message(&m[..m.len() - 1]), None);
        assert_eq!(whole_message(&m[..3]), None);
        let mut two = m.to_vec();
        two.extend_from_slice(&m);
        assert_eq!(whole_message(&two), Some(m.len()));
    }
}
