//! Positions in a shard: sequence numbers compared as big integers, and the checkpoint
//! sentinels of the KCL lease table.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// The longest sequence number Kinesis hands out, in decimal digits.
pub const MAX_SEQUENCE_DIGITS: usize = 128;

/// A Kinesis sequence number: a decimal string of up to 128 digits, ordered as the big
/// integer it spells (never as a string, never through a float). Cloning is cheap.
///
/// ```
/// use kcl::SequenceNumber;
/// let small = SequenceNumber::parse("9").unwrap();
/// let big = SequenceNumber::parse("10").unwrap();
/// assert!(small < big); // "9" > "10" as strings
/// assert_eq!(SequenceNumber::parse("007").unwrap(), SequenceNumber::parse("7").unwrap());
/// assert!(SequenceNumber::parse("12a").is_err());
/// ```
#[derive(Clone)]
pub struct SequenceNumber(Arc<str>);

/// Why a string is not a sequence number or checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    /// Empty string.
    #[error("a sequence number cannot be empty")]
    Empty,
    /// A character that is not an ASCII digit.
    #[error("sequence number {0:?} has a character that is not a decimal digit")]
    NotDecimal(String),
    /// More than 128 significant digits.
    #[error("sequence number has {0} digits, more than the 128 Kinesis uses")]
    TooLong(usize),
    /// A sub-sequence number was given with a sentinel position.
    #[error("checkpoint {sentinel} cannot carry sub-sequence number {sub_sequence}")]
    SubSequenceOnSentinel {
        /// The sentinel.
        sentinel: &'static str,
        /// The sub-sequence number found.
        sub_sequence: u64,
    },
}

impl SequenceNumber {
    /// Parses a decimal sequence number.
    pub fn parse(s: &str) -> Result<SequenceNumber, PositionError> {
        if s.is_empty() {
            return Err(PositionError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PositionError::NotDecimal(s.chars().take(140).collect()));
        }
        let significant = significant(s).len();
        if significant > MAX_SEQUENCE_DIGITS {
            return Err(PositionError::TooLong(significant));
        }
        Ok(SequenceNumber(Arc::from(s)))
    }

    /// The decimal string as Kinesis gave it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn significant(s: &str) -> &str {
    let trimmed = s.trim_start_matches('0');
    if trimmed.is_empty() { "0" } else { trimmed }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (significant(&self.0), significant(&other.0));
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SequenceNumber {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SequenceNumber {}

impl std::hash::Hash for SequenceNumber {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        significant(&self.0).hash(state);
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SequenceNumber({})", self.0)
    }
}

impl std::str::FromStr for SequenceNumber {
    type Err = PositionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SequenceNumber::parse(s)
    }
}

/// A position in a shard, as a checkpoint records it. The order is the KCL's:
/// `AtTimestamp < TrimHorizon < Latest < At{..} < ShardEnd`; `At` positions compare by
/// sequence number (as big integers), then sub-sequence number.
///
/// ```
/// use kcl::{Position, SequenceNumber};
/// let at = |s: &str, sub| Position::At { seq: SequenceNumber::parse(s).unwrap(), sub_seq: sub };
/// assert!(Position::TrimHorizon < Position::Latest);
/// assert!(Position::Latest < at("1", 0));
/// assert!(at("99", 5) < at("100", 0));
/// assert!(at("100", 0) < at("100", 1));
/// assert!(at("100", 1) < Position::ShardEnd);
/// assert_eq!(Position::from_table("SHARD_END", 0).unwrap(), Position::ShardEnd);
/// assert_eq!(at("42", 3).to_table(), ("42".to_owned(), 3));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Position {
    /// `AT_TIMESTAMP`: the lease starts at the configured initial timestamp.
    AtTimestamp,
    /// `TRIM_HORIZON`: the oldest record kept.
    TrimHorizon,
    /// `LATEST`: records arriving after the shard is first read.
    Latest,
    /// A user record: the Kinesis record's sequence number and the record's index inside
    /// a KPL aggregate (0 for a plain record).
    At {
        /// The Kinesis record's sequence number.
        seq: SequenceNumber,
        /// The user record's index in its aggregate; 0 for a plain record.
        sub_seq: u64,
    },
    /// `SHARD_END`: the shard is closed and fully processed.
    ShardEnd,
}

/// The table's sentinel strings, as the Java KCL writes them.
pub(crate) const TRIM_HORIZON: &str = "TRIM_HORIZON";
pub(crate) const LATEST: &str = "LATEST";
pub(crate) const AT_TIMESTAMP: &str = "AT_TIMESTAMP";
pub(crate) const SHARD_END: &str = "SHARD_END";

impl Position {
    /// A record position from a sequence number string and sub-sequence number.
    pub fn at(seq: &str, sub_seq: u64) -> Result<Position, PositionError> {
        Ok(Position::At {
            seq: SequenceNumber::parse(seq)?,
            sub_seq,
        })
    }

    /// Reads a checkpoint as the lease table stores it (`checkpoint` S,
    /// `checkpointSubSequenceNumber` N).
    pub fn from_table(checkpoint: &str, sub_seq: u64) -> Result<Position, PositionError> {
        let sentinel = match checkpoint {
            TRIM_HORIZON => Some((Position::TrimHorizon, TRIM_HORIZON)),
            LATEST => Some((Position::Latest, LATEST)),
            AT_TIMESTAMP => Some((Position::AtTimestamp, AT_TIMESTAMP)),
            SHARD_END => Some((Position::ShardEnd, SHARD_END)),
            _ => None,
        };
        match sentinel {
            // The Java KCL writes 0 with every sentinel.
            Some((p, _)) if sub_seq == 0 => Ok(p),
            Some((_, sentinel)) => Err(PositionError::SubSequenceOnSentinel {
                sentinel,
                sub_sequence: sub_seq,
            }),
            None => Position::at(checkpoint, sub_seq),
        }
    }

    /// The `(checkpoint, checkpointSubSequenceNumber)` pair the lease table stores.
    pub fn to_table(&self) -> (String, u64) {
        match self {
            Position::AtTimestamp => (AT_TIMESTAMP.to_owned(), 0),
            Position::TrimHorizon => (TRIM_HORIZON.to_owned(), 0),
            Position::Latest => (LATEST.to_owned(), 0),
            Position::At { seq, sub_seq } => (seq.as_str().to_owned(), *sub_seq),
            Position::ShardEnd => (SHARD_END.to_owned(), 0),
        }
    }

    /// Whether this is one of the sentinels (anything but [`Position::At`]).
    pub fn is_sentinel(&self) -> bool {
        !matches!(self, Position::At { .. })
    }

    /// The sequence number of an [`Position::At`] position.
    pub fn sequence_number(&self) -> Option<&SequenceNumber> {
        match self {
            Position::At { seq, .. } => Some(seq),
            _ => None,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::At { seq, sub_seq } => write!(f, "{seq}/{sub_seq}"),
            other => f.write_str(&other.to_table().0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str, sub: u64) -> Position {
        Position::at(s, sub).unwrap()
    }

    #[test]
    fn sequence_numbers_compare_as_big_integers() {
        let n = |s: &str| SequenceNumber::parse(s).unwrap();
        let huge = "9".repeat(128);
        let huger = format!("1{}", "0".repeat(127));
        assert!(n(&huger) < n(&huge));
        assert!(n("49590338271490256608559692538361571095921575989136588898") > n("4959"));
        assert_eq!(n("000"), n("0"));
        assert!(n("0") < n("1"));
        assert_eq!(
            SequenceNumber::parse(&"1".repeat(129)),
            Err(PositionError::TooLong(129))
        );
        // Leading zeros do not count against the limit.
        assert!(SequenceNumber::parse(&format!("000{}", "1".repeat(128))).is_ok());
        assert_eq!(SequenceNumber::parse(""), Err(PositionError::Empty));
        assert!(matches!(
            SequenceNumber::parse("-1"),
            Err(PositionError::NotDecimal(_))
        ));
        assert!(matches!(
            SequenceNumber::parse("1.5"),
            Err(PositionError::NotDecimal(_))
        ));
    }

    #[test]
    fn the_total_order_is_the_kcls() {
        let ordered = [
            Position::AtTimestamp,
            Position::TrimHorizon,
            Position::Latest,
            at("1", 0),
            at("1", 1),
            at("2", 0),
            at("10", 0),
            at(&"9".repeat(128), u64::MAX),
            Position::ShardEnd,
        ];
        for (i, a) in ordered.iter().enumerate() {
            for (j, b) in ordered.iter().enumerate() {
                assert_eq!(a.cmp(b), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn table_round_trip_keeps_sentinels_and_sub_sequences() {
        for p in [
            Position::AtTimestamp,
            Position::TrimHorizon,
            Position::Latest,
            Position::ShardEnd,
            at("123", 0),
            at("123", 7),
        ] {
            let (c, s) = p.to_table();
            assert_eq!(Position::from_table(&c, s).unwrap(), p);
        }
        assert_eq!(
            Position::from_table("SHARD_END", 3),
            Err(PositionError::SubSequenceOnSentinel {
                sentinel: "SHARD_END",
                sub_sequence: 3
            })
        );
        assert!(Position::from_table("shard_end", 0).is_err());
    }
}
