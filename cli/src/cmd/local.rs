//! `kinesis local`: the embedded Kinesis (ferrokinesis) and DynamoDB (dynoxide) servers,
//! in memory, until SIGINT or SIGTERM, with the environment lines that point the AWS
//! SDKs, the AWS CLI and this tool at them.

use std::io::Write as _;
use std::net::Ipv4Addr;

use clap::Args;
use testkit::LocalAwsOptions;
use tokio::net::TcpListener;

use crate::error::CliError;

const EXAMPLES: &str = "\
Examples:
  kinesis local                                  # Kinesis on 127.0.0.1:4567, DynamoDB on 127.0.0.1:8000
  kinesis local > local.env & sleep 1; . ./local.env   # then AWS tools in this shell use them
  kinesis local --kinesis-port 0 --dynamodb-port 0   # any free ports (printed)

The lines printed on stdout are shell `export` lines (endpoints, region, dummy credentials).
Everything is kept in memory and lost when the servers stop.";

/// `kinesis local`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct LocalArgs {
    /// Kinesis API port (0: any free port).
    #[arg(long, default_value_t = 4567)]
    kinesis_port: u16,
    /// DynamoDB API port (0: any free port).
    #[arg(long, default_value_t = 8000)]
    dynamodb_port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = Ipv4Addr::LOCALHOST)]
    host: Ipv4Addr,
    /// Enforce the per-shard write limits (1 MiB/s, 1,000 records/s) as Kinesis does.
    #[arg(long)]
    enforce_limits: bool,
}

/// Serves until a signal.
pub(crate) async fn run(args: LocalArgs) -> Result<(), CliError> {
    let kinesis = bind(args.host, args.kinesis_port, "Kinesis").await?;
    let dynamodb = bind(args.host, args.dynamodb_port, "DynamoDB").await?;
    let url = |l: &TcpListener| {
        l.local_addr()
            .map(|a| format!("http://{a}"))
            .map_err(CliError::io("reading the listening address"))
    };
    let lines = environment(&url(&kinesis)?, &url(&dynamodb)?);
    {
        let mut out = std::io::stdout().lock();
        // A closed stdout is no reason to stop serving.
        let _ = out.write_all(lines.as_bytes());
        let _ = out.flush();
    }
    eprintln!("kinesis local: serving Kinesis and DynamoDB in memory until Ctrl-C or SIGTERM");
    let mut options = LocalAwsOptions {
        kinesis_port: args.kinesis_port,
        dynamodb_port: args.dynamodb_port,
        host: args.host,
        ..LocalAwsOptions::default()
    };
    options.kinesis.enforce_limits = args.enforce_limits;
    testkit::serve(options, kinesis, dynamodb, crate::signal::shutdown()).await?;
    eprintln!("kinesis local: stopped");
    Ok(())
}

async fn bind(host: Ipv4Addr, port: u16, server: &'static str) -> Result<TcpListener, CliError> {
    TcpListener::bind((host, port)).await.map_err(|source| {
        let hint = if source.kind() == std::io::ErrorKind::AddrInUse {
            " (port 0 picks a free one)"
        } else {
            ""
        };
        CliError::Usage(format!(
            "cannot listen on {host}:{port} for {server}: {source}{hint}"
        ))
    })
}

/// The `export` lines for a shell.
fn environment(kinesis: &str, dynamodb: &str) -> String {
    format!(
        "export AWS_ENDPOINT_URL_KINESIS={kinesis}\n\
         export AWS_ENDPOINT_URL_DYNAMODB={dynamodb}\n\
         export AWS_REGION={}\n\
         export AWS_ACCESS_KEY_ID=local\n\
         export AWS_SECRET_ACCESS_KEY=local\n",
        testkit::REGION
    )
}
