//! The deduplicated key tables of an aggregate under construction.
//!
//! Each table keeps its protobuf encoding (field key, length, bytes per entry) as
//! entries are added, so finishing an aggregate copies it in one piece and the
//! exact encoded size is always known.

use foldhash::fast::RandomState;
use hashbrown::{HashMap, HashTable};
use std::hash::BuildHasher;

use crate::HashKey;
use crate::wire::{len_field, varint_len};

/// A repeated string field, encoded as entries are pushed.
#[derive(Debug)]
pub(crate) struct EncodedStrings {
    key: u8,
    encoded: Vec<u8>,
    /// (start, len) of each string's bytes inside `encoded`.
    spans: Vec<(usize, usize)>,
}

impl EncodedStrings {
    pub(crate) fn new(key: u8) -> Self {
        EncodedStrings {
            key,
            encoded: Vec::new(),
            spans: Vec::new(),
        }
    }

    /// Appends `s`; returns its index.
    fn push(&mut self, s: &[u8]) -> u32 {
        let index = u32::try_from(self.spans.len()).unwrap_or(u32::MAX);
        self.encoded.push(self.key);
        prost::encoding::encode_varint(s.len() as u64, &mut self.encoded);
        let start = self.encoded.len();
        self.encoded.extend_from_slice(s);
        self.spans.push((start, s.len()));
        index
    }

    fn get(&self, index: u32) -> Option<&[u8]> {
        let &(start, len) = self.spans.get(index as usize)?;
        self.encoded.get(start..start + len)
    }

    /// The encoded field entries, ready to be copied into a message.
    pub(crate) fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    fn clear(&mut self) {
        self.encoded.clear();
        self.spans.clear();
    }
}

/// Result of looking a partition key up: its index, or the hash to insert it with.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Lookup {
    Found(u32),
    Missing(u64),
}

/// `partition_key_table`: deduplicated partition keys in first-seen order.
#[derive(Debug)]
pub(crate) struct PartitionKeyTable {
    strings: EncodedStrings,
    index: HashTable<u32>,
    state: RandomState,
}

impl PartitionKeyTable {
    pub(crate) fn new() -> Self {
        PartitionKeyTable {
            strings: EncodedStrings::new(crate::wire::key::PARTITION_KEY_TABLE),
            index: HashTable::new(),
            state: RandomState::default(),
        }
    }

    pub(crate) fn lookup(&self, key: &str) -> Lookup {
        let hash = self.state.hash_one(key.as_bytes());
        let strings = &self.strings;
        match self
            .index
            .find(hash, |&i| strings.get(i) == Some(key.as_bytes()))
        {
            Some(&i) => Lookup::Found(i),
            None => Lookup::Missing(hash),
        }
    }

    /// Adds a key that `lookup` reported missing with `hash`; returns its index.
    pub(crate) fn insert(&mut self, key: &str, hash: u64) -> u32 {
        let Self {
            strings,
            index,
            state,
        } = self;
        let i = strings.push(key.as_bytes());
        index.insert_unique(hash, i, |&j| {
            state.hash_one(strings.get(j).unwrap_or_default())
        });
        i
    }

    /// The key at `index`.
    #[cfg(test)]
    pub(crate) fn get(&self, index: u32) -> Option<&str> {
        std::str::from_utf8(self.strings.get(index)?).ok()
    }

    /// Number of keys; also the index the next new key gets.
    pub(crate) fn len(&self) -> u32 {
        u32::try_from(self.strings.spans.len()).unwrap_or(u32::MAX)
    }

    /// Encoded bytes a new entry for `key` adds.
    pub(crate) fn entry_len(key: &str) -> usize {
        len_field(key.len())
    }

    pub(crate) fn strings(&self) -> &EncodedStrings {
        &self.strings
    }

    pub(crate) fn clear(&mut self) {
        self.strings.clear();
        self.index.clear();
    }
}

/// `explicit_hash_key_table`: deduplicated explicit hash keys as decimal strings.
#[derive(Debug)]
pub(crate) struct ExplicitHashKeyTable {
    strings: EncodedStrings,
    index: HashMap<u128, u32, RandomState>,
}

impl ExplicitHashKeyTable {
    pub(crate) fn new() -> Self {
        ExplicitHashKeyTable {
            strings: EncodedStrings::new(crate::wire::key::EXPLICIT_HASH_KEY_TABLE),
            index: HashMap::default(),
        }
    }

    pub(crate) fn lookup(&self, key: HashKey) -> Option<u32> {
        self.index.get(&key.get()).copied()
    }

    /// Adds a key `lookup` did not find; returns its index.
    pub(crate) fn insert(&mut self, key: HashKey) -> u32 {
        let i = self.strings.push(key.to_string().as_bytes());
        self.index.insert(key.get(), i);
        i
    }

    /// Encoded bytes a new entry for `key` adds, without formatting it.
    pub(crate) fn entry_len(key: HashKey) -> usize {
        let digits = key.get().checked_ilog10().map_or(1, |d| d as usize + 1);
        1 + varint_len(digits as u64) + digits
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn strings(&self) -> &EncodedStrings {
        &self.strings
    }

    pub(crate) fn clear(&mut self) {
        self.strings.clear();
        self.index.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_are_deduplicated_in_first_seen_order() {
        let mut t = PartitionKeyTable::new();
        for k in ["alpha", "beta", "alpha", "gamma", "beta"] {
            if let Lookup::Missing(h) = t.lookup(k) {
                t.insert(k, h);
            }
        }
        assert_eq!(t.get(0), Some("alpha"));
        assert_eq!(t.get(1), Some("beta"));
        assert_eq!(t.get(2), Some("gamma"));
        assert_eq!(t.get(3), None);
        assert!(matches!(t.lookup("beta"), Lookup::Found(1)));
        assert_eq!(
            t.strings().encoded(),
            b"\x0a\x05alpha\x0a\x04beta\x0a\x05gamma"
        );
    }

    #[test]
    fn table_survives_growth() {
        let mut t = PartitionKeyTable::new();
        for i in 0..5000 {
            let k = format!("key-{i}");
            match t.lookup(&k) {
                Lookup::Missing(h) => assert_eq!(t.insert(&k, h), i),
                Lookup::Found(_) => panic!("{k} found before insert"),
            }
        }
        for i in 0..5000u32 {
            assert!(matches!(t.lookup(&format!("key-{i}")), Lookup::Found(j) if j == i));
        }
    }

    #[test]
    fn explicit_hash_key_entry_len_matches_encoding() {
        for v in [0u128, 9, 10, 99, 100, 1 << 127, u128::MAX] {
            let mut t = ExplicitHashKeyTable::new();
            t.insert(HashKey::new(v));
            assert_eq!(
                t.strings().encoded().len(),
                ExplicitHashKeyTable::entry_len(HashKey::new(v))
            );
        }
    }
}
