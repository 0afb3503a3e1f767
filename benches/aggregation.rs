//! Aggregate and de-aggregate throughput (criterion).
fn main() {}
