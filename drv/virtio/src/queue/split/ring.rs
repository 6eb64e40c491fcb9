//! The device-visible ring memory, accessed field by field: volatile
//! accesses of each field's natural width at the offsets of the queue's
//! layout (§2.7). The only place the queue dereferences its ring.

use super::SplitQueue;
use crate::queue::layout::{Descriptor, UsedElem};

impl<T: Copy, const N: usize> SplitQueue<'_, T, N> {
    pub(super) fn write_desc(&mut self, i: u16, desc: Descriptor) {
        debug_assert!(i < self.size);
        // SAFETY: i < size, so the descriptor lies in the table at the start
        // of the ring area (exclusively borrowed for 'a, all `UnsafeCell`).
        unsafe {
            self.ring
                .as_ptr()
                .add(self.offsets.desc(i))
                .cast::<Descriptor>()
                .write_volatile(desc)
        };
    }

    pub(super) fn read_used_elem(&self, slot: u16) -> UsedElem {
        debug_assert!(slot < self.size);
        // SAFETY: slot < size, so the element lies in the used ring inside the
        // ring area. Any bit pattern is a valid `UsedElem` (`FromBytes`).
        unsafe {
            self.ring
                .as_ptr()
                .add(self.offsets.used_ring(slot))
                .cast::<UsedElem>()
                .read_volatile()
        }
    }

    pub(super) fn read_u16(&self, offset: usize) -> u16 {
        debug_assert!(offset + 2 <= self.offsets.total() && offset.is_multiple_of(2));
        // SAFETY: every offset passed here comes from `self.offsets` for a
        // field inside the ring area, 2-aligned (the area is page aligned).
        u16::from_le(unsafe { self.ring.as_ptr().add(offset).cast::<u16>().read_volatile() })
    }

    pub(super) fn write_u16(&mut self, offset: usize, value: u16) {
        debug_assert!(offset + 2 <= self.offsets.total() && offset.is_multiple_of(2));
        // SAFETY: as for `read_u16`.
        unsafe {
            self.ring
                .as_ptr()
                .add(offset)
                .cast::<u16>()
                .write_volatile(value.to_le())
        };
    }
}
