//! Kinesis and DynamoDB API servers on loopback, in this process.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::thread::JoinHandle;

use ferrokinesis::store::StoreOptions;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

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
    /// The server thread could not be started or stopped before reporting its ports.
    #[error("the server thread failed: {0}")]
    Thread(String),
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
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LocalAws {
    /// Starts both servers on loopback ephemeral ports with the default options.
    pub async fn start() -> Result<LocalAws, LocalAwsError> {
        LocalAws::start_with(LocalAwsOptions::default()).await
    }

    /// Starts both servers on a thread and runtime of their own, so the caller's runtime
    /// (paused clocks included) never stalls them.
    pub async fn start_with(options: LocalAwsOptions) -> Result<LocalAws, LocalAwsError> {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("local-aws".into())
            .spawn(move || run_thread(options, ready_tx, stop_rx))
            .map_err(|e| LocalAwsError::Thread(e.to_string()))?;
        let (kinesis_addr, dynamodb_addr) = ready_rx
            .await
            .map_err(|_| LocalAwsError::Thread("exited before listening".into()))??;
        Ok(LocalAws {
            kinesis_addr,
            dynamodb_addr,
            stop: Some(stop),
            thread: Some(thread),
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
    pub fn shutdown(mut self) {
        self.signal_stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for LocalAws {
    /// Signals the servers to stop without waiting (idle client connections may hold the
    /// graceful shutdown for a while; the thread finishes on its own).
    fn drop(&mut self) {
        self.signal_stop();
    }
}

type Ready = Result<(SocketAddr, SocketAddr), LocalAwsError>;

fn run_thread(
    options: LocalAwsOptions,
    ready: oneshot::Sender<Ready>,
    stop: oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("local-aws-worker")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(LocalAwsError::Thread(e.to_string())));
            return;
        }
    };
    runtime.block_on(async move {
        let listeners = match bind(&options).await {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let addrs = (local_addr(&listeners.0), local_addr(&listeners.1));
        let served = serve(options, listeners.0, listeners.1, async {
            let _ = stop.await;
        });
        let _ = ready.send(Ok(addrs));
        let _ = served.await;
    });
    runtime.shutdown_background();
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
