//! What one scan of the lease table found: the leases of this stream, and the keys of
//! lease items that cannot be read. An unreadable item is never treated as absent: it is
//! present and unfinished for every decision (no lease is created in its place, no parent
//! of it is deleted, no child of it starts), and it is never taken. Each one is reported
//! once per worker with its key, and counted in the `UnreadableLeases` gauge at every scan.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::Lease;
use super::codec::{self, ItemKind};

/// The leases of one scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TableScan {
    /// The readable leases of this stream.
    pub(crate) leases: Vec<Lease>,
    /// Keys of this stream's lease items that cannot be read.
    pub(crate) unreadable: Vec<String>,
}

impl TableScan {
    /// The keys present in the table, unreadable items included.
    pub(crate) fn present(&self) -> HashSet<&str> {
        self.leases
            .iter()
            .map(|l| l.key.as_str())
            .chain(self.unreadable.iter().map(String::as_str))
            .collect()
    }

    /// Whether the table holds no lease of this stream, readable or not.
    pub(crate) fn is_empty(&self) -> bool {
        self.leases.is_empty() && self.unreadable.is_empty()
    }
}

/// Sorts the items of scan pages into a [`TableScan`], reporting unreadable items.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScanReport {
    /// Unreadable keys already logged by this worker.
    logged: Arc<Mutex<HashSet<String>>>,
}

impl ScanReport {
    /// Adds one page's items to `scan`.
    pub(crate) fn add_page(
        &self,
        table: &str,
        items: &[std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>],
        scan: &mut TableScan,
    ) {
        for item in items {
            match codec::classify(item) {
                ItemKind::Lease(lease) => scan.leases.push(*lease),
                ItemKind::Unreadable { key, error } => {
                    let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
                    if logged.insert(key.clone()) {
                        tracing::error!(
                            table,
                            lease = %key,
                            %error,
                            "unreadable lease item: treated as present and unfinished until it is repaired"
                        );
                    }
                    scan.unreadable.push(key);
                }
                ItemKind::NotOurs => {}
            }
        }
    }

    /// Publishes the count of unreadable items of a complete scan.
    pub(crate) fn finish(&self, table: &str, scan: &TableScan) {
        metrics::gauge!("UnreadableLeases", "table" => table.to_owned())
            .set(scan.unreadable.len() as f64);
    }
}
