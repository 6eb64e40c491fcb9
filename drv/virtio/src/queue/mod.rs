//! Virtqueues (§2.5 "Virtqueues"): the mechanism for bulk data transport.
//!
//! Only the split virtqueue format (§2.7) is implemented; VIRTIO_F_RING_PACKED
//! is never accepted. The pieces:
//!
//! - [`layout`]: the ring structures and where each field lies.
//! - [`memory`]: the caller-provided memory for rings and indirect tables.
//! - [`split`]: [`SplitQueue`], the driver side of the ring protocol with the
//!   seed's `virtqueue_ops`.

pub mod gate;
#[cfg(target_os = "none")]
mod kernel_gate;
pub mod layout;
pub mod memory;
pub mod split;

pub use gate::{AvailField, DmaGate, MAX_GATED_CHAIN};
#[cfg(target_os = "none")]
pub use kernel_gate::KernelGate;
pub use memory::{IndirectTables, QueueMemory, MAX_QUEUE_SIZE};
#[cfg(feature = "fault-injection")]
pub use split::Corruption;
pub use split::{Shutdown, SplitQueue};

/// The tag of a [`Buf::lease`] address (`abi::DMA_LEASE`): never a real
/// address (physical memory is below 4 GiB on every machine Vireo runs).
pub const LEASE_TAG: u64 = 1 << 63;

/// One buffer of a descriptor chain: an address and a length of memory the
/// device will access by DMA (§2.7.5 `addr`, `len`).
///
/// Vireo has no IOMMU and physical = virtual addresses, so `addr` is simply
/// the buffer's address in the driver task. A `Buf` is a plain description;
/// what makes it safe to hand to the device is
/// [`SplitQueue::add_buf`]'s contract.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Buf {
    addr: u64,
    len: u32,
}

impl Buf {
    /// Describes `len` bytes at `addr`.
    pub const fn new(addr: u64, len: u32) -> Self {
        Buf { addr, len }
    }

    /// Describes the memory of `bytes`, or `None` if it is longer than a
    /// descriptor can say (4 GiB).
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let len = u32::try_from(bytes.len()).ok()?;
        Some(Buf {
            addr: bytes.as_ptr().expose_provenance() as u64,
            len,
        })
    }

    /// Describes `len` bytes at `offset` into lease `index` of the call a
    /// driver is serving (zero-copy): only a [`DmaGate`] can resolve it, in
    /// [`SplitQueue::add_lent`], naming the lender.
    pub const fn lease(index: u8, offset: u32, len: u32) -> Self {
        Buf {
            // Three fields in disjoint bits: the sum cannot carry.
            addr: LEASE_TAG + ((index as u64) << 32) + offset as u64,
            len,
        }
    }

    /// Whether this names a lease ([`Buf::lease`]) rather than an address.
    pub const fn is_lease(&self) -> bool {
        self.addr & LEASE_TAG != 0
    }

    /// The buffer's address.
    pub const fn addr(&self) -> u64 {
        self.addr
    }

    /// The buffer's length in bytes.
    pub const fn len(&self) -> u32 {
        self.len
    }

    /// Whether the buffer is zero bytes long.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Where a queue's three areas are, as the transport tells the device
/// (§2.7 "Descriptor Area", "Driver Area", "Device Area"; §4.2.3.2).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct QueueLayout {
    /// The queue index (QueueSel).
    pub queue: u16,
    /// The queue size chosen by the driver (QueueNum), a power of two.
    pub size: u16,
    /// Address of the Descriptor Table (QueueDesc).
    pub desc: u64,
    /// Address of the available ring (QueueDriver).
    pub driver: u64,
    /// Address of the used ring (QueueDevice).
    pub device: u64,
}

#[cfg(test)]
mod tests {
    use super::{Buf, LEASE_TAG};

    /// A lease buffer carries the encoding the kernel's post decodes
    /// (`abi::DMA_LEASE`: tag in bit 63, lease index in bits 32..40,
    /// offset in bits 0..32); an address buffer never looks like one.
    #[test]
    fn lease_buffers_encode_index_and_offset_under_the_tag() {
        let b = Buf::lease(5, 0x1234_5678, 64);
        assert_eq!(b.addr(), (1 << 63) | (5 << 32) | 0x1234_5678);
        assert_eq!(b.len(), 64);
        assert!(b.is_lease());
        assert_eq!(
            Buf::lease(0xff, u32::MAX, 1).addr(),
            LEASE_TAG | 0xff_ffff_ffff
        );
        assert!(!Buf::new(0x8020_0000, 16).is_lease());
        assert!(!Buf::from_slice(&[0u8; 4]).unwrap().is_lease());
    }
}
