//! How leases leave this worker gracefully: a consumer shut down as requested (a graceful
//! shutdown, or a hand-off another worker asked for) has had its processor's final
//! checkpoint; the lease then goes to its next owner at once: the hand-off is completed
//! (on a graceful shutdown the worker offers each lease to the least loaded live worker
//! before its consumers stop, so the receiver is already waiting), or it is assigned to
//! that worker, or released when no other worker is known. And the two ways of stopping.

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
        self.offer_all().await;
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
        self.release_unclaimed().await;
        self.w
            .retriever
            .after_graceful_shutdown(self.w.leases.store())
            .await;
    }

    /// Before the consumers shut down gracefully, starts a hand-off of each held lease to
    /// the least loaded live worker (the owner-initiated form of the 3.x hand-off): the
    /// receivers find them while the processors make their final checkpoints, and take each
    /// one the moment it is completed. A lease that cannot be offered is assigned or
    /// released afterwards, as before.
    async fn offer_all(&mut self) {
        self.refresh_loads().await;
        let held: Vec<_> = self
            .tasks
            .values()
            .filter_map(|(key, token)| self.w.leases.get(key, *token))
            .collect();
        let mut offers = Vec::new();
        for lease in held {
            match self.receiver() {
                Some(to) => offers.push((lease, to)),
                None => break,
            }
        }
        let leases = &self.w.leases;
        let results = offers
            .iter()
            .map(|(held, to)| async move { (held.key.clone(), leases.offer(held, to).await) });
        for (key, result) in futures::future::join_all(results).await {
            if let Err(e) = result {
                tracing::debug!(lease = %key, error = %e, "could not offer the lease; it will be assigned");
            }
        }
    }

    /// Releases the leases the table names this worker's without it holding them (assigned
    /// or handed over to it while it shut down, not yet taken), so they do not wait for
    /// their expiry. One in a hand-off still in progress is left to its giver.
    async fn release_unclaimed(&self) {
        let me = &self.w.config.worker_identifier;
        let store = self.w.leases.store();
        let Ok(scan) = store.list(true).await else {
            return;
        };
        let held = self.w.leases.keys();
        let unclaimed = scan.leases.iter().filter(|l| {
            l.owner.as_deref() == Some(me.as_str())
                && !l.is_handing_off()
                && !l.is_finished()
                && !held.contains(&l.key)
        });
        for lease in unclaimed {
            match store.release(&lease.key, me).await {
                Ok(()) => {
                    tracing::info!(lease = %lease.key, "released a lease given to this worker as it stopped")
                }
                Err(e) => {
                    tracing::debug!(lease = %lease.key, error = %e, "could not release; it will expire")
                }
            }
        }
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
