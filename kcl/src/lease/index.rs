//! The lease table's two keys-only indexes, and the cheap reads through them:
//!
//! - the owner index (`LeaseOwnerToLeaseKeyIndex`, the Java KCL 3.x's: `leaseOwner` HASH):
//!   the leases a worker owns;
//! - the hand-over index (`KclHandoverToLeaseKeyIndex`, kcl's: `kclHandoverTo` HASH): the
//!   leases being given to a worker. Sparse: only a lease a leaver offered or assigned has
//!   `kclHandoverTo`, and the take that follows removes it, so the query a worker makes every
//!   `lease_discovery_interval` reads no item while no lease is on its way to it.
//!
//! Each is used only once DescribeTable showed it ACTIVE; a worker without the hand-over
//! index queries the owner index (every lease it owns each time), without either it finds
//! leases given to it by its taker's scans.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;

use super::LeaseStoreError;
use super::codec::{attr, s};
use super::store::LeaseStore;

/// The name of the owner index (the Java KCL 3.x's).
pub(crate) const OWNER_INDEX: &str = "LeaseOwnerToLeaseKeyIndex";
/// The name of the hand-over index (kcl's).
pub(crate) const HANDOVER_INDEX: &str = "KclHandoverToLeaseKeyIndex";

type Result<T> = std::result::Result<T, LeaseStoreError>;

/// Which indexes can be queried, as DescribeTable last said.
#[derive(Debug, Default)]
pub(crate) struct IndexReady {
    owner: AtomicBool,
    handover: AtomicBool,
}

impl IndexReady {
    pub(super) fn set(&self, owner: bool, handover: bool) {
        self.owner.store(owner, Ordering::Relaxed);
        self.handover.store(handover, Ordering::Relaxed);
    }
}

impl LeaseStore {
    /// The keys of the leases whose `leaseOwner` is `owner`, from the owner index. `None`
    /// when the table has no usable owner index.
    pub(crate) async fn owned_by(&self, owner: &str) -> Result<Option<Vec<String>>> {
        let ready = &self.indexes.owner;
        self.query_if_ready(ready, OWNER_INDEX, attr::LEASE_OWNER, owner)
            .await
    }

    /// The keys of the leases being given to `worker` (`kclHandoverTo`), from the
    /// hand-over index. `None` when the table has no usable hand-over index.
    pub(crate) async fn handed_to(&self, worker: &str) -> Result<Option<Vec<String>>> {
        let ready = &self.indexes.handover;
        self.query_if_ready(ready, HANDOVER_INDEX, attr::HANDOVER_TO, worker)
            .await
    }

    /// [`query_keys`](Self::query_keys) while `ready` says the index can be used; an index
    /// refused is marked unusable until DescribeTable shows it again.
    async fn query_if_ready(
        &self,
        ready: &AtomicBool,
        index: &'static str,
        attribute: &str,
        value: &str,
    ) -> Result<Option<Vec<String>>> {
        if !ready.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let keys = self.query_keys(index, attribute, value).await?;
        if keys.is_none() {
            ready.store(false, Ordering::Relaxed);
        }
        Ok(keys)
    }

    /// Every lease key under `value` in `index` (hashed on `attribute`), all pages; `None`
    /// when the index is refused (gone, or never there).
    async fn query_keys(
        &self,
        index: &'static str,
        attribute: &str,
        value: &str,
    ) -> Result<Option<Vec<String>>> {
        let mut keys = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .call(
                    self.timeouts.lease,
                    "Query (index)",
                    self.client
                        .query()
                        .table_name(&self.table)
                        .index_name(index)
                        .key_condition_expression("#k = :v")
                        .expression_attribute_names("#k", attribute)
                        .expression_attribute_values(":v", s(value))
                        .set_exclusive_start_key(start.take())
                        .send(),
                )
                .await;
            let page = match page {
                Ok(page) => page,
                Err(LeaseStoreError::Fatal { message, .. }) if message.contains("index") => {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            keys.extend(
                page.items()
                    .iter()
                    .filter_map(|item| match item.get(attr::LEASE_KEY) {
                        Some(AttributeValue::S(key)) if !key.contains(':') => Some(key.clone()),
                        _ => None,
                    }),
            );
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(Some(keys)),
            }
        }
    }
}
