//! A record as it goes to the producer: its data cut to the record limit (with the
//! terminator) and its partition key.

use std::hash::{BuildHasher, RandomState};

use md5::{Digest, Md5};

use crate::config::PartitionKeyOption;

/// The longest partition key this crate makes (hex MD5: 32 characters; random keys are at
/// most 20). The record limit for data is the producer's record limit less this.
pub(crate) const MAX_KEY_LEN: usize = 32;

/// `data` cut to `limit` bytes ending with `terminator` if it is longer (the cut moved back
/// to a UTF-8 character boundary), and whether it was cut.
pub(crate) fn truncate(mut data: Vec<u8>, limit: usize, terminator: &[u8]) -> (Vec<u8>, bool) {
    if data.len() <= limit {
        return (data, false);
    }
    let mut cut = limit.saturating_sub(terminator.len());
    // Never split a UTF-8 character: back up over continuation bytes (at most 3).
    for _ in 0..3 {
        if cut > 0 && data.get(cut).is_some_and(|b| b & 0xC0 == 0x80) {
            cut -= 1;
        }
    }
    data.truncate(cut);
    data.extend_from_slice(terminator);
    (data, true)
}

/// Partition keys of one flow.
#[derive(Debug)]
pub(crate) struct Keys {
    option: PartitionKeyOption,
    state: u64,
}

impl Keys {
    pub(crate) fn new(option: PartitionKeyOption) -> Keys {
        Keys {
            option,
            state: RandomState::new().hash_one(std::process::id()),
        }
    }

    /// The key of a record with `data`: random, or the hex MD5 of `data`.
    pub(crate) fn key(&mut self, data: &[u8]) -> String {
        match self.option {
            PartitionKeyOption::Random => self.next().to_string(),
            PartitionKeyOption::Deterministic => {
                let digest = Md5::digest(data);
                digest.iter().map(|b| format!("{b:02x}")).collect()
            }
        }
    }

    /// splitmix64: cheap, and uniform enough to spread records over shards.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_records_are_cut_with_the_terminator_on_a_character_boundary() {
        assert_eq!(
            truncate(b"short\n".to_vec(), 10, b"\n"),
            (b"short\n".to_vec(), false)
        );
        let (cut, truncated) = truncate(b"0123456789abcdef".to_vec(), 10, b"...\n");
        assert!(truncated);
        assert_eq!(cut, b"012345...\n");
        // "é" is two bytes: a cut inside it moves before it.
        let (cut, _) = truncate("aaéé".as_bytes().to_vec(), 4, b"|");
        assert_eq!(cut, "aa|".as_bytes());
        assert!(String::from_utf8(cut).is_ok());
        let (cut, _) = truncate(vec![b'x'; 100], 1, b"\n");
        assert_eq!(cut, b"\n");
    }

    #[test]
    fn deterministic_keys_are_the_md5_of_the_data_and_random_keys_vary() {
        let mut keys = Keys::new(PartitionKeyOption::Deterministic);
        assert_eq!(keys.key(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(keys.key(b"a"), keys.key(b"a"));
        let mut random = Keys::new(PartitionKeyOption::Random);
        let drawn: std::collections::HashSet<String> = (0..100).map(|_| random.key(b"a")).collect();
        assert_eq!(drawn.len(), 100);
        assert!(
            drawn
                .iter()
                .all(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        );
    }
}
