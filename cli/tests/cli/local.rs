//! `kinesis local`: serves both APIs on the ports it prints as shell lines; those lines
//! are all another `kinesis` (or any AWS tool) needs; SIGTERM stops it.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::Run;

#[test]
fn local_servers_are_usable_with_the_lines_they_print() {
    let home = tempfile::tempdir().unwrap();
    let mut server = Run::bare(
        &["local", "--kinesis-port", "0", "--dynamodb-port", "0"],
        home.path(),
    )
    .env_remove("AWS_REGION")
    .env_remove("AWS_ACCESS_KEY_ID")
    .env_remove("AWS_SECRET_ACCESS_KEY")
    .spawn();
    let lines: Vec<String> = server
        .wait_lines(5, Duration::from_secs(20))
        .iter()
        .map(|l| String::from_utf8(l.clone()).unwrap())
        .collect();
    let vars: BTreeMap<String, String> = lines
        .iter()
        .map(|l| {
            let (k, v) = l.strip_prefix("export ").unwrap().split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let names: Vec<&str> = vars.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "AWS_ACCESS_KEY_ID",
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ENDPOINT_URL_KINESIS",
            "AWS_REGION",
            "AWS_SECRET_ACCESS_KEY"
        ]
    );
    let client = |args: &[&str]| {
        let mut run = Run::bare(args, home.path());
        for (k, v) in &vars {
            run.env(k, v);
        }
        run
    };
    client(&["stream", "create", "local-demo", "--shards", "2", "--wait"])
        .run()
        .success();
    client(&["produce", "local-demo", "--key", "k"])
        .stdin("one\ntwo\n")
        .run()
        .success();
    let read = client(&["read", "local-demo"]).run();
    assert_eq!(read.success().lines(), ["one", "two"]);
    let consumed = client(&[
        "consume",
        "local-demo",
        "--app",
        "demo-app",
        "--from",
        "trim_horizon",
        "-n",
        "2",
    ])
    .run();
    assert_eq!(consumed.success().lines(), ["one", "two"]);

    server.signal("TERM");
    let out = server.wait(Duration::from_secs(10));
    out.success();
    assert!(out.stderr.contains("stopped"), "{}", out.stderr);
    client(&["stream", "list"])
        .run()
        .fails_with(&["cannot connect to Kinesis"]);
}

#[test]
fn a_port_in_use_is_said_with_the_way_out() {
    let home = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    Run::bare(
        &["local", "--kinesis-port", &port, "--dynamodb-port", "0"],
        home.path(),
    )
    .run()
    .fails_with(&[
        "cannot listen on 127.0.0.1:",
        "for Kinesis",
        "port 0 picks a free one",
    ]);
}
