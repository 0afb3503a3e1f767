//! Zero-copy decoding of aggregated records.
//!
//! A record is aggregated only if it starts with the magic, is longer than magic +
//! MD5, its MD5 matches and its protobuf parses with every required field and every
//! table index valid. Anything else is not an aggregate and is left to the caller to
//! pass through unchanged. Partition keys and data of the sub-records are slices of
//! the input (`Bytes`), never copies.

use std::ops::Range;

use bytes::Bytes;
use bytestring::ByteString;
use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};

use crate::md5;
use crate::wire::{DIGEST_LEN, FRAME_OVERHEAD, MAGIC};

/// A decoded aggregate: its key tables and records, all borrowing the input bytes.
#[derive(Clone, Debug)]
pub struct Aggregate {
    body: Bytes,
    partition_keys: Vec<ByteString>,
    explicit_hash_keys: Vec<ByteString>,
    records: Vec<RawRecord>,
}

/// Where one record's fields sit inside the message body (indices already checked).
#[derive(Copy, Clone, Debug)]
pub(crate) struct RawRecord {
    pub(crate) pk_index: usize,
    pub(crate) ehk_index: Option<usize>,
    data: (usize, usize),
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
        let layout = parse_message(&body).ok()?;
        let strings = |ranges: Vec<Range<usize>>| -> Option<Vec<ByteString>> {
            ranges
                .into_iter()
                .map(|r| ByteString::try_from(body.slice(r)).ok())
                .collect()
        };
        let partition_keys = strings(layout.partition_keys)?;
        let explicit_hash_keys = strings(layout.explicit_hash_keys)?;
        let indices_valid = layout.records.iter().all(|r| {
            r.pk_index < partition_keys.len()
                && r.ehk_index.is_none_or(|i| i < explicit_hash_keys.len())
        });
        indices_valid.then_some(Aggregate {
            body,
            partition_keys,
            explicit_hash_keys,
            records: layout.records,
        })
    }

    /// Number of user records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the aggregate holds no user record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The partition key table.
    pub fn partition_keys(&self) -> &[ByteString] {
        &self.partition_keys
    }

    /// The explicit hash key table.
    pub fn explicit_hash_keys(&self) -> &[ByteString] {
        &self.explicit_hash_keys
    }

    pub(crate) fn raw_records(&self) -> &[RawRecord] {
        &self.records
    }

    /// The user records in order, with sub-sequence numbers 0..n-1 (zero-copy).
    pub fn records(&self) -> impl ExactSizeIterator<Item = SubRecord> + '_ {
        self.records.iter().enumerate().map(|(i, r)| SubRecord {
            partition_key: self
                .partition_keys
                .get(r.pk_index)
                .cloned()
                .unwrap_or_default(),
            explicit_hash_key: r
                .ehk_index
                .and_then(|i| self.explicit_hash_keys.get(i).cloned()),
            data: self.body.slice(r.data.0..r.data.1),
            sub_sequence_number: i as u64,
        })
    }
}

/// Splits an aggregated record into (protobuf body, MD5 trailer) if it is framed as one.
fn frame(data: &[u8]) -> Option<(&[u8], [u8; DIGEST_LEN])> {
    if data.len() <= FRAME_OVERHEAD || !data.starts_with(&MAGIC) {
        return None;
    }
    let body = data.get(MAGIC.len()..data.len() - DIGEST_LEN)?;
    let digest = data.get(data.len() - DIGEST_LEN..)?.try_into().ok()?;
    Some((body, digest))
}

/// Offsets of the tables and records of an `AggregatedRecord` message.
struct Layout {
    partition_keys: Vec<Range<usize>>,
    explicit_hash_keys: Vec<Range<usize>>,
    records: Vec<RawRecord>,
}

/// Any way a message body fails to be a valid `AggregatedRecord`.
#[derive(Debug)]
struct Invalid;

impl From<prost::DecodeError> for Invalid {
    fn from(_: prost::DecodeError) -> Self {
        Invalid
    }
}

/// A read position in a message body; offsets are relative to the whole body.
struct Cursor<'a> {
    rest: &'a [u8],
    end: usize,
}

impl<'a> Cursor<'a> {
    fn new(slice: &'a [u8], end: usize) -> Self {
        Cursor { rest: slice, end }
    }

    fn offset(&self) -> usize {
        self.end - self.rest.len()
    }

    fn key(&mut self) -> Result<(u32, WireType), Invalid> {
        Ok(decode_key(&mut self.rest)?)
    }

    fn varint(&mut self) -> Result<u64, Invalid> {
        Ok(decode_varint(&mut self.rest)?)
    }

    /// A length-delimited field's payload, as its range and a cursor over it.
    fn delimited(&mut self) -> Result<(Range<usize>, Cursor<'a>), Invalid> {
        let len = usize::try_from(self.varint()?).map_err(|_| Invalid)?;
        if len > self.rest.len() {
            return Err(Invalid);
        }
        let (inner, rest) = self.rest.split_at(len);
        self.rest = rest;
        let end = self.offset();
        Ok((end - len..end, Cursor::new(inner, end)))
    }

    fn skip(&mut self, wire_type: WireType, tag: u32) -> Result<(), Invalid> {
        Ok(skip_field(
            wire_type,
            tag,
            &mut self.rest,
            DecodeContext::default(),
        )?)
    }
}

fn parse_message(body: &[u8]) -> Result<Layout, Invalid> {
    let mut layout = Layout {
        partition_keys: Vec::new(),
        explicit_hash_keys: Vec::new(),
        records: Vec::new(),
    };
    let mut cur = Cursor::new(body, body.len());
    while !cur.rest.is_empty() {
        match cur.key()? {
            (1, WireType::LengthDelimited) => layout.partition_keys.push(cur.delimited()?.0),
            (2, WireType::LengthDelimited) => layout.explicit_hash_keys.push(cur.delimited()?.0),
            (3, WireType::LengthDelimited) => {
                layout.records.push(parse_record(cur.delimited()?.1)?)
            }
            (tag, wire_type) => cur.skip(wire_type, tag)?,
        }
    }
    Ok(layout)
}

fn parse_record(mut cur: Cursor<'_>) -> Result<RawRecord, Invalid> {
    let (mut pk, mut ehk, mut data) = (None, None, None);
    while !cur.rest.is_empty() {
        match cur.key()? {
            (1, WireType::Varint) => pk = Some(cur.varint()?),
            (2, WireType::Varint) => ehk = Some(cur.varint()?),
            (3, WireType::LengthDelimited) => data = Some(cur.delimited()?.0),
            (4, WireType::LengthDelimited) => check_tag(cur.delimited()?.1)?,
            (tag, wire_type) => cur.skip(wire_type, tag)?,
        }
    }
    let index = |v: u64| usize::try_from(v).map_err(|_| Invalid);
    let data = data.ok_or(Invalid)?;
    Ok(RawRecord {
        pk_index: index(pk.ok_or(Invalid)?)?,
        ehk_index: ehk.map(index).transpose()?,
        data: (data.start, data.end),
    })
}

/// A `Tag` must parse and carry its required key.
fn check_tag(mut cur: Cursor<'_>) -> Result<(), Invalid> {
    let mut has_key = false;
    while !cur.rest.is_empty() {
        match cur.key()? {
            (1, WireType::LengthDelimited) => {
                cur.delimited()?;
                has_key = true;
            }
            (tag, wire_type) => cur.skip(wire_type, tag)?,
        }
    }
    if has_key { Ok(()) } else { Err(Invalid) }
}
