//! The disk's geometry as the device's configuration space gives it
//! (§5.2.4).

use block_api::SECTOR_SIZE;
use virtio::config::read_consistent;
use virtio::transport::mmio::MmioTransport;
use virtio::{Features, RegisterAccess, Transport};

use crate::protocol::{
    CONFIG_BLK_SIZE, CONFIG_CAPACITY, VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO,
};

/// What the driver learned about the disk at probe time (§5.2.4).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Capacity in 512-byte sectors.
    pub capacity: u64,
    /// The device's preferred block size in bytes (512 if not offered).
    pub block_size: u32,
    /// VIRTIO_BLK_F_RO was negotiated: writes are refused.
    pub read_only: bool,
    /// VIRTIO_BLK_F_FLUSH was negotiated: flushes go to the device.
    pub flush: bool,
}

/// Capacity, block size and read-only flag, read together under one
/// generation check (§2.5.1, §5.2.4).
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
    Ok(Geometry {
        capacity,
        // A block size that is no power of two, or below a sector, is
        // nonsense: fall back to the sector size (it is only a hint).
        block_size: if blk_size.is_power_of_two() && blk_size >= SECTOR_SIZE as u32 {
            blk_size
        } else {
            SECTOR_SIZE as u32
        },
        read_only: features.contains(VIRTIO_BLK_F_RO),
        flush: features.contains(VIRTIO_BLK_F_FLUSH),
    })
}
