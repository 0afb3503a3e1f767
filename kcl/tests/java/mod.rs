//! The harness of the Java KCL interop tests (`kcl/tests/java_kcl.rs`): real Java KCL 3.1.3
//! workers (MultiLangDaemon + `processor.py`) and `kcl` workers on one lease table, on the
//! embedded servers or on the servers named by `TESTKIT_KINESIS_ENDPOINT` and
//! `TESTKIT_DYNAMODB_ENDPOINT` (kinesis-mock + dynalite in CI).
#![allow(dead_code, unreachable_pub)]

pub mod checks;
pub mod daemon;
pub mod events;
pub mod handoff;
pub mod handover;
pub mod kcl_side;
pub mod mixed_fleet;
pub mod netns;
pub mod produce;
pub mod resume;
pub mod table;
pub mod version3x;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use daemon::{Control, JavaConfig, JavaWorker, Mode};
use kcl_side::KclLog;

/// Failover time of every worker, Java and kcl: renewals every 2 s (kcl's lease writes time
/// out after 1 s; dynalite on 2 busy cores needs that), Java's 2.x taker every 12 s.
pub const FAILOVER: Duration = Duration::from_secs(6);

/// A stream and a lease table with its leases, the servers, and the workers' logs.
pub struct Setup {
    pub env: crate::common::Env,
    pub app: String,
    pub kcl: KclLog,
    pub started: std::time::Instant,
}

impl Setup {
    /// A stream of `shards` shards, the lease table (with the GSI) and a lease per shard.
    pub async fn new(name: &str, shards: i32) -> Setup {
        netns::assert_loopback_only();
        // kcl's lease decisions (takes, hand-offs asked for, forced takes), printed with a
        // failing test's output: what a flip-flop or a replay is explained by.
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("kcl=info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
        let started = std::time::Instant::now();
        let env = crate::common::env(name, shards).await;
        let app = unique_app(name);
        table::create_lease_table(&env.dynamodb, &app, on_dynalite()).await;
        let listed = testkit::streams::list_shards(&env.kinesis, &env.stream)
            .await
            .unwrap();
        table::create_leases(&env.dynamodb, &app, &listed).await;
        Setup {
            env,
            app,
            kcl: KclLog::default(),
            started,
        }
    }

    /// A Java worker's settings for this stream and table.
    pub fn java_config(&self, worker: &str, mode: Mode) -> JavaConfig {
        JavaConfig {
            app: self.app.clone(),
            stream: self.env.stream.clone(),
            worker: worker.to_owned(),
            kinesis: self.env.aws.kinesis_endpoint(),
            dynamodb: self.env.aws.dynamodb_endpoint(),
            mode,
            failover: FAILOVER,
            extra: Vec::new(),
        }
    }

    /// Starts a Java worker with the default settings of `mode`.
    pub fn start_java(&self, worker: &str, mode: Mode, control: &Control) -> JavaWorker {
        JavaWorker::start(&self.java_config(worker, mode), control)
    }

    /// Starts a kcl worker recording into this setup's [`KclLog`].
    pub fn start_kcl(&self, worker: &str) -> crate::common::Running {
        let config = kcl_side::kcl_config(&self.app, &self.env.stream, worker, FAILOVER);
        crate::common::start(&self.env, config, self.kcl.factory(worker))
    }

    /// Prints how long the scenario has run, at a step.
    pub fn step(&self, what: &str) {
        eprintln!("[{:6.1} s] {what}", self.started.elapsed().as_secs_f64());
    }

    /// Prints how long the scenario took.
    pub fn report(&self, scenario: &str) {
        let servers = match std::env::var_os(testkit::KINESIS_ENDPOINT_ENV) {
            Some(_) => "external servers",
            None => "local-aws",
        };
        eprintln!(
            "{scenario} on {servers}: {:.1} s",
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// Panics with every ERROR entry of the worker's log that is not a known harmless one.
pub fn assert_no_unexpected_java_errors(java: &JavaWorker) {
    let errors = checks::unexpected_java_errors(&java.log());
    assert!(
        errors.is_empty(),
        "ERROR entries in {}'s log:\n{}",
        java.name,
        errors.join("\n")
    );
}

/// Whether DynamoDB is an external server (dynalite in CI), which needs the lease table's
/// GSI made with the table.
pub fn on_dynalite() -> bool {
    std::env::var_os(testkit::DYNAMODB_ENDPOINT_ENV).is_some_and(|v| !v.is_empty())
}

/// An application (lease table) name unique in this process and among processes sharing
/// an external DynamoDB.
fn unique_app(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{name}-app-{}-{n}", std::process::id())
}
