//! Request slots: indexes into the driver's DMA memory, each holding one
//! request (header, bounce buffer, status) at a time.

use crate::memory::SLOTS;

/// A request slot: an index into the driver's DMA memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Slot(pub(crate) u8);

impl Slot {
    /// The slot's index, below [`SLOTS`].
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Slots as a set (for the ones a reset took back).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotSet(u32);

impl SlotSet {
    pub(crate) fn insert(&mut self, slot: Slot) {
        self.0 |= 1 << slot.0;
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The slots, in index order.
    pub fn iter(self) -> impl Iterator<Item = Slot> {
        (0..SLOTS as u8)
            .filter(move |i| self.0 & (1 << i) != 0)
            .map(Slot)
    }
}
