//! Plumbing and flows shared by the runnable examples.
//!
//! - [`connect`]: the embedded local servers, or the configured AWS environment.
//! - [`story`]: the quickstart's whole story, producer to consumers through a real stream.

mod backend;
pub mod story;

pub use backend::{Aws, BackendError, aws_configured, connect};
