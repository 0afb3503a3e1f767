//! The Kinesis client library: a consumer equivalent to the AWS KCL, sharing its
//! DynamoDB lease table layout (attribute names and types, fenced conditional writes,
//! checkpoint sentinels) so it can work beside Java KCL workers or take over their
//! checkpoints.
//!
//! - Implement [`ShardProcessor`] (one per shard, made by a [`ShardProcessorFactory`])
//!   and run a [`Worker`], or read a [`RecordStream`] for simple consumers.
//! - Leases: the worker takes expired or unowned leases up to its fair share
//!   (ceil(leases / workers)), steals from the most loaded worker, renews every
//!   failover / 3, and fences every write on the lease counter. Expiry is judged on this
//!   worker's monotonic clock; nothing time-based is stored.
//! - Shards: a child shard starts only once its parents are finished, so per-key order
//!   holds across splits and merges. Records are de-aggregated (KPL format) with the
//!   shard's hash range filter, and a restart resumes inside an aggregate.
//! - Delivery is at least once: everything after the last checkpoint is delivered again
//!   after a failover.
//!
//! ```no_run
//! use kcl::{Checkpointer, Config, ProcessRecordsInput, ShardProcessor, StreamId, Worker};
//!
//! struct Printer;
//!
//! impl ShardProcessor for Printer {
//!     async fn process_records(&mut self, input: ProcessRecordsInput) {
//!         for record in &input.records {
//!             println!("{}", String::from_utf8_lossy(&record.data));
//!         }
//!         let _ = input.checkpointer.checkpoint().await; // after processing: at-least-once
//!     }
//!     async fn shard_ended(&mut self, checkpointer: Checkpointer) {
//!         let _ = checkpointer.checkpoint().await; // required at shard end
//!     }
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let aws = aws_config::load_from_env().await;
//! let config = Config::new("my-app", StreamId::Name("orders".into()));
//! let worker = Worker::new(
//!     config,
//!     aws_sdk_kinesis::Client::new(&aws),
//!     aws_sdk_dynamodb::Client::new(&aws),
//!     |_shard: &str| Printer,
//! )?;
//! worker.run().await?;
//! # Ok(()) }
//! ```
//!
//! On the embedded servers of `kinesis-testkit`, as a runnable example:
//!
//! ```
//! use kcl::{Checkpointer, Config, InitialPosition, ProcessRecordsInput, ShardProcessor};
//! use tokio::sync::mpsc;
//!
//! // Every record put is delivered, then checkpointed; a graceful shutdown releases the
//! // leases after the final checkpoints.
//! struct Forward(mpsc::UnboundedSender<String>);
//!
//! impl ShardProcessor for Forward {
//!     async fn process_records(&mut self, input: ProcessRecordsInput) {
//!         for record in &input.records {
//!             let _ = self.0.send(String::from_utf8_lossy(&record.data).into_owned());
//!         }
//!         let _ = input.checkpointer.checkpoint().await;
//!     }
//!     async fn shard_ended(&mut self, checkpointer: Checkpointer) {
//!         let _ = checkpointer.checkpoint().await;
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let aws = testkit::LocalAws::start().await?;
//! let kinesis = aws.kinesis_client();
//! testkit::streams::create_stream(&kinesis, "orders", 2).await?;
//! for i in 0..3 {
//!     let data = aws_sdk_kinesis::primitives::Blob::new(format!("order {i}"));
//!     kinesis.put_record().stream_name("orders").partition_key(format!("k{i}")).data(data)
//!         .send().await?;
//! }
//! let (tx, mut rx) = mpsc::unbounded_channel();
//! let mut config = Config::new("billing", kcl::StreamId::Name("orders".into()));
//! config.initial_position = InitialPosition::TrimHorizon;
//! let worker = kcl::Worker::new(config, kinesis, aws.dynamodb_client(), move |_: &str| {
//!     Forward(tx.clone())
//! })?;
//! let handle = worker.handle();
//! let running = tokio::spawn(worker.run());
//! let mut seen = Vec::new();
//! while seen.len() < 3 {
//!     seen.push(rx.recv().await.ok_or("the worker stopped")?);
//! }
//! seen.sort();
//! assert_eq!(seen, ["order 0", "order 1", "order 2"]);
//! handle.graceful_shutdown().await;
//! running.await??;
//! # Ok(()) }
//! ```

pub mod admin;
mod backoff;
mod checkpoint;
mod config;
mod error_class;
pub mod lease;
mod position;
mod processor;
mod record;
pub mod retrieval;
pub mod shard;
mod stream;
mod worker;

pub use checkpoint::{CheckpointError, Checkpointer, PreparedCheckpoint};
pub use config::{Config, ConfigError, FanOutConfig, InitialPosition, RetrievalMode, StreamId};
pub use lease::{Lease, LeaseDecodeError, LeaseStoreError};
pub use position::{MAX_SEQUENCE_DIGITS, Position, PositionError, SequenceNumber};
pub use processor::{InitializeInput, ProcessRecordsInput, ShardProcessor, ShardProcessorFactory};
pub use record::Record;
pub use retrieval::RetrievalError;
pub use shard::{ConsumerError, ShutdownReason};
pub use stream::{RecordStream, StreamCheckpointer, StreamRecord};
pub use worker::{Worker, WorkerError, WorkerHandle, WorkerStatus};

/// The aggregation format this crate de-aggregates.
pub use kinesis_agg as agg;
