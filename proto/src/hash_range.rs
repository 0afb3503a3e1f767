//! A shard's closed range of hash keys.

use crate::{HashKey, HashKeyError};

/// A closed range `[start, end]` of hash keys, as a shard owns it.
///
/// ```
/// use kinesis_agg::{HashKey, HashRange};
///
/// let lower_half = HashRange::from_decimal("0", "170141183460469231731687303715884105727").unwrap();
/// assert!(lower_half.contains(HashKey::new(0)));
/// assert!(!lower_half.contains(HashKey::new(1 << 127)));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct HashRange {
    start: HashKey,
    end: HashKey,
}

/// Why two hash keys do not make a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashRangeError {
    /// The starting key is greater than the ending key.
    #[error("hash range starts at {start} after its end {end}")]
    StartAfterEnd {
        /// The starting key given.
        start: HashKey,
        /// The ending key given.
        end: HashKey,
    },
    /// The starting key is not a decimal hash key.
    #[error("starting hash key: {0}")]
    Start(HashKeyError),
    /// The ending key is not a decimal hash key.
    #[error("ending hash key: {0}")]
    End(HashKeyError),
}

impl HashRange {
    /// The whole key space, what a stream's open shards tile together.
    pub const FULL: HashRange = HashRange {
        start: HashKey::MIN,
        end: HashKey::MAX,
    };

    /// The range `[start, end]`.
    ///
    /// ```
    /// use kinesis_agg::{HashKey, HashRange};
    /// assert!(HashRange::new(HashKey::new(5), HashKey::new(4)).is_err());
    /// ```
    pub fn new(start: HashKey, end: HashKey) -> Result<Self, HashRangeError> {
        if start > end {
            return Err(HashRangeError::StartAfterEnd { start, end });
        }
        Ok(HashRange { start, end })
    }

    /// The range from the decimal strings Kinesis reports (ListShards' `HashKeyRange`).
    ///
    /// ```
    /// let r = kinesis_agg::HashRange::from_decimal("10", "20").unwrap();
    /// assert_eq!(r.end().get(), 20);
    /// ```
    pub fn from_decimal(start: &str, end: &str) -> Result<Self, HashRangeError> {
        let start = HashKey::from_decimal(start).map_err(HashRangeError::Start)?;
        let end = HashKey::from_decimal(end).map_err(HashRangeError::End)?;
        HashRange::new(start, end)
    }

    /// The first key of the range.
    pub const fn start(&self) -> HashKey {
        self.start
    }

    /// The last key of the range (inclusive).
    pub const fn end(&self) -> HashKey {
        self.end
    }

    /// Whether `key` lies in `[start, end]`.
    ///
    /// ```
    /// use kinesis_agg::{HashKey, HashRange};
    /// assert!(HashRange::FULL.contains(HashKey::MAX));
    /// ```
    pub fn contains(&self, key: HashKey) -> bool {
        self.start <= key && key <= self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive() {
        let r = HashRange::new(HashKey::new(10), HashKey::new(20)).unwrap();
        assert!(!r.contains(HashKey::new(9)));
        assert!(r.contains(HashKey::new(10)));
        assert!(r.contains(HashKey::new(20)));
        assert!(!r.contains(HashKey::new(21)));
        let point = HashRange::new(HashKey::new(3), HashKey::new(3)).unwrap();
        assert!(point.contains(HashKey::new(3)));
    }

    #[test]
    fn bad_decimal_is_named() {
        assert_eq!(
            HashRange::from_decimal("x", "1"),
            Err(HashRangeError::Start(HashKeyError::InvalidDigit {
                position: 0
            }))
        );
        assert_eq!(
            HashRange::from_decimal("1", "01"),
            Err(HashRangeError::End(HashKeyError::LeadingZero))
        );
        assert!(matches!(
            HashRange::from_decimal("2", "1"),
            Err(HashRangeError::StartAfterEnd { .. })
        ));
    }
}
