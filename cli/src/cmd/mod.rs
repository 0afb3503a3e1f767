//! The subcommands, one module each; [`run`] sends the command line to its subcommand.

pub(crate) mod consume;
pub(crate) mod local;
pub(crate) mod produce;
pub(crate) mod read;
pub(crate) mod stream;

use crate::args::{Cli, Command};
use crate::aws::Aws;
use crate::error::CliError;

/// Runs the subcommand of `cli`.
pub(crate) async fn run(cli: Cli) -> Result<(), CliError> {
    let Cli { global, command } = cli;
    match command {
        // Needs no AWS configuration: it is the AWS side.
        Command::Local(args) => local::run(args).await,
        Command::Produce(args) => produce::run(&Aws::load(&global).await?, args).await,
        Command::Read(args) => read::run(&Aws::load(&global).await?, args).await,
        Command::Consume(args) => consume::run(Aws::load(&global).await?, args).await,
        Command::Stream(args) => stream::run(&Aws::load(&global).await?, args).await,
    }
}
