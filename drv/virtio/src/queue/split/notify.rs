//! Notifications both ways (§2.7.7, §2.7.10, §2.7.13.4): whether the
//! device wants a kick for new buffers, and whether (and when) the driver
//! wants an interrupt for used ones, through the gate if there is one.

use core::sync::atomic::{fence, Ordering};

use super::super::gate::AvailField;
use super::super::layout::{need_event, VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_USED_F_NO_NOTIFY};
use super::{SplitQueue, State};
use crate::transport::Transport;

impl<T: Copy, const N: usize> SplitQueue<'_, T, N> {
    /// Whether the device wants an available buffer notification for what
    /// was added since the last decision (§2.7.13.4): with
    /// VIRTIO_F_EVENT_IDX, if the new available index passed `avail_event`;
    /// otherwise unless the device set VIRTQ_USED_F_NO_NOTIFY. Consumes the
    /// decision: a second call without new buffers says `false`.
    pub fn should_notify(&mut self) -> bool {
        if self.state != State::Ready {
            return false;
        }
        let new = self.avail_idx;
        let old = core::mem::replace(&mut self.kicked_idx, new);
        if new == old {
            return false;
        }
        // §2.7.13.4.1: the idx update must be visible before the
        // suppression field is read.
        fence(Ordering::SeqCst);
        if self.event_idx {
            need_event(self.read_u16(self.offsets.avail_event()), new, old)
        } else {
            self.read_u16(self.offsets.used_flags()) & VIRTQ_USED_F_NO_NOTIFY == 0
        }
    }

    /// Notifies the device of new buffers if it wants to be (the seed's
    /// `kick`; §2.7.13.4, §4.2.3.3). Returns whether it notified.
    pub fn kick<Tr: Transport + ?Sized>(&mut self, transport: &mut Tr) -> bool {
        let notify = self.should_notify();
        if notify {
            transport.notify(self.queue);
        }
        notify
    }

    /// Re-enables used buffer notifications (the seed's `restart`;
    /// §2.7.7): clears VIRTQ_AVAIL_F_NO_INTERRUPT, or with
    /// VIRTIO_F_EVENT_IDX sets `used_event` to the next completion — then
    /// re-reads the used index.
    ///
    /// Returns `true` if nothing is pending: the driver may sleep until the
    /// next interrupt. Returns `false` if a completion raced in (or the queue
    /// is broken), leaving notifications disabled: call `get_buf` until it
    /// says `None`, then `restart` again. This is what makes a lost wake-up
    /// impossible:
    ///
    /// ```ignore
    /// loop {
    ///     while let Some((token, len)) = queue.get_buf()? { /* … */ }
    ///     if queue.restart() { break; } // now safe to wait for the IRQ
    /// }
    /// ```
    pub fn restart(&mut self) -> bool {
        if self.state != State::Ready {
            return false;
        }
        self.callbacks = true;
        if self.event_idx {
            self.set_used_event(self.last_used);
        } else {
            self.write_avail(AvailField::Flags, 0);
        }
        // The enable must be visible to the device before we look again,
        // or a completion in between would neither interrupt nor be seen.
        fence(Ordering::SeqCst);
        if self.read_u16(self.offsets.used_idx()) != self.last_used {
            self.disable_callbacks();
            return false;
        }
        true
    }

    /// Whether the driver may wait for the next used buffer notification
    /// without looking any further: notifications are on and the device
    /// has used nothing `get_buf` has not taken. One read of the used
    /// index, for a driver that polls once right after a kick: `restart`
    /// would find the same and write nothing either (while notifications
    /// are on, `get_buf` keeps `used_event` at the next completion, or a
    /// gate's next `post` writes it, and `suppression` skips a rewrite),
    /// so it would add only its fence and a second look. Those matter when
    /// notifications were off: then this says `false`, and the caller goes
    /// through `get_buf` and `restart` as usual.
    pub fn nothing_used(&self) -> bool {
        self.state == State::Ready
            && self.callbacks
            && self.read_u16(self.offsets.used_idx()) == self.last_used
    }

    /// Asks the device not to send used buffer notifications (§2.7.7): sets
    /// VIRTQ_AVAIL_F_NO_INTERRUPT, or with VIRTIO_F_EVENT_IDX moves
    /// `used_event` out of reach. Only a hint: the device may still
    /// interrupt.
    pub fn disable_callbacks(&mut self) {
        self.callbacks = false;
        if self.state == State::Ready {
            if self.event_idx {
                // An index the device has already passed: it is crossed
                // again only after 2^16 more completions.
                self.set_used_event(self.last_used.wrapping_sub(1));
            } else {
                self.write_avail(AvailField::Flags, VIRTQ_AVAIL_F_NO_INTERRUPT);
            }
        }
    }

    /// Sets `used_event` (§2.7.10). Through a gate the write is a kernel
    /// call; with no chain in flight no completion can come before the next
    /// add, so it waits for that add's call ([`DmaGate::post`]): a driver
    /// serving one request at a time re-enables interrupts without a call
    /// of its own. A queue in its own memory writes at once.
    pub(super) fn set_used_event(&mut self, value: u16) {
        if self.gate.is_some() && self.in_flight() == 0 {
            self.deferred_event = Some(value);
        } else {
            self.deferred_event = None;
            self.write_avail(AvailField::UsedEvent, value);
        }
    }

    /// Writes a notification-suppression field (§2.7.7), through the gate
    /// if there is one.
    pub(super) fn write_avail(&mut self, field: AvailField, value: u16) {
        let written = &mut self.suppression[field as usize];
        if *written == Some(value) {
            return;
        }
        *written = Some(value);
        match self.gate {
            Some(gate) => gate.avail(self.queue, field, value),
            None => {
                let offset = match field {
                    AvailField::Flags => self.offsets.avail_flags(),
                    AvailField::UsedEvent => self.offsets.used_event(),
                };
                self.write_u16(offset, value);
            }
        }
    }
}
