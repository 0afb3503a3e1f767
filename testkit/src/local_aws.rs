//! Kinesis and DynamoDB API servers on loopback, in this process.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};

use ferrokinesis::store::StoreOptions;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::background::Background;

/// Largest request body the embedded Kinesis server accepts.
const MAX_REQUEST_BODY: usize = 32 * 1024 * 1024;

/// Settings of the embedded servers.
#[derive(Clone, Debug)]
pub struct LocalAwsOptions {
    /// Kinesis port; 0 picks a free one.
    pub kinesis_port: u16,
    /// DynamoDB port; 0 picks a free one.
    pub dynamodb_port: u16,
    /// Address to listen on; loopback by default.
    pub host: Ipv4Addr,
    /// The Kinesis server's settings (delays, shard limit, `enforce_limits`, ...).
    pub kinesis: StoreOptions,
}

impl Default for LocalAwsOptions {
    /// Ephemeral loopback ports, stream create/update/delete delays of 20 ms, a shard limit
    /// of 10,000, Kinesis throughput limits not enforced.
    fn default() -> Self {
        let kinesis = StoreOptions {
            create_stream_ms: 20,
            delete_stream_ms: 20,
            update_stream_ms: 20,
            shard_limit: 10_000,
            ..StoreOptions::default()
        };
        LocalAwsOptions {
            kinesis_port: 0,
            dynamodb_port: 0,
            host: Ipv4Addr::LOCALHOST,
            kinesis,
        }
    }
}

impl LocalAwsOptions {
    /// These options with the Kinesis server enforcing per-shard write limits (1 MiB/s,
    /// 1,000 records/s), answering ProvisionedThroughputExceededException above them.
    pub fn enforcing_limits(mut self) -> Self {
        self.kinesis.enforce_limits = true;
        self
    }
}

/// The servers failed to start.
#[derive(Debug, thiserror::Error)]
pub enum LocalAwsError {
    /// A listener could not be bound.
    #[error("cannot listen for the {server} server: {source}")]
    Bind {
        /// Which server.
        server: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The DynamoDB server could not create its in-memory database.
    #[error("cannot create the in-memory DynamoDB database: {0}")]
    Database(String),
    /// The server thread could not be started, or failed before reporting its ports.
    #[error("the local servers failed to start: {0}")]
    Thread(String),
    /// `TESTKIT_KINESIS_ENDPOINT` is not `http://IP:PORT`.
    #[error("{KINESIS_ENDPOINT_ENV}={0:?} is not http://IP:PORT")]
    Endpoint(String),
    /// `TESTKIT_DYNAMODB_ENDPOINT` is not `http://IP:PORT`.
    #[error("{DYNAMODB_ENDPOINT_ENV}={0:?} is not http://IP:PORT")]
    DynamoDbEndpoint(String),
}

/// Running Kinesis and DynamoDB API servers. Dropping it stops them.
///
/// ```no_run
/// # async fn demo() -> Result<(), testkit::LocalAwsError> {
/// let aws = testkit::LocalAws::start().await?;
/// let streams = aws.kinesis_client().list_streams().send().await;
/// assert!(streams.is_ok());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LocalAws {
    kinesis_addr: SocketAddr,
    dynamodb_addr: SocketAddr,
    server: Background,
}

impl LocalAws {
    /// Starts both servers on loopback ephemeral ports with the default options.
    pub async fn start() -> Result<LocalAws, LocalAwsError> {
        LocalAws::start_with(LocalAwsOptions::default()).await
    }

    /// Starts both servers on a thread and runtime of their own, so the caller's runtime
    /// (paused clocks included) never stalls them. With [`KINESIS_ENDPOINT_ENV`] set, the
    /// Kinesis side is that server instead, and with [`DYNAMODB_ENDPOINT_ENV`] set the
    /// DynamoDB side (the embedded ones still start, unused).
    pub async fn start_with(options: LocalAwsOptions) -> Result<LocalAws, LocalAwsError> {
        let external = external_kinesis()?;
        let external_dynamodb = external_dynamodb()?;
        let (server, (kinesis_addr, dynamodb_addr)) = Background::spawn("local-aws", move |stop| {
            Box::pin(async move {
                let (kinesis, dynamodb) = bind(&options).await.map_err(|e| e.to_string())?;
                let addrs = (local_addr(&kinesis), local_addr(&dynamodb));
                let serve = async move {
                    let _ = serve(options, kinesis, dynamodb, async {
                        let _ = stop.await;
                    })
                    .await;
                };
                Ok((addrs, serve))
            })
        })
        .await
        .map_err(LocalAwsError::Thread)?;
        Ok(LocalAws {
            kinesis_addr: external.unwrap_or(kinesis_addr),
            dynamodb_addr: external_dynamodb.unwrap_or(dynamodb_addr),
            server,
        })
    }

    /// The Kinesis endpoint URL, `http://127.0.0.1:PORT`.
    pub fn kinesis_endpoint(&self) -> String {
        format!("http://{}", self.kinesis_addr)
    }

    /// The DynamoDB endpoint URL, `http://127.0.0.1:PORT`.
    pub fn dynamodb_endpoint(&self) -> String {
        format!("http://{}", self.dynamodb_addr)
    }

    /// The Kinesis server's address.
    pub fn kinesis_addr(&self) -> SocketAddr {
        self.kinesis_addr
    }

    /// The DynamoDB server's address.
    pub fn dynamodb_addr(&self) -> SocketAddr {
        self.dynamodb_addr
    }

    /// A Kinesis client for the embedded server.
    pub fn kinesis_client(&self) -> aws_sdk_kinesis::Client {
        crate::kinesis_client(&self.kinesis_endpoint())
    }

    /// A DynamoDB client for the embedded server.
    pub fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        crate::dynamodb_client(&self.dynamodb_endpoint())
    }

    /// Stops the servers and waits for their thread to end.
    pub fn shutdown(self) {
        self.server.shutdown();
    }
}

/// The environment variable naming another Kinesis server for every [`LocalAws`] of the
/// process (`http://IP:PORT`), so the same tests run against a second implementation
/// (`.ci/run` runs the resharding and listing tests against kinesis-mock this way).
pub const KINESIS_ENDPOINT_ENV: &str = "TESTKIT_KINESIS_ENDPOINT";

fn external_kinesis() -> Result<Option<SocketAddr>, LocalAwsError> {
    parse_endpoint(std::env::var(KINESIS_ENDPOINT_ENV).ok().as_deref())
}

/// The environment variable naming another DynamoDB server for every [`LocalAws`] of the
/// process (`http://IP:PORT`), as [`KINESIS_ENDPOINT_ENV`] does for Kinesis (`.ci/java-kcl`
/// runs the Java KCL interop tests against dynalite this way).
pub const DYNAMODB_ENDPOINT_ENV: &str = "TESTKIT_DYNAMODB_ENDPOINT";

fn external_dynamodb() -> Result<Option<SocketAddr>, LocalAwsError> {
    let url = std::env::var(DYNAMODB_ENDPOINT_ENV).ok();
    parse_endpoint(url.as_deref())
        .map_err(|_| LocalAwsError::DynamoDbEndpoint(url.unwrap_or_default()))
}

/// `http://IP:PORT` (a trailing `/` allowed); unset or blank is `None`.
fn parse_endpoint(url: Option<&str>) -> Result<Option<SocketAddr>, LocalAwsError> {
    match url.map(str::trim).filter(|u| !u.is_empty()) {
        None => Ok(None),
        Some(url) => url
            .strip_prefix("http://")
            .map(|a| a.trim_end_matches('/'))
            .and_then(|a| a.parse().ok())
            .map(Some)
            .ok_or_else(|| LocalAwsError::Endpoint(url.to_owned())),
    }
}

fn local_addr(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
}

async fn bind(options: &LocalAwsOptions) -> Result<(TcpListener, TcpListener), LocalAwsError> {
    let kinesis = TcpListener::bind((options.host, options.kinesis_port))
        .await
        .map_err(|source| LocalAwsError::Bind {
            server: "Kinesis",
            source,
        })?;
    let dynamodb = TcpListener::bind((options.host, options.dynamodb_port))
        .await
        .map_err(|source| LocalAwsError::Bind {
            server: "DynamoDB",
            source,
        })?;
    Ok((kinesis, dynamodb))
}

/// Serves Kinesis on `kinesis` and DynamoDB on `dynamodb` until `shutdown` resolves.
///
/// ```no_run
/// # async fn demo() -> Result<(), testkit::LocalAwsError> {
/// let k = tokio::net::TcpListener::bind("127.0.0.1:4567").await.unwrap();
/// let d = tokio::net::TcpListener::bind("127.0.0.1:8000").await.unwrap();
/// testkit::serve(Default::default(), k, d, async { let _ = tokio::signal::ctrl_c().await; }).await
/// # }
/// ```
pub async fn serve(
    options: LocalAwsOptions,
    kinesis: TcpListener,
    dynamodb: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LocalAwsError> {
    let db = dynoxide::Database::memory().map_err(|e| LocalAwsError::Database(e.to_string()))?;
    let (app, _store) = ferrokinesis::create_app(options.kinesis);
    // Axum's default 2 MB body limit is below what a full PutRecords (5 MiB of data,
    // base64 in JSON) takes; real Kinesis accepts it.
    let app = app.layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BODY));
    let (stop_k, stop_k_rx) = oneshot::channel::<()>();
    let (stop_d, stop_d_rx) = oneshot::channel::<()>();
    let kinesis_task = tokio::spawn(ferrokinesis::serve_plain_http(kinesis, app, async {
        let _ = stop_k_rx.await;
    }));
    let dynamodb_task = tokio::spawn(dynoxide::server::serve_with_shutdown(dynamodb, db, async {
        let _ = stop_d_rx.await;
    }));
    shutdown.await;
    let _ = stop_k.send(());
    let _ = stop_d.send(());
    let _ = kinesis_task.await;
    let _ = dynamodb_task.await;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a broken expectation panics
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_override_is_http_ip_port() {
        assert!(parse_endpoint(None).unwrap().is_none());
        assert!(parse_endpoint(Some("  ")).unwrap().is_none());
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 4568));
        assert_eq!(
            parse_endpoint(Some("http://127.0.0.1:4568")).unwrap(),
            Some(addr)
        );
        assert_eq!(
            parse_endpoint(Some("http://127.0.0.1:4568/")).unwrap(),
            Some(addr)
        );
        for bad in [
            "https://127.0.0.1:4568",
            "http://localhost:4568",
            "127.0.0.1:4568",
        ] {
            assert!(
                matches!(parse_endpoint(Some(bad)), Err(LocalAwsError::Endpoint(_))),
                "{bad}"
            );
        }
    }
}
