//! The Kinesis client library (KCL equivalent).
//!
//! This crate is being built; today it re-exports the aggregation format it builds on.
//!
//! ```
//! let d = kcl::agg::Deaggregator::new();
//! assert!(d.hash_range().is_none());
//! ```

pub use kinesis_agg as agg;
