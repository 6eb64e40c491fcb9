//! Facts about the machine the image runs on: QEMU's `virt` board with one
//! RV32IMAC hart, as laid out in DESIGN.md. Everything address-shaped that
//! xtask knows about the hardware lives here, so app.toml validation, region
//! allocation and the QEMU command line agree on one table.

/// The Rust target every kernel and task crate is built for.
pub const TARGET: &str = "riscv32imac-unknown-none-elf";

/// Where QEMU's `virt` machine puts RAM (and loads the image).
pub const RAM_BASE: u64 = 0x8000_0000;

/// Largest `qemu.memory` (MiB) that still fits a 32-bit address space above
/// [`RAM_BASE`].
pub const MAX_MEMORY_MIB: u64 = 2048;

/// Where QEMU's `virt` machine (7.2, `riscv_load_fdt`) loads its device
/// tree blob with `qemu.memory` = `memory_mib`: the blob's unpacked size
/// (1 MiB, `FDT_MAX_SIZE`) below the end of RAM or 3 GiB, whichever is
/// lower, aligned down to 2 MiB. It is loaded as a ROM, and QEMU refuses
/// to start if it overlaps the image ("Some ROM regions are overlapping"):
/// the image must end at or below it.
pub fn fdt_base(memory_mib: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    let end = (RAM_BASE + memory_mib * MIB).min(3072 * MIB);
    (end.saturating_sub(MIB) / (2 * MIB) * (2 * MIB)).max(RAM_BASE)
}

/// Most regions one task may hold (text, RAM, device windows): the kernel's
/// `MAX_TASK_REGIONS`, one PMP entry each.
pub const MAX_TASK_REGIONS: usize = 8;

/// Smallest task region we accept. PMP NAPOT needs 8 bytes; anything under a
/// few hundred bytes cannot hold even a trivial task and is surely a typo.
pub const MIN_TASK_REGION: u64 = 256;

/// Highest PLIC source number QEMU's `virt` PLIC implements.
pub const MAX_IRQ: u32 = 127;

/// virtio-mmio slots; slot `n` interrupts on PLIC source `n + 1`, so
/// sources 1 to `VIRTIO_SLOTS` are the bus's to grant.
pub const VIRTIO_SLOTS: u32 = 8;

/// Notification bits per task.
pub const MAX_NOTIFICATIONS: usize = 32;

/// A device window a task may be given statically through `uses`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceWindow {
    /// The name app.toml uses.
    pub name: &'static str,
    /// First address of the MMIO window.
    pub base: u64,
    /// Size in bytes (a power of two; `base` is aligned to it).
    pub size: u64,
}

/// The device windows of the `virt` machine that tasks may be given: the
/// 16550 UART, the eight virtio-mmio slots, and `virtio-bus` — one window
/// over the UART page and all eight slots, for the bus supervisor, which
/// must be able to read and reset every device (one PMP entry instead of
/// eight).
pub const DEVICE_WINDOWS: [DeviceWindow; 10] = [
    DeviceWindow {
        name: "virtio-bus",
        base: 0x1000_0000,
        size: 0x1_0000,
    },
    DeviceWindow {
        name: "uart",
        base: 0x1000_0000,
        size: 0x1000,
    },
    DeviceWindow {
        name: "virtio0",
        base: 0x1000_1000,
        size: 0x1000,
    },
    DeviceWindow {
        name: "virtio1",
        base: 0x1000_2000,
        size: 0x1000,
    },
    DeviceWindow {
        name: "virtio2",
        base: 0x1000_3000,
        size: 0x1000,
    },
    DeviceWindow {
        name: "virtio3",
        base: 0x1000_4000,
        size: 0x1000,
    },
    DeviceWindow {
        name: "virtio4",
        base: 0x1000_5000,
        size: 0x1000,
    },
    DeviceWindow {
        name: "virtio5",
        base: 0x1000_6000,
        size: 0x1000,
    },
    DeviceWindow {
        name: "virtio6",
        base: 0x1000_7000,
        size: 0x1000,
    },
    DeviceWindow {
        name: "virtio7",
        base: 0x1000_8000,
        size: 0x1000,
    },
];

/// Looks up a device window by its app.toml name.
pub fn device_window(name: &str) -> Option<DeviceWindow> {
    DEVICE_WINDOWS.iter().copied().find(|w| w.name == name)
}

/// The names of all device windows, for error messages.
pub fn device_window_names() -> String {
    DEVICE_WINDOWS
        .iter()
        .map(|w| w.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::{device_window, DEVICE_WINDOWS};

    #[test]
    fn windows_are_napot() {
        for w in DEVICE_WINDOWS {
            assert!(w.size.is_power_of_two(), "{}", w.name);
            assert_eq!(w.base % w.size, 0, "{}", w.name);
        }
    }

    #[test]
    fn virtio_slots_follow_the_uart() {
        assert_eq!(device_window("virtio0").unwrap().base, 0x1000_1000);
        assert_eq!(device_window("virtio7").unwrap().base, 0x1000_8000);
        assert!(device_window("virtio8").is_none());
    }
}
