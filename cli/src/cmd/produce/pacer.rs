//! `--rate N`: at most N records a second, evenly spaced; idle time is not saved up
//! beyond a short burst.

use std::time::Duration;

use tokio::time::Instant;

/// The longest burst after an idle spell: idle time credited at most this much.
const BURST: Duration = Duration::from_millis(100);

/// Spaces puts at a rate.
#[derive(Debug)]
pub(crate) struct Pacer {
    interval: Option<Duration>,
    next: Option<Instant>,
}

impl Pacer {
    /// A pacer for `rate` records a second; `None` does not wait.
    pub(crate) fn new(rate: Option<f64>) -> Pacer {
        Pacer {
            interval: rate.and_then(|r| Duration::try_from_secs_f64(1.0 / r).ok()),
            next: None,
        }
    }

    /// Waits for the next record's turn.
    pub(crate) async fn wait(&mut self) {
        let Some(interval) = self.interval else {
            return;
        };
        let now = Instant::now();
        let earliest = now.checked_sub(BURST).unwrap_or(now);
        let turn = self.next.map_or(now, |n| n.max(earliest));
        if turn > now {
            tokio::time::sleep_until(turn).await;
        }
        self.next = Some(turn + interval);
    }
}

/// `--rate`: a positive number of records a second.
pub(crate) fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "{s:?} is not a positive number of records a second"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn records_are_spaced_at_the_rate() {
        let mut pacer = Pacer::new(Some(10.0));
        let start = Instant::now();
        for _ in 0..11 {
            pacer.wait().await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_is_credited_only_up_to_the_burst() {
        let mut pacer = Pacer::new(Some(100.0));
        pacer.wait().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let start = Instant::now();
        for _ in 0..21 {
            pacer.wait().await;
        }
        // 100 ms of credit covers 10 records; the other 11 take 10 ms each (the first at once).
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(100) && took <= Duration::from_millis(110),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_rate_never_waits() {
        let mut pacer = Pacer::new(None);
        let start = Instant::now();
        for _ in 0..1000 {
            pacer.wait().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[test]
    fn rates_are_positive_numbers() {
        assert_eq!(parse_rate("2.5"), Ok(2.5));
        for bad in ["0", "-1", "inf", "NaN", "fast", ""] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
