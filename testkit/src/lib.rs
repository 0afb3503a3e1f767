//! Test support for this workspace: real AWS API servers in-process, clients for them,
//! and the benchmark workloads.
//!
//! - [`LocalAws`] starts a Kinesis API server (`ferrokinesis`) and a DynamoDB API server
//!   (`dynoxide`) on 127.0.0.1 ephemeral ports, on a thread of their own, and hands out
//!   `aws-sdk-kinesis` / `aws-sdk-dynamodb` clients configured for them.
//! - [`FaultProxy`] sits between a real client and a real server and injects faults by
//!   [`Rule`]: AWS errors, connection resets, delays, stalls, failed PutRecords entries.
//! - [`streams`] has small helpers around the real SDK (create a stream and wait until
//!   it is active, read a whole shard).
//! - [`workload`] reads the `AGGW` workload files of `shared/bench/gen_workloads.py`
//!   and generates workloads of the same shapes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let aws = testkit::LocalAws::start().await?;
//! let kinesis = aws.kinesis_client();
//! testkit::streams::create_stream(&kinesis, "demo", 2).await?;
//! # Ok(()) }
//! ```

mod background;
mod clients;
mod entry_faults;
mod fault_proxy;
mod faults;
mod local_aws;
mod observer;
pub mod rng;
pub mod streams;
pub mod workload;

pub use clients::{
    REGION, dynamodb_client, kinesis_client, sdk_config, sdk_config_without_retries,
};
pub use fault_proxy::FaultProxy;
pub use faults::{Fault, Rule};
pub use local_aws::{KINESIS_ENDPOINT_ENV, LocalAws, LocalAwsError, LocalAwsOptions, serve};
pub use observer::{Outcome, ProxyEvent, ProxyLog};
