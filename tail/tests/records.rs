//! `run` in process on the embedded Kinesis: a line longer than the record limit is cut to
//! the limit with the terminator and counted; `LOGTOJSON` lines become JSON objects and
//! lines it cannot parse are skipped and counted; header lines are skipped; `END_OF_FILE`
//! leaves out what was there before the start; a missing stream is a typed error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Write;
use std::time::Duration;

use kinesis_tail::{
    FlowConfig, InitialPosition, LogFormat, OnParseFailure, ProcessingOption, TailConfig, TailError,
};
use testkit::{LocalAws, streams};
use tokio::sync::oneshot;

fn config(dir: &std::path::Path, flows: Vec<FlowConfig>) -> TailConfig {
    let mut config = TailConfig::new(flows);
    config.checkpoint_file = Some(dir.join("checkpoints.json"));
    config.checkpoint_interval_millis = 50;
    config
}

fn flow(dir: &std::path::Path, name: &str, stream: &str) -> FlowConfig {
    let mut flow = FlowConfig::new(format!("{}/{name}", dir.display()), stream);
    flow.initial_position = InitialPosition::StartOfFile;
    flow.poll_interval_millis = 20;
    flow.max_buffer_age_millis = 20;
    flow
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lines_are_cut_and_unparsed_lines_skipped_and_counted() {
    let aws = LocalAws::start().await.unwrap();
    streams::create_stream(&aws.kinesis_client(), "raw", 1)
        .await
        .unwrap();
    streams::create_stream(&aws.kinesis_client(), "json", 1)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut raw = std::fs::File::create(dir.path().join("raw.log")).unwrap();
    raw.write_all(b"before\n").unwrap();
    raw.write_all(&vec![b'y'; 3 << 20]).unwrap();
    raw.write_all(b"\nafter\n").unwrap();
    std::fs::write(
        dir.path().join("access.log"),
        "host ident user datetime request response bytes\n\
         127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.0\" 200 2326\n\
         not an access log line\n\
         10.0.0.2 - - [10/Oct/2000:13:55:37 -0700] \"GET /b HTTP/1.0\" 404 -\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("old.log"), "present before the start\n").unwrap();
    let mut raw_flow = flow(dir.path(), "raw.log", "raw");
    raw_flow.truncated_record_terminator = "<cut>\n".into();
    let mut json_flow = flow(dir.path(), "access.log", "json");
    json_flow.skip_header_lines = 1;
    json_flow
        .data_processing_options
        .push(ProcessingOption::LogToJson {
            log_format: LogFormat::CommonApacheLog,
            match_pattern: None,
            custom_field_names: None,
            on_parse_failure: OnParseFailure::Skip,
        });
    let mut end_flow = flow(dir.path(), "old.log", "json");
    end_flow.initial_position = InitialPosition::EndOfFile;
    let cfg = config(dir.path(), vec![raw_flow, json_flow, end_flow]);
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(kinesis_tail::run(cfg, aws.kinesis_client(), async {
        let _ = stopped.await;
    }));
    let start = std::time::Instant::now();
    loop {
        let raw = common::read_stream(&aws, "raw").await.len();
        let json = common::read_stream(&aws, "json").await.len();
        if raw == 3 && json == 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "raw {raw}, json {json}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    let summary = running.await.unwrap().unwrap();

    // (The 1 MiB record is sent alone and may overtake the aggregate holding the others:
    // the producer keeps order per partition key, and these keys are random.)
    let raw: Vec<String> = common::read_stream(&aws, "raw")
        .await
        .into_iter()
        .map(|r| r.line)
        .collect();
    assert!(
        raw.contains(&"before\n".to_owned()) && raw.contains(&"after\n".to_owned()),
        "{}",
        raw.len()
    );
    let cut = raw.iter().find(|l| l.len() > 100).unwrap();
    assert!(cut.ends_with("yy<cut>\n"));
    assert!(cut.len() + 32 <= 1 << 20, "record of {} bytes", cut.len());
    let json: Vec<serde_json::Value> = common::read_stream(&aws, "json")
        .await
        .iter()
        .map(|r| serde_json::from_str(&r.line).unwrap())
        .collect();
    assert_eq!(json[0]["authuser"], "frank");
    assert_eq!(json[1]["bytes"], serde_json::Value::Null);

    let files: Vec<&kinesis_tail::FileSummary> =
        summary.flows.iter().flat_map(|f| &f.files).collect();
    let raw_file = files.iter().find(|f| f.path.ends_with("raw.log")).unwrap();
    assert_eq!(
        (
            raw_file.lines_read,
            raw_file.records_sent,
            raw_file.records_truncated
        ),
        (3, 3, 1)
    );
    let access = files
        .iter()
        .find(|f| f.path.ends_with("access.log"))
        .unwrap();
    assert_eq!(
        (
            access.lines_read,
            access.header_lines,
            access.records_skipped,
            access.records_sent
        ),
        (4, 1, 1, 2)
    );
    assert_eq!(
        access.committed_offset,
        std::fs::metadata(dir.path().join("access.log"))
            .unwrap()
            .len()
    );
    let old = files.iter().find(|f| f.path.ends_with("old.log")).unwrap();
    assert_eq!(old.lines_read, 0, "END_OF_FILE skips what was there");
    assert_eq!(summary.records_failed(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_stream_or_a_held_checkpoint_file_stops_the_start() {
    let aws = LocalAws::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), vec![flow(dir.path(), "*.log", "nope")]);
    let err = kinesis_tail::run(cfg.clone(), aws.kinesis_client(), std::future::pending())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        TailError::StreamNotFound {
            stream: "nope".into()
        }
    );
    assert!(!err.is_retryable());

    streams::create_stream(&aws.kinesis_client(), "yes", 1)
        .await
        .unwrap();
    let ok = config(dir.path(), vec![flow(dir.path(), "*.log", "yes")]);
    let (stop, stopped) = oneshot::channel::<()>();
    let first = tokio::spawn(kinesis_tail::run(ok.clone(), aws.kinesis_client(), async {
        let _ = stopped.await;
    }));
    common::wait_until(
        Duration::from_secs(30),
        "the first agent's checkpoint file",
        || dir.path().join("checkpoints.json").exists(),
    )
    .await;
    let second = kinesis_tail::run(ok, aws.kinesis_client(), std::future::pending()).await;
    assert!(matches!(
        second,
        Err(TailError::Checkpoint(
            kinesis_tail::CheckpointError::Locked { .. }
        ))
    ));
    stop.send(()).unwrap();
    first.await.unwrap().unwrap();
}
