//! The `kinesis` binary, run as a user would against the embedded Kinesis and DynamoDB
//! servers (started in this process, reached through `AWS_ENDPOINT_URL_*`): what each
//! subcommand does is checked on what the servers hold afterwards and on what the
//! binary printed, never on what it meant to do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)] // test code: a broken expectation panics

mod common;
mod consume;
mod errors;
mod local;
mod produce;
mod read;
mod stream;
