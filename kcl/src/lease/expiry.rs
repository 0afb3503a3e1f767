//! Lease expiry on this worker's monotonic clock: a lease is expired when its counter
//! has not changed for the failover time since this worker first saw its current value.
//! Nothing time-based is stored in the table, so clock skew between workers is moot.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::Lease;

/// What one scan after another showed of each lease's counter.
#[derive(Debug, Default, Clone)]
pub(crate) struct ExpiryTracker {
    seen: HashMap<String, Seen>,
}

#[derive(Debug, Clone)]
struct Seen {
    counter: u64,
    /// When the current counter value was first seen; `None` for a lease first seen
    /// unowned (never renewed: available at once).
    since: Option<Instant>,
    /// Whether the counter was seen to change: the lease was written while watched.
    moved: bool,
}

impl ExpiryTracker {
    /// Records a scan made at `now`. Leases no longer in the table are forgotten.
    pub(crate) fn observe(&mut self, leases: &[Lease], now: Instant) {
        let mut next = HashMap::with_capacity(leases.len());
        for lease in leases {
            let seen = match self.seen.remove(&lease.key) {
                Some(old) if old.counter == lease.counter => old,
                Some(_) => Seen {
                    counter: lease.counter,
                    since: Some(now),
                    moved: true,
                },
                None => Seen {
                    counter: lease.counter,
                    since: lease.owner.as_ref().map(|_| now),
                    moved: false,
                },
            };
            next.insert(lease.key.clone(), seen);
        }
        self.seen = next;
    }

    /// Whether `key`'s counter was seen to change since this worker first saw the lease
    /// (a first sight tells nothing of whether its owner is alive).
    pub(crate) fn seen_renewed(&self, key: &str) -> bool {
        self.seen.get(key).is_some_and(|s| s.moved)
    }

    /// Whether `key`'s counter has stood still for `failover` as of `now` (a lease
    /// never seen counts as not expired: it is unknown).
    pub(crate) fn is_expired(&self, key: &str, now: Instant, failover: Duration) -> bool {
        match self.seen.get(key) {
            Some(Seen { since: None, .. }) => true,
            Some(Seen {
                since: Some(since), ..
            }) => now.saturating_duration_since(*since) >= failover,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Position;

    fn lease(key: &str, owner: Option<&str>, counter: u64) -> Lease {
        let mut l = Lease::new(key, Position::TrimHorizon);
        l.owner = owner.map(str::to_owned);
        l.counter = counter;
        l
    }

    #[tokio::test(start_paused = true)]
    async fn a_counter_standing_still_for_failover_expires() {
        let failover = Duration::from_secs(10);
        let mut t = ExpiryTracker::default();
        let t0 = Instant::now();
        t.observe(&[lease("a", Some("w"), 1), lease("b", None, 0)], t0);
        assert!(!t.is_expired("a", t0, failover));
        assert!(
            t.is_expired("b", t0, failover),
            "new and unowned: available"
        );
        assert!(!t.is_expired("unknown", t0, failover));

        let t1 = t0 + Duration::from_secs(6);
        t.observe(&[lease("a", Some("w"), 2)], t1);
        assert!(!t.is_expired("a", t0 + Duration::from_secs(12), failover));
        assert!(t.is_expired("a", t1 + failover, failover));
        assert!(!t.is_expired("b", t1, failover), "forgotten once gone");

        // The same counter seen again keeps its first sighting.
        t.observe(&[lease("a", Some("w"), 2)], t1 + Duration::from_secs(9));
        assert!(t.is_expired("a", t1 + failover, failover));
    }
}
