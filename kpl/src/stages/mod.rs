//! The stages of a stream's pipeline: plain synchronous structs, driven in order by the
//! stream's task ([`crate::driver`]), which alone knows that order.
//!
//! intake -> [`shard_map`] (predicted shard) -> [`aggregation`] (one open aggregate per
//! shard) -> [`lanes`] (one queue per shard: its order, behind its [`limiter`]) ->
//! [`collector`] (PutRecords requests) -> the sender ([`crate::io`]) -> [`retrier`] (what
//! an outcome means); [`refresh`] schedules the shard listings.

pub(crate) mod accepted;
pub(crate) mod aggregation;
pub(crate) mod collector;
pub(crate) mod lanes;
pub(crate) mod limiter;
pub(crate) mod refresh;
pub(crate) mod retrier;
pub(crate) mod shard_map;
