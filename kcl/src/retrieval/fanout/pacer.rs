//! At most one SubscribeToShard per second per shard from this worker (the service's
//! limit per shard and consumer), whichever of the worker's consumers of the shard asks:
//! a shard taken again right after it was lost waits its turn too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The least time between two SubscribeToShard calls for one shard.
pub(crate) const SUBSCRIBE_GAP: Duration = Duration::from_secs(1);

/// When each shard may be subscribed to next.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    next: Mutex<HashMap<String, Instant>>,
}

impl Pacer {
    /// Waits for `shard`'s turn and takes it: returns no sooner than a second after the
    /// previous turn of the same shard began.
    pub(crate) async fn turn(&self, shard: &str) {
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if next.len() > 4096 {
                next.retain(|_, t| *t > now);
            }
            let at = next.get(shard).map_or(now, |t| (*t).max(now));
            next.insert(shard.to_owned(), at + SUBSCRIBE_GAP);
            at
        };
        tokio::time::sleep_until(at).await;
    }

    /// `shard`'s call was answered: its next turn is a second from now at the earliest
    /// (so the service sees the calls a second apart, whatever the delays on the way).
    pub(crate) fn answered(&self, shard: &str) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let soonest = Instant::now() + SUBSCRIBE_GAP;
        let at = next.entry(shard.to_owned()).or_insert(soonest);
        *at = (*at).max(soonest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_turn_per_second_per_shard() {
        let pacer = Pacer::default();
        let t0 = Instant::now();
        pacer.turn("a").await;
        pacer.turn("b").await;
        assert_eq!(Instant::now(), t0, "first turns are immediate");
        pacer.turn("a").await;
        assert_eq!(Instant::now() - t0, SUBSCRIBE_GAP);
        // Two waiting for the same shard take turns a second apart.
        let (x, y) = tokio::join!(
            async {
                pacer.turn("a").await;
                Instant::now() - t0
            },
            async {
                pacer.turn("a").await;
                Instant::now() - t0
            }
        );
        let mut got = [x, y];
        got.sort();
        assert_eq!(got, [SUBSCRIBE_GAP * 2, SUBSCRIBE_GAP * 3]);
        // An answer that came late pushes the next turn to a second after it.
        pacer.turn("c").await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        pacer.answered("c");
        let answered = Instant::now();
        pacer.turn("c").await;
        assert_eq!(Instant::now() - answered, SUBSCRIBE_GAP);
        // A shard not asked for a while goes at once.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let before = Instant::now();
        pacer.turn("b").await;
        assert_eq!(Instant::now(), before);
    }
}
