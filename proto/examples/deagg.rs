//! De-aggregates one Kinesis record's data and prints its user records as JSON.
//!
//! Guarantee demonstrated: any input is handled; a valid aggregate yields its user
//! records (partition key, explicit hash key only when present, data) and anything else
//! passes through as `{"not_aggregated": true}`, never an error.
//!
//! ```text
//! cargo run --release -p kinesis-agg --example deagg -- FILE      # raw, or gzip if FILE ends in .gz
//! ```

use std::io::Read;
use std::process::ExitCode;

use base64::Engine as _;
use bytes::Bytes;
use kinesis_agg::{Deaggregated, Deaggregator};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: deagg FILE   (FILE holds one Kinesis record's data; .gz is gunzipped)");
        return ExitCode::from(2);
    };
    match read(&path) {
        Ok(data) => {
            println!("{}", render(Deaggregator::new().deaggregate(data)));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("deagg: {path}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &str) -> std::io::Result<Bytes> {
    let raw = std::fs::read(path)?;
    if !path.ends_with(".gz") {
        return Ok(Bytes::from(raw));
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut out)?;
    Ok(Bytes::from(out))
}

fn render(result: Deaggregated) -> String {
    let value = match result {
        Deaggregated::NotAggregated(_) => json!({ "not_aggregated": true }),
        Deaggregated::Aggregated(aggregate) | Deaggregated::Dropped(aggregate) => Value::Array(
            aggregate
                .records()
                .map(|r| {
                    json!({
                        "partition_key": &*r.partition_key,
                        "explicit_hash_key": r.explicit_hash_key.as_deref(),
                        "data_len": r.data.len(),
                        "data_sha256": Sha256::digest(&r.data).iter().map(|b| format!("{b:02x}")).collect::<String>(),
                        "data_b64": base64::engine::general_purpose::STANDARD.encode(&r.data),
                    })
                })
                .collect(),
        ),
    };
    serde_json::to_string_pretty(&value).unwrap_or_default()
}
