//! Renewal of one held lease: its own task, so a renewal that hangs or fails holds up no
//! other lease. A renewal is due one interval after the last successful write to the
//! lease was sent (a checkpoint counts: it moved the counter too). Failures are left to
//! the lease's validity: a lease that cannot be confirmed stops being valid at its
//! deadline, whatever the renewal is doing.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use super::{HeldLease, HeldLeases};

/// Renews `held` every `every` until it is lost or dropped.
pub(crate) async fn renew_while_held(
    leases: Arc<HeldLeases>,
    held: Arc<HeldLease>,
    every: Duration,
) {
    let mut watch = held.validity.watch();
    let retry = (every / 4).max(Duration::from_millis(10));
    let mut next = held.validity.last_confirmed() + every;
    loop {
        tokio::select! {
            _ = watch.invalid() => return,
            () = sleep_until(next) => {}
        }
        let due = held.validity.last_confirmed() + every;
        if due > Instant::now() {
            // A checkpoint confirmed the lease since: nothing to renew yet.
            next = due;
            continue;
        }
        let store = leases.store();
        match leases.write(&held, |c| store.renew(&held.key, c)).await {
            Ok(()) => next = held.validity.last_confirmed() + every,
            Err(e) if e.is_condition_failed() => return,
            Err(e) => {
                tracing::debug!(lease = %held.key, error = %e, "renewal failed; trying again");
                metrics::counter!("RenewLease.Failure", "worker" => leases.worker_id().to_owned())
                    .increment(1);
                next = Instant::now() + retry;
            }
        }
    }
}
