//! Memory the caller provides for a queue: the rings themselves
//! ([`QueueMemory`]) and, optionally, indirect descriptor tables
//! ([`IndirectTables`]).
//!
//! Both are shared with the device, which reads and writes them behind the
//! compiler's back, so their bytes live in `UnsafeCell`s and are only ever
//! touched through raw pointers with volatile accesses (by
//! [`SplitQueue`](super::SplitQueue)). A driver task keeps them in
//! `static`s: they must stay where they are while the device may use them,
//! which the borrow a queue holds guarantees.

use core::cell::UnsafeCell;
use core::ptr::NonNull;

use super::layout::USED_ALIGN;

/// The largest queue size a split virtqueue may have (§2.7: "Queue Size …
/// maximum 32768").
pub const MAX_QUEUE_SIZE: usize = 32768;

/// Ring memory for one split virtqueue of up to `N` entries (`N` a power of
/// two, at most 32768): descriptor table, available ring and used ring in
/// the legacy single-area layout (§2.7.2), page aligned.
///
/// The layout fits any queue size up to `N`, so the queue can be as large as
/// the device offers, up to `N`. It suits both virtio-mmio versions: version
/// 1 needs this exact layout, version 2 accepts any placement.
///
/// Size: `align(18·N + 6, 4096) + align(8·N + 6, 4096)` bytes (12 KiB for
/// `N` = 256, 8 KiB for `N` ≤ 227).
#[repr(C, align(4096))]
pub struct QueueMemory<const N: usize> {
    /// Descriptor table (16 bytes each) then available ring entries (2 each).
    driver_area: UnsafeCell<[[u8; 18]; N]>,
    /// Available ring flags, idx and used_event.
    driver_tail: UnsafeCell<[u8; 6]>,
    /// Starts at the next page boundary (the legacy QueueAlign).
    device_area: UsedArea<N>,
}

#[repr(C, align(4096))]
struct UsedArea<const N: usize> {
    /// Used ring flags and idx (4 bytes), elements (8 each) and
    /// avail_event (2): `8·N + 6` bytes, kept opaque.
    ring: UnsafeCell<[[u8; 8]; N]>,
    tail: UnsafeCell<[u8; 6]>,
}

const _: () = assert!(core::mem::align_of::<QueueMemory<1>>() == USED_ALIGN);

impl<const N: usize> QueueMemory<N> {
    /// Zeroed ring memory, usable in a `static` initialiser.
    pub const fn new() -> Self {
        const {
            assert!(
                N.is_power_of_two() && N <= MAX_QUEUE_SIZE,
                "a split queue's size is a power of two, at most 32768"
            )
        };
        QueueMemory {
            driver_area: UnsafeCell::new([[0; 18]; N]),
            driver_tail: UnsafeCell::new([0; 6]),
            device_area: UsedArea {
                ring: UnsafeCell::new([[0; 8]; N]),
                tail: UnsafeCell::new([0; 6]),
            },
        }
    }

    /// The start of the area, for the queue's raw accesses. Every byte of
    /// `Self` is inside an `UnsafeCell`, so writes through the pointer are
    /// allowed while the queue holds the (exclusive) borrow.
    pub(crate) fn as_ptr(&mut self) -> NonNull<u8> {
        NonNull::from(self).cast()
    }
}

impl<const N: usize> Default for QueueMemory<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Indirect descriptor tables (§2.7.5.3) for a queue of up to `N` entries:
/// one table of `M` descriptors per possible head descriptor, so that every
/// chain in flight can have its own.
///
/// With VIRTIO_F_INDIRECT_DESC negotiated and these tables given to the
/// queue ([`SplitQueue::with_indirect`](super::SplitQueue::with_indirect)),
/// a chain of 2 to `M` buffers takes a single ring descriptor. Size: `16·M·N`
/// bytes.
#[repr(C, align(16))]
pub struct IndirectTables<const N: usize, const M: usize> {
    tables: UnsafeCell<[[[u8; 16]; M]; N]>,
}

impl<const N: usize, const M: usize> IndirectTables<N, M> {
    /// Zeroed tables, usable in a `static` initialiser.
    pub const fn new() -> Self {
        const {
            assert!(
                N.is_power_of_two() && N <= MAX_QUEUE_SIZE,
                "a split queue's size is a power of two, at most 32768"
            );
            assert!(
                M >= 2 && M <= MAX_QUEUE_SIZE,
                "an indirect table holds 2 to 32768 descriptors"
            );
        };
        IndirectTables {
            tables: UnsafeCell::new([[[0; 16]; M]; N]),
        }
    }

    /// The start of the tables; see [`QueueMemory::as_ptr`].
    pub(crate) fn as_ptr(&mut self) -> NonNull<u8> {
        NonNull::from(self).cast()
    }
}

impl<const N: usize, const M: usize> Default for IndirectTables<N, M> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::{QueueMemory, USED_ALIGN};
    use crate::queue::layout::RingOffsets;
    use core::mem::{offset_of, size_of};

    /// The invariant `SplitQueue::new` relies on instead of a run-time
    /// check: for every `N`, the legacy layout of an `N`-entry queue (and so
    /// of any smaller one it may choose) lies inside `QueueMemory<N>`, with
    /// the used ring exactly at `device_area`.
    fn layout_fits<const N: usize>() {
        let o = RingOffsets::new(N as u16);
        assert!(o.total() <= size_of::<QueueMemory<N>>(), "N = {N}");
        assert_eq!(o.used(), offset_of!(QueueMemory<N>, device_area), "N = {N}");
        assert_eq!(o.used() % USED_ALIGN, 0);
        assert_eq!(o.avail(), offset_of!(QueueMemory<N>, driver_area) + 16 * N);
    }

    #[test]
    fn every_queue_size_fits_its_memory() {
        layout_fits::<1>();
        layout_fits::<2>();
        layout_fits::<8>();
        layout_fits::<128>();
        layout_fits::<256>();
        layout_fits::<1024>();
        layout_fits::<32768>();
    }
}
