//! The predicted-shard stage: a stream's open shards sorted by ending hash key, looked up
//! by the key's top bits (a bucket narrows the search to the few shards it overlaps, one
//! for evenly split streams) and a binary search within them.

use std::sync::Arc;

use kinesis_agg::{HashKey, HashRange};

/// One open shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shard {
    pub(crate) id: Arc<str>,
    pub(crate) range: HashRange,
}

/// The open shards of a stream, as of one ListShards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ShardMap {
    /// Sorted by ending hash key.
    shards: Vec<Shard>,
    /// For each bucket of the key space (and one past the last), the first shard whose
    /// range ends at or after the bucket's first key.
    starts: Vec<u32>,
}

/// Buckets of the hash key space: its top bits.
const BUCKET_BITS: u32 = 10;

fn bucket(key: HashKey) -> usize {
    (key.get() >> (128 - BUCKET_BITS)) as usize
}

impl ShardMap {
    /// A map of these shards (any order).
    pub(crate) fn new(mut shards: Vec<Shard>) -> ShardMap {
        shards.sort_by_key(|s| s.range.end());
        let starts = (0..1u128 << BUCKET_BITS)
            .map(|b| {
                let first = HashKey::new(b << (128 - BUCKET_BITS));
                shards.partition_point(|s| s.range.end() < first)
            })
            .chain([shards.len()])
            .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        ShardMap { shards, starts }
    }

    /// The open shards of a ListShards answer: those without an ending sequence number.
    /// Shards whose hash range does not parse are left out.
    pub(crate) fn from_listed(listed: &[aws_sdk_kinesis::types::Shard]) -> ShardMap {
        let open = listed.iter().filter(|s| {
            s.sequence_number_range()
                .is_none_or(|r| r.ending_sequence_number().is_none())
        });
        let shards = open
            .filter_map(|s| {
                let r = s.hash_key_range()?;
                let range =
                    HashRange::from_decimal(r.starting_hash_key(), r.ending_hash_key()).ok()?;
                Some(Shard {
                    id: Arc::from(s.shard_id()),
                    range,
                })
            })
            .collect();
        ShardMap::new(shards)
    }

    /// The shard whose range holds `key`, if the map covers it.
    #[cfg(test)]
    pub(crate) fn predict(&self, key: HashKey) -> Option<&Shard> {
        self.predict_place(key).map(|(_, s)| s)
    }

    /// The same with the shard's place in the map (stable until the map is replaced).
    pub(crate) fn predict_place(&self, key: HashKey) -> Option<(usize, &Shard)> {
        // The first shard ending at or after `key` lies between its bucket's start and the
        // next bucket's (whose first key is above `key`).
        let b = bucket(key);
        let at = |b: usize| {
            self.starts
                .get(b)
                .map_or(self.shards.len(), |&i| i as usize)
        };
        let (lo, hi) = (
            at(b).min(self.shards.len()),
            at(b + 1).min(self.shards.len()),
        );
        let within = self.shards.get(lo..hi).unwrap_or_default();
        let i = lo + within.partition_point(|s| s.range.end() < key);
        self.shards
            .get(i)
            .filter(|s| s.range.contains(key))
            .map(|s| (i, s))
    }

    /// The shard with this id, if it is open in this map.
    pub(crate) fn get(&self, id: &str) -> Option<&Shard> {
        self.place(id).and_then(|i| self.shards.get(i))
    }

    /// The place of the shard with this id, if it is open in this map.
    pub(crate) fn place(&self, id: &str) -> Option<usize> {
        self.shards.iter().position(|s| &*s.id == id)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, start: u128, end: u128) -> Shard {
        Shard {
            id: id.into(),
            range: HashRange::new(HashKey::new(start), HashKey::new(end)).unwrap(),
        }
    }

    #[test]
    fn binary_search_on_ending_key() {
        let map = ShardMap::new(vec![
            shard("c", 201, u128::MAX),
            shard("a", 0, 100),
            shard("b", 101, 200),
        ]);
        let at = |k| map.predict(HashKey::new(k)).map(|s| s.id.to_string());
        assert_eq!(at(0).as_deref(), Some("a"));
        assert_eq!(at(100).as_deref(), Some("a"));
        assert_eq!(at(101).as_deref(), Some("b"));
        assert_eq!(at(200).as_deref(), Some("b"));
        assert_eq!(at(u128::MAX).as_deref(), Some("c"));
        assert_eq!(
            map.predict_place(HashKey::new(150)).map(|(i, _)| i),
            Some(1)
        );
        assert_eq!(map.place("c"), Some(2));
        assert_eq!(map.get("b").map(|s| s.range.start().get()), Some(101));
    }

    /// The reference: the first shard (of `sorted`, by ending key) ending at or after the
    /// key, if it holds the key.
    fn scan(sorted: &[Shard], key: HashKey) -> Option<usize> {
        let i = sorted.iter().position(|s| s.range.end() >= key)?;
        sorted[i].range.contains(key).then_some(i)
    }

    #[test]
    fn bucketed_lookup_agrees_with_a_scan_on_even_uneven_and_gapped_maps() {
        let mut x: u128 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in [1u128, 2, 3, 127, 128, 1000, 3000] {
            // Even splits (as CreateStream makes them).
            let step = u128::MAX / n;
            let even: Vec<Shard> = (0..n)
                .map(|i| {
                    let end = if i == n - 1 {
                        u128::MAX
                    } else {
                        (i + 1) * step - 1
                    };
                    shard(&format!("e{i}"), i * step, end)
                })
                .collect();
            // Random boundaries, every third shard missing (gaps), some narrower than a bucket.
            let mut cuts: Vec<u128> = (1..n).map(|_| next()).collect();
            cuts.extend([7, 8, 1u128 << 118, (1u128 << 118) + 1]);
            cuts.sort_unstable();
            cuts.dedup();
            let mut gapped = Vec::new();
            let mut start = 0;
            for (i, &cut) in cuts.iter().enumerate() {
                if i % 3 != 2 {
                    gapped.push(shard(&format!("g{i}"), start, cut - 1));
                }
                start = cut;
            }
            for mut shards in [even, gapped] {
                let map = ShardMap::new(shards.clone());
                shards.sort_by_key(|s| s.range.end());
                let mut keys: Vec<u128> = (0..2000).map(|_| next()).collect();
                keys.extend(shards.iter().flat_map(|s| {
                    let (a, b) = (s.range.start().get(), s.range.end().get());
                    [a, b, a.saturating_sub(1), b.saturating_add(1)]
                }));
                keys.extend([0, u128::MAX, 1u128 << 118, (1u128 << 118) - 1]);
                for k in keys {
                    let key = HashKey::new(k);
                    let got = map.predict_place(key).map(|(i, _)| i);
                    assert_eq!(got, scan(&shards, key), "key {k} in a map of {n}");
                }
            }
        }
    }

    #[test]
    fn gaps_predict_nothing() {
        let map = ShardMap::new(vec![shard("a", 0, 100), shard("c", 201, 300)]);
        assert!(map.predict(HashKey::new(150)).is_none());
        assert!(map.predict(HashKey::new(301)).is_none());
        assert!(ShardMap::default().predict(HashKey::new(1)).is_none());
    }

    #[test]
    fn closed_shards_are_left_out() {
        use aws_sdk_kinesis::types::{HashKeyRange, SequenceNumberRange, Shard as Listed};
        let listed = |id: &str, closed: bool| {
            let mut seq = SequenceNumberRange::builder().starting_sequence_number("1");
            if closed {
                seq = seq.ending_sequence_number("9");
            }
            Listed::builder()
                .shard_id(id)
                .hash_key_range(
                    HashKeyRange::builder()
                        .starting_hash_key("0")
                        .ending_hash_key("10")
                        .build()
                        .unwrap(),
                )
                .sequence_number_range(seq.build().unwrap())
                .build()
                .unwrap()
        };
        let map = ShardMap::from_listed(&[listed("parent", true), listed("child", false)]);
        assert_eq!(map.predict(HashKey::new(5)).map(|s| &*s.id), Some("child"));
    }
}
