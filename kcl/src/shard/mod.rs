//! Shard consumers: the state machine and the task driving a processor through it.

pub(crate) mod consumer;
mod error;
mod shard_end;
mod state;

pub use error::ConsumerError;
pub use state::{ConsumerEvent, ConsumerState, ShutdownReason, transition};
