//! The Kinesis producer library (KPL equivalent).
//!
//! This crate is being built; today it re-exports the aggregation format it builds on.
//!
//! ```
//! let record = kpl::agg::UserRecord::new("key", "data").unwrap();
//! assert_eq!(record.size(), 7);
//! ```

pub use kinesis_agg as agg;
