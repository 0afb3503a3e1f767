//! The `local-aws` binary serves both APIs on the ports it prints, until it is stopped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)] // test code: a broken expectation panics

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_both_apis() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_local-aws"))
        .args(["--kinesis-port", "0", "--dynamodb-port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let kinesis = lines.next().unwrap().unwrap();
    let dynamodb = lines.next().unwrap().unwrap();
    let kinesis = kinesis.strip_prefix("kinesis ").unwrap().to_owned();
    let dynamodb = dynamodb.strip_prefix("dynamodb ").unwrap().to_owned();

    let k = testkit::kinesis_client(&kinesis);
    testkit::streams::create_stream(&k, "from-binary", 1)
        .await
        .unwrap();
    let listed = k.list_streams().send().await.unwrap();
    assert_eq!(listed.stream_names(), ["from-binary"]);
    let tables = testkit::dynamodb_client(&dynamodb)
        .list_tables()
        .send()
        .await
        .unwrap();
    assert!(tables.table_names().is_empty());

    child.kill().unwrap();
    child.wait().unwrap();
}
