//! Faults injected between the SDK and the server (5xx, connection resets before and after
//! the server acted, timeouts, failed entries, a failing ListShards): nothing is lost;
//! records whose request's outcome was unknowable may be written twice.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use kpl::{ErrorCode, Ordering, ProducerConfig};
use testkit::{Fault, FaultProxy, LocalAws, Rule};

fn faults() -> Vec<Rule> {
    vec![
        Rule::new(Fault::internal_failure())
            .on("ListShards")
            .at_most(1),
        Rule::new(Fault::internal_failure())
            .on("PutRecords")
            .with_probability(0.1),
        Rule::new(Fault::service_unavailable())
            .on("PutRecords")
            .with_probability(0.05),
        Rule::new(Fault::Reset)
            .on("PutRecords")
            .with_probability(0.05),
        Rule::new(Fault::ResetAfterForward)
            .on("PutRecords")
            .with_probability(0.05),
        Rule::new(Fault::ErrorAfterForward {
            status: 500,
            error_type: "InternalFailure".into(),
        })
        .on("PutRecords")
        .with_probability(0.03),
        Rule::new(Fault::Delay(Duration::from_millis(700)))
            .on("PutRecords")
            .with_probability(0.03),
        Rule::new(Fault::fail_entries(0.3, "InternalFailure"))
            .on("PutRecords")
            .with_probability(0.3),
        Rule::new(Fault::fail_entries(
            0.3,
            "ProvisionedThroughputExceededException",
        ))
        .on("PutRecords")
        .with_probability(0.2),
    ]
}

/// Puts records in rounds of 500 (each round's results awaited before the next, so the
/// request count does not depend on how fast the machine batches), at least 8 rounds and
/// until `enough` says the faults fired cover what the test needs (at most 40 rounds),
/// then checks every record against the stream. Returns the duplicates and the failed
/// attempts by code.
async fn run(
    ordering: Ordering,
    enough: impl Fn(u64, &HashMap<ErrorCode, usize>) -> bool,
) -> (usize, HashMap<ErrorCode, usize>) {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "faulty", 4).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    proxy.set_rules(faults());
    let config = ProducerConfig::default()
        .request_timeout(Duration::from_millis(300))
        // Nothing may be lost: no record may expire either, however slow the machine (in
        // ordered mode a shard's requests go one at a time, each fault costing its backoff).
        .record_ttl(Duration::from_secs(300))
        .record_max_buffered_time(Duration::from_millis(20))
        .aggregation_max_size(2048)
        .collection_max_count(10)
        .ordering(ordering);

    let producer = common::producer(&proxy.endpoint(), config);
    let (mut sent, mut results) = (Vec::new(), Vec::new());
    for round in 0..40 {
        let batch = common::records("faulty", &format!("f{round}"), 500);
        results.extend(common::results(common::put_all(&producer, &batch).await).await);
        sent.extend(batch);
        if round >= 7 && enough(proxy.faults_injected(), &failed_attempts(&results)) {
            break;
        }
    }
    assert!(
        proxy.faults_injected() > 20,
        "only {} faults injected",
        proxy.faults_injected()
    );

    let (read, dropped) = common::read_filtered(&aws, "faulty").await;
    assert_eq!(dropped, 0);
    let mut copies: HashMap<&bytes::Bytes, usize> = HashMap::new();
    for r in &read {
        *copies.entry(&r.data).or_default() += 1;
    }
    for (record, result) in sent.iter().zip(&results) {
        assert!(
            copies.contains_key(&record.data),
            "{:?} lost",
            record.partition_key
        );
        let at = read
            .iter()
            .find(|r| r.data == record.data && *r.sequence_number == *result.sequence_number);
        let at =
            at.unwrap_or_else(|| panic!("{:?} not where its result says", record.partition_key));
        assert_eq!(
            (at.shard_id.as_str(), at.sub_sequence_number),
            (&*result.shard_id, result.sub_sequence_number)
        );
    }
    let duplicates = read.len() - copies.len();
    (duplicates, failed_attempts(&results))
}

fn failed_attempts(results: &[kpl::PutResult]) -> HashMap<ErrorCode, usize> {
    let mut codes: HashMap<ErrorCode, usize> = HashMap::new();
    for e in results
        .iter()
        .flat_map(|r| &r.attempts)
        .filter_map(|a| a.error.as_ref())
    {
        *codes.entry(e.code.clone()).or_default() += 1;
    }
    codes
}

const EXPECTED_CODES: [ErrorCode; 4] = [
    ErrorCode::InternalFailure,
    ErrorCode::Network,
    ErrorCode::Throttled,
    ErrorCode::Timeout,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_record_is_lost_under_faults() {
    let (duplicates, codes) = run(Ordering::Unordered, |faults, codes| {
        faults > 20 && EXPECTED_CODES.iter().all(|c| codes.contains_key(c))
    })
    .await;
    for code in EXPECTED_CODES {
        assert!(
            codes.get(&code).is_some_and(|n| *n > 0),
            "no {code:?} attempt recorded: {codes:?}"
        );
    }
    eprintln!("duplicates: {duplicates}, failed attempts: {codes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_record_is_lost_under_faults_in_ordered_mode() {
    let (_, codes) = run(Ordering::PerShard, |faults, _| faults > 20).await;
    assert!(codes.values().sum::<usize>() > 0);
}
