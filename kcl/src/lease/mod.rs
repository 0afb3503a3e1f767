//! Leases: the DynamoDB store, expiry tracking, the taker's decisions, the leases this
//! worker holds (renewed, fenced, released) and shard sync's decisions.

mod codec;
mod error;
mod expiry;
mod held;
mod model;
mod store;
pub(crate) mod sync_plan;
pub(crate) mod taker;

pub use codec::LeaseDecodeError;
pub use error::LeaseStoreError;
pub(crate) use expiry::ExpiryTracker;
pub(crate) use held::{ConcurrencyToken, HeldLease, HeldLeases, LostReason};
pub use model::Lease;
pub(crate) use store::LeaseStore;
