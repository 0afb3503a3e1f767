//! Serves a Kinesis API (ferrokinesis) and a DynamoDB API (dynoxide) on loopback until
//! Ctrl-C, so the AWS CLI or any service can be pointed at them.
//!
//! ```text
//! cargo run -p kinesis-testkit --bin local-aws -- --kinesis-port 4567 --dynamodb-port 8000
//! AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_REGION=us-east-1 \
//!   aws --endpoint-url http://127.0.0.1:4567 kinesis list-streams
//! ```

use std::net::Ipv4Addr;
use std::process::ExitCode;

use clap::Parser;
use testkit::LocalAwsOptions;

#[derive(Parser, Debug)]
#[command(about = "Local Kinesis + DynamoDB API servers (in-memory) until Ctrl-C")]
struct Args {
    /// Kinesis API port (0 = any free port).
    #[arg(long, default_value_t = 4567)]
    kinesis_port: u16,
    /// DynamoDB API port (0 = any free port).
    #[arg(long, default_value_t = 8000)]
    dynamodb_port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = Ipv4Addr::LOCALHOST)]
    host: Ipv4Addr,
    /// Enforce per-shard write limits (1 MiB/s, 1,000 records/s) like real Kinesis.
    #[arg(long)]
    enforce_limits: bool,
    /// Worker threads of the server runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("local-aws: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-aws: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), testkit::LocalAwsError> {
    let mut options = LocalAwsOptions {
        kinesis_port: args.kinesis_port,
        dynamodb_port: args.dynamodb_port,
        host: args.host,
        ..LocalAwsOptions::default()
    };
    options.kinesis.enforce_limits = args.enforce_limits;
    let bind = |port: u16, server: &'static str| async move {
        tokio::net::TcpListener::bind((args.host, port))
            .await
            .map_err(|source| testkit::LocalAwsError::Bind { server, source })
    };
    let kinesis = bind(args.kinesis_port, "Kinesis").await?;
    let dynamodb = bind(args.dynamodb_port, "DynamoDB").await?;
    let show =
        |l: &tokio::net::TcpListener| l.local_addr().map(|a| a.to_string()).unwrap_or_default();
    // One line per server on stdout, so a script can read the ports (a closed stdout is
    // no reason to stop serving).
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "kinesis http://{}", show(&kinesis));
        let _ = writeln!(out, "dynamodb http://{}", show(&dynamodb));
        let _ = out.flush();
    }

    testkit::serve(options, kinesis, dynamodb, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
