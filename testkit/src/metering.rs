//! A loopback proxy in front of a DynamoDB API server that meters what its clients cost:
//! per operation, the calls, the items read (a Scan or Query reads its `ScannedCount`, a
//! GetItem the item it finds), the items written, and the read and write capacity units
//! the service would charge for them by its rules (a read unit per 4 KiB block, half a
//! unit when eventually consistent; 1 KiB per write unit; at least one unit per call).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::background::Background;

type Body = BoxBody<Bytes, BoxError>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the clients of a [`MeteringProxy`] cost, for one operation or in total.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    /// Calls answered (errors included).
    pub calls: u64,
    /// Items read: `ScannedCount` of a Scan or Query, 1 for a GetItem that found one.
    pub items_read: u64,
    /// Items written (PutItem, UpdateItem, DeleteItem answered with success).
    pub items_written: u64,
    /// Read capacity units by the service's rules, from the sizes of the items returned.
    pub read_units: f64,
    /// Write capacity units (1 KiB of request per unit, at least one per write, refused
    /// conditional writes included).
    pub write_units: f64,
}

impl Cost {
    fn add(&mut self, other: &Cost) {
        self.calls += other.calls;
        self.items_read += other.items_read;
        self.items_written += other.items_written;
        self.read_units += other.read_units;
        self.write_units += other.write_units;
    }
}

/// A metering proxy to one DynamoDB endpoint. Dropping it stops it.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// // Every call through the proxy is counted, with the items it read and wrote.
/// let aws = testkit::LocalAws::start().await?;
/// let meter = testkit::MeteringProxy::start(aws.dynamodb_addr()).await?;
/// let dynamodb = testkit::dynamodb_client(&meter.endpoint());
/// let _ = dynamodb.list_tables().send().await;
/// assert_eq!(meter.costs()["ListTables"].calls, 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MeteringProxy {
    addr: SocketAddr,
    costs: Arc<Mutex<BTreeMap<String, Cost>>>,
    _server: Background,
}

impl MeteringProxy {
    /// Starts the proxy on a loopback ephemeral port.
    pub async fn start(upstream: SocketAddr) -> Result<MeteringProxy, String> {
        let costs: Arc<Mutex<BTreeMap<String, Cost>>> = Arc::default();
        let shared = costs.clone();
        let (server, addr) = Background::spawn("metering-proxy", move |stop| {
            Box::pin(async move {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| e.to_string())?;
                let addr = listener.local_addr().map_err(|e| e.to_string())?;
                Ok((addr, accept_loop(listener, upstream, shared, stop)))
            })
        })
        .await?;
        Ok(MeteringProxy {
            addr,
            costs,
            _server: server,
        })
    }

    /// The proxy's endpoint URL, for an SDK client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The cost so far, per operation.
    pub fn costs(&self) -> BTreeMap<String, Cost> {
        self.costs.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The cost so far, all operations together.
    pub fn total(&self) -> Cost {
        let mut total = Cost::default();
        for cost in self.costs().values() {
            total.add(cost);
        }
        total
    }

    /// Forgets what was counted so far.
    pub fn reset(&self) {
        if let Ok(mut costs) = self.costs.lock() {
            costs.clear();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    costs: Arc<Mutex<BTreeMap<String, Cost>>>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (client, costs) = (client.clone(), costs.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        forward(client.clone(), upstream, costs.clone(), req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

async fn forward(
    client: Client<HttpConnector, Body>,
    upstream: SocketAddr,
    costs: Arc<Mutex<BTreeMap<String, Cost>>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, BoxError> {
    let op = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or_default()
        .to_owned();
    let (mut parts, body) = req.into_parts();
    let request = body.collect().await?.to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = Uri::try_from(format!("http://{upstream}{path}"))?;
    let response = client
        .request(Request::from_parts(parts, full(request.clone())))
        .await?;
    let (parts, body) = response.into_parts();
    let reply = body.collect().await?.to_bytes();
    let cost = cost_of(&op, &request, parts.status.is_success(), &reply);
    if let Ok(mut costs) = costs.lock() {
        costs.entry(op).or_default().add(&cost);
    }
    Ok(Response::from_parts(parts, full(reply)))
}

/// What one call cost, from its request and its reply.
fn cost_of(op: &str, request: &[u8], ok: bool, reply: &[u8]) -> Cost {
    let mut cost = Cost {
        calls: 1,
        ..Cost::default()
    };
    let write_units = (request.len() as f64 / 1024.0).ceil().max(1.0);
    if !ok {
        // A write refused by its condition is charged as a write.
        if String::from_utf8_lossy(reply).contains("ConditionalCheckFailed") {
            cost.write_units = write_units;
        }
        return cost;
    }
    let json = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap_or_default();
    let (req, rep) = (json(request), json(reply));
    let field = |v: &serde_json::Value, name: &str| v.get(name).cloned().unwrap_or_default();
    let consistent = field(&req, "ConsistentRead").as_bool().unwrap_or(false);
    // Reads are charged per 4 KiB block (rounded up, at least one), half a unit each when
    // eventually consistent.
    let per_block = if consistent { 1.0 } else { 0.5 };
    let read_units = |bytes: usize| (bytes as f64 / 4096.0).ceil().max(1.0) * per_block;
    match op {
        "Scan" | "Query" => {
            cost.items_read = field(&rep, "ScannedCount").as_u64().unwrap_or(0);
            cost.read_units = read_units(field(&rep, "Items").to_string().len());
        }
        "GetItem" => {
            let found = rep.get("Item").is_some();
            cost.items_read = u64::from(found);
            cost.read_units = read_units(field(&rep, "Item").to_string().len());
        }
        "PutItem" | "UpdateItem" | "DeleteItem" => {
            cost.items_written = 1;
            cost.write_units = write_units;
        }
        _ => {}
    }
    cost
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_read_their_scanned_count_and_writes_one_item() {
        let scan = cost_of(
            "Scan",
            b"{}",
            true,
            br#"{"Count":2,"ScannedCount":3,"Items":[]}"#,
        );
        assert_eq!((scan.items_read, scan.read_units), (3, 0.5));
        let miss = cost_of("GetItem", b"{}", true, b"{}");
        assert_eq!(miss.items_read, 0);
        let write = cost_of("UpdateItem", &[b' '; 1500], true, b"{}");
        assert_eq!((write.items_written, write.write_units), (1, 2.0));
        let refused = cost_of("UpdateItem", b"{}", false, b"{}");
        assert_eq!((refused.calls, refused.items_written), (1, 0));
        let failed_condition =
            br#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}"#;
        let charged = cost_of("UpdateItem", b"{}", false, failed_condition);
        assert_eq!((charged.items_written, charged.write_units), (0, 1.0));
    }
}
