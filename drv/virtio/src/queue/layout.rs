//! The in-memory format of a split virtqueue (§2.7): the descriptor table,
//! the available ring and the used ring, their fields and flags, and where
//! each lies for a given queue size.
//!
//! All fields are little-endian (§2.7, and a legacy device uses guest-native
//! order, which on RISC-V is the same). The descriptor and used-element
//! structures use zerocopy's little-endian integer types so that their byte
//! layout is right on any host; the 16-bit index and flag fields are accessed
//! individually, with one naturally aligned 16-bit access each, because the
//! other side reads and writes them concurrently.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `VIRTQ_DESC_F_NEXT`: the buffer continues in the `next` descriptor
/// (§2.7.5).
pub const VIRTQ_DESC_F_NEXT: u16 = 1;
/// `VIRTQ_DESC_F_WRITE`: the buffer is device-writable, otherwise
/// device-readable (§2.7.5).
pub const VIRTQ_DESC_F_WRITE: u16 = 2;
/// `VIRTQ_DESC_F_INDIRECT`: the buffer is a table of descriptors
/// (§2.7.5.3).
pub const VIRTQ_DESC_F_INDIRECT: u16 = 4;
/// `VIRTQ_AVAIL_F_NO_INTERRUPT`: the driver does not want used buffer
/// notifications; only without VIRTIO_F_EVENT_IDX (§2.7.6, §2.7.7).
pub const VIRTQ_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// `VIRTQ_USED_F_NO_NOTIFY`: the device does not want available buffer
/// notifications; only without VIRTIO_F_EVENT_IDX (§2.7.8, §2.7.10).
pub const VIRTQ_USED_F_NO_NOTIFY: u16 = 1;

/// `struct virtq_desc` (§2.7.5): one buffer, or (with
/// [`VIRTQ_DESC_F_INDIRECT`]) one table of descriptors.
///
/// Aligned to 8 bytes like the spec's `le64 addr` (the table itself is
/// 16-aligned, §2.7): a chain handed to the kernel's gate must be (the
/// kernel reads it as a table of descriptors, `DmaOp::Post`), and the
/// compiler then stores the fields a word at a time.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C, align(8))]
pub struct Descriptor {
    /// Address (guest-physical).
    pub addr: U64,
    /// Length in bytes.
    pub len: U32,
    /// `VIRTQ_DESC_F_*` flags.
    pub flags: U16,
    /// The next descriptor of the chain, if `flags` has
    /// [`VIRTQ_DESC_F_NEXT`].
    pub next: U16,
}

/// `struct virtq_used_elem` (§2.7.8): one chain the device has finished
/// with.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct UsedElem {
    /// Index of the head descriptor of the used chain.
    pub id: U32,
    /// Number of bytes the device wrote into the chain's device-writable
    /// buffers.
    pub len: U32,
}

const _: () = assert!(core::mem::size_of::<Descriptor>() == 16);
const _: () = assert!(core::mem::size_of::<UsedElem>() == 8);

/// The Descriptor Table's required alignment (§2.7 "Virtqueue Alignment").
pub const DESC_ALIGN: usize = 16;
/// The legacy layout's used ring alignment (§2.7.2), which this library
/// uses for every queue.
pub const USED_ALIGN: usize = 4096;

/// Byte offsets of every ring field for one queue size, in the legacy
/// single-area layout (§2.7.2): descriptor table at 0, available ring right
/// after it, used ring at the next [`USED_ALIGN`] boundary.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RingOffsets {
    size: u16,
    avail: usize,
    used: usize,
}

impl RingOffsets {
    /// The offsets for a queue of `size` entries.
    pub const fn new(size: u16) -> Self {
        let n = size as usize;
        let avail = 16 * n;
        let used = (avail + 6 + 2 * n).next_multiple_of(USED_ALIGN);
        RingOffsets { size, avail, used }
    }

    /// Bytes needed from the start of the area to the end of the used ring.
    pub const fn total(&self) -> usize {
        self.used + 6 + 8 * self.size as usize
    }

    /// Offset of descriptor `i` of the Descriptor Table (§2.7.5).
    pub const fn desc(&self, i: u16) -> usize {
        16 * i as usize
    }

    /// Offset of the available ring (`struct virtq_avail`, §2.7.6): the
    /// driver area.
    pub const fn avail(&self) -> usize {
        self.avail
    }

    /// Offset of `virtq_avail.flags`.
    pub const fn avail_flags(&self) -> usize {
        self.avail
    }

    /// Offset of `virtq_avail.idx`.
    pub const fn avail_idx(&self) -> usize {
        self.avail + 2
    }

    /// Offset of `virtq_avail.ring[slot]`.
    pub const fn avail_ring(&self, slot: u16) -> usize {
        self.avail + 4 + 2 * slot as usize
    }

    /// Offset of `virtq_avail.used_event` (only with VIRTIO_F_EVENT_IDX).
    pub const fn used_event(&self) -> usize {
        self.avail + 4 + 2 * self.size as usize
    }

    /// Offset of the used ring (`struct virtq_used`, §2.7.8): the device
    /// area.
    pub const fn used(&self) -> usize {
        self.used
    }

    /// Offset of `virtq_used.flags`.
    pub const fn used_flags(&self) -> usize {
        self.used
    }

    /// Offset of `virtq_used.idx`.
    pub const fn used_idx(&self) -> usize {
        self.used + 2
    }

    /// Offset of `virtq_used.ring[slot]`.
    pub const fn used_ring(&self, slot: u16) -> usize {
        self.used + 4 + 8 * slot as usize
    }

    /// Offset of `virtq_used.avail_event` (only with VIRTIO_F_EVENT_IDX).
    pub const fn avail_event(&self) -> usize {
        self.used + 4 + 8 * self.size as usize
    }
}

/// The event-index test (§2.7.7.2, §2.7.10.1): whether moving an index from
/// `old` to `new` crossed `event`, i.e. `event` is in `[old, new)` modulo
/// 2^16. Used to decide whether the other side asked to be notified.
pub const fn need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

#[cfg(test)]
mod tests {
    use super::{need_event, RingOffsets};

    #[test]
    fn legacy_offsets_match_the_spec_formula() {
        // §2.7.2: used ring at ALIGN(sizeof(desc) * n + 2 * (3 + n), 4096).
        for n in [1u16, 2, 4, 128, 256, 1024, 32768] {
            let o = RingOffsets::new(n);
            let n = usize::from(n);
            assert_eq!(o.avail(), 16 * n);
            assert_eq!(o.used(), (16 * n + 2 * (3 + n)).next_multiple_of(4096));
            assert_eq!(o.avail_event() + 2, o.total());
        }
    }

    #[test]
    fn need_event_window() {
        assert!(need_event(5, 6, 5));
        assert!(!need_event(6, 6, 5));
        assert!(need_event(0, 1, 0xffff)); // across the wrap
        assert!(!need_event(3, 3, 3)); // nothing moved
        assert!(need_event(4, 10, 3));
        assert!(!need_event(2, 10, 3));
    }
}
