//! What one shard accepted in its last two seconds: the records written to it and their
//! bytes, by the time their answers came. A throttle sets the shard's rate from this
//! ([`super::limiter`]): what the shard took in a second is what it can take, whatever the
//! sizes of the records (20 aggregates of 50 KiB fill a second that 1 MiB/s of small
//! records would fill differently). The better of the two seconds counts: the second
//! right after a cut holds less than the shard takes (the rate was just cut, and the
//! shard's own second may have been full already), and a second throttle then would cut
//! below what the shard had just shown it takes.

use std::collections::VecDeque;

use tokio::time::{Duration, Instant};

/// Kinesis counts a shard's limits per second.
const SECOND: Duration = Duration::from_secs(1);

/// Writes to one shard in the last two seconds, one entry per instant (the records of one
/// answer are one entry).
#[derive(Debug, Default)]
pub(crate) struct Accepted {
    log: VecDeque<Entry>,
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    records: u64,
    bytes: u64,
}

impl Accepted {
    /// A Kinesis record of `bytes` was written at `now`.
    pub(crate) fn add(&mut self, now: Instant, bytes: usize) {
        self.forget_before(now);
        let bytes = bytes as u64;
        match self.log.back_mut() {
            Some(last) if last.at == now => {
                last.records += 1;
                last.bytes += bytes;
            }
            _ => self.log.push_back(Entry {
                at: now,
                records: 1,
                bytes,
            }),
        }
    }

    /// Records and bytes written in the better of the two seconds before `now` (each
    /// counted apart: the one with more records, and the one with more bytes).
    pub(crate) fn best_second(&mut self, now: Instant) -> (u64, u64) {
        self.forget_before(now);
        let mut seconds = [(0, 0); 2];
        for e in &self.log {
            let second = usize::from(now.saturating_duration_since(e.at) >= SECOND);
            if let Some((records, bytes)) = seconds.get_mut(second) {
                *records += e.records;
                *bytes += e.bytes;
            }
        }
        let [(r0, b0), (r1, b1)] = seconds;
        (r0.max(r1), b0.max(b1))
    }

    fn forget_before(&mut self, now: Instant) {
        while let Some(first) = self.log.front() {
            if now.saturating_duration_since(first.at) < 2 * SECOND {
                break;
            }
            self.log.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_better_of_the_last_two_seconds_counts() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut a = Accepted::default();
        a.add(t0, 100);
        a.add(t0, 50);
        a.add(ms(600), 10);
        assert_eq!(a.best_second(ms(999)), (3, 160));
        assert_eq!(
            a.best_second(ms(1000)),
            (2, 150),
            "one second apart: the older one"
        );
        a.add(ms(1500), 500);
        assert_eq!(
            a.best_second(ms(1600)),
            (3, 500),
            "the more records, and the more bytes"
        );
        assert_eq!(a.best_second(ms(2599)), (2, 510));
        assert_eq!(a.best_second(ms(3500)), (0, 0));
        assert!(a.log.is_empty(), "nothing kept past two seconds");
    }
}
