//! The two message encodings, as generated code uses them on both sides.
//!
//! * **zerocopy**: a message is the bytes of a `repr(C, packed)` struct; a
//!   reply the bytes of the value. Decoding checks the exact length and the
//!   validity of every field (a `bool` must be 0 or 1).
//! * **hubpack**: serde + hubpack; the buffer is sized by
//!   `hubpack::SerializedSize::MAX_SIZE` and decoding must consume every
//!   byte.

use serde::de::DeserializeOwned;
use serde::Serialize;
use zerocopy::{Immutable, KnownLayout, TryFromBytes};

/// Decodes a zerocopy-encoded value: `None` unless `bytes` is exactly its
/// size and a valid value.
pub fn decode_zerocopy<T: TryFromBytes + KnownLayout + Immutable>(bytes: &[u8]) -> Option<T> {
    T::try_read_from_bytes(bytes).ok()
}

/// Decodes a hubpack-encoded value: `None` unless `bytes` decodes and
/// nothing is left over.
pub fn decode_hubpack<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    match hubpack::deserialize::<T>(bytes) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}

/// Encodes `value` with hubpack into `buffer`, returning the bytes used.
/// `None` only if `buffer` is smaller than needed, which generated code
/// rules out by sizing it with `SerializedSize::MAX_SIZE`.
pub fn encode_hubpack<'b, T: Serialize>(buffer: &'b mut [u8], value: &T) -> Option<&'b [u8]> {
    let len = hubpack::serialize(buffer, value).ok()?;
    buffer.get(..len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zerocopy_needs_the_exact_length_and_valid_values() {
        assert_eq!(decode_zerocopy::<u32>(&[1, 0, 0, 0]), Some(1));
        assert_eq!(decode_zerocopy::<u32>(&[1, 0, 0]), None);
        assert_eq!(decode_zerocopy::<u32>(&[1, 0, 0, 0, 0]), None);
        assert_eq!(decode_zerocopy::<bool>(&[1]), Some(true));
        assert_eq!(decode_zerocopy::<bool>(&[2]), None);
        assert_eq!(decode_zerocopy::<()>(&[]), Some(()));
    }

    #[test]
    fn hubpack_rejects_leftovers_and_short_buffers() {
        let mut buffer = [0u8; 8];
        let bytes = encode_hubpack(&mut buffer, &(7u16, Some(true)))
            .unwrap()
            .to_vec();
        assert_eq!(
            decode_hubpack::<(u16, Option<bool>)>(&bytes),
            Some((7, Some(true)))
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_hubpack::<(u16, Option<bool>)>(&longer), None);
        assert_eq!(decode_hubpack::<(u16, Option<bool>)>(&bytes[..2]), None);
        assert_eq!(encode_hubpack(&mut [0u8; 1], &7u32), None);
    }
}
