//! Positions in the Kinesis hash key space.

use std::fmt;
use std::str::FromStr;

use crate::md5;

/// A position in the Kinesis hash key space, an unsigned 128-bit integer.
///
/// A record's hash key is its explicit hash key when it has one, else the MD5 of
/// its partition key's UTF-8 bytes read as a big-endian integer. Shards own closed
/// ranges of this space (see [`HashRange`](crate::HashRange)).
///
/// ```
/// use kinesis_agg::HashKey;
///
/// let from_key = HashKey::from_partition_key("partition-1");
/// let explicit: HashKey = "170141183460469231731687303715884105728".parse().unwrap();
/// assert_eq!(explicit.get(), 1u128 << 127);
/// assert_eq!(explicit.to_string(), "170141183460469231731687303715884105728");
/// assert_ne!(from_key, explicit);
/// ```
// Two halves, high first (so the derived order is the numeric one): 8-byte aligned, where a
// `u128` would make every struct holding a key 16-byte aligned and larger.
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HashKey {
    high: u64,
    low: u64,
}

/// Why a string is not a valid explicit hash key.
///
/// Kinesis accepts `0` or a decimal number without leading zeros up to 2^128 - 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashKeyError {
    /// The string is empty.
    #[error("explicit hash key is empty")]
    Empty,
    /// A byte that is not an ASCII digit.
    #[error("explicit hash key has a non-digit character at byte {position}")]
    InvalidDigit {
        /// Byte offset of the first offending character.
        position: usize,
    },
    /// A number other than `0` that starts with `0`.
    #[error("explicit hash key has a leading zero")]
    LeadingZero,
    /// The number is larger than 2^128 - 1.
    #[error("explicit hash key is larger than 2^128 - 1")]
    OutOfRange,
}

impl HashKey {
    /// The smallest hash key, 0.
    pub const MIN: HashKey = HashKey::new(0);
    /// The largest hash key, 2^128 - 1.
    pub const MAX: HashKey = HashKey::new(u128::MAX);

    /// A hash key with the given value.
    ///
    /// ```
    /// assert_eq!(kinesis_agg::HashKey::new(7).get(), 7);
    /// ```
    #[allow(clippy::cast_possible_truncation)] // taking the two halves is the point
    pub const fn new(value: u128) -> Self {
        HashKey {
            high: (value >> 64) as u64,
            low: value as u64,
        }
    }

    /// The numeric value.
    ///
    /// ```
    /// assert_eq!(kinesis_agg::HashKey::MAX.get(), u128::MAX);
    /// ```
    pub const fn get(self) -> u128 {
        ((self.high as u128) << 64) | self.low as u128
    }

    /// The hash key Kinesis derives from a partition key: MD5 of its UTF-8 bytes, big endian.
    ///
    /// ```
    /// use kinesis_agg::HashKey;
    /// // MD5("a") = 0cc175b9c0f1b6a831c399e269772661
    /// assert_eq!(HashKey::from_partition_key("a").get(), 0x0cc175b9c0f1b6a831c399e269772661);
    /// ```
    pub fn from_partition_key(partition_key: &str) -> Self {
        HashKey::new(u128::from_be_bytes(md5::digest(partition_key.as_bytes())))
    }

    /// The hash keys of many partition keys, in order, hashed in SIMD lanes where the CPU
    /// has them (several times faster than one at a time for short keys).
    ///
    /// ```
    /// use kinesis_agg::HashKey;
    /// let keys = HashKey::from_partition_keys(["a", "b"]);
    /// assert_eq!(keys, vec![HashKey::from_partition_key("a"), HashKey::from_partition_key("b")]);
    /// ```
    pub fn from_partition_keys<'a>(
        partition_keys: impl IntoIterator<Item = &'a str>,
    ) -> Vec<HashKey> {
        let messages: Vec<&[u8]> = partition_keys.into_iter().map(str::as_bytes).collect();
        md5::digest_many(&messages)
            .into_iter()
            .map(|d| HashKey::new(u128::from_be_bytes(d)))
            .collect()
    }

    /// Parses an explicit hash key the way Kinesis validates it: `0`, or 1 to 39 decimal
    /// digits without a leading zero, at most 2^128 - 1.
    ///
    /// ```
    /// use kinesis_agg::{HashKey, HashKeyError};
    /// assert_eq!(HashKey::from_decimal("0"), Ok(HashKey::MIN));
    /// assert_eq!(HashKey::from_decimal("007"), Err(HashKeyError::LeadingZero));
    /// assert_eq!(
    ///     HashKey::from_decimal("340282366920938463463374607431768211456"),
    ///     Err(HashKeyError::OutOfRange)
    /// );
    /// ```
    pub fn from_decimal(s: &str) -> Result<Self, HashKeyError> {
        let bytes = s.as_bytes();
        match bytes {
            [] => return Err(HashKeyError::Empty),
            [b'0', _, ..] if bytes.iter().all(u8::is_ascii_digit) => {
                return Err(HashKeyError::LeadingZero);
            }
            _ => {}
        }
        parse_digits(bytes).map(HashKey::new)
    }

    /// Parses a decimal hash key leniently, as the KCL's `new BigInteger(s)` would for a
    /// key found inside an aggregated record: leading zeros and a leading `+` are accepted.
    /// Returns `None` for anything that is not a number in [0, 2^128 - 1].
    pub(crate) fn parse_lenient(s: &[u8]) -> Option<Self> {
        let digits = s.strip_prefix(b"+").unwrap_or(s);
        if digits.is_empty() {
            return None;
        }
        parse_digits(digits).ok().map(HashKey::new)
    }
}

fn parse_digits(bytes: &[u8]) -> Result<u128, HashKeyError> {
    let mut value: u128 = 0;
    for (position, &b) in bytes.iter().enumerate() {
        if !b.is_ascii_digit() {
            return Err(HashKeyError::InvalidDigit { position });
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(b - b'0')))
            .ok_or(HashKeyError::OutOfRange)?;
    }
    Ok(value)
}

impl FromStr for HashKey {
    type Err = HashKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HashKey::from_decimal(s)
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HashKey").field(&self.get()).finish()
    }
}

impl fmt::Display for HashKey {
    /// Formats the key as Kinesis writes it: a decimal number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.get(), f)
    }
}

impl From<u128> for HashKey {
    fn from(value: u128) -> Self {
        HashKey::new(value)
    }
}

impl From<HashKey> for u128 {
    fn from(key: HashKey) -> Self {
        key.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn partition_key_hash_is_big_endian_md5() {
        // MD5("partition-1") computed independently with RustCrypto's md-5.
        use ::md5::Digest as _;
        let d: [u8; 16] = ::md5::Md5::digest("partition-1".as_bytes()).into();
        assert_eq!(
            HashKey::from_partition_key("partition-1").get(),
            u128::from_be_bytes(d)
        );
    }

    #[test]
    fn multi_byte_keys_hash_their_utf8_bytes() {
        use ::md5::Digest as _;
        let key = "ключ-日本-🎉";
        let d: [u8; 16] = ::md5::Md5::digest(key.as_bytes()).into();
        assert_eq!(
            HashKey::from_partition_key(key).get(),
            u128::from_be_bytes(d)
        );
    }

    #[test]
    fn decimal_bounds() {
        assert_eq!(
            HashKey::from_decimal("340282366920938463463374607431768211455"),
            Ok(HashKey::MAX)
        );
        assert_eq!(HashKey::from_decimal(""), Err(HashKeyError::Empty));
        assert_eq!(
            HashKey::from_decimal("-1"),
            Err(HashKeyError::InvalidDigit { position: 0 })
        );
        assert_eq!(
            HashKey::from_decimal("12a"),
            Err(HashKeyError::InvalidDigit { position: 2 })
        );
        assert_eq!(
            HashKey::from_decimal(" 1"),
            Err(HashKeyError::InvalidDigit { position: 0 })
        );
        assert_eq!(HashKey::from_decimal("00"), Err(HashKeyError::LeadingZero));
        assert_eq!(
            HashKey::from_decimal(&"9".repeat(40)),
            Err(HashKeyError::OutOfRange)
        );
    }

    #[test]
    fn lenient_parse_accepts_what_biginteger_accepts_in_range() {
        assert_eq!(HashKey::parse_lenient(b"007"), Some(HashKey::new(7)));
        assert_eq!(HashKey::parse_lenient(b"+5"), Some(HashKey::new(5)));
        assert_eq!(HashKey::parse_lenient(b"-5"), None);
        assert_eq!(HashKey::parse_lenient(b"+"), None);
        assert_eq!(HashKey::parse_lenient(b""), None);
        assert_eq!(
            HashKey::parse_lenient(b"340282366920938463463374607431768211456"),
            None
        );
    }

    proptest! {
        #[test]
        fn decimal_round_trip(v in any::<u128>()) {
            let key = HashKey::new(v);
            prop_assert_eq!(key.to_string().parse::<HashKey>(), Ok(key));
        }

        #[test]
        fn batch_equals_single(keys in proptest::collection::vec(".{0,40}", 0..50)) {
            let batch = HashKey::from_partition_keys(keys.iter().map(String::as_str));
            for (k, h) in keys.iter().zip(&batch) {
                prop_assert_eq!(*h, HashKey::from_partition_key(k));
            }
            prop_assert_eq!(batch.len(), keys.len());
        }
    }
}
