//! What goes in (a [`Record`]) and what comes out (a [`PutResult`] with its [`Attempt`]s).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::error::ErrorCode;

/// One user record for a stream.
///
/// ```
/// let r = kpl::Record::new("orders", "customer-17", "{\"total\": 12}")
///     .with_explicit_hash_key("170141183460469231731687303715884105728");
/// assert_eq!(r.size(), 11 + 13);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    /// The stream to write to (one producer writes any number of streams).
    pub stream: Arc<str>,
    /// Partition key: 1 to 256 Unicode characters.
    pub partition_key: String,
    /// Explicit hash key (decimal, 0 to 2^128 - 1), routing the record instead of its key.
    pub explicit_hash_key: Option<String>,
    /// The data.
    pub data: Bytes,
}

impl Record {
    /// A record for `stream` with `partition_key` and `data`.
    pub fn new(
        stream: impl Into<Arc<str>>,
        partition_key: impl Into<String>,
        data: impl Into<Bytes>,
    ) -> Record {
        Record {
            stream: stream.into(),
            partition_key: partition_key.into(),
            explicit_hash_key: None,
            data: data.into(),
        }
    }

    /// The same record routed by an explicit hash key (checked when it is put).
    pub fn with_explicit_hash_key(mut self, explicit_hash_key: impl Into<String>) -> Record {
        self.explicit_hash_key = Some(explicit_hash_key.into());
        self
    }

    /// Bytes counted against Kinesis limits and the producer's byte bound: data + partition key.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("stream", &self.stream)
            .field("partition_key", &self.partition_key)
            .field("explicit_hash_key", &self.explicit_hash_key)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// The attempts made for a record, oldest first; it reads as a slice of [`Attempt`]. The
/// usual single attempt is held inline (no allocation per record); a vector only when a
/// record was tried more than once. However long a record is retried, at most
/// [`Attempts::KEPT`] are kept (the first and the last ones): [`omitted`](Self::omitted)
/// counts those between them, so the history of a record throttled for hours stays small.
///
/// ```
/// let attempts = kpl::Attempts::default();
/// assert!(attempts.is_empty());
/// assert_eq!((attempts.iter().count(), attempts.omitted(), attempts.total()), (0, 0, 0));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attempts(Repr);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Repr {
    #[default]
    None,
    One(Attempt),
    /// The attempts kept, and how many were made between the first and the last kept.
    Many(Vec<Attempt>, u32),
}

impl Attempts {
    /// The most attempts kept for a record: the first, and the last three.
    pub const KEPT: usize = 4;

    /// The attempts `kept` (oldest first), `omitted` more having been made between the
    /// first of them and the others.
    pub(crate) fn from_kept(mut kept: Vec<Attempt>, omitted: u32) -> Attempts {
        match (kept.len(), omitted) {
            (0, _) => Attempts(Repr::None),
            (1, 0) => Attempts(kept.pop().map_or(Repr::None, Repr::One)),
            _ => Attempts(Repr::Many(kept, omitted)),
        }
    }

    /// The attempts as a vector (without the omitted ones).
    pub fn into_vec(self) -> Vec<Attempt> {
        match self.0 {
            Repr::None => Vec::new(),
            Repr::One(a) => vec![a],
            Repr::Many(all, _) => all,
        }
    }

    /// Attempts made but not kept (between the first and the last ones).
    pub fn omitted(&self) -> u32 {
        match self.0 {
            Repr::Many(_, omitted) => omitted,
            Repr::None | Repr::One(_) => 0,
        }
    }

    /// Attempts made, kept or not.
    pub fn total(&self) -> usize {
        self.len() + self.omitted() as usize
    }
}

impl std::ops::Deref for Attempts {
    type Target = [Attempt];

    fn deref(&self) -> &[Attempt] {
        match &self.0 {
            Repr::None => &[],
            Repr::One(a) => std::slice::from_ref(a),
            Repr::Many(all, _) => all,
        }
    }
}

impl<'a> IntoIterator for &'a Attempts {
    type Item = &'a Attempt;
    type IntoIter = std::slice::Iter<'a, Attempt>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl IntoIterator for Attempts {
    type Item = Attempt;
    type IntoIter = std::vec::IntoIter<Attempt>;

    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

/// One try at sending a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// Time between the put (or the previous attempt's end) and this attempt's request.
    pub delay: Duration,
    /// How long the PutRecords request took.
    pub duration: Duration,
    /// Why it failed; `None` for the attempt that succeeded. Shared by the records of one
    /// request (one error, not one copy per record; the successful attempt stays small).
    pub error: Option<Arc<AttemptError>>,
}

/// Why an attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptError {
    /// The error, typed.
    pub code: ErrorCode,
    /// The service's or client's message (at most [`AttemptError::MAX_MESSAGE`] bytes).
    pub message: String,
}

impl AttemptError {
    /// The longest message kept (bytes): a record may carry several attempts, and each
    /// counts against the producer's memory bound.
    pub const MAX_MESSAGE: usize = 256;

    /// An error with `message` cut to [`MAX_MESSAGE`](Self::MAX_MESSAGE) bytes (on a
    /// character boundary).
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> AttemptError {
        let mut message = message.into();
        if message.len() > Self::MAX_MESSAGE {
            let mut end = Self::MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        AttemptError { code, message }
    }
}

/// Where a record landed.
///
/// ```
/// # async fn demo(producer: kpl::Producer) -> Result<(), kpl::PutError> {
/// let ack = producer.put(kpl::Record::new("orders", "k", "v")).await?;
/// let result = ack.await?;
/// println!("{} {} #{}", result.shard_id, result.sequence_number, result.sub_sequence_number);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutResult {
    /// The shard the record is on.
    pub shard_id: Arc<str>,
    /// The sequence number of the Kinesis record carrying it.
    pub sequence_number: Arc<str>,
    /// Its index inside that Kinesis record (0 when it was sent alone).
    pub sub_sequence_number: u64,
    /// Every attempt, the successful one last.
    pub attempts: Attempts,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(ms: u64) -> Attempt {
        Attempt {
            delay: Duration::from_millis(ms),
            duration: Duration::ZERO,
            error: None,
        }
    }

    #[test]
    fn attempts_read_as_a_slice_in_order_whatever_their_number() {
        assert!(Attempts::from_kept(Vec::new(), 0).is_empty());
        let one = Attempts::from_kept(vec![attempt(1)], 0);
        assert_eq!(one.len(), 1);
        assert_eq!(one.clone().into_vec(), vec![attempt(1)]);
        let three = Attempts::from_kept(vec![attempt(1), attempt(2), attempt(3)], 0);
        let delays: Vec<u128> = three.iter().map(|a| a.delay.as_millis()).collect();
        assert_eq!(delays, [1, 2, 3]);
        assert_eq!((three.omitted(), three.total()), (0, 3));
        assert_eq!(three.into_iter().count(), 3);
        let long = Attempts::from_kept(vec![attempt(1), attempt(9)], 7);
        assert_eq!((long.len(), long.omitted(), long.total()), (2, 7, 9));
    }
}
