//! Cross-implementation check with the official Python library (run by `.ci/run`).
//!
//! Guarantee demonstrated: byte compatibility in both directions. `emit` writes our
//! aggregates of random records (multi-byte keys, explicit hash keys, empty and large
//! data, every size limit) with a manifest for `.ci/interop.py` to decode with
//! `aws_kinesis_agg`; `verify` decodes the aggregates that library wrote and checks them
//! against its manifest.
//!
//! ```text
//! cargo run -p kinesis-agg --example interop -- emit DIR
//! cargo run -p kinesis-agg --example interop -- verify DIR
//! ```

use std::path::Path;
use std::process::ExitCode;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use kinesis_agg::{
    AddError, Aggregator, AggregatorConfig, Deaggregated, Deaggregator, EncodedRecord, HashKey,
    SingleRecord, UserRecord,
};
use serde_json::{Value, json};
use testkit::rng::Rng;

type Error = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [cmd, dir] if cmd == "emit" => emit(Path::new(dir)),
        [cmd, dir] if cmd == "verify" => verify(Path::new(dir)),
        _ => Err("usage: interop emit DIR | interop verify DIR".into()),
    };
    match result {
        Ok(summary) => {
            println!("interop: {summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("interop: {e}");
            ExitCode::FAILURE
        }
    }
}

const KEY_CHARS: [&str; 3] = [
    "abcdefghijklmnopqrstuvwxyz0123456789-_",
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя日本語漢字かな",
    "🎉🚀✨é\u{301}ñ",
];

fn random_key(rng: &mut Rng) -> String {
    let chars: Vec<char> = rng
        .pick(&KEY_CHARS)
        .copied()
        .unwrap_or("k")
        .chars()
        .collect();
    let len = if rng.chance(5) {
        256
    } else {
        1 + rng.below(24)
    };
    (0..len).filter_map(|_| rng.pick(&chars).copied()).collect()
}

fn random_record(rng: &mut Rng, keys: &[String]) -> Result<UserRecord, Error> {
    let key = rng.pick(keys).cloned().unwrap_or_else(|| "k".to_owned());
    let len = match rng.below(10) {
        0 => 0,
        1 => 2000 + rng.below(20_000),
        _ => rng.below(300),
    };
    let record = UserRecord::new(key, rng.bytes(len))?;
    Ok(match rng.below(4) {
        0 => record.with_explicit_hash_key(HashKey::new(
            u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()),
        )),
        1 if rng.chance(30) => record.with_explicit_hash_key(HashKey::MAX),
        _ => record,
    })
}

fn emit(dir: &Path) -> Result<String, Error> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(20_261_122);
    let mut manifest = Vec::new();
    for case in 0..40 {
        let config = AggregatorConfig {
            max_size: match case % 4 {
                0 => 512,
                1 => 4096,
                2 => 51_200,
                _ => kinesis_agg::DEFAULT_MAX_SIZE,
            },
            max_count: if case % 5 == 0 {
                7
            } else {
                kinesis_agg::DEFAULT_MAX_COUNT
            },
            single_record: if case % 3 == 0 {
                SingleRecord::Aggregated
            } else {
                SingleRecord::Raw
            },
        };
        let keys: Vec<String> = (0..1 + rng.below(30))
            .map(|_| random_key(&mut rng))
            .collect();
        let mut agg = Aggregator::new(config)?;
        let mut held: Vec<UserRecord> = Vec::new();
        for _ in 0..1 + rng.below(150) {
            let record = random_record(&mut rng, &keys)?;
            match agg.try_add(record.clone()) {
                Ok(()) => held.push(record),
                Err(AddError::Full(back)) => {
                    write(
                        dir,
                        &mut manifest,
                        config,
                        agg.finish(),
                        std::mem::take(&mut held),
                    )?;
                    agg.try_add(back)?;
                    held.push(record);
                }
                Err(AddError::TooLarge { .. }) => {}
            }
        }
        write(dir, &mut manifest, config, agg.finish(), held)?;
    }
    let count = manifest.len();
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    Ok(format!(
        "wrote {count} Kinesis records to {}",
        dir.display()
    ))
}

fn write(
    dir: &Path,
    manifest: &mut Vec<Value>,
    config: AggregatorConfig,
    record: Option<EncodedRecord>,
    users: Vec<UserRecord>,
) -> Result<(), Error> {
    let Some(record) = record else { return Ok(()) };
    let file = format!("rust-{:04}.bin", manifest.len());
    std::fs::write(dir.join(&file), &record.data)?;
    manifest.push(json!({
        "file": file,
        "partition_key": record.partition_key,
        "explicit_hash_key": record.explicit_hash_key_decimal(),
        "aggregated": record.aggregated,
        "max_size": config.max_size,
        "user_records": users.iter().map(|u| json!({
            "partition_key": u.partition_key(),
            "explicit_hash_key": u.explicit_hash_key().map(|k| k.to_string()),
            "data_b64": B64.encode(u.data()),
        })).collect::<Vec<_>>(),
    }));
    Ok(())
}

fn verify(dir: &Path) -> Result<String, Error> {
    let manifest: Vec<Value> = serde_json::from_slice(&std::fs::read(dir.join("manifest.json"))?)?;
    let mut users = 0;
    for entry in &manifest {
        let file = entry["file"]
            .as_str()
            .ok_or("manifest entry without file")?;
        let data = Bytes::from(std::fs::read(dir.join(file))?);
        let expected = entry["user_records"]
            .as_array()
            .ok_or("manifest entry without records")?;
        let Deaggregated::Aggregated(aggregate) = Deaggregator::new().deaggregate(data) else {
            return Err(format!("{file}: not decoded as an aggregate").into());
        };
        if aggregate.len() != expected.len() {
            return Err(format!(
                "{file}: {} records, expected {}",
                aggregate.len(),
                expected.len()
            )
            .into());
        }
        for (got, want) in aggregate.records().zip(expected) {
            let data = B64.decode(want["data_b64"].as_str().unwrap_or_default())?;
            let same = *got.partition_key == *want["partition_key"].as_str().unwrap_or_default()
                && got.explicit_hash_key.as_deref() == want["explicit_hash_key"].as_str()
                && got.data == data;
            if !same {
                return Err(format!("{file}: record {} differs", got.sub_sequence_number).into());
            }
            users += 1;
        }
    }
    Ok(format!(
        "decoded {} Python aggregates ({users} user records) exactly",
        manifest.len()
    ))
}
