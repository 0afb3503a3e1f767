//! What a [`FaultProxy`](crate::FaultProxy) saw: one event per request, with its parsed
//! body, the fault injected, what the server and the client got, and when.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::Response;
use http_body_util::BodyExt;

use crate::faults::Fault;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// How a request ended for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not finished when the log was read.
    InFlight,
    /// The client got a response with this status (and `__type`, for an error body).
    Status {
        /// HTTP status.
        status: u16,
        /// The AWS error type of an error response (`__type`), if any.
        error_type: Option<String>,
    },
    /// The proxy closed the connection without an answer.
    Reset,
    /// The client closed the connection before an answer (it timed out on a stall or
    /// delay, or was dropped).
    Abandoned,
}

/// One request through a proxy.
#[derive(Clone, Debug)]
pub struct ProxyEvent {
    /// The name the proxy was started with.
    pub proxy: String,
    /// The operation (`X-Amz-Target` after the dot).
    pub operation: String,
    /// The request body, parsed (`Null` when it is not JSON).
    pub request: serde_json::Value,
    /// The fault injected, if any.
    pub fault: Option<Fault>,
    /// The server's status when the request was forwarded and answered: `Some(200)`
    /// means the server applied it, whatever the client got. A request whose
    /// forwarding began is carried through even if the client gives up meanwhile.
    pub upstream_status: Option<u16>,
    /// When the server's answer came (`None` when it was not forwarded or not answered).
    pub upstream_end: Option<Instant>,
    /// What the client got.
    pub outcome: Outcome,
    /// When the proxy received the request.
    pub start: Instant,
    /// When the proxy finished it (`None` while in flight).
    pub end: Option<Instant>,
}

/// A log of requests, shared by any number of proxies; cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let aws = testkit::LocalAws::start().await?;
/// let log = testkit::ProxyLog::default();
/// let proxy = testkit::FaultProxy::start_observed(aws.dynamodb_addr(), "w1-dynamodb", &log).await?;
/// let db = testkit::dynamodb_client(&proxy.endpoint());
/// let _ = db.list_tables().send().await;
/// assert_eq!(log.events()[0].operation, "ListTables");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct ProxyLog {
    events: Arc<Mutex<Vec<ProxyEvent>>>,
}

impl ProxyLog {
    /// Every request so far, in the order the proxies received them.
    pub fn events(&self) -> Vec<ProxyEvent> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ProxyEvent>> {
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens an event; it is closed through the returned recorder.
    pub(crate) fn begin(&self, proxy: &str, operation: &str, body: &[u8]) -> Recorder {
        let mut events = self.lock();
        events.push(ProxyEvent {
            proxy: proxy.to_owned(),
            operation: operation.to_owned(),
            request: serde_json::from_slice(body).unwrap_or(serde_json::Value::Null),
            fault: None,
            upstream_status: None,
            upstream_end: None,
            outcome: Outcome::InFlight,
            start: Instant::now(),
            end: None,
        });
        Recorder {
            log: self.clone(),
            index: events.len() - 1,
            forwarding: Arc::default(),
        }
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut ProxyEvent)) {
        if let Some(event) = self.lock().get_mut(index) {
            f(event);
        }
    }
}

/// The open event of one request; travels in the request's extensions. Dropped before
/// it was finished, it records [`Outcome::Abandoned`].
#[derive(Clone, Debug)]
pub(crate) struct Recorder {
    log: ProxyLog,
    index: usize,
    /// Set once the request is being sent to the server.
    forwarding: Arc<std::sync::atomic::AtomicBool>,
}

impl Recorder {
    pub(crate) fn fault(&self, fault: &Fault) {
        self.log
            .update(self.index, |e| e.fault = Some(fault.clone()));
    }

    /// The request is about to be sent to the server.
    pub(crate) fn forwarding(&self) {
        self.forwarding
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn upstream(&self, status: u16) {
        self.log.update(self.index, |e| {
            e.upstream_status = Some(status);
            e.upstream_end = Some(Instant::now());
        });
    }

    fn finish(&self, outcome: Outcome) {
        self.log.update(self.index, |e| {
            if e.outcome == Outcome::InFlight {
                e.outcome = outcome;
                e.end = Some(Instant::now());
            }
        });
    }
}

/// Held by the client's side of a request: dropped before the answer (the client gave
/// up), it records [`Outcome::Abandoned`] and stops the request unless it is already
/// being forwarded (then the server's answer is still recorded).
struct ClientSide {
    recorder: Recorder,
    task: tokio::task::AbortHandle,
}

impl Drop for ClientSide {
    fn drop(&mut self) {
        self.recorder.finish(Outcome::Abandoned);
        if !self
            .recorder
            .forwarding
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            self.task.abort();
        }
    }
}

/// Runs `handle` in a task of its own, recording the event (the response is read
/// whole, so the event ends when the last byte is ready).
pub(crate) async fn observe<F>(recorder: Recorder, handle: F) -> Result<Response<Body>, BoxError>
where
    F: Future<Output = Result<Response<Body>, BoxError>> + Send + 'static,
{
    let inner = recorder.clone();
    let task = tokio::spawn(async move {
        let result = read_whole(handle.await).await;
        match &result {
            Ok((status, error_type, _)) => inner.finish(Outcome::Status {
                status: status.as_u16(),
                error_type: error_type.clone(),
            }),
            Err(_) => inner.finish(Outcome::Reset),
        }
        result
    });
    let _client = ClientSide {
        recorder,
        task: task.abort_handle(),
    };
    let (_, _, response) = task.await??;
    Ok(response)
}

type Whole = (http::StatusCode, Option<String>, Response<Body>);

/// The response read whole, with its status and AWS error type.
async fn read_whole(response: Result<Response<Body>, BoxError>) -> Result<Whole, BoxError> {
    let (parts, body) = response?.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let error_type = (!parts.status.is_success())
        .then(|| error_type(&bytes))
        .flatten();
    let status = parts.status;
    Ok((
        status,
        error_type,
        Response::from_parts(parts, crate::fault_proxy::full(bytes)),
    ))
}

/// The `__type` of an AWS JSON error body.
fn error_type(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("__type")?.as_str().map(str::to_owned)
}
