//! Criterion benchmarks of this workspace; see `aggregation.rs`.
//!
//! The workloads are W1/W2/W3-shaped records generated in process
//! ([`testkit::workload::generate`]) so `cargo bench` needs no data files.

pub use testkit::workload;
