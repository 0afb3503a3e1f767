//! The pause after a whole request failed.

use tokio::time::{Duration, Instant};

/// Pause after a whole request failed: 100 ms doubling to 5 s, reset by a success.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    pub(super) until: Option<Instant>,
    delay: Duration,
}

impl Backoff {
    pub(super) fn failed(&mut self, now: Instant) {
        self.delay = (self.delay * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
        self.until = Some(now + self.delay);
    }

    pub(super) fn succeeded(&mut self) {
        *self = Backoff::default();
    }

    pub(super) fn active(&self, now: Instant) -> bool {
        self.until.is_some_and(|u| u > now)
    }
}
