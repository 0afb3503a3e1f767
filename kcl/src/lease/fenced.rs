//! Fenced writes to a held lease: every write is conditional on the counter this worker
//! holds, and confirms the lease's validity from the instant it was sent.
//!
//! When a write's outcome is unknown (a server error, no answer within the attempt's
//! timeout, a dropped connection), DynamoDB may have applied it. A later write then meets a
//! refused condition; the lease is read back, and when it is still ours with exactly the
//! counter the unknown write would have left, that write was applied: the counter is
//! adopted and the refused write tried again (the Java KCL's rule). Any other refused
//! condition means another worker changed the lease: it is lost.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::held::{Fence, WRITE_ATTEMPTS};
use super::{HeldLease, HeldLeases, LeaseStoreError, LostReason};

impl HeldLeases {
    /// Runs one fenced write on a held lease: `op(counter)` returns the new counter. Retries
    /// throttling and transient failures; refuses at once when the lease is no longer
    /// valid (lost, or past its deadline).
    pub(crate) async fn write<F, Fut>(&self, held: &HeldLease, op: F) -> Result<(), LeaseStoreError>
    where
        F: Fn(u64) -> Fut,
        Fut: Future<Output = Result<u64, LeaseStoreError>>,
    {
        let mut fence = held.fence.lock().await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Err(reason) = held.validity.check(Instant::now()) {
                self.lose(&held.key, held.token, reason);
                return Err(LeaseStoreError::ConditionFailed {
                    operation: "write to a lease no longer valid",
                });
            }
            let sent = Instant::now();
            // Boxed: an SDK call's future is large, and this one lives beside the read below.
            let error = match Box::pin(op(fence.counter)).await {
                Ok(next) => {
                    *fence = Fence {
                        counter: next,
                        unknown_since: None,
                    };
                    held.validity.confirm(sent);
                    return Ok(());
                }
                Err(e) => e,
            };
            if error.is_condition_failed() {
                match Box::pin(self.explained_by_unknown_write(held, &mut fence)).await {
                    // Our earlier write was applied: try this one again on its counter.
                    Ok(true) => continue,
                    Ok(false) => {
                        self.lose(&held.key, held.token, LostReason::Fenced);
                        return Err(error);
                    }
                    // Cannot tell now; the next write asks again.
                    Err(read) => return Err(read),
                }
            }
            if error.outcome_unknown() && fence.unknown_since.is_none() {
                fence.unknown_since = Some(sent);
            }
            if !error.is_retryable() || attempt >= WRITE_ATTEMPTS {
                return Err(error);
            }
            tokio::time::sleep(crate::backoff::delay(attempt, Duration::from_millis(40))).await;
        }
    }

    /// After a refused condition: whether the table shows the lease still ours with exactly
    /// the counter an earlier write of unknown outcome would have left. Then that counter is
    /// adopted, and the lease's validity confirmed from when that write may have been sent.
    async fn explained_by_unknown_write(
        &self,
        held: &HeldLease,
        fence: &mut Fence,
    ) -> Result<bool, LeaseStoreError> {
        let Some(since) = fence.unknown_since else {
            return Ok(false);
        };
        let Some(lease) = self.store.get(&held.key).await? else {
            return Ok(false);
        };
        let ours = lease.owner.as_deref() == Some(self.me.as_str());
        if !(ours && lease.counter == fence.counter + 1) {
            return Ok(false);
        }
        *fence = Fence {
            counter: lease.counter,
            unknown_since: None,
        };
        held.validity.confirm(since);
        tracing::debug!(lease = %held.key, counter = lease.counter, "a write of unknown outcome was applied");
        Ok(true)
    }
}
