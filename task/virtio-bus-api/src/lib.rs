//! Client of the virtio bus served by the supervisor (`idl/virtio-bus.idol`)
//! and the records it exchanges: the probe record a driver gets for its
//! device, and the device table.
//!
//! The seed's `struct virtio_device` becomes a [`Probe`] record here; the
//! device's registers are reached through the MMIO window the supervisor
//! grants with it. This crate must never touch a device itself.

#![no_std]
#![deny(missing_docs)]

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Base of virtio-mmio slot 0 on QEMU `virt`; slot `n` is at
/// `SLOT0_BASE + n * SLOT_SIZE`.
pub const SLOT0_BASE: usize = 0x1000_1000;
/// Size of one virtio-mmio window.
pub const SLOT_SIZE: usize = 0x1000;
/// Number of virtio-mmio slots.
pub const SLOTS: usize = 8;

/// The MMIO base address of `slot`.
pub const fn slot_base(slot: u32) -> usize {
    SLOT0_BASE + slot as usize * SLOT_SIZE
}

/// What a driver learns when it is probed (the seed's `virtio_device`):
/// which slot it now owns and what is in it.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Probe {
    /// The virtio-mmio slot; its window is at [`slot_base`].
    pub slot: u32,
    /// Virtio device id (2 = block, 4 = entropy, …; VIRTIO 1.2 §5).
    pub device_id: u32,
    /// Virtio vendor id.
    pub vendor_id: u32,
    /// Transport version: 1 = legacy, 2 = modern (VIRTIO 1.2 §4.2.2).
    pub version: u32,
}

/// State of a slot in the bus's device table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum SlotState {
    /// No device in the slot.
    Empty = 0,
    /// A device no driver holds; it is bound as soon as a driver matches.
    Free = 1,
    /// Bound to a driver.
    Bound = 2,
    /// Being removed from its driver (remove posted, `removed` awaited).
    Removing = 3,
    /// Unbound by the operator; not bound again until `bind`.
    Unbound = 4,
    /// Its driver exceeded its restart limit; the device stays reset.
    Failed = 5,
}

impl SlotState {
    /// Decodes a state; unknown values read as `Empty`.
    pub fn from_u32(v: u32) -> Self {
        match v {
            1 => Self::Free,
            2 => Self::Bound,
            3 => Self::Removing,
            4 => Self::Unbound,
            5 => Self::Failed,
            _ => Self::Empty,
        }
    }

    /// A short name for tools.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Free => "free",
            Self::Bound => "bound",
            Self::Removing => "removing",
            Self::Unbound => "unbound",
            Self::Failed => "failed",
        }
    }
}

/// Driver index of a slot no driver holds.
pub const NO_DRIVER: u32 = u32::MAX;

/// One slot of the device table.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct DeviceEntry {
    /// Virtio device id (0 = empty slot).
    pub device_id: u32,
    /// Virtio vendor id.
    pub vendor_id: u32,
    /// Transport version (1 or 2; 0 if empty).
    pub version: u32,
    /// A [`SlotState`] value.
    pub state: u32,
    /// Task index of the bound driver, or [`NO_DRIVER`].
    pub driver: u32,
}

/// The device table: one entry per slot, indexed by slot.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct DeviceTable {
    /// Entries by slot.
    pub slots: [DeviceEntry; SLOTS],
}

include!(concat!(env!("OUT_DIR"), "/virtio_bus_client.rs"));

impl<I: idol_runtime::Ipc> VirtioBusClient<I> {
    /// A driver's `register` (the seed's `register_virtio_driver`) for the
    /// devices in `device_ids`, with its interrupt, remove and probe bits:
    /// `Ok(Some(probe))` when the bus bound a device to it, `Ok(None)` when
    /// none is free (the bus posts the probe bit when one becomes free), or
    /// the bus's other refusal for the driver to report.
    pub fn probe(
        &self,
        device_ids: [u32; 4],
        irq_bits: u32,
        remove_bits: u32,
        probe_bits: u32,
    ) -> Result<Option<Probe>, idol_runtime::RequestError<BusError>> {
        match self.register(device_ids, irq_bits, remove_bits, probe_bits) {
            Ok(probe) => Ok(Some(probe)),
            Err(idol_runtime::RequestError::Server(BusError::NoDevice)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`probe`](Self::probe) for a driver that can only wait: the device
    /// bound to it, or `None` both when none is free and when the bus
    /// refused (then `refused` hears why, to log it).
    pub fn probe_or_wait(
        &self,
        device_ids: [u32; 4],
        irq_bits: u32,
        remove_bits: u32,
        probe_bits: u32,
        refused: impl FnOnce(idol_runtime::RequestError<BusError>),
    ) -> Option<Probe> {
        self.probe(device_ids, irq_bits, remove_bits, probe_bits)
            .unwrap_or_else(|e| {
                refused(e);
                None
            })
    }
}
