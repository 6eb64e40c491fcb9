//! What the compromised test drivers share (`dma-test-attacker`,
//! `fuzz-test-attacker`): the registers of the virtio-mmio window the bus
//! granted them, and queue 0 as the kernel set it up in their ring region,
//! read and written by hand — a compromised driver does not go through
//! `virtio::KernelGate` — and the virtio and machine facts they aim with.
//!
//! It must never be part of a real driver: the accessors take any offset,
//! because writing where PMP must stop the driver is the point.

#![no_std]

use zerocopy::{Immutable, IntoBytes};

/// virtio-mmio register offsets (VIRTIO 1.2 §4.2.2, legacy §4.2.4).
pub mod reg {
    /// Version (1 legacy, 2 modern).
    pub const VERSION: usize = 0x004;
    /// DeviceFeatures: the bank DeviceFeaturesSel selects.
    pub const DEVICE_FEATURES: usize = 0x010;
    /// DeviceFeaturesSel.
    pub const DEVICE_FEATURES_SEL: usize = 0x014;
    /// DriverFeatures (legacy GuestFeatures: the feature bits the driver
    /// accepts), the first register the kernel keeps.
    pub const DRIVER_FEATURES: usize = 0x020;
    /// DriverFeaturesSel (legacy GuestFeaturesSel).
    pub const DRIVER_FEATURES_SEL: usize = 0x024;
    /// GuestPageSize (legacy), the first of the queue registers.
    pub const GUEST_PAGE_SIZE: usize = 0x028;
    /// QueueSel.
    pub const QUEUE_SEL: usize = 0x030;
    /// QueueNum.
    pub const QUEUE_NUM: usize = 0x038;
    /// QueueAlign (legacy).
    pub const QUEUE_ALIGN: usize = 0x03c;
    /// QueuePFN (legacy).
    pub const QUEUE_PFN: usize = 0x040;
    /// QueueNotify.
    pub const QUEUE_NOTIFY: usize = 0x050;
    /// InterruptStatus.
    pub const INTERRUPT_STATUS: usize = 0x060;
    /// InterruptACK.
    pub const INTERRUPT_ACK: usize = 0x064;
    /// Status.
    pub const STATUS: usize = 0x070;
    /// QueueDescLow (version 2).
    pub const QUEUE_DESC_LOW: usize = 0x080;
    /// The registers the kernel keeps out of a driver's window
    /// (`arch::pmp`): a store to any of them must fault the driver.
    pub const QUEUE_REGISTERS: [usize; 8] = [
        DRIVER_FEATURES,
        DRIVER_FEATURES_SEL,
        GUEST_PAGE_SIZE,
        QUEUE_SEL,
        QUEUE_NUM,
        QUEUE_ALIGN,
        QUEUE_PFN,
        QUEUE_DESC_LOW,
    ];
}

/// `VIRTQ_DESC_F_NEXT` (§2.7.5).
pub const NEXT: u16 = 1;
/// `VIRTQ_DESC_F_WRITE`: the device writes the buffer.
pub const WRITE: u16 = 2;
/// `VIRTQ_DESC_F_INDIRECT`: the buffer is a descriptor table.
pub const INDIRECT: u16 = 4;

/// `VIRTIO_BLK_T_IN` (§5.2.6): a read.
pub const T_IN: u32 = 0;
/// `VIRTIO_BLK_T_OUT`: a write.
pub const T_OUT: u32 = 1;
/// Virtio device id of a block device (§5).
pub const BLOCK: u32 = 2;

/// Where QEMU loads the image: the kernel's text (app `[kernel] text`).
pub const KERNEL_TEXT: usize = 0x8000_0000;
/// The kernel's RAM (its data, task table and stack), right after a 64
/// KiB kernel text budget, as the images of these drivers give it.
pub const KERNEL_RAM: usize = 0x8001_0000;

/// `struct virtq_desc` (§2.7.5), as handed to the kernel's gate.
#[derive(Copy, Clone, Debug, Default, IntoBytes, Immutable)]
#[repr(C)]
pub struct Desc {
    /// Buffer address.
    pub addr: u64,
    /// Buffer length.
    pub len: u32,
    /// `NEXT`, `WRITE`, `INDIRECT`.
    pub flags: u16,
    /// The next descriptor's index, with `NEXT`.
    pub next: u16,
}

/// A driver's device: its granted window and queue 0 once set up.
#[derive(Copy, Clone, Debug, Default)]
pub struct Device {
    /// The window's base (0: none granted).
    pub window: usize,
    /// Queue 0 as the kernel set it up: ring address (legacy layout,
    /// §2.7.2, used ring at +4096) and size.
    pub ring: Option<(usize, u16)>,
}

impl Device {
    /// Writes register `offset` of the window.
    pub fn reg_write(&self, offset: usize, value: u32) {
        // SAFETY: a register of the window the bus granted (or one PMP
        // must stop us from writing: that is what these drivers test). No
        // Rust memory is involved.
        unsafe { core::ptr::write_volatile((self.window + offset) as *mut u32, value) };
    }

    /// Reads register `offset` of the window.
    pub fn reg_read(&self, offset: usize) -> u32 {
        // SAFETY: a register of the window the bus granted us.
        unsafe { core::ptr::read_volatile((self.window + offset) as *const u32) }
    }

    /// The available ring's index (the kernel writes it; the driver may
    /// read its ring region), once the queue is set up.
    pub fn avail_idx(&self) -> Option<u16> {
        let (ring, size) = self.ring?;
        // SAFETY: inside the ring region the kernel gave us (readable), a
        // 2-aligned field of the legacy layout: after `size` descriptors
        // and the available ring's flags.
        Some(unsafe { core::ptr::read_volatile((ring + 16 * usize::from(size) + 2) as *const u16) })
    }

    /// The used ring's index (the device writes it), or 0 before setup.
    pub fn used_idx(&self) -> u16 {
        match self.ring {
            // SAFETY: as in `avail_idx`: the used ring starts at +4096.
            Some((ring, _)) => unsafe { core::ptr::read_volatile((ring + 4096 + 2) as *const u16) },
            None => 0,
        }
    }

    /// Resets the device and brings it to DRIVER with no features (a reset
    /// clears them; the feature registers are the kernel's): what every
    /// driver does first (§3.1.1), with registers a driver keeps.
    pub fn reset_and_ack(&self) {
        self.reg_write(reg::STATUS, 0);
        self.reg_write(reg::STATUS, 1);
        self.reg_write(reg::STATUS, 1 | 2);
    }
}
