//! A held lease's validity: the one place that says whether this worker may still act on
//! a lease.
//!
//! A lease is valid until a deadline, and only a fenced write that succeeded moves the
//! deadline: to the instant that write was *sent* plus the hold time (the failover time
//! minus a margin). Other workers count the failover time from when they first see a new
//! counter, which is after it was written, which is after it was sent; so whatever the
//! renewal is doing (refused, hung, slow to answer), this worker stops acting on the lease
//! before any other worker may take it. The margin covers the processor call that a
//! consumer starts just before the deadline.
//!
//! A lease is also lost for good (`Lost`) when a write is refused on its condition, when
//! the worker stops, or when the deadline passes and a consumer notices. Consumers check
//! [`Validity::check`] before each delivery, and wait on [`ValidityWatch::invalid`] (the
//! watchdog) while they wait for anything else.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::LostReason;

/// Where a lease stands.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Standing {
    /// Valid until the instant.
    Valid(Instant),
    /// Lost for this reason (final).
    Lost(LostReason),
}

/// The validity of one acquisition of a lease.
#[derive(Debug)]
pub(crate) struct Validity {
    standing: watch::Sender<Standing>,
    /// How long after a successful write was sent the lease stays valid.
    hold: Duration,
    /// When the last successful write was sent (renewals are due after it).
    last_confirmed: std::sync::Mutex<Instant>,
}

/// The hold time for a failover time: the failover time less a tenth of it, so a lease is
/// given up well before another worker may take it.
pub(crate) fn hold_time(failover: Duration) -> Duration {
    failover.saturating_sub(failover / 10)
}

impl Validity {
    /// A lease taken by a write sent at `sent`.
    pub(crate) fn new(sent: Instant, failover: Duration) -> Validity {
        let hold = hold_time(failover);
        Validity {
            standing: watch::channel(Standing::Valid(sent + hold)).0,
            hold,
            last_confirmed: std::sync::Mutex::new(sent),
        }
    }

    /// A fenced write sent at `sent` succeeded: the lease is valid until `sent` + the hold
    /// time (never earlier than it already was). No effect once the lease is lost.
    pub(crate) fn confirm(&self, sent: Instant) {
        self.standing.send_if_modified(|s| match s {
            Standing::Valid(until) if sent + self.hold > *until => {
                *until = sent + self.hold;
                true
            }
            _ => false,
        });
        let mut last = self
            .last_confirmed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *last = (*last).max(sent);
    }

    /// When the last successful write was sent.
    pub(crate) fn last_confirmed(&self) -> Instant {
        *self
            .last_confirmed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the lease lost; `false` when it already was (the first reason stays).
    pub(crate) fn lose(&self, reason: LostReason) -> bool {
        self.standing.send_if_modified(|s| match s {
            Standing::Valid(_) => {
                *s = Standing::Lost(reason);
                true
            }
            Standing::Lost(_) => false,
        })
    }

    /// `Ok` while the lease may be acted on at `now`; why not otherwise (`Expired` once the
    /// deadline has passed).
    pub(crate) fn check(&self, now: Instant) -> Result<(), LostReason> {
        match *self.standing.borrow() {
            Standing::Valid(until) if now < until => Ok(()),
            Standing::Valid(_) => Err(LostReason::Expired),
            Standing::Lost(reason) => Err(reason),
        }
    }

    /// The deadline while the lease is valid or has just expired (not yet marked lost);
    /// `None` once it is lost.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match *self.standing.borrow() {
            Standing::Valid(until) => Some(until),
            Standing::Lost(_) => None,
        }
    }

    /// A watch on this validity.
    pub(crate) fn watch(&self) -> ValidityWatch {
        ValidityWatch(self.standing.subscribe())
    }
}

/// Waits for a lease to stop being valid.
#[derive(Debug, Clone)]
pub(crate) struct ValidityWatch(watch::Receiver<Standing>);

impl ValidityWatch {
    /// Resolves with the reason once the lease is lost or its deadline has passed (the
    /// deadline is followed as later writes move it).
    pub(crate) async fn invalid(&mut self) -> LostReason {
        loop {
            let standing = *self.0.borrow_and_update();
            let until = match standing {
                Standing::Lost(reason) => return reason,
                Standing::Valid(until) if Instant::now() >= until => return LostReason::Expired,
                Standing::Valid(until) => until,
            };
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                changed = self.0.changed() => {
                    if changed.is_err() {
                        // The lease was dropped without a reason: nobody acts on it any more.
                        return LostReason::WorkerStopping;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILOVER: Duration = Duration::from_secs(10);
    const MS: Duration = Duration::from_millis(1);

    fn valid_until(v: &Validity, until: Instant) -> bool {
        v.check(until - MS).is_ok() && v.check(until) == Err(LostReason::Expired)
    }

    #[tokio::test(start_paused = true)]
    async fn valid_until_the_hold_time_after_the_last_confirmed_send() {
        let t0 = Instant::now();
        let v = Validity::new(t0, FAILOVER);
        assert!(valid_until(&v, t0 + Duration::from_secs(9)));
        // A write sent at t0 + 3 s that succeeded moves the deadline to t0 + 12 s.
        v.confirm(t0 + Duration::from_secs(3));
        assert!(valid_until(&v, t0 + Duration::from_secs(12)));
        assert_eq!(v.last_confirmed(), t0 + Duration::from_secs(3));
        // A reply that arrives late for an earlier send never moves it back.
        v.confirm(t0 + Duration::from_secs(1));
        assert!(valid_until(&v, t0 + Duration::from_secs(12)));
        assert_eq!(v.last_confirmed(), t0 + Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_loss_is_final() {
        let t0 = Instant::now();
        let v = Validity::new(t0, FAILOVER);
        assert!(v.lose(LostReason::Fenced));
        assert!(!v.lose(LostReason::WorkerStopping));
        assert_eq!(v.check(t0), Err(LostReason::Fenced));
        v.confirm(t0 + Duration::from_secs(5));
        assert_eq!(v.check(t0), Err(LostReason::Fenced), "no write revives it");
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_fires_at_the_deadline_as_it_moves_or_at_a_loss() {
        let t0 = Instant::now();
        let v = std::sync::Arc::new(Validity::new(t0, FAILOVER));
        let mut w = v.watch();
        let renewer = {
            let v = v.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(3)).await;
                v.confirm(Instant::now());
            })
        };
        assert_eq!(w.invalid().await, LostReason::Expired);
        assert_eq!(
            Instant::now(),
            t0 + Duration::from_secs(12),
            "renewed once at 3 s"
        );
        renewer.await.unwrap();

        let v = Validity::new(Instant::now(), FAILOVER);
        let mut w = v.watch();
        v.lose(LostReason::Fenced);
        assert_eq!(w.invalid().await, LostReason::Fenced);
    }
}
