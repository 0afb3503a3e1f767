//! What `produce` counts, the progress line on stderr (each second: records a second,
//! in flight, failed) and the summary at the end.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters shared by the reading loop, the acknowledgement task and the failed sink.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Items read from the input.
    pub(crate) read: AtomicU64,
    /// User records written.
    pub(crate) written: AtomicU64,
    /// Items that were not written.
    pub(crate) failed: AtomicU64,
    /// Kinesis records carrying them (each has exactly one user record at sub-sequence 0).
    pub(crate) kinesis_records: AtomicU64,
}

impl Counts {
    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Writes a progress line every `interval` until aborted; on a terminal the line is
/// rewritten in place.
pub(crate) async fn report(
    counts: std::sync::Arc<Counts>,
    producer: kpl::Producer,
    interval: Duration,
) {
    let terminal = std::io::stderr().is_terminal();
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    let mut last = 0;
    loop {
        tick.tick().await;
        let written = Counts::get(&counts.written);
        let per_second = (written - last) as f64 / interval.as_secs_f64();
        last = written;
        let line = format!(
            "kinesis produce: {} read, {written} written ({per_second:.0} records/s), {} in flight, {} failed",
            Counts::get(&counts.read),
            producer.outstanding().records,
            Counts::get(&counts.failed),
        );
        let mut err = std::io::stderr().lock();
        let _ = if terminal {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }
}

/// The closing line.
pub(crate) fn summary(
    counts: &Counts,
    stream: &str,
    elapsed: Duration,
    failed_to: Option<&str>,
) -> String {
    let (read, written, failed) = (
        Counts::get(&counts.read),
        Counts::get(&counts.written),
        Counts::get(&counts.failed),
    );
    let rate = written as f64 / elapsed.as_secs_f64().max(1e-3);
    let mut line = format!(
        "kinesis produce: {written} of {read} records written to {stream} ({} Kinesis records) in {:.2} s, {rate:.0} records/s",
        Counts::get(&counts.kinesis_records),
        elapsed.as_secs_f64(),
    );
    if failed > 0 {
        line.push_str(&format!("; {failed} failed"));
        if let Some(path) = failed_to {
            line.push_str(&format!(" (written to {path})"));
        }
    }
    line
}

/// Ends a progress line left on a terminal, so the next line starts clean.
pub(crate) fn clear_line() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
}
