//! MD5, single stream and many independent messages at once.
//!
//! A single MD5 stream is bound by the latency of its dependency chain; many
//! independent messages (partition keys of a batch, the aggregated records of a
//! GetRecords response) are hashed in SIMD lanes by `md5-many`, several times faster.

use std::sync::OnceLock;

use md5_many::Md5Many;

/// MD5 of one message.
#[inline]
pub(crate) fn digest(data: &[u8]) -> [u8; 16] {
    md5_many::md5(data)
}

/// MD5 of each message, in order; uses SIMD lanes where the CPU has them.
pub(crate) fn digest_many(messages: &[&[u8]]) -> Vec<[u8; 16]> {
    static ENGINE: OnceLock<Md5Many> = OnceLock::new();
    let mut out = vec![[0u8; 16]; messages.len()];
    if messages.len() == 1 {
        if let (Some(slot), Some(msg)) = (out.first_mut(), messages.first()) {
            *slot = digest(msg);
        }
        return out;
    }
    ENGINE
        .get_or_init(Md5Many::new)
        .hash_many(messages, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use ::md5::Digest as _;
    use proptest::prelude::*;

    fn reference(data: &[u8]) -> [u8; 16] {
        ::md5::Md5::digest(data).into()
    }

    #[test]
    fn known_answers() {
        assert_eq!(
            super::digest(b""),
            [
                0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04, 0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8,
                0x42, 0x7e
            ]
        );
        assert_eq!(super::digest(b"abc"), reference(b"abc"));
    }

    proptest! {
        // The SIMD batch path must agree with RustCrypto's md-5 on every length and batch shape.
        #[test]
        fn matches_reference(msgs in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..300), 0..40)) {
            let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
            let many = super::digest_many(&refs);
            for (msg, got) in msgs.iter().zip(&many) {
                prop_assert_eq!(*got, reference(msg));
                prop_assert_eq!(super::digest(msg), reference(msg));
            }
        }
    }
}
