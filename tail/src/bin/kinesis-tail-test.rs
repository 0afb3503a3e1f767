//! The test harness of `kinesis-tail`: parses [`kinesis_tail::TailArgs`] and calls
//! [`kinesis_tail::run`] with the standard AWS configuration (environment, profiles,
//! `AWS_ENDPOINT_URL_KINESIS`), until SIGINT or SIGTERM; prints the summary as JSON on
//! stdout, logs on stderr (`KINESIS_TAIL_LOG=debug`). It exists so the integration tests can kill a real process with SIGKILL; the
//! `kinesis tail` subcommand of the `kinesis` CLI replaces it.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "kinesis-tail-test",
    about = "Test harness of kinesis-tail (use `kinesis tail`)"
)]
struct Cli {
    #[command(flatten)]
    tail: kinesis_tail::TailArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("KINESIS_TAIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let config = match cli.tail.to_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kinesis-tail-test: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_kinesis::Client::new(&sdk);
    match kinesis_tail::run(config, client, signal()).await {
        Ok(summary) => {
            println!("{}", serde_json::to_string(&summary).unwrap_or_default());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kinesis-tail-test: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
