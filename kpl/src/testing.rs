//! Helpers for the unit tests of the stages.

use std::sync::Arc;

use kinesis_agg::UserRecord;
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

use crate::pending::{Incoming, Pending};

pub(crate) type Done = oneshot::Receiver<crate::pending::Outcome>;

/// A pending record with this key and data, due in `deadline_ms`, expiring in `ttl_ms`.
pub(crate) fn pending(
    seq: u64,
    pk: &str,
    data: &str,
    deadline_ms: u64,
    ttl_ms: u64,
) -> (Pending, Done) {
    let (done, rx) = oneshot::channel();
    let record = UserRecord::new(pk, data.to_owned()).unwrap_or_else(|e| panic!("{e}"));
    let now = Instant::now();
    let incoming = Incoming::new(
        record,
        Arc::from("s"),
        crate::pending::Completion::One(done),
        now,
    );
    let p = Pending::new(
        incoming,
        &Arc::new(Arc::from("s")),
        seq,
        now + Duration::from_millis(deadline_ms),
        now + Duration::from_millis(ttl_ms),
    );
    (p.unwrap_or_else(|| panic!("fresh incoming")), rx)
}
