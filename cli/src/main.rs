//! `kinesis`: kcat for Amazon Kinesis Data Streams, on the `kpl` producer and the `kcl`
//! consumer.
//!
//! ```text
//! kinesis local &                                  # local Kinesis + DynamoDB
//! kinesis stream create orders --shards 4 --wait
//! seq 1000 | kinesis produce orders
//! kinesis read orders --format json
//! kinesis consume orders --app billing --from trim_horizon
//! ```
//!
//! Layout: `args` is the command tree, `cmd/*` one module per subcommand, `aws` the
//! configuration, clients and the one retry policy, `error` the messages people read.

mod args;
mod aws;
mod cmd;
mod error;
mod output;
mod position;
mod shards;
mod signal;
mod table;

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kinesis: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cmd::run(cli));
    // Whatever is left (a read of stdin that cannot be interrupted) ends with the process.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kinesis: error: {}", one_line(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// `text` on one line: an error is one line on stderr, whatever its causes say.
fn one_line(text: &str) -> String {
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    parts.join(" ")
}

/// Log lines on stderr: warnings by default, more with -v / -vv, or as RUST_LOG says.
/// The embedded servers' own warnings (a client asking for a table that does not exist
/// yet) are not the user's business unless asked for.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn,dynoxide=error,ferrokinesis=error",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
