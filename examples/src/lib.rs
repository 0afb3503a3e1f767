//! Plumbing and flows shared by the runnable examples.
//!
//! - [`connect`]: the embedded local servers, or the configured AWS environment.
//! - [`roundtrip`]: the quickstart's aggregation round trip through a real stream.

mod backend;
pub mod roundtrip;

pub use backend::{Aws, BackendError, aws_configured, connect};
