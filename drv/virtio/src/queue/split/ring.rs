//! The device-visible ring memory, accessed field by field: volatile
//! accesses of each field's natural width at the offsets of the queue's
//! layout (§2.7). The only place the queue dereferences its ring.

use super::SplitQueue;
use crate::queue::layout::{Descriptor, UsedElem};

impl<T: Copy, const N: usize> SplitQueue<'_, T, N> {
    /// Where the field of type `F` at byte `offset` of the ring area is.
    /// Only a pointer: each caller says why its access is in bounds.
    fn field<F>(&self, offset: usize) -> *mut F {
        self.ring.as_ptr().wrapping_add(offset).cast::<F>()
    }

    pub(super) fn write_desc(&mut self, i: u16, desc: Descriptor) {
        debug_assert!(i < self.size);
        // SAFETY: i < size, so the descriptor lies in the table at the start
        // of the ring area (exclusively borrowed for 'a, all `UnsafeCell`).
        unsafe {
            self.field::<Descriptor>(self.offsets.desc(i))
                .write_volatile(desc)
        };
    }

    pub(super) fn read_used_elem(&self, slot: u16) -> UsedElem {
        debug_assert!(slot < self.size);
        // SAFETY: slot < size, so the element lies in the used ring inside the
        // ring area. Any bit pattern is a valid `UsedElem` (`FromBytes`).
        unsafe {
            self.field::<UsedElem>(self.offsets.used_ring(slot))
                .read_volatile()
        }
    }

    pub(super) fn read_u16(&self, offset: usize) -> u16 {
        debug_assert!(offset + 2 <= self.offsets.total() && offset.is_multiple_of(2));
        // SAFETY: every offset passed here comes from `self.offsets` for a
        // field inside the ring area, 2-aligned (the area is page aligned).
        u16::from_le(unsafe { self.field::<u16>(offset).read_volatile() })
    }

    pub(super) fn write_u16(&mut self, offset: usize, value: u16) {
        debug_assert!(offset + 2 <= self.offsets.total() && offset.is_multiple_of(2));
        // SAFETY: as for `read_u16`.
        unsafe { self.field::<u16>(offset).write_volatile(value.to_le()) };
    }
}
