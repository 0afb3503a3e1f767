//! Leases: the DynamoDB store, expiry tracking, the taker's decisions, the leases this
//! worker holds (their validity, renewal, fenced writes, release) and shard sync's
//! decisions.

pub(crate) mod codec;
mod error;
mod expiry;
mod fenced;
mod held;
mod index;
pub(crate) mod liveness;
mod model;
mod renewer;
mod scan;
mod store;
pub(crate) mod sync_plan;
mod table;
pub(crate) mod taker;
mod validity;
mod writes;

pub use codec::LeaseDecodeError;
pub use error::LeaseStoreError;
pub(crate) use expiry::ExpiryTracker;
pub(crate) use held::{ConcurrencyToken, HeldLease, HeldLeases, LostReason};
pub use model::Lease;
pub(crate) use renewer::renew_while_held;
pub(crate) use scan::TableScan;
pub(crate) use store::{LeaseStore, StoreTimeouts};
pub(crate) use validity::ValidityWatch;
pub(crate) use writes::Written;
