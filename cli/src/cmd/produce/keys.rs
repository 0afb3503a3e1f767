//! The partition key of each record: random, fixed (`--key`), or from a JSON field
//! (`--key-field`).

use super::input::Item;

/// How keys are chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Keys {
    /// A random 16-hex-digit key per record: records spread evenly over the shards.
    Random,
    /// The same key for every record: one shard, in order.
    Fixed(String),
    /// The key the input reader took from each object's field.
    Field,
}

impl Keys {
    /// The key of `item`, or why it has none.
    pub(crate) fn key_for(&self, item: &mut Item) -> Result<String, String> {
        match self {
            Keys::Random => Ok(format!("{:016x}", fastrand::u64(..))),
            Keys::Fixed(k) => Ok(k.clone()),
            Keys::Field => item
                .field_key
                .take()
                .unwrap_or_else(|| Err("no key field".to_owned())),
        }
    }
}
