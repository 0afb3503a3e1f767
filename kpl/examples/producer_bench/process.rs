//! The bench's processes: the `local-aws` server it starts, and CPU and memory figures
//! read from `/proc`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::Error;

pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `local-aws` (next to this binary) on free ports; returns its Kinesis endpoint.
pub(crate) fn start_server(
    cpus: Option<&str>,
    enforce_limits: bool,
) -> Result<(String, Child), Error> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|p| p.parent())
        .ok_or("no target directory")?;
    let bin = dir.join("local-aws");
    let mut command = match cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus]).arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    command.args(["--kinesis-port", "0", "--dynamodb-port", "0"]);
    if enforce_limits {
        command.arg("--enforce-limits");
    }
    let mut child = command
        // Backtrace capture on every server-side error would make the server the bottleneck.
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")

        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {} (build it with `cargo build --release -p kinesis-testkit --bin local-aws`): {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let line = BufReader::new(stdout)
        .lines()
        .next()
        .ok_or("local-aws printed nothing")??;
    let endpoint = line
        .strip_prefix("kinesis ")
        .ok_or("unexpected local-aws output")?
        .to_owned();
    Ok((endpoint, child))
}

/// User + system CPU seconds of this process (Linux `/proc`, USER_HZ = 100).
pub(crate) fn cpu_seconds() -> f64 {
    cpu_seconds_of("self")
}

/// User + system CPU seconds of process `pid` ("self" for this one).
pub(crate) fn cpu_seconds_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set size in MiB (Linux `/proc`).
pub(crate) fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}
