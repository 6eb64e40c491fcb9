//! The virtio-blk device protocol (VIRTIO 1.2 §5.2), named as the
//! specification names it: feature bits, configuration layout, request
//! header, request types and status values.

use virtio::Features;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{Immutable, IntoBytes, KnownLayout};

/// The virtio device id of a block device (§5: "2 block device").
pub const VIRTIO_ID_BLOCK: u32 = 2;

/// `VIRTIO_BLK_F_RO` (bit 5): the device is read-only (§5.2.3).
pub const VIRTIO_BLK_F_RO: Features = Features::bit(5);
/// `VIRTIO_BLK_F_BLK_SIZE` (bit 6): `blk_size` in config is valid (§5.2.3).
pub const VIRTIO_BLK_F_BLK_SIZE: Features = Features::bit(6);
/// `VIRTIO_BLK_F_FLUSH` (bit 9): the cache flush command is supported
/// (§5.2.3).
pub const VIRTIO_BLK_F_FLUSH: Features = Features::bit(9);

/// Offset of `capacity` (le64, in 512-byte sectors) in the device
/// configuration (§5.2.4 `struct virtio_blk_config`).
pub const CONFIG_CAPACITY: usize = 0;
/// Offset of `blk_size` (le32) in the device configuration (§5.2.4), valid
/// with VIRTIO_BLK_F_BLK_SIZE.
pub const CONFIG_BLK_SIZE: usize = 20;

/// `VIRTIO_BLK_T_IN`: read sectors (§5.2.6).
pub const VIRTIO_BLK_T_IN: u32 = 0;
/// `VIRTIO_BLK_T_OUT`: write sectors (§5.2.6).
pub const VIRTIO_BLK_T_OUT: u32 = 1;
/// `VIRTIO_BLK_T_FLUSH`: flush the write cache (§5.2.6).
pub const VIRTIO_BLK_T_FLUSH: u32 = 4;
/// `VIRTIO_BLK_T_GET_ID`: read the device id string (§5.2.6).
pub const VIRTIO_BLK_T_GET_ID: u32 = 8;

/// `VIRTIO_BLK_S_OK` (§5.2.6).
pub const VIRTIO_BLK_S_OK: u8 = 0;
/// `VIRTIO_BLK_S_IOERR` (§5.2.6).
pub const VIRTIO_BLK_S_IOERR: u8 = 1;
/// `VIRTIO_BLK_S_UNSUPP` (§5.2.6).
pub const VIRTIO_BLK_S_UNSUPP: u8 = 2;

/// Bytes of the GET_ID answer: "20 bytes … not NUL-terminated if 20 bytes
/// long" (§5.2.6).
pub const VIRTIO_BLK_ID_BYTES: usize = 20;

/// The device-readable head of every request (§5.2.6 `struct
/// virtio_blk_req`: `type`, `reserved`, `sector`), little-endian on both
/// transports for the fields used here.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct ReqHeader {
    /// `VIRTIO_BLK_T_*`.
    pub type_: U32,
    /// Reserved, 0.
    pub reserved: U32,
    /// First 512-byte sector (IN and OUT; 0 otherwise).
    pub sector: U64,
}

impl ReqHeader {
    /// A header of `type_` at `sector`.
    pub fn new(type_: u32, sector: u64) -> Self {
        ReqHeader {
            type_: U32::new(type_),
            reserved: U32::new(0),
            sector: U64::new(sector),
        }
    }

    /// The header of `type_` at `sector` as the four `u32` words it is in
    /// memory, each already little-endian: written a word at a time into
    /// `u32`-aligned memory, they are the bytes of [`ReqHeader::new`].
    pub fn words(type_: u32, sector: u64) -> [u32; 4] {
        [
            type_.to_le(),
            0,
            (sector as u32).to_le(),
            ((sector >> 32) as u32).to_le(),
        ]
    }
}

const _: () = assert!(core::mem::size_of::<ReqHeader>() == 16);

#[cfg(test)]
mod tests {
    use super::ReqHeader;
    use zerocopy::IntoBytes;

    #[test]
    fn header_words_are_the_headers_bytes() {
        for (ty, sector) in [(0, 0), (1, 7), (8, 0x0123_4567_89ab_cdef), (4, u64::MAX)] {
            let words = ReqHeader::words(ty, sector);
            assert_eq!(words.as_bytes(), ReqHeader::new(ty, sector).as_bytes());
        }
    }
}
