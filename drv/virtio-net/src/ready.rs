//! Received frames waiting for the client: a ring of (slot, length) in
//! arrival order, as small as the receive slots it can hold.

use crate::memory::RX_SLOTS;

/// Received frames waiting for the client, oldest first: (slot, length).
pub(crate) struct ReadyFrames {
    entries: [(u8, u16); RX_SLOTS],
    head: usize,
    len: usize,
}

impl ReadyFrames {
    pub(crate) const fn new() -> Self {
        ReadyFrames {
            entries: [(0, 0); RX_SLOTS],
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, slot: usize, len: usize) {
        // A slot is in here at most once (it is either posted or waiting),
        // so the list never holds more than RX_SLOTS entries.
        if self.len < RX_SLOTS {
            let at = (self.head + self.len) % RX_SLOTS;
            self.entries[at] = (slot as u8, len as u16);
            self.len += 1;
        }
    }

    pub(crate) fn peek(&self) -> Option<(usize, usize)> {
        (self.len > 0).then(|| {
            let (slot, len) = self.entries[self.head];
            (usize::from(slot), usize::from(len))
        })
    }

    pub(crate) fn pop(&mut self) {
        if self.len > 0 {
            self.head = (self.head + 1) % RX_SLOTS;
            self.len -= 1;
        }
    }

    /// How many frames wait.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn holds(&self, slot: usize) -> bool {
        (0..self.len).any(|i| usize::from(self.entries[(self.head + i) % RX_SLOTS].0) == slot)
    }
}
