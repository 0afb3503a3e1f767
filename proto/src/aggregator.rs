//! Packs user records into one aggregated Kinesis record with an exact running size.

use bytes::Bytes;

use crate::config::{AggregatorConfig, SingleRecord};
use crate::key_table::{ExplicitHashKeyTable, Lookup, PartitionKeyTable};
use crate::wire::{self, FRAME_OVERHEAD, MAGIC, key, len_field, record_body_len};
use crate::{EncodedRecord, HashKey, Unsealed, UserRecord};

/// Builds one aggregated record at a time.
///
/// The size of what [`finish`](Self::finish) would emit is tracked exactly (magic,
/// every field key and varint length, MD5, and the outer partition key), so
/// [`fits`](Self::fits) and [`try_add`](Self::try_add) answer in constant time
/// whether a record still fits, and no emitted record ever exceeds `max_size`.
///
/// ```
/// use kinesis_agg::{AddError, Aggregator, AggregatorConfig, UserRecord};
///
/// let mut agg = Aggregator::new(AggregatorConfig { max_size: 200, ..Default::default() }).unwrap();
/// let mut out = Vec::new();
/// for i in 0..10 {
///     let record = UserRecord::new(format!("key-{i}"), vec![b'x'; 40]).unwrap();
///     if let Err(AddError::Full(record)) = agg.try_add(record) {
///         out.extend(agg.finish());
///         agg.try_add(record).unwrap();
///     }
/// }
/// out.extend(agg.finish());
/// assert!(out.iter().all(|r| r.size() <= 200));
/// assert_eq!(out.iter().map(|r| r.user_records).sum::<usize>(), 10);
/// ```
#[derive(Debug)]
pub struct Aggregator {
    config: AggregatorConfig,
    partition_keys: PartitionKeyTable,
    explicit_hash_keys: ExplicitHashKeyTable,
    records: Vec<PendingRecord>,
    /// Encoded bytes of all `records` fields.
    records_len: usize,
    /// The first record's keys: the outer hash key, and the whole record when sent raw.
    first: Option<(String, Option<HashKey>)>,
}

#[derive(Debug)]
struct PendingRecord {
    pk_index: u32,
    ehk_index: Option<u32>,
    data: Bytes,
}

/// Where a record would go and how many encoded bytes it would add.
struct Placement {
    pk: Lookup,
    pk_index: u32,
    ehk: Option<(HashKey, Option<u32>)>,
    ehk_index: Option<u32>,
    added: usize,
}

/// A record the aggregator did not take; it is handed back unchanged.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The aggregate is full (size or count): [`finish`](Aggregator::finish) it and add again.
    #[error("the aggregate is full")]
    Full(UserRecord),
    /// The record alone is larger than `max_size`; it can never be emitted under this limit.
    #[error("record of {size} bytes can never fit in a record of at most {limit} bytes")]
    TooLarge {
        /// The record, handed back.
        record: UserRecord,
        /// Its size when emitted alone.
        size: usize,
        /// The configured `max_size`.
        limit: usize,
    },
}

/// Why [`Aggregator::try_add_ref`] did not take a record.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The aggregate is full: finish it and add again.
    #[error("the aggregate is full")]
    Full,
    /// The record alone is larger than `max_size`.
    #[error("record of {size} bytes can never fit in a record of at most {limit} bytes")]
    TooLarge {
        /// Its size when emitted alone.
        size: usize,
        /// The configured `max_size`.
        limit: usize,
    },
}

impl Refusal {
    /// Whether the same record can be added after the aggregate is finished.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Refusal::Full)
    }
}

impl AddError {
    /// Whether adding the same record can succeed later (after the aggregate is finished).
    pub fn is_retryable(&self) -> bool {
        matches!(self, AddError::Full(_))
    }

    /// The record that was not added.
    pub fn into_record(self) -> UserRecord {
        match self {
            AddError::Full(record) | AddError::TooLarge { record, .. } => record,
        }
    }
}

impl Default for Aggregator {
    fn default() -> Self {
        Aggregator::with_valid_config(AggregatorConfig::default())
    }
}

impl Aggregator {
    /// An empty aggregator with the given limits.
    pub fn new(config: AggregatorConfig) -> Result<Self, crate::ConfigError> {
        config.validate()?;
        Ok(Aggregator::with_valid_config(config))
    }

    fn with_valid_config(config: AggregatorConfig) -> Self {
        Aggregator {
            config,
            partition_keys: PartitionKeyTable::new(),
            explicit_hash_keys: ExplicitHashKeyTable::new(),
            records: Vec::new(),
            records_len: 0,
            first: None,
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &AggregatorConfig {
        &self.config
    }

    /// User records held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no user record is held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Exact size (data + outer partition key) of the record [`finish`](Self::finish)
    /// would emit now; 0 when empty.
    pub fn size(&self) -> usize {
        match (self.records.as_slice(), &self.first) {
            ([], _) | (_, None) => 0,
            ([only], Some((pk, _))) if self.config.single_record == SingleRecord::Raw => {
                only.data.len() + pk.len()
            }
            _ => aggregated_size(self.proto_len()),
        }
    }

    /// Exact size of the emitted record if `record` were added now.
    pub fn size_with(&self, record: &UserRecord) -> usize {
        if self.is_empty() {
            return self.alone_size(record);
        }
        aggregated_size(self.proto_len() + self.place(record).added)
    }

    /// Whether [`try_add`](Self::try_add) would take `record` now.
    pub fn fits(&self, record: &UserRecord) -> bool {
        (self.records.len() as u64) < self.config.max_count
            && self.size_with(record) <= self.config.max_size
    }

    /// Adds `record`, or hands it back: [`AddError::Full`] when it does not fit beside
    /// what is held, [`AddError::TooLarge`] when it cannot fit even alone.
    pub fn try_add(&mut self, record: UserRecord) -> Result<(), AddError> {
        match self.try_add_ref(&record) {
            Ok(()) => Ok(()),
            Err(Refusal::Full) => Err(AddError::Full(record)),
            Err(Refusal::TooLarge { size, limit }) => Err(AddError::TooLarge {
                record,
                size,
                limit,
            }),
        }
    }

    /// Adds a copy of `record` (its data is shared, not copied), leaving the caller its
    /// record: a producer keeps each user record to complete or retry it.
    ///
    /// ```
    /// use kinesis_agg::{Aggregator, AggregatorConfig, Refusal, UserRecord};
    /// let mut agg = Aggregator::new(AggregatorConfig { max_count: 1, ..Default::default() }).unwrap();
    /// let r = UserRecord::new("k", "v").unwrap();
    /// assert_eq!(agg.try_add_ref(&r), Ok(()));
    /// assert_eq!(agg.try_add_ref(&r), Err(Refusal::Full));
    /// ```
    pub fn try_add_ref(&mut self, record: &UserRecord) -> Result<(), Refusal> {
        let alone = self.alone_size(record);
        if alone > self.config.max_size {
            return Err(Refusal::TooLarge {
                size: alone,
                limit: self.config.max_size,
            });
        }
        if self.records.len() as u64 >= self.config.max_count {
            return Err(Refusal::Full);
        }
        let placement = self.place(record);
        if !self.is_empty()
            && aggregated_size(self.proto_len() + placement.added) > self.config.max_size
        {
            return Err(Refusal::Full);
        }
        self.apply(record, placement);
        Ok(())
    }

    /// Emits what is held and starts a new aggregate; `None` when empty.
    ///
    /// Two or more records become one aggregated record with partition key `"a"`; a
    /// single record is emitted raw with its own partition key (unless configured
    /// with [`SingleRecord::Aggregated`]). Either way the explicit hash key is the
    /// first record's hash key.
    pub fn finish(&mut self) -> Option<EncodedRecord> {
        self.finish_unsealed().map(Unsealed::seal)
    }

    /// Like [`finish`](Self::finish), but leaves the MD5 trailer to be computed later,
    /// so that several finished aggregates can be sealed together with
    /// [`Unsealed::seal_all`] (several times faster than one MD5 stream at a time).
    pub fn finish_unsealed(&mut self) -> Option<Unsealed> {
        let (first_pk, first_ehk) = self.first.take()?;
        let hash_key = first_ehk.unwrap_or_else(|| HashKey::from_partition_key(&first_pk));
        let user_records = self.records.len();
        let out = if user_records == 1 && self.config.single_record == SingleRecord::Raw {
            let data = self.records.pop().map(|r| r.data).unwrap_or_default();
            Unsealed::raw(EncodedRecord {
                partition_key: first_pk,
                explicit_hash_key: hash_key,
                data,
                user_records,
                aggregated: false,
            })
        } else {
            Unsealed::aggregated(hash_key, self.encode(), user_records)
        };
        self.clear();
        Some(out)
    }

    fn clear(&mut self) {
        self.partition_keys.clear();
        self.explicit_hash_keys.clear();
        self.records.clear();
        self.records_len = 0;
        self.first = None;
    }

    fn proto_len(&self) -> usize {
        self.partition_keys.strings().encoded().len()
            + self.explicit_hash_keys.strings().encoded().len()
            + self.records_len
    }

    /// Size of `record` emitted on its own under this configuration.
    fn alone_size(&self, record: &UserRecord) -> usize {
        match self.config.single_record {
            SingleRecord::Raw => record.size(),
            SingleRecord::Aggregated => {
                let ehk = record.explicit_hash_key();
                let tables = PartitionKeyTable::entry_len(record.partition_key())
                    + ehk.map_or(0, ExplicitHashKeyTable::entry_len);
                let body = record_body_len(0, ehk.map(|_| 0), record.data().len());
                aggregated_size(tables + len_field(body))
            }
        }
    }

    fn place(&self, record: &UserRecord) -> Placement {
        let pk = self.partition_keys.lookup(record.partition_key());
        let (pk_index, mut added) = match pk {
            Lookup::Found(i) => (i, 0),
            Lookup::Missing(_) => (
                self.partition_keys.len(),
                PartitionKeyTable::entry_len(record.partition_key()),
            ),
        };
        let ehk = record
            .explicit_hash_key()
            .map(|k| (k, self.explicit_hash_keys.lookup(k)));
        let ehk_index = match ehk {
            None => None,
            Some((_, Some(i))) => Some(i),
            Some((k, None)) => {
                added += ExplicitHashKeyTable::entry_len(k);
                Some(u32::try_from(self.explicit_hash_keys.len()).unwrap_or(u32::MAX))
            }
        };
        added += len_field(record_body_len(pk_index, ehk_index, record.data().len()));
        Placement {
            pk,
            pk_index,
            ehk,
            ehk_index,
            added,
        }
    }

    fn apply(&mut self, record: &UserRecord, placement: Placement) {
        let data = record.data().clone();
        let pk_index = match placement.pk {
            Lookup::Found(i) => i,
            Lookup::Missing(hash) => self.partition_keys.insert(record.partition_key(), hash),
        };
        let ehk_index = match placement.ehk {
            None => None,
            Some((_, Some(i))) => Some(i),
            Some((k, None)) => Some(self.explicit_hash_keys.insert(k)),
        };
        debug_assert_eq!(
            (pk_index, ehk_index),
            (placement.pk_index, placement.ehk_index)
        );
        self.records_len += len_field(record_body_len(pk_index, ehk_index, data.len()));
        self.records.push(PendingRecord {
            pk_index,
            ehk_index,
            data,
        });
        if self.first.is_none() {
            self.first = Some((
                record.partition_key().to_owned(),
                record.explicit_hash_key(),
            ));
        }
    }

    /// Serializes magic + AggregatedRecord into exactly `MAGIC + proto_len` bytes, with
    /// capacity left for the MD5 trailer.
    fn encode(&self) -> Vec<u8> {
        let proto_len = self.proto_len();
        let mut out = Vec::with_capacity(FRAME_OVERHEAD + proto_len);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(self.partition_keys.strings().encoded());
        out.extend_from_slice(self.explicit_hash_keys.strings().encoded());
        for r in &self.records {
            out.extend_from_slice(RecordHeader::new(r).as_bytes());
            out.extend_from_slice(&r.data);
        }
        debug_assert_eq!(out.len(), MAGIC.len() + proto_len);
        out
    }
}

/// The bytes of a `records` entry up to its data: key, length, index fields, data key and
/// length. At most 1 + 5 + (1 + 5) * 2 + 1 + 5 = 24 bytes.
struct RecordHeader {
    bytes: [u8; 24],
    len: usize,
}

impl RecordHeader {
    fn new(r: &PendingRecord) -> Self {
        let mut h = RecordHeader {
            bytes: [0; 24],
            len: 0,
        };
        let body = record_body_len(r.pk_index, r.ehk_index, r.data.len());
        h.push(key::RECORDS);
        h.varint(body as u64);
        h.push(key::PARTITION_KEY_INDEX);
        h.varint(u64::from(r.pk_index));
        if let Some(i) = r.ehk_index {
            h.push(key::EXPLICIT_HASH_KEY_INDEX);
            h.varint(u64::from(i));
        }
        h.push(key::DATA);
        h.varint(r.data.len() as u64);
        h
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.push(low7(v) | 0x80);
            v >>= 7;
        }
        self.push(low7(v));
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// The low seven bits of `v`.
fn low7(v: u64) -> u8 {
    u8::try_from(v & 0x7f).unwrap_or(0)
}

/// Size of an aggregated record whose protobuf message is `proto_len` bytes, counted as
/// Kinesis counts it: magic + message + MD5 + the one-byte outer partition key.
fn aggregated_size(proto_len: usize) -> usize {
    FRAME_OVERHEAD + proto_len + wire::AGGREGATE_PARTITION_KEY.len()
}

#[cfg(test)]
#[path = "aggregator_tests.rs"]
mod tests;
