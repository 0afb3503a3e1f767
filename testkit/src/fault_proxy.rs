//! A loopback HTTP proxy between a real SDK client and a real server that injects faults:
//! AWS errors, connection resets, delays, stalls, and failed PutRecords entries.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::background::Background;
use crate::faults::{Fault, Plan, Rule};
use crate::observer::{ProxyLog, Recorder};

type Body = BoxBody<Bytes, BoxError>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A fault-injecting proxy in front of one upstream endpoint. Dropping it stops it.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use testkit::{Fault, FaultProxy, LocalAws, Rule};
/// let aws = LocalAws::start().await?;
/// let proxy = FaultProxy::start(aws.kinesis_addr()).await?;
/// proxy.set_rules(vec![Rule::new(Fault::internal_failure()).on("PutRecords").with_probability(0.3)]);
/// let kinesis = testkit::kinesis_client(&proxy.endpoint());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    _server: Background,
}

#[derive(Debug)]
pub(crate) struct State {
    upstream: SocketAddr,
    plan: RwLock<Arc<Plan>>,
    stalled: watch::Sender<bool>,
    requests: AtomicU64,
    faults: AtomicU64,
    client: Client<HttpConnector, Body>,
    /// The proxy's name and the log it records every request in, if observed.
    observer: Option<(String, ProxyLog)>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` on a loopback ephemeral port, forwarding everything
    /// until rules are set.
    pub async fn start(upstream: SocketAddr) -> Result<FaultProxy, String> {
        FaultProxy::start_with(upstream, None).await
    }

    /// [`start`](Self::start), recording every request in `log` under `name` (several
    /// proxies may share one log).
    pub async fn start_observed(
        upstream: SocketAddr,
        name: &str,
        log: &ProxyLog,
    ) -> Result<FaultProxy, String> {
        FaultProxy::start_with(upstream, Some((name.to_owned(), log.clone()))).await
    }

    async fn start_with(
        upstream: SocketAddr,
        observer: Option<(String, ProxyLog)>,
    ) -> Result<FaultProxy, String> {
        let state = Arc::new(State {
            upstream,
            plan: RwLock::new(Arc::new(Plan::new(Vec::new(), 0))),
            stalled: watch::channel(false).0,
            requests: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            client: Client::builder(TokioExecutor::new()).build_http(),
            observer,
        });
        let shared = state.clone();
        let (server, addr) = Background::spawn("fault-proxy", move |stop| {
            Box::pin(async move {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| e.to_string())?;
                let addr = listener.local_addr().map_err(|e| e.to_string())?;
                Ok((addr, accept_loop(listener, shared, stop)))
            })
        })
        .await?;
        Ok(FaultProxy {
            addr,
            state,
            _server: server,
        })
    }

    /// The proxy's endpoint URL, for an SDK client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the rules (the first matching rule that fires decides a request).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        let seed = self.state.requests.load(Ordering::Relaxed) ^ 0x5EED;
        if let Ok(mut plan) = self.state.plan.write() {
            *plan = Arc::new(Plan::new(rules, seed));
        }
    }

    /// Removes every rule: requests pass through again.
    pub fn clear(&self) {
        self.set_rules(Vec::new());
    }

    /// Holds every new request (and those arriving later) until [`resume`](Self::resume).
    pub fn stall(&self) {
        self.state.stalled.send_replace(true);
    }

    /// Lets held requests go on.
    pub fn resume(&self) {
        self.state.stalled.send_replace(false);
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Faults injected so far.
    pub fn faults_injected(&self) -> u64 {
        self.state.faults.load(Ordering::Relaxed)
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

/// The request's operation: the part of `X-Amz-Target` after the dot.
fn operation<B>(req: &Request<B>) -> String {
    req.headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or_default()
        .to_owned()
}

/// A connection dropped on purpose; hyper closes the connection without a response.
#[derive(Debug, thiserror::Error)]
#[error("connection reset by the fault proxy")]
struct Reset;

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, BoxError> {
    let Some((name, log)) = &state.observer else {
        return handle_body(state, req.map(|b| b.map_err(BoxError::from).boxed())).await;
    };
    let op = operation(&req);
    let (mut parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let recorder = log.begin(name, &op, &body);
    parts.extensions.insert(recorder.clone());
    let req = Request::from_parts(parts, full(body));
    crate::observer::observe(recorder, handle_body(state.clone(), req)).await
}

async fn handle_body(state: Arc<State>, req: Request<Body>) -> Result<Response<Body>, BoxError> {
    let op = operation(&req);
    state.requests.fetch_add(1, Ordering::Relaxed);
    let mut stalled = state.stalled.subscribe();
    let _ = stalled.wait_for(|s| !*s).await;
    let plan = state
        .plan
        .read()
        .map(|p| p.clone())
        .map_err(|_| "fault plan poisoned")?;
    let (req, body) = if plan.needs_body() {
        let (parts, body) = req.into_parts();
        let bytes = body.collect().await?.to_bytes();
        (Request::from_parts(parts, full(bytes.clone())), Some(bytes))
    } else {
        (req, None)
    };
    let Some(fault) = plan.decide(&op, body.as_deref()) else {
        return state.forward(req).await;
    };
    state.faults.fetch_add(1, Ordering::Relaxed);
    if let Some(recorder) = req.extensions().get::<Recorder>() {
        recorder.fault(&fault);
    }
    match fault {
        Fault::Error { status, error_type } => Ok(error_response(status, &error_type)),
        Fault::ErrorAfterForward { status, error_type } => {
            let _ = state.forward_buffered(req).await;
            Ok(error_response(status, &error_type))
        }
        Fault::Reset => Err(Reset.into()),
        Fault::ResetAfterForward => {
            let _ = state.forward_buffered(req).await;
            Err(Reset.into())
        }
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            state.forward(req).await
        }
        Fault::FailEntries {
            fraction,
            error_code,
        } if op == "PutRecords" => {
            crate::entry_faults::fail_entries(&state, &plan, req, fraction, &error_code).await
        }
        Fault::FailEntries { .. } => state.forward(req).await,
    }
}

impl State {
    /// Sends `req` upstream and streams the response back.
    pub(crate) async fn forward(&self, req: Request<Body>) -> Result<Response<Body>, BoxError> {
        let (mut parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = Uri::try_from(format!("http://{}{}", self.upstream, path))?;
        let recorder = parts.extensions.get::<Recorder>().cloned();
        if let Some(recorder) = &recorder {
            recorder.forwarding();
        }
        let response = self
            .client
            .request(Request::from_parts(parts, body))
            .await?;
        if let Some(recorder) = recorder {
            recorder.upstream(response.status().as_u16());
        }
        Ok(response.map(|b| b.map_err(BoxError::from).boxed()))
    }

    /// Sends `req` upstream and reads the whole response.
    pub(crate) async fn forward_buffered(
        &self,
        req: Request<Body>,
    ) -> Result<(http::response::Parts, Bytes), BoxError> {
        let response = self.forward(req).await?;
        let (parts, body) = response.into_parts();
        Ok((parts, body.collect().await?.to_bytes()))
    }
}

/// An AWS JSON-protocol error response.
pub(crate) fn error_response(status: u16, error_type: &str) -> Response<Body> {
    let body = serde_json::json!({ "__type": error_type, "message": "injected by the testkit fault proxy" });
    let mut response = Response::new(full(Bytes::from(body.to_string())));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        http::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = http::HeaderValue::from_str(error_type) {
        headers.insert("x-amzn-errortype", v);
    }
    headers.insert(
        "x-amzn-requestid",
        http::HeaderValue::from_static("fault-proxy"),
    );
    response
}

/// A complete body.
pub(crate) fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}
