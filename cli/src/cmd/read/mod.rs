//! `kinesis read STREAM`: looks at a stream's records without leases or checkpoints.
//! Every shard (or the `--shard`s named), from `--from`, de-aggregated with each
//! shard's hash range filter as the KCL does; closed shards are followed into their
//! children, parents first, so per-key order holds across a reshard.

mod plan;
mod records;
mod shard;
mod sink;

use std::time::Duration;

use clap::Args;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::args::parse_duration;
use crate::aws::Aws;
use crate::error::CliError;
use crate::output::Format;
use crate::position::StartFrom;
use crate::shards;
use plan::Plan;
use shard::{Event, ShardReader};
use sink::{Flow, Sink};

const EXAMPLES: &str = "\
Examples:
  kinesis read orders                             # everything kept, then stop
  kinesis read orders --from latest --follow      # new records as they come (Ctrl-C stops)
  kinesis read orders --format json --limit 10    # shard, sequence, keys, arrival, data
  kinesis read orders --from timestamp:2024-05-01T12:00:00Z
  kinesis read orders --shard shardId-000000000001 --from sequence:49650000000000000000000000000000000000000000000000000000

Records are read shard by shard in parallel; a child shard is read only after its parents,
so the records of one partition key come out in order even across splits and merges.";

/// `kinesis read`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct ReadArgs {
    /// The stream's name.
    stream: String,
    /// Read only this shard (repeat for more); its children are not followed.
    #[arg(long = "shard", value_name = "SHARD_ID")]
    shards: Vec<String>,
    /// Where to start: trim_horizon, latest, timestamp:T (RFC 3339 or epoch seconds),
    /// sequence:S (with one --shard).
    #[arg(long, value_name = "POSITION", default_value = "trim_horizon")]
    from: StartFrom,
    /// Keep reading new records (until Ctrl-C) instead of stopping at the end.
    #[arg(short, long)]
    follow: bool,
    /// Stop after this many records.
    #[arg(short = 'n', long, value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// Output: raw (the data, one record a line) or json (one object a line).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// With --follow, the pause after a shard had nothing new.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    poll_interval: Duration,
    /// Most Kinesis records per GetRecords call.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    max_records: i32,
}

/// Runs `kinesis read`.
pub(crate) async fn run(aws: &Aws, args: ReadArgs) -> Result<(), CliError> {
    if matches!(args.from, StartFrom::Sequence(_)) && args.shards.len() != 1 {
        return Err(CliError::Usage(
            "--from sequence:S needs exactly one --shard (a sequence number belongs to one shard)"
                .to_owned(),
        ));
    }
    let client = aws.kinesis();
    let listed = shards::list(aws, &client, &args.stream).await?;
    let mut plan =
        Plan::new(listed, &args.from, &args.shards).map_err(|shard| CliError::ShardNotFound {
            stream: args.stream.clone(),
            shard,
        })?;
    let mut reading = Reading {
        aws,
        client,
        args: &args,
        tasks: JoinSet::new(),
        events: mpsc::channel(16),
        dropped: 0,
    };
    let result = reading.run(&mut plan).await;
    reading.tasks.abort_all();
    if reading.dropped > 0 {
        eprintln!(
            "kinesis read: {} user records dropped: they came in aggregates holding hash keys outside their shard's range (the KCL drops them too)",
            reading.dropped
        );
    }
    result
}

/// The readers of the shards being read, and what they report.
struct Reading<'a> {
    aws: &'a Aws,
    client: aws_sdk_kinesis::Client,
    args: &'a ReadArgs,
    tasks: JoinSet<()>,
    events: (mpsc::Sender<Event>, mpsc::Receiver<Event>),
    dropped: usize,
}

impl Reading<'_> {
    async fn run(&mut self, plan: &mut Plan) -> Result<(), CliError> {
        let mut sink = Sink::new(self.args.format, self.args.limit);
        self.start_ready(plan);
        let stop = crate::signal::shutdown();
        tokio::pin!(stop);
        while !plan.is_done() {
            let event = tokio::select! {
                event = self.events.1.recv() => event,
                () = &mut stop => return Ok(()),
            };
            match event {
                Some(Event::Records {
                    shard,
                    records,
                    dropped,
                }) => {
                    self.dropped += dropped;
                    if sink.write(&shard, &records)? == Flow::Stop {
                        return Ok(());
                    }
                }
                Some(Event::Ended { shard, closed }) => {
                    plan.finished(&shard);
                    if closed && !plan.knows_children_of(&shard) {
                        let stream = &self.args.stream;
                        plan.discovered(shards::list(self.aws, &self.client, stream).await?);
                    }
                    self.start_ready(plan);
                }
                Some(Event::Failed(e)) => return Err(e),
                None => return Ok(()),
            }
        }
        Ok(())
    }

    fn start_ready(&mut self, plan: &mut Plan) {
        for (info, start) in plan.start_ready() {
            let reader = ShardReader {
                aws: self.aws.clone(),
                client: self.client.clone(),
                stream: self.args.stream.clone(),
                shard: info,
                start,
                follow: self.args.follow,
                poll_interval: self.args.poll_interval,
                max_records: self.args.max_records,
            };
            self.tasks.spawn(reader.run(self.events.0.clone()));
        }
    }
}
