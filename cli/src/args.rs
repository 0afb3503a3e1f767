//! The command tree. Each subcommand's options live with the subcommand (`cmd/*`);
//! this file only names them, with the options every subcommand shares. `leases` and
//! `tail` slot in here as further variants of [`Command`].

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::cmd::{consume, local, produce, read, stream};

const ABOUT: &str = "kcat for Kinesis: produce, read and consume records (de-aggregated), manage streams, run local servers";

const EXAMPLES: &str = "\
Examples:
  kinesis local                                  # local Kinesis + DynamoDB; prints the lines to point tools at them
  kinesis stream create orders --shards 4 --wait
  seq 1000 | kinesis produce orders              # one record per line, random partition keys
  kinesis produce orders --json --key-field customer < orders.jsonl
  kinesis read orders --from trim_horizon --format json
  kinesis read orders --from latest --follow
  kinesis consume orders --app billing          # one KCL worker; checkpoints in DynamoDB table `billing`

AWS settings come from the standard places (AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID, ~/.aws/config,
AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL_DYNAMODB); --region, --profile and
--endpoint-url override them. Errors are one line on stderr with exit status 1.";

/// `kinesis`: the command line.
#[derive(Debug, Parser)]
#[command(name = "kinesis", version, about = ABOUT, after_help = EXAMPLES)]
pub(crate) struct Cli {
    /// Options of every subcommand.
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    /// The subcommand.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every subcommand takes (before or after its name).
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// AWS region (default: AWS_REGION, then the profile's).
    #[arg(long, global = true, value_name = "REGION")]
    pub(crate) region: Option<String>,
    /// Profile of ~/.aws/config and ~/.aws/credentials (default: AWS_PROFILE, then `default`).
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) profile: Option<String>,
    /// Kinesis endpoint (default: AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL, then AWS's).
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,
    /// Longest wait for one AWS call (seconds, or with a unit: 500ms, 2s, 1m).
    #[arg(long, global = true, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
    /// More log lines on stderr (-v: info, -vv: debug); RUST_LOG takes precedence.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write records to a stream through the KPL (lines, JSON objects or files).
    Produce(produce::ProduceArgs),
    /// Look at a stream's records without leases: every shard, de-aggregated.
    Read(read::ReadArgs),
    /// Consume a stream as one KCL worker of an application, with checkpoints.
    Consume(consume::ConsumeArgs),
    /// Create, list, describe, delete, split, merge or scale streams.
    Stream(stream::StreamArgs),
    /// Run local Kinesis and DynamoDB servers (in memory) until stopped.
    Local(local::LocalArgs),
}

/// A duration: plain seconds (`10`, `0.5`) or a number with `ms`, `s`, `m` or `h`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (examples: 10, 500ms, 2s, 5m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?} (use ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{s:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_take_seconds_or_a_unit() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "x", "5 parsecs", "-1", "1e999", "1.2.3"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_duration_text_parses_or_is_refused_without_panicking(s in "\\PC{0,12}") {
            let _ = parse_duration(&s);
        }
    }
}
