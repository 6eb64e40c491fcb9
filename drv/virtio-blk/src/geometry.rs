//! The disk's geometry as the device's configuration space gives it
//! (§5.2.4).

use block_api::SECTOR_SIZE;
use virtio::config::read_consistent;
use virtio::transport::mmio::MmioTransport;
use virtio::{Features, RegisterAccess, Transport};

use crate::protocol::{
    CONFIG_BLK_SIZE, CONFIG_CAPACITY, VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO,
};

/// What the driver learned about the disk at probe time, and again at each
/// configuration change (§5.2.4).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Capacity in 512-byte sectors: the whole blocks of `block_size`
    /// only, less than the device's `capacity` if a last block is cut
    /// short (see `read_geometry`).
    pub capacity: u64,
    /// The device's logical block size in bytes (512 if not offered, or
    /// nonsense): every request is whole blocks of it.
    pub block_size: u32,
    /// VIRTIO_BLK_F_RO was negotiated: writes are refused.
    pub read_only: bool,
    /// VIRTIO_BLK_F_FLUSH was negotiated: flushes go to the device.
    pub flush: bool,
}

/// Capacity, block size and read-only flag, read together under one
/// generation check (§2.5.1, §5.2.4).
///
/// The capacity is rounded down to whole blocks. `capacity` counts
/// 512-byte sectors whatever `blk_size` (§5.2.4; §5.2.5: the protocol's
/// unit is always 512 bytes), and `blk_size` is the device's logical
/// block size (§5.2.4's topology fields count logical blocks of it; QEMU
/// sets it from `logical_block_size`). QEMU fails every request that is
/// not whole blocks (`BlkDevice::check` refuses them first), yet takes an
/// image that is no whole number of blocks (66,048 bytes of 4 KiB blocks:
/// `capacity` says 129 sectors): the sectors of a last block the disk's
/// end cuts short are unreachable, as no request ends on sector 129.
/// Reported, they have clients fail on sectors the disk claims (the shell
/// refused `blk <n> read 128` on such a disk); left out, they are past the
/// end like any other (`OutOfRange`), and every sector the driver reports
/// is one a request can reach.
pub(crate) fn read_geometry<R: RegisterAccess>(
    transport: &MmioTransport<R>,
    features: Features,
) -> Result<Geometry, virtio::Error> {
    let has_blk_size = features.contains(VIRTIO_BLK_F_BLK_SIZE);
    let (capacity, blk_size) = read_consistent(transport, |t| {
        let low = t.read_config32(CONFIG_CAPACITY)?;
        let high = t.read_config32(CONFIG_CAPACITY + 4)?;
        let blk_size = if has_blk_size {
            t.read_config32(CONFIG_BLK_SIZE)?
        } else {
            SECTOR_SIZE as u32
        };
        Ok((u64::from(low) | u64::from(high) << 32, blk_size))
    })?;
    // A block size that is no power of two, or below a sector, is
    // nonsense: fall back to the sector size. Requests are then whole
    // sectors, which such a device takes or fails (its word, not ours).
    let block_size = if blk_size.is_power_of_two() && blk_size >= SECTOR_SIZE as u32 {
        blk_size
    } else {
        SECTOR_SIZE as u32
    };
    Ok(Geometry {
        capacity: whole_blocks(capacity, block_size),
        block_size,
        read_only: features.contains(VIRTIO_BLK_F_RO),
        flush: features.contains(VIRTIO_BLK_F_FLUSH),
    })
}

/// `capacity` sectors rounded down to whole blocks of `block_size` bytes
/// (a power of two of at least a sector, as `read_geometry` makes it).
/// Never more than `capacity`, whatever `block_size`: it only clears bits.
pub(crate) fn whole_blocks(capacity: u64, block_size: u32) -> u64 {
    let sectors_per_block = u64::from(block_size / SECTOR_SIZE as u32).max(1);
    capacity & !(sectors_per_block - 1)
}
