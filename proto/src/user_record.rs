//! A record as the application hands it to the producer.

use bytes::Bytes;

use crate::HashKey;

/// Most Unicode characters a partition key may have.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// One application record: partition key, optional explicit hash key, data.
///
/// ```
/// use kinesis_agg::{HashKey, UserRecord};
///
/// let r = UserRecord::new("order-17", "payload").unwrap();
/// assert_eq!(r.hash_key(), HashKey::from_partition_key("order-17"));
///
/// let pinned = r.with_explicit_hash_key(HashKey::MIN);
/// assert_eq!(pinned.hash_key(), HashKey::MIN);
/// assert!(UserRecord::new("", "x").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    partition_key: String,
    /// Boxed: most records have none, and a producer holds many records (64 bytes, not 80).
    explicit_hash_key: Option<Box<HashKey>>,
    data: Bytes,
}

/// A record refused by [`UserRecord::try_new`], with its parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct InvalidRecord {
    /// What is wrong.
    pub error: RecordError,
    /// The partition key given.
    pub partition_key: String,
    /// The data given.
    pub data: Bytes,
}

/// Why a record cannot be built.

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Kinesis needs a partition key of at least one character.
    #[error("partition key is empty")]
    EmptyPartitionKey,
    /// Kinesis accepts at most 256 characters.
    #[error("partition key has {chars} characters, more than the 256 Kinesis accepts")]
    PartitionKeyTooLong {
        /// How many characters the key has.
        chars: usize,
    },
}

impl UserRecord {
    /// A record routed by the MD5 of its partition key (1 to 256 Unicode characters).
    pub fn new(
        partition_key: impl Into<String>,
        data: impl Into<Bytes>,
    ) -> Result<Self, RecordError> {
        let partition_key = partition_key.into();
        check_partition_key(&partition_key)?;
        Ok(UserRecord {
            partition_key,
            explicit_hash_key: None,
            data: data.into(),
        })
    }

    /// Like [`new`](Self::new), but hands the parts back when the key is invalid, so
    /// nothing is lost with the error.
    ///
    /// ```
    /// use kinesis_agg::UserRecord;
    /// let refused = UserRecord::try_new(String::new(), "data".into()).unwrap_err();
    /// assert_eq!(refused.data, "data");
    /// ```
    pub fn try_new(partition_key: String, data: Bytes) -> Result<Self, InvalidRecord> {
        match check_partition_key(&partition_key) {
            Ok(()) => Ok(UserRecord {
                partition_key,
                explicit_hash_key: None,
                data,
            }),
            Err(error) => Err(InvalidRecord {
                error,
                partition_key,
                data,
            }),
        }
    }

    /// The same record routed by `explicit_hash_key` instead of its partition key.
    pub fn with_explicit_hash_key(mut self, explicit_hash_key: HashKey) -> Self {
        self.explicit_hash_key = Some(Box::new(explicit_hash_key));
        self
    }

    /// The partition key.
    pub fn partition_key(&self) -> &str {
        &self.partition_key
    }

    /// Takes the partition key out, leaving the record with an empty one (no longer a valid
    /// record): for a record that is done with, so that its key is freed elsewhere, for
    /// instance on the thread that allocated it.
    ///
    /// ```
    /// let mut r = kinesis_agg::UserRecord::new("customer-17", "x").unwrap();
    /// assert_eq!(r.take_partition_key(), "customer-17");
    /// assert_eq!(r.partition_key(), "");
    /// ```
    pub fn take_partition_key(&mut self) -> String {
        std::mem::take(&mut self.partition_key)
    }

    /// The explicit hash key, when one was given.
    pub fn explicit_hash_key(&self) -> Option<HashKey> {
        self.explicit_hash_key.as_deref().copied()
    }

    /// The data.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Where Kinesis routes this record: its explicit hash key, else MD5 of its partition key.
    pub fn hash_key(&self) -> HashKey {
        self.explicit_hash_key()
            .unwrap_or_else(|| HashKey::from_partition_key(&self.partition_key))
    }

    /// The hash keys of many records, in order: explicit hash keys where given, the others'
    /// partition keys hashed together in SIMD lanes.
    ///
    /// ```
    /// use kinesis_agg::{HashKey, UserRecord};
    /// let records = [
    ///     UserRecord::new("a", "1").unwrap(),
    ///     UserRecord::new("b", "2").unwrap().with_explicit_hash_key(HashKey::new(9)),
    /// ];
    /// assert_eq!(UserRecord::hash_keys(&records), vec![records[0].hash_key(), HashKey::new(9)]);
    /// ```
    pub fn hash_keys(records: &[UserRecord]) -> Vec<HashKey> {
        let hashed = records.iter().filter(|r| r.explicit_hash_key.is_none());
        let mut md5s =
            HashKey::from_partition_keys(hashed.map(UserRecord::partition_key)).into_iter();
        records
            .iter()
            .map(|r| {
                r.explicit_hash_key()
                    .or_else(|| md5s.next())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// What the record counts against Kinesis limits when sent alone: data + partition key bytes.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }

    /// The parts: partition key, explicit hash key, data.
    pub fn into_parts(self) -> (String, Option<HashKey>, Bytes) {
        (
            self.partition_key,
            self.explicit_hash_key.map(|k| *k),
            self.data,
        )
    }
}

impl std::fmt::Debug for UserRecord {
    /// Shows the data's length, not its bytes, so logging a large record stays cheap.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("partition_key", &self.partition_key)
            .field("explicit_hash_key", &self.explicit_hash_key)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// Checks a partition key against the Kinesis rule: 1 to 256 Unicode characters.
///
/// ```
/// assert!(kinesis_agg::check_partition_key(&"é".repeat(256)).is_ok());
/// assert!(kinesis_agg::check_partition_key(&"é".repeat(257)).is_err());
/// ```
pub fn check_partition_key(partition_key: &str) -> Result<(), RecordError> {
    if partition_key.is_empty() {
        return Err(RecordError::EmptyPartitionKey);
    }
    // Every character takes at least one byte, so a short key needs no counting.
    if partition_key.len() > MAX_PARTITION_KEY_CHARS {
        let chars = partition_key.chars().count();
        if chars > MAX_PARTITION_KEY_CHARS {
            return Err(RecordError::PartitionKeyTooLong { chars });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_key_length_counts_characters_not_bytes() {
        assert!(UserRecord::new("k".repeat(256), "").is_ok());
        assert_eq!(
            UserRecord::new("k".repeat(257), "").unwrap_err(),
            RecordError::PartitionKeyTooLong { chars: 257 }
        );
        // 256 two-byte characters: 512 bytes, still valid
        assert!(UserRecord::new("я".repeat(256), "").is_ok());
        assert_eq!(
            UserRecord::new("🎉".repeat(257), "").unwrap_err(),
            RecordError::PartitionKeyTooLong { chars: 257 }
        );
        assert_eq!(
            UserRecord::new("", "").unwrap_err(),
            RecordError::EmptyPartitionKey
        );
    }

    #[test]
    fn batch_hash_keys_mix_explicit_and_md5() {
        let records: Vec<UserRecord> = (0..20)
            .map(|i| {
                let r = UserRecord::new(format!("k{i}"), "").unwrap();
                if i % 3 == 0 {
                    r.with_explicit_hash_key(HashKey::new(i))
                } else {
                    r
                }
            })
            .collect();
        let want: Vec<HashKey> = records.iter().map(UserRecord::hash_key).collect();
        assert_eq!(UserRecord::hash_keys(&records), want);
        assert!(UserRecord::hash_keys(&[]).is_empty());
    }

    #[test]
    fn size_is_data_plus_key_bytes() {
        let r = UserRecord::new("ключ", vec![0u8; 10]).unwrap();
        assert_eq!(r.size(), 10 + 8);
    }

    #[test]
    fn a_record_is_one_cache_line_and_keeps_its_explicit_hash_key() {
        assert!(size_of::<UserRecord>() <= 64);
        let r = UserRecord::new("k", "")
            .unwrap()
            .with_explicit_hash_key(HashKey::new(7));
        assert_eq!(r.explicit_hash_key(), Some(HashKey::new(7)));
        assert_eq!(r.hash_key(), HashKey::new(7));
        assert_eq!(r.into_parts().1, Some(HashKey::new(7)));
    }
}
