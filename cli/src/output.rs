//! How records are written on stdout by `read` and `consume`: the data as a line, or a
//! JSON object per record with where it came from.

use std::borrow::Cow;
use std::io::{self, Write};

use base64::Engine as _;
use clap::ValueEnum;
use serde::Serialize;

use crate::position::format_time;

/// `--format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Each record's data, then a newline (bytes as they are).
    #[default]
    Raw,
    /// One JSON object per line: shard, sequence, sub_sequence, partition_key,
    /// explicit_hash_key, arrival, aggregated, encoding (text or base64), data.
    Json,
}

#[derive(Serialize)]
struct JsonRecord<'a> {
    shard: &'a str,
    sequence: &'a str,
    sub_sequence: u64,
    partition_key: &'a str,
    explicit_hash_key: Option<&'a str>,
    arrival: Option<String>,
    aggregated: bool,
    encoding: &'static str,
    data: Cow<'a, str>,
}

/// Writes `record` of `shard` to `out` in `format`, with its newline.
pub(crate) fn write_record(
    out: &mut impl Write,
    format: Format,
    shard: &str,
    record: &kcl::Record,
) -> io::Result<()> {
    match format {
        Format::Raw => {
            out.write_all(&record.data)?;
            out.write_all(b"\n")
        }
        Format::Json => {
            let (encoding, data) = match std::str::from_utf8(&record.data) {
                Ok(text) => ("text", Cow::Borrowed(text)),
                Err(_) => (
                    "base64",
                    Cow::Owned(base64::engine::general_purpose::STANDARD.encode(&record.data)),
                ),
            };
            let json = JsonRecord {
                shard,
                sequence: record.sequence_number.as_str(),
                sub_sequence: record.sub_sequence_number,
                partition_key: &record.partition_key,
                explicit_hash_key: record.explicit_hash_key.as_deref(),
                arrival: record.approximate_arrival_timestamp.and_then(format_time),
                aggregated: record.aggregated,
                encoding,
                data,
            };
            serde_json::to_writer(&mut *out, &json).map_err(io::Error::other)?;
            out.write_all(b"\n")
        }
    }
}

/// Whether an output error means the reader went away (`| head`): a normal end.
pub(crate) fn is_closed_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn record(data: &'static [u8]) -> kcl::Record {
        kcl::Record {
            sequence_number: kcl::SequenceNumber::parse("4960").unwrap(),
            sub_sequence_number: 2,
            partition_key: "user-1".into(),
            explicit_hash_key: Some("42".into()),
            data: bytes::Bytes::from_static(data),
            approximate_arrival_timestamp: Some(
                SystemTime::UNIX_EPOCH + Duration::from_millis(1_714_564_800_123),
            ),
            aggregated: true,
        }
    }

    fn json(data: &'static [u8]) -> serde_json::Value {
        let mut out = Vec::new();
        write_record(
            &mut out,
            Format::Json,
            "shardId-000000000001",
            &record(data),
        )
        .unwrap();
        assert_eq!(out.last(), Some(&b'\n'));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn json_lines_carry_where_the_record_came_from() {
        let v = json(b"hello \"world\"");
        assert_eq!(v["shard"], "shardId-000000000001");
        assert_eq!(v["sequence"], "4960");
        assert_eq!(v["sub_sequence"], 2);
        assert_eq!(v["partition_key"], "user-1");
        assert_eq!(v["explicit_hash_key"], "42");
        assert_eq!(v["arrival"], "2024-05-01T12:00:00.123Z");
        assert_eq!(v["aggregated"], true);
        assert_eq!(v["encoding"], "text");
        assert_eq!(v["data"], "hello \"world\"");
    }

    #[test]
    fn data_that_is_not_utf8_is_base64() {
        let v = json(&[0xff, 0x00, 0x80]);
        assert_eq!(v["encoding"], "base64");
        assert_eq!(v["data"], "/wCA");
    }

    #[test]
    fn raw_lines_are_the_bytes_and_a_newline() {
        let mut out = Vec::new();
        write_record(&mut out, Format::Raw, "s", &record(&[0xff, b'a'])).unwrap();
        assert_eq!(out, [0xff, b'a', b'\n']);
    }
}
