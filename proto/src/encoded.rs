//! A finished Kinesis record, ready for PutRecords.

use bytes::Bytes;

use crate::HashKey;

/// One Kinesis record produced by an [`Aggregator`](crate::Aggregator).
///
/// Send it with `partition_key`, `explicit_hash_key` (as decimal, see
/// [`explicit_hash_key_decimal`](Self::explicit_hash_key_decimal)) and `data`.
/// Like the KPL, the explicit hash key is always set: the first user record's hash
/// key, so the whole aggregate lands on that record's shard.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedRecord {
    /// `"a"` for an aggregate, the user record's own key for a raw single record.
    pub partition_key: String,
    /// The hash key of the first user record inside.
    pub explicit_hash_key: HashKey,
    /// The aggregated bytes (magic + protobuf + MD5), or the raw data of a single record.
    pub data: Bytes,
    /// How many user records it carries.
    pub user_records: usize,
    /// Whether `data` is in the aggregated format.
    pub aggregated: bool,
}

impl EncodedRecord {
    /// One user record sent on its own, raw (no aggregation), with its hash key as the
    /// explicit hash key, as the KPL sends a record that is not aggregated.
    ///
    /// ```
    /// use kinesis_agg::{EncodedRecord, UserRecord};
    /// let r = EncodedRecord::single(UserRecord::new("k", "data").unwrap());
    /// assert_eq!((r.partition_key.as_str(), r.user_records, r.aggregated), ("k", 1, false));
    /// ```
    pub fn single(record: crate::UserRecord) -> EncodedRecord {
        let explicit_hash_key = record.hash_key();
        let (partition_key, _, data) = record.into_parts();
        EncodedRecord {
            partition_key,
            explicit_hash_key,
            data,
            user_records: 1,
            aggregated: false,
        }
    }

    /// What Kinesis counts against its record and request limits: data + partition key bytes.
    ///
    /// ```
    /// use kinesis_agg::{Aggregator, UserRecord};
    /// let mut agg = Aggregator::default();
    /// agg.try_add(UserRecord::new("k", "hello").unwrap()).unwrap();
    /// assert_eq!(agg.finish().unwrap().size(), 6);
    /// ```
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }

    /// The explicit hash key as the decimal string PutRecords takes.
    pub fn explicit_hash_key_decimal(&self) -> String {
        self.explicit_hash_key.to_string()
    }
}

impl std::fmt::Debug for EncodedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedRecord")
            .field("partition_key", &self.partition_key)
            .field("explicit_hash_key", &self.explicit_hash_key)
            .field("data_len", &self.data.len())
            .field("user_records", &self.user_records)
            .field("aggregated", &self.aggregated)
            .finish()
    }
}
