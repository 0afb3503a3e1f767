//! Constants and exact size arithmetic of the aggregated record wire format.

/// The four bytes every aggregated record starts with.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

/// Length of the MD5 trailer that follows the protobuf message.
pub const DIGEST_LEN: usize = 16;

/// Bytes an aggregated record adds around its protobuf message (magic + MD5).
pub const FRAME_OVERHEAD: usize = MAGIC.len() + DIGEST_LEN;

/// The outer partition key of an aggregate of two or more user records (as the KPL sends it).
pub const AGGREGATE_PARTITION_KEY: &str = "a";

/// One field key byte (field number << 3 | wire type) for every field this format uses.
pub(crate) mod key {
    /// `AggregatedRecord.partition_key_table` (1, length-delimited).
    pub(crate) const PARTITION_KEY_TABLE: u8 = 0x0A;
    /// `AggregatedRecord.explicit_hash_key_table` (2, length-delimited).
    pub(crate) const EXPLICIT_HASH_KEY_TABLE: u8 = 0x12;
    /// `AggregatedRecord.records` (3, length-delimited).
    pub(crate) const RECORDS: u8 = 0x1A;
    /// `Record.partition_key_index` (1, varint).
    pub(crate) const PARTITION_KEY_INDEX: u8 = 0x08;
    /// `Record.explicit_hash_key_index` (2, varint).
    pub(crate) const EXPLICIT_HASH_KEY_INDEX: u8 = 0x10;
    /// `Record.data` (3, length-delimited).
    pub(crate) const DATA: u8 = 0x1A;
}

/// Bytes a varint encoding of `value` takes.
#[inline]
pub(crate) fn varint_len(value: u64) -> usize {
    prost::encoding::encoded_len_varint(value)
}

/// Bytes a length-delimited field with a one-byte key and `len` payload bytes takes.
#[inline]
pub(crate) fn len_field(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// Bytes of a `Record` message body (without its own key and length).
#[inline]
pub(crate) fn record_body_len(pk_index: u32, ehk_index: Option<u32>, data_len: usize) -> usize {
    let ehk = ehk_index.map_or(0, |i| 1 + varint_len(u64::from(i)));
    1 + varint_len(u64::from(pk_index)) + ehk + len_field(data_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_boundaries() {
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(16_383), 2);
        assert_eq!(varint_len(16_384), 3);
        assert_eq!(varint_len(u64::MAX), 10);
    }

    #[test]
    fn record_body_counts_every_tag_and_length() {
        // key 08, index 0, key 1a, len 0: an empty record with partition key 0.
        assert_eq!(record_body_len(0, None, 0), 4);
        // + key 10 and a two-byte index
        assert_eq!(record_body_len(0, Some(200), 0), 7);
        // a 128-byte payload needs a two-byte length
        assert_eq!(record_body_len(0, None, 128), 4 + 1 + 128);
    }
}
