//! Region allocation: where the kernel and every task live in RAM.
//!
//! The kernel text sits at the start of RAM (where QEMU jumps), its RAM right
//! after. Task regions follow. Each region is a power of two aligned to its
//! own size so that a single NAPOT PMP entry covers it; to keep the padding
//! that alignment costs small, regions are placed largest first (ties in task
//! order, text before RAM). This is a pure function of the app file.

use anyhow::{bail, Result};

use crate::config::App;
use crate::machine;

/// A span of the address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First address.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
}

impl Region {
    /// The `size` bytes from `base`.
    pub const fn new(base: u64, size: u64) -> Self {
        Region { base, size }
    }

    /// One past the last address (saturating: the checks keep regions
    /// far below 2^64, and a sum that overflowed must not panic).
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }

    /// Whether two regions share any byte.
    pub fn overlaps(&self, other: &Region) -> bool {
        self.base < other.end() && other.base < self.end()
    }
}

/// A device window given to a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Its app.toml name.
    pub name: String,
    /// Where it is.
    pub region: Region,
}

/// The regions of one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskLayout {
    /// Code, read-only data and the initialiser of `.data`.
    pub text: Region,
    /// Stack (at the bottom), data and bss.
    pub ram: Region,
    /// Drivers: the DMA ring region (app.toml `queues`), which the kernel
    /// and the device write and the task may only read.
    pub rings: Option<Region>,
    /// Device windows from `uses`, in file order.
    pub devices: Vec<Device>,
}

/// Where everything goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The kernel's code (at the start of RAM).
    pub kernel_text: Region,
    /// The kernel's data, bss and stack.
    pub kernel_ram: Region,
    /// One entry per task, in task order.
    pub tasks: Vec<TaskLayout>,
}

fn align_up(x: u64, align: u64) -> u64 {
    x.div_ceil(align) * align
}

/// Allocates every region of `app`, or explains why it does not fit.
pub fn allocate(app: &App) -> Result<Layout> {
    let ram_end = machine::RAM_BASE + app.qemu.memory * 1024 * 1024;

    let kernel_text = Region::new(machine::RAM_BASE, app.kernel.text);
    let kernel_ram = Region {
        base: align_up(kernel_text.end(), app.kernel.ram),
        size: app.kernel.ram,
    };

    // Every task region as (size, task index, kind), placed largest first.
    const TEXT: u8 = 0;
    const RAM: u8 = 1;
    const RINGS: u8 = 2;
    let mut wanted: Vec<(u64, usize, u8)> = Vec::new();
    for (i, t) in app.tasks.iter().enumerate() {
        wanted.push((t.text, i, TEXT));
        wanted.push((t.ram, i, RAM));
        if let Some(bytes) = t.ring_bytes() {
            wanted.push((bytes, i, RINGS));
        }
    }
    // Stable sort: ties keep task order, text before ram.
    wanted.sort_by_key(|w| std::cmp::Reverse(w.0));

    let mut text = vec![Region { base: 0, size: 0 }; app.tasks.len()];
    let mut ram = text.clone();
    let mut rings = vec![None; app.tasks.len()];
    let mut cursor = kernel_ram.end();
    for (size, index, kind) in wanted {
        let base = align_up(cursor, size);
        let region = Region { base, size };
        cursor = region.end();
        match kind {
            TEXT => text[index] = region,
            RAM => ram[index] = region,
            _ => rings[index] = Some(region),
        }
    }

    // QEMU loads its device tree below the end of RAM: an image reaching
    // it did not start ("Some ROM regions are overlapping").
    let usable_end = machine::fdt_base(app.qemu.memory).min(ram_end);
    if cursor > usable_end {
        let needed = cursor - machine::RAM_BASE;
        // The least memory whose device tree lies above the image; none
        // for more than the machine can have (a text of 2 GiB).
        let remedy = match (1..=machine::MAX_MEMORY_MIB).find(|&m| machine::fdt_base(m) >= cursor) {
            Some(mib) => format!(
                "raise `qemu.memory` to at least {mib} or shrink the `text`/`ram` budgets"
            ),
            None => format!(
                "no `qemu.memory` is enough (at most {} MiB, and QEMU's device tree below 3 GiB): shrink the `text`/`ram` budgets",
                machine::MAX_MEMORY_MIB
            ),
        };
        bail!(
            "{}: the kernel and task regions need {needed} bytes (up to {:#x}) but `qemu.memory` = {} MiB ends RAM at {:#x}, and QEMU loads its device tree (1 MiB) from {:#x}: over by {} bytes; {remedy}",
            app.file.display(),
            cursor,
            app.qemu.memory,
            ram_end,
            usable_end,
            cursor - usable_end,
        );
    }

    let tasks = app
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| TaskLayout {
            text: text[i],
            ram: ram[i],
            rings: rings[i],
            devices: t
                .uses
                .iter()
                .filter_map(|name| {
                    machine::device_window(name).map(|w| Device {
                        name: name.clone(),
                        region: Region::new(w.base, w.size),
                    })
                })
                .collect(),
        })
        .collect();

    let layout = Layout {
        kernel_text,
        kernel_ram,
        tasks,
    };
    if let Some((a, b)) = layout.first_overlap() {
        // Cannot happen with the algorithm above; checked because a wrong
        // layout would silently let tasks corrupt each other.
        bail!("internal error: regions {a} and {b} overlap");
    }
    Ok(layout)
}

impl Layout {
    /// Every RAM region with a label, kernel first.
    pub fn memory_regions(&self) -> Vec<(String, Region)> {
        let mut v = vec![
            ("kernel text".to_string(), self.kernel_text),
            ("kernel ram".to_string(), self.kernel_ram),
        ];
        for (i, t) in self.tasks.iter().enumerate() {
            v.push((format!("task {i} text"), t.text));
            v.push((format!("task {i} ram"), t.ram));
            if let Some(r) = t.rings {
                v.push((format!("task {i} rings"), r));
            }
        }
        v
    }

    fn first_overlap(&self) -> Option<(String, String)> {
        let regions = self.memory_regions();
        for (i, (na, a)) in regions.iter().enumerate() {
            for (nb, b) in &regions[i + 1..] {
                if a.overlaps(b) {
                    return Some((na.clone(), nb.clone()));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{allocate, Region};
    use crate::config::tests::{default_app, fixture_app, parse, BASE};
    use crate::machine;

    #[test]
    fn fixture_app_layout() {
        let app = fixture_app();
        let l = allocate(&app).unwrap();
        assert_eq!(l.kernel_text, Region::new(0x8000_0000, 0x10000));
        assert_eq!(l.kernel_ram, Region::new(0x8001_0000, 0x8000));
        // Largest first: supervisor text (16 KiB) right after the kernel.
        assert_eq!(l.tasks[0].text, Region::new(0x8001_8000, 0x4000));
        // Then pong text, ping text (8 KiB, task order), then 4 KiB regions.
        assert_eq!(l.tasks[1].text.base, 0x8001_c000);
        assert_eq!(l.tasks[2].text.base, 0x8001_e000);
        assert_eq!(l.tasks[0].ram.base, 0x8002_0000);
        assert_eq!(l.tasks[3].text.base, 0x8002_1000);
    }

    #[test]
    fn regions_are_aligned_and_disjoint() {
        let app = default_app();
        let l = allocate(&app).unwrap();
        let regions = l.memory_regions();
        for (name, r) in &regions {
            assert!(r.size.is_power_of_two(), "{name}");
            assert_eq!(r.base % r.size, 0, "{name} not aligned");
        }
        for (i, (na, a)) in regions.iter().enumerate() {
            for (nb, b) in &regions[i + 1..] {
                assert!(!a.overlaps(b), "{na} overlaps {nb}");
            }
        }
    }

    #[test]
    fn alignment_padding_is_inserted() {
        // A kernel RAM smaller than the text, then a task region larger than
        // everything before it must be aligned up to its own size.
        let text = BASE
            .replace("ram = 32768", "ram = 8192")
            .replace("text = 16384", "text = 131072");
        let app = parse(&text).unwrap();
        let l = allocate(&app).unwrap();
        assert_eq!(l.kernel_ram.base, 0x8001_0000);
        assert_eq!(l.tasks[0].text, Region::new(0x8002_0000, 0x20000));
        for t in &l.tasks {
            assert_eq!(t.text.base % t.text.size, 0);
            assert_eq!(t.ram.base % t.ram.size, 0);
            assert!(t.ram.base >= 0x8004_0000);
        }
    }

    #[test]
    fn device_windows_are_attached() {
        // (Only the supervisor may hold a virtio window whole.)
        let app = parse(&BASE.replace(
            "notifications = [\"fault\"]",
            "notifications = [\"fault\"]\nuses = [\"virtio2\", \"uart\"]",
        ))
        .unwrap();
        let l = allocate(&app).unwrap();
        let d = &l.tasks[0].devices;
        assert_eq!(d[0].name, "virtio2");
        assert_eq!(d[0].region, Region::new(0x1000_3000, 0x1000));
        assert_eq!(d[1].region.base, 0x1000_0000);
    }

    /// QEMU loads its device tree (1 MiB) at the end of RAM aligned down
    /// to 2 MiB, as a ROM: an image of just over 1 MiB (a 512 KiB text) with `qemu.memory` = 2
    /// fitted the 2 MiB and QEMU refused to start ("Some ROM regions are
    /// overlapping": the tree at 0x8000_0000).
    #[test]
    fn the_image_ends_below_qemus_device_tree() {
        assert_eq!(machine::fdt_base(2), 0x8000_0000);
        assert_eq!(machine::fdt_base(3), 0x8020_0000);
        assert_eq!(machine::fdt_base(4), 0x8020_0000);
        assert_eq!(machine::fdt_base(128), 0x87e0_0000);
        // Above 1 GiB of RAM the tree stays below 3 GiB.
        assert_eq!(machine::fdt_base(2048), 0xbfe0_0000);
        let text = BASE.replace("text = 16384", "text = 524288") + "\n[qemu]\nmemory = 2\n";
        let msg = format!("{:#}", allocate(&parse(&text).unwrap()).unwrap_err());
        assert!(msg.contains("device tree (1 MiB) from 0x80000000"), "{msg}");
        assert!(msg.contains("raise `qemu.memory` to at least 3"), "{msg}");
        let l = allocate(&parse(&text.replace("memory = 2", "memory = 3")).unwrap()).unwrap();
        assert!(l
            .tasks
            .iter()
            .all(|t| t.text.end() <= 0x8020_0000 && t.ram.end() <= 0x8020_0000));
    }

    #[test]
    fn overflow_says_by_how_much() {
        let text = BASE.replace("text = 16384", "text = 2097152") + "\n[qemu]\nmemory = 2\n";
        let app = parse(&text).unwrap();
        let msg = format!("{:#}", allocate(&app).unwrap_err());
        assert!(msg.starts_with("test.toml:"), "{msg}");
        assert!(
            msg.contains("`qemu.memory` = 2 MiB ends RAM at 0x80200000, and QEMU loads its device tree (1 MiB) from 0x80000000"),
            "{msg}"
        );
        // The 2 MiB task text is aligned to 0x8020_0000 and ends at 0x8040_0000;
        // the smaller regions follow it, to 0x8040_7400. With 7 MiB the
        // device tree is at 0x8060_0000 (6 MiB aligned down to 2 MiB).
        assert!(msg.contains("over by 4224000 bytes"), "{msg}");
        assert!(msg.contains("raise `qemu.memory` to at least 7"), "{msg}");
        assert!(msg.contains("shrink the `text`/`ram` budgets"), "{msg}");
    }
}
