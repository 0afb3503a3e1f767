//! Checks a record before it takes any room in the pipeline.

use std::sync::Arc;

use kinesis_agg::{HashKey, UserRecord, check_partition_key};

use crate::error::{PutError, PutErrorKind, ValidationError};
use crate::record::{Attempts, Record};

/// The record as the pipeline carries it, or the error with the record handed back.
pub(crate) fn validate(
    record: Record,
    max_user_record_size: usize,
) -> Result<(Arc<str>, UserRecord), PutError> {
    match check(&record, max_user_record_size) {
        Err(e) => Err(PutError::new(
            PutErrorKind::Validation(e),
            record,
            Attempts::default(),
        )),
        Ok(ehk) => {
            let Record {
                stream,
                partition_key,
                data,
                explicit_hash_key,
            } = record;
            // The key was checked above, so this cannot fail; stay total anyway.
            let user = UserRecord::try_new(partition_key, data).map_err(|e| {
                let back = Record {
                    stream: stream.clone(),
                    partition_key: e.partition_key,
                    explicit_hash_key,
                    data: e.data,
                };
                PutError::new(
                    PutErrorKind::Validation(e.error.into()),
                    back,
                    Attempts::default(),
                )
            })?;

            Ok((
                stream,
                match ehk {
                    Some(k) => user.with_explicit_hash_key(k),
                    None => user,
                },
            ))
        }
    }
}

fn check(record: &Record, max_user_record_size: usize) -> Result<Option<HashKey>, ValidationError> {
    if !valid_stream_name(&record.stream) {
        return Err(ValidationError::StreamName(record.stream.to_string()));
    }
    check_partition_key(&record.partition_key)?;
    if record.size() > max_user_record_size {
        return Err(ValidationError::TooLarge {
            size: record.size(),
            limit: max_user_record_size,
        });
    }
    Ok(record
        .explicit_hash_key
        .as_deref()
        .map(HashKey::from_decimal)
        .transpose()?)
}

/// Kinesis stream names: 1 to 128 characters of `[a-zA-Z0-9_.-]`.
fn valid_stream_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kinesis_agg::{HashKeyError, RecordError};

    fn kind(r: Record) -> ValidationError {
        match validate(r.clone(), 1024) {
            Err(PutError {
                kind: PutErrorKind::Validation(v),
                record,
                attempts,
            }) => {
                assert_eq!(record, r, "the record comes back unchanged");
                assert!(attempts.is_empty());
                v
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_rule_has_its_error() {
        assert_eq!(
            kind(Record::new("s", "", "x")),
            ValidationError::PartitionKey(RecordError::EmptyPartitionKey)
        );
        assert_eq!(
            kind(Record::new("s", "k".repeat(257), "x")),
            ValidationError::PartitionKey(RecordError::PartitionKeyTooLong { chars: 257 })
        );
        assert_eq!(
            kind(Record::new("s", "k", vec![0u8; 1024])),
            ValidationError::TooLarge {
                size: 1025,
                limit: 1024
            }
        );
        assert_eq!(
            kind(Record::new("s", "k", "x").with_explicit_hash_key("12x")),
            ValidationError::ExplicitHashKey(HashKeyError::InvalidDigit { position: 2 })
        );
        assert_eq!(
            kind(Record::new("bad name", "k", "x")),
            ValidationError::StreamName("bad name".into())
        );
        assert_eq!(
            kind(Record::new("", "k", "x")),
            ValidationError::StreamName(String::new())
        );
    }

    #[test]
    fn valid_records_pass_with_their_hash_key() {
        let (stream, user) = validate(
            Record::new("orders-1.a_b", "k", "x").with_explicit_hash_key("42"),
            1024,
        )
        .unwrap();
        assert_eq!(&*stream, "orders-1.a_b");
        assert_eq!(user.hash_key(), HashKey::new(42));
        assert!(validate(Record::new("s", "k", vec![0u8; 1023]), 1024).is_ok());
    }
}
