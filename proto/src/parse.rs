//! The protobuf walk over an `AggregatedRecord` body: one validating pass, then lazy
//! re-reads of the records when they are iterated.

use std::ops::Range;

use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};

/// Any way a message body fails to be a valid `AggregatedRecord`.
#[derive(Debug)]
pub(crate) struct Invalid;

impl From<prost::DecodeError> for Invalid {
    fn from(_: prost::DecodeError) -> Self {
        Invalid
    }
}

/// What the validating pass learns: table entries, record count, largest indices used.
pub(crate) struct Layout {
    pub(crate) partition_keys: Vec<Range<usize>>,
    pub(crate) explicit_hash_keys: Vec<Range<usize>>,
    pub(crate) records: usize,
    pub(crate) max_pk_index: Option<usize>,
    pub(crate) max_ehk_index: Option<usize>,
}

/// Where one record's fields sit inside the body.
#[derive(Clone, Debug)]
pub(crate) struct RawRecord {
    pub(crate) pk_index: usize,
    pub(crate) ehk_index: Option<usize>,
    pub(crate) data: Range<usize>,
}

/// A read position in a message body; offsets are relative to the whole body.
#[derive(Debug)]
struct Cursor<'a> {
    rest: &'a [u8],
    end: usize,
}

impl<'a> Cursor<'a> {
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
        Ok((end - len..end, Cursor { rest: inner, end }))
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

/// Walks the whole message once, checking every field; records are counted, not stored.
pub(crate) fn validate(body: &[u8]) -> Result<Layout, Invalid> {
    let mut layout = Layout {
        partition_keys: Vec::new(),
        explicit_hash_keys: Vec::new(),
        records: 0,
        max_pk_index: None,
        max_ehk_index: None,
    };
    let mut cur = Cursor {
        rest: body,
        end: body.len(),
    };
    while !cur.rest.is_empty() {
        match cur.key()? {
            (1, WireType::LengthDelimited) => layout.partition_keys.push(cur.delimited()?.0),
            (2, WireType::LengthDelimited) => layout.explicit_hash_keys.push(cur.delimited()?.0),
            (3, WireType::LengthDelimited) => {
                let r = parse_record(cur.delimited()?.1)?;
                layout.records += 1;
                layout.max_pk_index = layout.max_pk_index.max(Some(r.pk_index));
                layout.max_ehk_index = layout.max_ehk_index.max(r.ehk_index);
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
    Ok(RawRecord {
        pk_index: index(pk.ok_or(Invalid)?)?,
        ehk_index: ehk.map(index).transpose()?,
        data: data.ok_or(Invalid)?,
    })
}

/// A `Tag` must parse, carry its required key, and hold UTF-8 strings.
fn check_tag(mut cur: Cursor<'_>) -> Result<(), Invalid> {
    let mut has_key = false;
    while !cur.rest.is_empty() {
        match cur.key()? {
            (field @ (1 | 2), WireType::LengthDelimited) => {
                let (_, text) = cur.delimited()?;
                std::str::from_utf8(text.rest).map_err(|_| Invalid)?;
                has_key |= field == 1;
            }
            (tag, wire_type) => cur.skip(wire_type, tag)?,
        }
    }
    if has_key { Ok(()) } else { Err(Invalid) }
}

/// Iterates the records of a body that [`validate`] accepted, skipping everything else.
#[derive(Debug)]
pub(crate) struct RecordIter<'a> {
    cur: Cursor<'a>,
}

impl<'a> RecordIter<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Self {
        RecordIter {
            cur: Cursor {
                rest: body,
                end: body.len(),
            },
        }
    }

    /// Resumes at `offset`, a value [`offset`](Self::offset) returned earlier.
    pub(crate) fn starting_at(body: &'a [u8], offset: usize) -> Self {
        RecordIter {
            cur: Cursor {
                rest: body.get(offset..).unwrap_or_default(),
                end: body.len(),
            },
        }
    }

    /// Where the next record field is looked for.
    pub(crate) fn offset(&self) -> usize {
        self.cur.offset()
    }

    fn step(&mut self) -> Result<Option<RawRecord>, Invalid> {
        while !self.cur.rest.is_empty() {
            match self.cur.key()? {
                (3, WireType::LengthDelimited) => {
                    return parse_record(self.cur.delimited()?.1).map(Some);
                }
                (1 | 2, WireType::LengthDelimited) => {
                    self.cur.delimited()?;
                }
                (tag, wire_type) => self.cur.skip(wire_type, tag)?,
            }
        }
        Ok(None)
    }
}

impl Iterator for RecordIter<'_> {
    type Item = RawRecord;

    /// The next record; `None` at the end (a validated body has no errors to report).
    fn next(&mut self) -> Option<RawRecord> {
        self.step().ok().flatten()
    }
}
