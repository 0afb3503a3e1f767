//! Finished aggregates whose MD5 trailer is still to be computed.
//!
//! One MD5 stream is bound by its dependency chain (about 650 MB/s on a 3 GHz core);
//! independent aggregates hashed together in SIMD lanes go several times faster. A
//! producer seals the aggregates of one PutRecords request together.

use bytes::Bytes;

use crate::wire::{AGGREGATE_PARTITION_KEY, DIGEST_LEN, MAGIC};
use crate::{EncodedRecord, HashKey, md5};

/// A finished record, ready but for its MD5 trailer; see [`Aggregator::finish_unsealed`](crate::Aggregator::finish_unsealed).
///
/// ```
/// use kinesis_agg::{Aggregator, Unsealed, UserRecord};
///
/// let mut agg = Aggregator::default();
/// let mut unsealed = Vec::new();
/// for batch in 0..3 {
///     for i in 0..3 {
///         agg.try_add(UserRecord::new(format!("{batch}-{i}"), "data").unwrap()).unwrap();
///     }
///     unsealed.extend(agg.finish_unsealed());
/// }
/// let sizes: Vec<usize> = unsealed.iter().map(Unsealed::size).collect();
/// let sealed = Unsealed::seal_all(unsealed);
/// assert_eq!(sealed.iter().map(|r| r.size()).collect::<Vec<_>>(), sizes);
/// ```
#[derive(Debug)]
pub struct Unsealed(Kind);

#[derive(Debug)]
enum Kind {
    /// A single record sent raw: nothing to seal.
    Raw(EncodedRecord),
    /// Magic + protobuf, with capacity left for the MD5.
    Aggregated {
        explicit_hash_key: HashKey,
        body: Vec<u8>,
        user_records: usize,
    },
}

impl Unsealed {
    pub(crate) fn raw(record: EncodedRecord) -> Self {
        Unsealed(Kind::Raw(record))
    }

    pub(crate) fn aggregated(
        explicit_hash_key: HashKey,
        body: Vec<u8>,
        user_records: usize,
    ) -> Self {
        Unsealed(Kind::Aggregated {
            explicit_hash_key,
            body,
            user_records,
        })
    }

    /// The size the sealed record will have (data + partition key).
    pub fn size(&self) -> usize {
        match &self.0 {
            Kind::Raw(r) => r.size(),
            Kind::Aggregated { body, .. } => {
                body.len() + DIGEST_LEN + AGGREGATE_PARTITION_KEY.len()
            }
        }
    }

    /// User records it carries.
    pub fn user_records(&self) -> usize {
        match &self.0 {
            Kind::Raw(r) => r.user_records,
            Kind::Aggregated { user_records, .. } => *user_records,
        }
    }

    /// The explicit hash key it will be sent with.
    pub fn explicit_hash_key(&self) -> HashKey {
        match &self.0 {
            Kind::Raw(r) => r.explicit_hash_key,
            Kind::Aggregated {
                explicit_hash_key, ..
            } => *explicit_hash_key,
        }
    }

    /// Computes the MD5 trailer of this one record.
    pub fn seal(self) -> EncodedRecord {
        match self.0 {
            Kind::Raw(r) => r,
            Kind::Aggregated {
                explicit_hash_key,
                mut body,
                user_records,
            } => {
                let digest = md5::digest(body.get(MAGIC.len()..).unwrap_or_default());
                body.extend_from_slice(&digest);
                sealed(explicit_hash_key, body, user_records)
            }
        }
    }

    /// Seals many records, hashing their protobufs together in SIMD lanes; same order.
    pub fn seal_all(batch: Vec<Unsealed>) -> Vec<EncodedRecord> {
        let digests = {
            let bodies: Vec<&[u8]> = batch
                .iter()
                .filter_map(|u| match &u.0 {
                    Kind::Aggregated { body, .. } => {
                        Some(body.get(MAGIC.len()..).unwrap_or_default())
                    }
                    Kind::Raw(_) => None,
                })
                .collect();
            md5::digest_many(&bodies)
        };
        let mut digests = digests.into_iter();
        batch
            .into_iter()
            .map(|u| match u.0 {
                Kind::Raw(r) => r,
                Kind::Aggregated {
                    explicit_hash_key,
                    mut body,
                    user_records,
                } => {
                    body.extend_from_slice(&digests.next().unwrap_or_default());
                    sealed(explicit_hash_key, body, user_records)
                }
            })
            .collect()
    }
}

impl From<EncodedRecord> for Unsealed {
    /// A finished record that needs no sealing (raw, or already sealed).
    fn from(record: EncodedRecord) -> Self {
        Unsealed(Kind::Raw(record))
    }
}

fn sealed(explicit_hash_key: HashKey, body: Vec<u8>, user_records: usize) -> EncodedRecord {
    EncodedRecord {
        partition_key: AGGREGATE_PARTITION_KEY.to_owned(),
        explicit_hash_key,
        data: Bytes::from(body),
        user_records,
        aggregated: true,
    }
}
