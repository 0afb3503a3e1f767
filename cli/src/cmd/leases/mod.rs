//! `kinesis leases APP`: an application's lease table (DynamoDB table APP) as a person
//! reads it, or as JSON; `kinesis leases APP reset SHARD --to POSITION` moves a checkpoint,
//! refused while a worker holds the lease unless `--force`, and fenced on the lease counter
//! read, so a lease a worker wrote meanwhile is never overwritten silently. The table's
//! I/O is kcl's ([`kcl::admin::LeaseTable`]); this module only asks and shows.

mod render;

use clap::{Args, Subcommand};
use kcl::Position;
use kcl::admin::{AdminError, LeaseListing, LeaseTable};

use crate::aws::{Aws, Service};
use crate::error::CliError;

const EXAMPLES: &str = "\
Examples:
  kinesis leases billing                         # one row per shard, then each worker's lease count
  kinesis leases billing --json                  # one JSON object per lease
  kinesis leases billing reset shardId-000000000000 --to trim_horizon
  kinesis leases billing reset shardId-000000000001 --to sequence:49590338271490256608559692538361571095921575989136588898:3
  kinesis leases billing reset shardId-000000000001 --to latest --force   # while a worker holds it

A reset is refused while a worker holds the lease: stop the application (its workers release their
leases) or pass --force, which also takes the lease from its worker; the next worker to take it
starts at the new checkpoint.";

/// `kinesis leases`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES, args_conflicts_with_subcommands = false)]
pub(crate) struct LeasesArgs {
    /// The application (its lease table's name).
    app: String,
    /// One JSON object per lease instead of tables.
    #[arg(long)]
    json: bool,
    /// DynamoDB endpoint of the lease table (default: AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, then AWS's).
    #[arg(long, value_name = "URL", global = true)]
    dynamodb_endpoint_url: Option<String>,
    #[command(subcommand)]
    action: Option<LeasesAction>,
}

#[derive(Debug, Subcommand)]
enum LeasesAction {
    /// Move a shard's checkpoint (refused while the lease is held, unless --force).
    #[command(
        after_help = "Examples:\n  kinesis leases billing reset shardId-000000000000 --to trim_horizon\n  kinesis leases billing reset shardId-000000000000 --to sequence:4959...:0\n  kinesis leases billing reset shardId-000000000000 --to latest --force"
    )]
    Reset(ResetArgs),
}

#[derive(Debug, Args)]
struct ResetArgs {
    /// The shard (its lease's key), e.g. shardId-000000000000.
    shard: String,
    /// The new checkpoint: trim_horizon, latest, sequence:S or sequence:S:SUB (processing resumes
    /// after that record; SUB is its index in a KPL aggregate).
    #[arg(long, value_name = "POSITION", value_parser = parse_position)]
    to: Position,
    /// Reset even while a worker holds the lease (the lease is taken from it).
    #[arg(long)]
    force: bool,
}

/// Runs `kinesis leases`.
pub(crate) async fn run(aws: Aws, args: LeasesArgs) -> Result<(), CliError> {
    let aws = aws.with_dynamodb_endpoint(args.dynamodb_endpoint_url.clone());
    // Connection, credentials and access problems, named as such.
    let dynamodb = aws.dynamodb_without_retries();
    aws.retry
        .call("ListTables", || dynamodb.list_tables().limit(1).send())
        .await
        .map_err(|f| aws.error(Service::DynamoDb, Some(&args.app), f))?;
    let table = LeaseTable::new(&dynamodb, &args.app).with_timeout(aws.retry.timeout);
    match args.action {
        None => {
            let listing = list(&aws, &table).await?;
            let text = if args.json {
                render::json(&listing)
            } else {
                render::tables(&args.app, &listing)
            };
            print!("{text}");
            Ok(())
        }
        Some(LeasesAction::Reset(reset)) => {
            let before = table
                .get(&reset.shard)
                .await
                .map_err(|e| admin_error(&aws, &args.app, e))?;
            let after = table
                .reset_checkpoint(&reset.shard, reset.to, reset.force)
                .await
                .map_err(|e| admin_error(&aws, &args.app, e))?;
            println!(
                "{}: checkpoint {} (was {}), counter {}{}",
                after.key,
                render::position(&after.checkpoint),
                render::position(&before.checkpoint),
                after.counter,
                match before.actual_owner() {
                    Some(owner) if reset.force => format!(", taken from worker {owner}"),
                    _ => String::new(),
                }
            );
            Ok(())
        }
    }
}

/// The listing, retried while the failure is one that passes.
async fn list(aws: &Aws, table: &LeaseTable) -> Result<LeaseListing, CliError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match table.list().await {
            Ok(listing) => return Ok(listing),
            Err(e) if e.is_retryable() && attempt < aws.retry.attempts => {
                tokio::time::sleep(aws.retry.backoff(attempt)).await;
            }
            Err(e) => return Err(admin_error(aws, table.name(), e)),
        }
    }
}

/// An error of the lease table, with what to do about it.
fn admin_error(aws: &Aws, app: &str, e: AdminError) -> CliError {
    let message = match &e {
        AdminError::TableMissing { .. } => format!(
            "{e} at {}: the table is named after the application (--app of `kinesis consume`), and is created by its first worker",
            aws.endpoint(Service::DynamoDb)
        ),
        AdminError::LeaseNotFound { .. } => {
            format!("{e}; `kinesis leases {app}` lists the shards it has")
        }
        AdminError::Held { .. } => format!(
            "{e}: not reset; stop the worker (it releases its leases) or pass --force to take the lease from it"
        ),
        AdminError::Changed { .. } => format!("{e}; run the command again"),
        AdminError::Store(_) => e.to_string(),
    };
    CliError::Leases(message)
}

/// `--to`: trim_horizon, latest, sequence:S or sequence:S:SUB.
fn parse_position(s: &str) -> Result<Position, String> {
    const HELP: &str = "use trim_horizon, latest, sequence:S or sequence:S:SUB";
    match s.to_ascii_lowercase().as_str() {
        "trim_horizon" | "trim-horizon" | "oldest" => return Ok(Position::TrimHorizon),
        "latest" | "newest" => return Ok(Position::Latest),
        _ => {}
    }
    let (kind, rest) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not a position: {HELP}"))?;
    if !kind.eq_ignore_ascii_case("sequence") {
        return Err(format!("{s:?} is not a position: {HELP}"));
    }
    let (seq, sub) = match rest.split_once(':') {
        Some((seq, sub)) => {
            let sub = sub
                .parse::<u64>()
                .map_err(|_| format!("{sub:?} is not a sub-sequence number (0, 1, ...)"))?;
            (seq, sub)
        }
        None => (rest, 0),
    };
    Position::at(seq.trim(), sub).map_err(|e| format!("{s}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_sentinels_or_sequence_numbers_with_an_optional_sub_sequence() {
        assert_eq!(parse_position("TRIM_HORIZON"), Ok(Position::TrimHorizon));
        assert_eq!(parse_position("latest"), Ok(Position::Latest));
        assert_eq!(
            parse_position("sequence:42"),
            Position::at("42", 0).map_err(|e| e.to_string())
        );
        assert_eq!(
            parse_position("sequence:42:3"),
            Position::at("42", 3).map_err(|e| e.to_string())
        );
        for bad in [
            "",
            "shard_end",
            "sequence:",
            "sequence:x",
            "sequence:1:-1",
            "sequence:1:a",
            "timestamp:5",
        ] {
            assert!(parse_position(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_a_position_or_a_message(s in "\\PC{0,40}") {
            let _ = parse_position(&s);
        }
    }
}
