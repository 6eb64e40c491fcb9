//! The virtio bus's bookkeeping, as the seed's `register_virtio_device` /
//! `register_virtio_driver` / probe / remove, without any syscall.
//!
//! The supervisor owns one [`Bus`]. Each method applies one event (a driver
//! registers, a device is unbound, a driver dies…) to the device table and
//! driver registry, and returns what the supervisor must now *do* — reset a
//! device, grant or revoke a window, post a notification, restart a task.
//! Keeping the effects out of this crate is what lets the whole state
//! machine be tested on the host.
//!
//! Invariants, kept by every method:
//! - a slot is `Bound` or `Removing` exactly when a registered driver holds
//!   it, and that driver's `slot` names it;
//! - a driver holds at most one slot;
//! - nothing a driver sends can make this code panic.

#![no_std]
#![deny(missing_docs)]

use virtio_bus_api::{BusError, DeviceEntry, DeviceTable, Probe, SlotState, NO_DRIVER, SLOTS};

/// Most drivers registered at once.
pub const MAX_DRIVERS: usize = 8;

/// What a slot holds, as read from its registers at boot.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DeviceIdent {
    /// Virtio device id (never 0: 0 means an empty slot).
    pub device_id: u32,
    /// Virtio vendor id.
    pub vendor_id: u32,
    /// Transport version (1 legacy, 2 modern).
    pub version: u32,
}

/// A driver's registration: its task index, id table and notification bits.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// Task index of the driver.
    pub task: u16,
    /// Device ids it drives (0 = unused entry).
    pub ids: [u32; 4],
    /// Notification bits the device IRQ is routed to.
    pub irq_bits: u32,
    /// Bits posted to ask it to remove itself from its device.
    pub remove_bits: u32,
    /// Bits posted when a matching device becomes free.
    pub probe_bits: u32,
}

#[derive(Copy, Clone, Debug)]
struct Driver {
    reg: Registration,
    slot: Option<usize>,
}

#[derive(Copy, Clone, Debug)]
struct Slot {
    device: Option<DeviceIdent>,
    state: SlotState,
    /// State the slot takes when its removal completes.
    after_removal: SlotState,
    /// A free slot whose driver died and is to be restarted: kept for that
    /// task until it registers again, the supervisor gives up on it
    /// ([`Bus::mark_failed`]) or the operator binds or unbinds the slot.
    /// Free to anyone at once, a red team's second block driver, asking
    /// every 2 ms, took blk0's disk during blk0's 10 ms backoff and kept
    /// it: blk0 came back to `NoDevice`, its clients' data on the thief's
    /// device.
    reserved_for: Option<u16>,
}

impl Slot {
    /// Whether driver `task` may be bound to this slot now.
    fn free_for(&self, task: u16) -> bool {
        self.state == SlotState::Free && self.reserved_for.is_none_or(|t| t == task)
    }
}

/// What the supervisor must do after [`Bus::unbind`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Unbind {
    /// The slot had no driver: nothing to do.
    Done,
    /// Post `bits` to driver `task` and wait for its `removed` (with a
    /// deadline, after which call [`Bus::removal_timed_out`]).
    AskDriver {
        /// Task index of the driver.
        task: u16,
        /// Its remove bits.
        bits: u32,
    },
}

/// A driver to poke: post `bits` to `task`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Poke {
    /// Task index.
    pub task: u16,
    /// Notification bits.
    pub bits: u32,
}

/// The device table and driver registry.
#[derive(Debug)]
pub struct Bus {
    slots: [Slot; SLOTS],
    drivers: [Option<Driver>; MAX_DRIVERS],
    /// Bit `t`: task `t` has registered since boot (see
    /// [`Bus::register_among`]).
    registered: u64,
}

impl Bus {
    /// A bus with every slot empty (a constant, so that it can be a
    /// static's initial value; [`Bus::new`] fills it).
    pub const EMPTY: Bus = Bus {
        slots: [Slot {
            device: None,
            state: SlotState::Empty,
            after_removal: SlotState::Free,
            reserved_for: None,
        }; SLOTS],
        drivers: [None; MAX_DRIVERS],
        registered: 0,
    };

    /// A bus whose slots hold `devices` (index = slot), none bound.
    pub fn new(devices: [Option<DeviceIdent>; SLOTS]) -> Self {
        let slots = devices.map(|device| Slot {
            device: device.filter(|d| d.device_id != 0),
            state: if device.is_some_and(|d| d.device_id != 0) {
                SlotState::Free
            } else {
                SlotState::Empty
            },
            after_removal: SlotState::Free,
            reserved_for: None,
        });
        Bus {
            slots,
            drivers: [None; MAX_DRIVERS],
            registered: 0,
        }
    }

    fn driver_index(&self, task: u16) -> Option<usize> {
        self.drivers
            .iter()
            .position(|d| d.is_some_and(|d| d.reg.task == task))
    }

    fn matches(reg: &Registration, device: &DeviceIdent) -> bool {
        reg.ids.iter().any(|&id| id != 0 && id == device.device_id)
    }

    /// A driver registers (or a restarted one registers again). On `Ok` it
    /// is bound to the returned slot: the supervisor must reset the device,
    /// grant the window and IRQ, and reply with the probe record; if the
    /// grant fails it must call [`Bus::grant_failed`]. `Err(NoDevice)`:
    /// registered, waiting for its probe bits.
    pub fn register(&mut self, reg: Registration) -> Result<Probe, BusError> {
        self.register_ranked(reg, 0)
    }

    /// [`Bus::register`] for the `rank`-th driver of its kind in task order
    /// (0 for the first): it is bound to the `rank`-th slot, in slot
    /// order, holding a device it matches, if that one is free, else to the
    /// lowest free one. So the n-th of several drivers of one kind finds
    /// the n-th device of that kind whichever registers first: first come,
    /// first served, `blk1` took the first disk whenever `blk0` was slower
    /// to start (a host under load), and the disks swapped places.
    /// Without the other drivers of its kind ([`Bus::register_among`]) a
    /// driver with no device of its rank may take another rank's.
    pub fn register_ranked(&mut self, reg: Registration, rank: usize) -> Result<Probe, BusError> {
        self.register_in_rank(reg, rank, &[])
    }

    /// [`Bus::register`] for a driver of a kind driven by the tasks
    /// `peers`, in task order (the driver among them): the n-th of them is
    /// bound to the n-th device of that kind if it is free
    /// ([`Bus::register_ranked`]). A driver whose own device is taken or
    /// missing takes the lowest free one it matches, except one that is
    /// another peer's own while that peer has not registered since boot.
    /// A third driver for two devices, starting first on a loaded host,
    /// took the first driver's device, which then took the second's, and
    /// the second got none (`test/bus.toml`, three runs in eighteen).
    pub fn register_among(&mut self, reg: Registration, peers: &[u16]) -> Result<Probe, BusError> {
        let rank = peers
            .iter()
            .position(|&t| t == reg.task)
            .unwrap_or(peers.len());
        self.register_in_rank(reg, rank, peers)
    }

    /// The supervisor gave up on driver `task` (left stopped): if it never
    /// registered, its own device ([`Bus::register_among`]) is no longer
    /// kept from the other drivers of its kind.
    pub fn gave_up(&mut self, task: u16) {
        self.registered |= task_bit(task);
    }

    /// Whether task `task` has registered since boot.
    fn has_registered(&self, task: u16) -> bool {
        self.registered & task_bit(task) != 0
    }

    fn register_in_rank(
        &mut self,
        reg: Registration,
        rank: usize,
        peers: &[u16],
    ) -> Result<Probe, BusError> {
        if reg.ids.iter().all(|&id| id == 0) {
            return Err(BusError::BadIdTable);
        }
        let d = match self.driver_index(reg.task) {
            Some(d) => {
                if self.drivers[d].is_some_and(|d| d.slot.is_some()) {
                    return Err(BusError::AlreadyBound);
                }
                d
            }
            None => self
                .drivers
                .iter()
                .position(|d| d.is_none())
                .ok_or(BusError::TooManyDrivers)?,
        };
        self.drivers[d] = Some(Driver { reg, slot: None });
        let task = reg.task;
        self.registered |= task_bit(task);
        let matches = |s: &Slot| s.device.is_some_and(|dev| Self::matches(&reg, &dev));
        // The slot kept for it since its last incarnation died, then its
        // rank's, then the lowest free one no peer still to come owns.
        let kept = self
            .slots
            .iter()
            .position(|s| s.reserved_for == Some(task) && s.free_for(task) && matches(s));
        let its_own = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| matches(s))
            .nth(rank)
            .filter(|(_, s)| s.free_for(task))
            .map(|(i, _)| i);
        let unclaimed = |k: usize| {
            peers
                .get(k)
                .is_none_or(|&t| t == task || self.has_registered(t))
        };
        let free = kept.or(its_own).or_else(|| {
            self.slots
                .iter()
                .enumerate()
                .filter(|(_, s)| matches(s))
                .enumerate()
                .find(|&(k, (_, s))| s.free_for(task) && unclaimed(k))
                .map(|(_, (i, _))| i)
        });
        let Some(slot) = free else {
            return Err(BusError::NoDevice);
        };
        let dev = self.slots[slot].device.ok_or(BusError::NoDevice)?;
        self.slots[slot].state = SlotState::Bound;
        self.slots[slot].reserved_for = None;
        self.drivers[d] = Some(Driver {
            reg,
            slot: Some(slot),
        });
        Ok(Probe {
            slot: slot as u32,
            device_id: dev.device_id,
            vendor_id: dev.vendor_id,
            version: dev.version,
        })
    }

    /// The grant for a just-bound slot failed: undo the binding.
    pub fn grant_failed(&mut self, task: u16) {
        if let Some(d) = self.driver_index(task) {
            if let Some(slot) = self.drivers[d].and_then(|d| d.slot) {
                // Kept for it: it registers again.
                self.slots[slot].state = SlotState::Free;
                self.slots[slot].reserved_for = Some(task);
            }
            self.drivers[d] = None;
        }
    }

    /// The slot driver `task` holds, if any.
    pub fn slot_of(&self, task: u16) -> Option<usize> {
        self.driver_index(task)
            .and_then(|d| self.drivers[d])
            .and_then(|d| d.slot)
    }

    /// A driver reports its removal done. Returns the slot whose grant the
    /// supervisor must now revoke.
    pub fn removed(&mut self, task: u16) -> Result<usize, BusError> {
        let d = self.driver_index(task).ok_or(BusError::NotRegistered)?;
        let slot = self.drivers[d]
            .and_then(|d| d.slot)
            .ok_or(BusError::NotBound)?;
        if self.slots[slot].state != SlotState::Removing {
            return Err(BusError::NotBound);
        }
        self.slots[slot].state = self.slots[slot].after_removal;
        if let Some(drv) = self.drivers[d].as_mut() {
            drv.slot = None;
        }
        Ok(slot)
    }

    /// The slot driver `task` holds if it is not being removed: a
    /// [`removed`](Self::removed) from `task` now answers no request of the
    /// bus. A driver that sends one has lost track of its own binding; the
    /// bus's state is the true one (the supervisor restarts the driver).
    pub fn unasked_release(&self, task: u16) -> Option<usize> {
        self.slot_of(task)
            .filter(|&slot| self.slots[slot].state == SlotState::Bound)
    }

    /// The operator unbinds `slot`: it stays unbound until [`Bus::bind`].
    pub fn unbind(&mut self, slot: usize) -> Result<Unbind, BusError> {
        let s = self.slots.get_mut(slot).ok_or(BusError::NoSuchSlot)?;
        match s.state {
            SlotState::Bound => {
                s.state = SlotState::Removing;
                s.after_removal = SlotState::Unbound;
                let drv = self.drivers.iter().flatten().find(|d| d.slot == Some(slot));
                match drv {
                    Some(d) => Ok(Unbind::AskDriver {
                        task: d.reg.task,
                        bits: d.reg.remove_bits,
                    }),
                    // Unreachable while the invariant holds; recover anyway.
                    None => {
                        self.slots[slot].state = SlotState::Unbound;
                        Ok(Unbind::Done)
                    }
                }
            }
            SlotState::Free => {
                s.state = SlotState::Unbound;
                s.reserved_for = None;
                Ok(Unbind::Done)
            }
            SlotState::Removing => Ok(Unbind::Done),
            SlotState::Empty => Err(BusError::NoDevice),
            _ => Err(BusError::NotBound),
        }
    }

    /// The operator makes `slot` available again. Returns a waiting driver
    /// that matches it, to be poked with its probe bits.
    pub fn bind(&mut self, slot: usize) -> Result<Option<Poke>, BusError> {
        let s = self.slots.get_mut(slot).ok_or(BusError::NoSuchSlot)?;
        match s.state {
            SlotState::Unbound | SlotState::Failed => s.state = SlotState::Free,
            // The operator's bind offers it to whoever waits, a slot kept
            // for a restarting driver included.
            SlotState::Free => s.reserved_for = None,
            // The slot exists; QEMU put no device in it.
            SlotState::Empty => return Err(BusError::NoDevice),
            SlotState::Bound | SlotState::Removing => return Err(BusError::AlreadyBound),
        }
        Ok(self.waiting_driver_for(slot))
    }

    fn waiting_driver_for(&self, slot: usize) -> Option<Poke> {
        let dev = self.slots[slot].device?;
        self.drivers
            .iter()
            .flatten()
            .find(|d| d.slot.is_none() && Self::matches(&d.reg, &dev))
            .map(|d| Poke {
                task: d.reg.task,
                bits: d.reg.probe_bits,
            })
    }

    /// Driver `task` died (faulted, or was restarted). Returns the slot it
    /// held: the supervisor must reset that device *before* the task's
    /// memory is re-initialised, then revoke the grant. The slot becomes
    /// free for the next incarnation, which registers again, and is kept
    /// for it (see `Slot::reserved_for`).
    pub fn driver_died(&mut self, task: u16) -> Option<usize> {
        let d = self.driver_index(task)?;
        let slot = self.drivers[d].and_then(|d| d.slot);
        if let Some(slot) = slot {
            let s = &mut self.slots[slot];
            // An operator's unbind in progress stays an unbind.
            if s.state == SlotState::Removing {
                s.state = s.after_removal;
            } else {
                s.state = SlotState::Free;
                s.reserved_for = Some(task);
            }
        }
        self.drivers[d] = None;
        slot
    }

    /// Marks `slot` failed (its driver will not be restarted): it is not
    /// offered to drivers until the operator binds it again.
    pub fn mark_failed(&mut self, slot: usize) {
        if let Some(s) = self.slots.get_mut(slot) {
            if s.device.is_some() {
                s.state = SlotState::Failed;
                s.reserved_for = None;
            }
        }
    }

    /// A removal did not complete by its deadline. Returns the driver to
    /// restart (after resetting the device and revoking the grant); the
    /// slot takes the state the removal was heading for.
    pub fn removal_timed_out(&mut self, slot: usize) -> Option<u16> {
        if self.slots.get(slot)?.state != SlotState::Removing {
            return None;
        }
        let task = self
            .drivers
            .iter()
            .flatten()
            .find(|d| d.slot == Some(slot))?
            .reg
            .task;
        self.driver_died(task);
        Some(task)
    }

    /// Slots being removed, for deadline checks.
    pub fn removing(&self) -> impl Iterator<Item = usize> + '_ {
        (0..SLOTS).filter(|&i| self.slots[i].state == SlotState::Removing)
    }

    /// The device table, as `devices()` reports it.
    pub fn table(&self) -> DeviceTable {
        let mut t = DeviceTable::default();
        for (i, s) in self.slots.iter().enumerate() {
            let driver = self
                .drivers
                .iter()
                .flatten()
                .find(|d| d.slot == Some(i))
                .map_or(NO_DRIVER, |d| d.reg.task as u32);
            t.slots[i] = match s.device {
                Some(dev) => DeviceEntry {
                    device_id: dev.device_id,
                    vendor_id: dev.vendor_id,
                    version: dev.version,
                    state: s.state as u32,
                    driver,
                },
                None => DeviceEntry {
                    driver: NO_DRIVER,
                    ..DeviceEntry::default()
                },
            };
        }
        t
    }
}

/// Task `task`'s bit in [`Bus`]'s `registered`; none past 63 (an image has
/// at most 64 tasks).
fn task_bit(task: u16) -> u64 {
    1u64.checked_shl(u32::from(task)).unwrap_or(0)
}

#[cfg(test)]
mod tests;
