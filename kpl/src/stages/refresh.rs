//! When to list the shards again: on a timer, at once when the map is found wrong, and
//! with backoff (1 s doubling to 30 s) while listing fails.

use std::time::Duration;

use tokio::time::Instant;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The refresh schedule of one stream's shard map.
#[derive(Debug)]
pub(crate) struct RefreshPolicy {
    interval: Duration,
    next: Instant,
    backoff: Duration,
    in_flight: bool,
    /// The map was found wrong while a listing ran (it may have started before the change).
    stale: bool,
}

impl RefreshPolicy {
    /// A schedule asking for a first listing at once.
    pub(crate) fn new(interval: Duration, now: Instant) -> Self {
        RefreshPolicy {
            interval,
            next: now,
            backoff: FIRST_BACKOFF,
            in_flight: false,
            stale: false,
        }
    }

    /// Whether a listing should start now.
    pub(crate) fn due(&self, now: Instant) -> bool {
        !self.in_flight && now >= self.next
    }

    /// When the next listing is due, unless one is running.
    pub(crate) fn next_at(&self) -> Option<Instant> {
        (!self.in_flight).then_some(self.next)
    }

    pub(crate) fn started(&mut self) {
        self.in_flight = true;
    }

    pub(crate) fn succeeded(&mut self, now: Instant) {
        self.in_flight = false;
        self.backoff = FIRST_BACKOFF;
        self.next = if std::mem::take(&mut self.stale) {
            now
        } else {
            now + self.interval
        };
    }

    pub(crate) fn failed(&mut self, now: Instant) {
        self.in_flight = false;
        self.stale = false; // the next listing comes after the invalidation in any case
        self.next = now + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// The map is known to be wrong: list again as soon as the backoff allows (after the
    /// listing under way, if one is: it may predate what made the map wrong).
    pub(crate) fn invalidate(&mut self, now: Instant) {
        if self.in_flight {
            self.stale = true;
        } else if self.backoff == FIRST_BACKOFF {
            self.next = self.next.min(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_thirty_seconds_and_resets() {
        let t0 = Instant::now();
        let mut p = RefreshPolicy::new(Duration::from_secs(60), t0);
        assert!(p.due(t0));
        p.started();
        assert!(!p.due(t0));
        let mut waits = Vec::new();
        for _ in 0..7 {
            p.failed(t0);
            waits.push(p.next_at().map(|n| (n - t0).as_secs()));
            p.started();
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30].map(Some));
        p.succeeded(t0);
        assert_eq!(p.next_at(), Some(t0 + Duration::from_secs(60)));
        p.invalidate(t0);
        assert!(
            p.due(t0),
            "a wrong map is refreshed at once after a success"
        );
    }

    #[test]
    fn an_invalidation_during_a_listing_lists_again_after_it() {
        let t0 = Instant::now();
        let mut p = RefreshPolicy::new(Duration::from_secs(60), t0);
        p.started();
        // The map is found wrong while a listing (maybe started before the reshard) runs.
        p.invalidate(t0);
        p.succeeded(t0);
        assert!(p.due(t0), "the listing may predate what made the map wrong");
        p.started();
        p.succeeded(t0);
        assert_eq!(p.next_at(), Some(t0 + Duration::from_secs(60)));
    }

    #[test]
    fn invalidation_respects_failure_backoff() {
        let t0 = Instant::now();
        let mut p = RefreshPolicy::new(Duration::from_secs(60), t0);
        p.started();
        p.failed(t0);
        p.started();
        p.failed(t0);
        p.invalidate(t0);
        assert!(!p.due(t0));
    }
}
