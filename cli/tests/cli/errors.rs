//! Errors a person can act on: one line on stderr, exit status 1, no panic, no
//! backtrace; `--help` with examples; bad input refused without a panic.

use std::time::{Duration, Instant};

use testkit::{Fault, FaultProxy, Rule};

use crate::common::{Env, Run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_stream_is_named_by_every_subcommand() {
    let env = Env::start().await;
    for args in [
        &["read", "nope"][..],
        &["produce", "nope"],
        &["consume", "nope", "--app", "app"],
        &["stream", "describe", "nope"],
        &["stream", "delete", "nope"],
        &["stream", "split", "nope", "shardId-000000000000"],
    ] {
        env.kinesis(args).stdin("x\n").run().fails_with(&[
            "stream \"nope\" not found in us-east-1",
            &env.aws.kinesis_endpoint(),
            "kinesis stream list",
        ]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_and_region_are_named_before_any_request() {
    let env = Env::start().await;
    env.kinesis(&["read", "s"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .run()
        .fails_with(&["no AWS credentials", "AWS_ACCESS_KEY_ID", "--profile"]);
    env.kinesis(&["stream", "list"])
        .env_remove("AWS_REGION")
        .run()
        .fails_with(&["no AWS region", "--region"]);
    // --region and --profile are the standard configuration's too.
    let profile = env.path("config");
    std::fs::write(
        &profile,
        "[profile local]\nregion = us-east-1\naws_access_key_id = a\naws_secret_access_key = b\n",
    )
    .unwrap();
    env.kinesis(&["stream", "list", "--profile", "local"])
        .env_remove("AWS_REGION")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", profile.to_str().unwrap())
        .run()
        .success();
    env.kinesis(&["stream", "list", "--region", "eu-west-1"])
        .env_remove("AWS_REGION")
        .run()
        .success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_and_refused_credentials_say_which_call() {
    let env = Env::with_stream("guarded", 1).await;
    let proxy = FaultProxy::start(env.aws.kinesis_addr()).await.unwrap();
    let denied = Fault::Error {
        status: 400,
        error_type: "AccessDeniedException".into(),
    };
    proxy.set_rules(vec![Rule::new(denied).on("ListShards")]);
    env.kinesis(&["read", "guarded"])
        .env("AWS_ENDPOINT_URL_KINESIS", &proxy.endpoint())
        .run()
        .fails_with(&["access denied", "ListShards", "guarded"]);
    let refused = Fault::Error {
        status: 400,
        error_type: "UnrecognizedClientException".into(),
    };
    proxy.set_rules(vec![Rule::new(refused)]);
    env.kinesis(&["stream", "describe", "guarded"])
        .env("AWS_ENDPOINT_URL_KINESIS", &proxy.endpoint())
        .run()
        .fails_with(&["Kinesis refused the credentials", "DescribeStreamSummary"]);
    // Throttling backs off and is retried (giving up is the retry policy's unit test).
    let before = proxy.faults_injected();
    proxy.set_rules(vec![
        Rule::new(Fault::kinesis_throttled())
            .on("ListStreams")
            .at_most(3),
    ]);
    let listed = env
        .kinesis(&["stream", "list"])
        .env("AWS_ENDPOINT_URL_KINESIS", &proxy.endpoint())
        .run();
    assert_eq!(listed.success().lines(), ["guarded"]);
    assert_eq!(proxy.faults_injected() - before, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_cannot_connect_after_a_few_quick_retries() {
    let env = Env::with_stream("s", 1).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    env.kinesis(&["read", "s", "--endpoint-url", &dead])
        .run()
        .fails_with(&["cannot connect to Kinesis", &dead, "refused"]);
    assert!(started.elapsed() < Duration::from_secs(10));
    env.kinesis(&[
        "consume",
        "s",
        "--app",
        "app",
        "--dynamodb-endpoint-url",
        &dead,
    ])
    .run()
    .fails_with(&[
        "cannot connect to DynamoDB",
        &dead,
        "AWS_ENDPOINT_URL_DYNAMODB",
    ]);
    let stalled = FaultProxy::start(env.aws.kinesis_addr()).await.unwrap();
    stalled.stall();
    env.kinesis(&["stream", "list", "--timeout", "300ms"])
        .env("AWS_ENDPOINT_URL_KINESIS", &stalled.endpoint())
        .run()
        .fails_with(&["ListStreams", "no answer from Kinesis", "--timeout"]);
}

#[test]
fn every_subcommand_has_help_with_examples() {
    let home = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 11] = [
        &[],
        &["produce"],
        &["read"],
        &["consume"],
        &["stream"],
        &["stream", "create"],
        &["stream", "describe"],
        &["stream", "split"],
        &["stream", "merge"],
        &["stream", "scale"],
        &["local"],
    ];
    for args in cases {
        let mut all: Vec<&str> = args.to_vec();
        all.push("--help");
        let out = Run::bare(&all, home.path()).run();
        out.success();
        let text = out.lines().join("\n");
        assert!(text.contains("Usage: kinesis"), "{args:?}:\n{text}");
        assert!(text.contains("Example"), "{args:?}:\n{text}");
        assert!(text.contains("kinesis "), "{args:?}");
    }
    let version = Run::bare(&["--version"], home.path()).run();
    assert!(version.success().lines()[0].starts_with("kinesis "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_without_a_panic() {
    let env = Env::with_stream("input", 1).await;
    for args in [
        &["read", "input", "--from", "yesterday"][..],
        &["read", "input", "--limit", "0"],
        &["read", "input", "--timeout", "soon"],
        &[
            "produce",
            "input",
            "--explicit-hash-key",
            "340282366920938463463374607431768211456",
        ],
        &["produce", "input", "--rate", "-3"],
        &["produce", "input", "--key-field", "id"],
        &[
            "produce",
            "input",
            "--key",
            "a",
            "--json",
            "--key-field",
            "b",
        ],
        &["stream", "create", "x", "--shards", "0"],
        &["consume", "input"],
        &["frobnicate"],
    ] {
        let out = env.kinesis(args).run();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: usage errors exit 2 (clap)\n{}",
            out.stderr
        );
        assert!(
            out.stderr.starts_with("error: "),
            "{args:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    let out = env
        .kinesis(&["produce", "input", "--json"])
        .stdin("{\"ok\": 1}\n{\"broken\": tru\n{\"never\": 3}\n")
        .run();
    out.fails_with(&["stdin object 2", "invalid JSON", "at line 3 column"]);
    assert!(
        out.stderr.contains("1 of 1 records written"),
        "{}",
        out.stderr
    );
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    env.kinesis(&["produce", "input", "--json", "--key-field", "k"])
        .stdin(binary.clone())
        .run()
        .fails_with(&["invalid JSON"]);
    env.kinesis(&["produce", "input"])
        .stdin(binary)
        .run()
        .success();
}
