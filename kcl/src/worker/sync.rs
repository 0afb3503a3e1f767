//! Shard sync (ListShards against the table) and the cleanup of finished leases.

use std::sync::Arc;

use crate::InitialPosition;
use crate::lease::sync_plan;
use crate::lease::{LeaseStore, LeaseStoreError, TableScan};
use crate::retrieval::{RetrievalError, StreamClient};

/// A shard sync or cleanup step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SyncError {
    #[error("{0}")]
    Table(#[from] LeaseStoreError),
    #[error("{0}")]
    Kinesis(#[from] RetrievalError),
}

impl SyncError {
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            SyncError::Table(e) => e.is_retryable(),
            SyncError::Kinesis(e) => e.is_retryable(),
        }
    }
}

/// Lists the shards and creates the leases that are missing, judged on `recent` (a scan
/// taken moments ago) or a new scan. Returns how many were created. Each creation is
/// conditional on the lease being absent, so an older view can only try one in vain.
pub(crate) async fn sync_shards(
    store: &LeaseStore,
    stream: &StreamClient,
    initial: InitialPosition,
    recent: Option<Arc<TableScan>>,
) -> Result<usize, SyncError> {
    let scan = match recent {
        Some(scan) => scan,
        None => Arc::new(store.list(true).await?),
    };
    let filter = scan.is_empty().then_some(initial);
    let shards = stream.list_shards(filter).await?;
    let present = scan.present();
    let mut created = 0;
    for lease in sync_plan::plan(&shards, &present, initial) {
        if store.create_if_absent(&lease).await? {
            tracing::info!(lease = %lease.key, checkpoint = %lease.checkpoint, "created a lease");
            created += 1;
        }
    }
    Ok(created)
}

/// Deletes finished leases whose children have all started, judged on `recent` (a scan
/// taken moments ago) or a new scan. Returns how many. Each deletion is conditional on
/// the lease being unchanged since the scan, so an older view can only delete less.
pub(crate) async fn clean_up(
    store: &LeaseStore,
    recent: Option<Arc<TableScan>>,
) -> Result<usize, SyncError> {
    let scan = match recent {
        Some(scan) => scan,
        None => Arc::new(store.list(true).await?),
    };
    let mut deleted = 0;
    for (key, counter) in sync_plan::finished_to_delete(&scan.leases, &scan.unreadable) {
        match store.delete_finished(&key, counter).await {
            Ok(()) => {
                tracing::info!(lease = %key, "deleted a finished lease");
                deleted += 1;
            }
            Err(e) if e.is_condition_failed() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(deleted)
}
