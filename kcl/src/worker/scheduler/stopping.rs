//! How leases leave this worker gracefully: a consumer shut down as requested (a graceful
//! shutdown, or a hand-off another worker asked for) has had its processor's final
//! checkpoint; the lease then goes to its next owner at once: the hand-off is completed,
//! or (on a graceful shutdown) it is assigned to the least loaded live worker, which finds
//! it through the owner index, or released when no other worker is known. And the two ways
//! of stopping.

use tokio::sync::watch;

use super::super::Control;
use super::{Scheduler, until};
use crate::ShardProcessorFactory;
use crate::lease::{ConcurrencyToken, LostReason};

impl<F: ShardProcessorFactory> Scheduler<F> {
    /// Passes a lease whose consumer shut down as requested to its next owner.
    pub(super) async fn hand_over(&mut self, key: &str, token: ConcurrencyToken) {
        let Some(held) = self.w.leases.get(key, token) else {
            return;
        };
        let receiver = match held.handoff_to() {
            Some(_) => None,
            None => self.receiver(),
        };
        let leases = &self.w.leases;
        let (what, result) = match held.handoff_to() {
            Some(to) => (
                "completed the hand-off",
                leases.complete_handoff(&held, &to).await,
            ),
            None => match receiver {
                Some(to) => ("assigned", leases.assign(&held, &to).await),
                None => ("released", leases.release(&held).await),
            },
        };
        match result {
            Ok(()) => {
                tracing::info!(lease = key, "{what}");
                self.w.shared.stats.released();
            }
            Err(e) => {
                tracing::warn!(lease = key, error = %e, "could not pass the lease on; it will expire")
            }
        }
    }

    /// The live worker with the fewest leases (counting those already given to it); `None`
    /// when no other worker was seen.
    fn receiver(&mut self) -> Option<String> {
        let (worker, load) = self.loads.iter_mut().min_by_key(|(_, load)| **load)?;
        *load += 1;
        Some(worker.clone())
    }

    /// Graceful: every consumer runs `shutdown_requested`, then each lease goes to its next
    /// owner (see [`hand_over`](Self::hand_over)); what is left is released.
    pub(super) async fn stop_gracefully(&mut self, control: &mut watch::Receiver<Control>) {
        self.graceful.send_replace(true);
        loop {
            tokio::select! {
                () = until(control, |c| c == Control::Immediate) => {
                    // As documented for an immediate shutdown: every consumer still running
                    // sees its lease lost (and its processor's lease_lost, unless it is
                    // already in its final call); nothing more is released.
                    self.stop_now().await;
                    return;
                }
                done = self.consumers.join_next_with_id() => match done {
                    Some(done) => self.reap(done).await,
                    None => break,
                },
            }
        }
        self.w.leases.release_all().await;
    }

    /// Immediate: consumers see their leases lost; nothing is released.
    pub(super) async fn stop_now(&mut self) {
        self.w.leases.lose_all(LostReason::WorkerStopping);
        while let Some(done) = self.consumers.join_next_with_id().await {
            if let Ok((id, _)) = done {
                self.tasks.remove(&id);
            }
        }
    }

    /// Releases a lease (after a consumer failed).
    pub(super) async fn release(&self, key: &str, token: ConcurrencyToken) {
        let Some(held) = self.w.leases.get(key, token) else {
            return;
        };
        match self.w.leases.release(&held).await {
            Ok(()) => self.w.shared.stats.released(),
            Err(e) => tracing::warn!(lease = key, error = %e, "could not release; it will expire"),
        }
    }
}
