//! Zero-copy decoding of aggregated records.
//!
//! A record is aggregated only if it starts with the magic, is longer than magic +
//! MD5, its MD5 matches and its protobuf parses with every required field, every
//! string UTF-8 and every table index valid. Anything else is not an aggregate and is
//! left to the caller to pass through unchanged. Partition keys and data of the
//! sub-records are slices of the input (`Bytes`), never copies.
//!
//! Fields this format does not know, and known field numbers with an unexpected wire
//! type, are skipped as unknown fields, as protobuf-java (the KCL) and upb (Python) do.

use std::ops::Range;

use bytes::Bytes;
use bytestring::ByteString;

use crate::md5;
use crate::parse::{self, RawRecord, RecordIter};
use crate::wire::{DIGEST_LEN, FRAME_OVERHEAD, MAGIC};

/// A validated aggregate: its key tables, and its records read lazily from the input.
#[derive(Clone, Debug)]
pub struct Aggregate {
    body: Bytes,
    partition_keys: Vec<ByteString>,
    explicit_hash_keys: Vec<ByteString>,
    len: usize,
}

/// One user record out of an aggregate.
#[derive(Clone, PartialEq, Eq)]
pub struct SubRecord {
    /// Its partition key.
    pub partition_key: ByteString,
    /// Its explicit hash key, only when the record carries an explicit hash key index.
    pub explicit_hash_key: Option<ByteString>,
    /// Its data, a slice of the aggregated record.
    pub data: Bytes,
    /// Its position in the aggregate, 0..n-1 (shares the outer sequence number).
    pub sub_sequence_number: u64,
}

impl std::fmt::Debug for SubRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubRecord")
            .field("partition_key", &self.partition_key)
            .field("explicit_hash_key", &self.explicit_hash_key)
            .field("data_len", &self.data.len())
            .field("sub_sequence_number", &self.sub_sequence_number)
            .finish()
    }
}

impl PartialEq for Aggregate {
    fn eq(&self, other: &Self) -> bool {
        self.body == other.body
    }
}

impl Eq for Aggregate {}

impl Aggregate {
    /// Decodes `data` if it is a valid aggregate; `None` if it must pass through unchanged.
    ///
    /// ```
    /// use kinesis_agg::{Aggregate, Aggregator, AggregatorConfig, SingleRecord, UserRecord};
    ///
    /// let config = AggregatorConfig { single_record: SingleRecord::Aggregated, ..Default::default() };
    /// let mut agg = Aggregator::new(config).unwrap();
    /// agg.try_add(UserRecord::new("k", "v").unwrap()).unwrap();
    /// let record = agg.finish().unwrap();
    /// let decoded = Aggregate::decode(&record.data).unwrap();
    /// assert_eq!(decoded.records().next().unwrap().data, "v");
    /// assert!(Aggregate::decode(&bytes::Bytes::from_static(b"plain")).is_none());
    /// ```
    pub fn decode(data: &Bytes) -> Option<Aggregate> {
        let (body, digest) = frame(data)?;
        if md5::digest(body) != digest {
            return None;
        }
        Aggregate::parse(data.slice(MAGIC.len()..data.len() - DIGEST_LEN))
    }

    /// Decodes many records at once, verifying their MD5s in SIMD lanes; one entry per
    /// input, `None` for each that is not a valid aggregate.
    pub fn decode_many(data: &[Bytes]) -> Vec<Option<Aggregate>> {
        let framed: Vec<Option<(&[u8], [u8; DIGEST_LEN])>> =
            data.iter().map(|d| frame(d)).collect();
        let bodies: Vec<&[u8]> = framed.iter().flatten().map(|(b, _)| *b).collect();
        let mut digests = md5::digest_many(&bodies).into_iter();
        data.iter()
            .zip(&framed)
            .map(|(d, f)| {
                let (_, expected) = f.as_ref()?;
                if digests.next()? != *expected {
                    return None;
                }
                Aggregate::parse(d.slice(MAGIC.len()..d.len() - DIGEST_LEN))
            })
            .collect()
    }

    fn parse(body: Bytes) -> Option<Aggregate> {
        let layout = parse::validate(&body).ok()?;
        let strings = |ranges: Vec<Range<usize>>| -> Option<Vec<ByteString>> {
            ranges
                .into_iter()
                .map(|r| ByteString::try_from(body.slice(r)).ok())
                .collect()
        };
        let partition_keys = strings(layout.partition_keys)?;
        let explicit_hash_keys = strings(layout.explicit_hash_keys)?;
        let indices_valid = layout.max_pk_index.is_none_or(|i| i < partition_keys.len())
            && layout
                .max_ehk_index
                .is_none_or(|i| i < explicit_hash_keys.len());
        indices_valid.then_some(Aggregate {
            body,
            partition_keys,
            explicit_hash_keys,
            len: layout.records,
        })
    }

    /// Number of user records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the aggregate holds no user record.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The partition key table.
    pub fn partition_keys(&self) -> &[ByteString] {
        &self.partition_keys
    }

    /// The explicit hash key table.
    pub fn explicit_hash_keys(&self) -> &[ByteString] {
        &self.explicit_hash_keys
    }

    /// Where each record's fields sit, in order (already validated).
    pub(crate) fn raw_records(&self) -> RecordIter<'_> {
        RecordIter::new(&self.body)
    }

    fn sub_record(&self, raw: RawRecord, index: usize) -> SubRecord {
        SubRecord {
            partition_key: self
                .partition_keys
                .get(raw.pk_index)
                .cloned()
                .unwrap_or_default(),
            explicit_hash_key: raw
                .ehk_index
                .and_then(|i| self.explicit_hash_keys.get(i).cloned()),
            data: self.body.slice(raw.data),
            sub_sequence_number: index as u64,
        }
    }

    /// The user records in order, with sub-sequence numbers 0..n-1 (zero-copy).
    pub fn records(&self) -> Records<'_> {
        Records {
            aggregate: self,
            raw: self.raw_records(),
            index: 0,
        }
    }

    /// The user records in order, owning the aggregate (zero-copy).
    pub fn into_records(self) -> IntoRecords {
        IntoRecords {
            offset: 0,
            index: 0,
            aggregate: self,
        }
    }
}

/// The records of an [`Aggregate`]; see [`Aggregate::records`].
#[derive(Debug)]
pub struct Records<'a> {
    aggregate: &'a Aggregate,
    raw: RecordIter<'a>,
    index: usize,
}

impl Iterator for Records<'_> {
    type Item = SubRecord;

    fn next(&mut self) -> Option<SubRecord> {
        if self.index >= self.aggregate.len {
            return None;
        }
        let record = self.raw.next()?;
        self.index += 1;
        Some(self.aggregate.sub_record(record, self.index - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.aggregate.len - self.index;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Records<'_> {}

/// The records of an [`Aggregate`], by value; see [`Aggregate::into_records`].
#[derive(Debug)]
pub struct IntoRecords {
    aggregate: Aggregate,
    offset: usize,
    index: usize,
}

impl Iterator for IntoRecords {
    type Item = SubRecord;

    fn next(&mut self) -> Option<SubRecord> {
        if self.index >= self.aggregate.len {
            return None;
        }
        let mut raw = RecordIter::starting_at(&self.aggregate.body, self.offset);
        let record = raw.next()?;
        self.offset = raw.offset();
        self.index += 1;
        Some(self.aggregate.sub_record(record, self.index - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.aggregate.len - self.index;
        (left, Some(left))
    }
}

impl ExactSizeIterator for IntoRecords {}

/// Splits an aggregated record into (protobuf body, MD5 trailer) if it is framed as one.
fn frame(data: &[u8]) -> Option<(&[u8], [u8; DIGEST_LEN])> {
    if data.len() <= FRAME_OVERHEAD || !data.starts_with(&MAGIC) {
        return None;
    }
    let body = data.get(MAGIC.len()..data.len() - DIGEST_LEN)?;
    let digest = data.get(data.len() - DIGEST_LEN..)?.try_into().ok()?;
    Some((body, digest))
}
