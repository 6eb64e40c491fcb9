//! Physical memory protection: the running task's regions, one NAPOT entry
//! each, in entries 0..8 — except a granted virtio window, which takes
//! three more in front of its own to keep the queue registers out
//! ([`VIRTIO_HOLE_ENTRIES`]; `dma` writes those). A U-mode access that
//! matches no entry fails, so a task reaches exactly its own regions.
//!
//! Entry 15 is the kernel stack guard: a *locked* entry with no
//! permissions over the bytes just below the kernel stack. A locked entry
//! binds M-mode too, so a kernel stack overflow faults on its first store
//! into the guard instead of overwriting kernel text (which lies below the
//! kernel's RAM); the trap handler reports it and stops the machine.
//! Entries 8..15 stay off; no other entry is locked, so the kernel's other
//! accesses are unaffected.

use core::arch::asm;

use crate::descs::{
    RegionDesc, MAX_TASK_REGIONS, REGION_EXECUTE, REGION_READ, REGION_VIRTIO, REGION_WRITE,
};
use crate::task::ProtectionCache;

const PMP_R: u32 = 1 << 0;
const PMP_W: u32 = 1 << 1;
const PMP_X: u32 = 1 << 2;
const PMP_NAPOT: u32 = 0b11 << 3;

/// The `pmpaddr` value of a naturally aligned power-of-two region:
/// `(base | (size/2 - 1)) >> 2`. xtask guarantees alignment and size >= 8.
fn napot_addr(r: &RegionDesc) -> usize {
    (r.base | ((r.size >> 1).wrapping_sub(1))) >> 2
}

fn cfg_byte(r: &RegionDesc) -> u32 {
    let mut c = PMP_NAPOT;
    if r.attributes & REGION_READ != 0 {
        c |= PMP_R;
    }
    if r.attributes & REGION_WRITE != 0 {
        c |= PMP_W;
    }
    if r.attributes & REGION_EXECUTE != 0 {
        c |= PMP_X;
    }
    c
}

const PMP_L: u32 = 1 << 7;

/// Locks entry 15 over `[base, base + size)` with no access for any mode.
/// `size` must be a power of two of at least 8 and `base` aligned to it.
/// Until the next reset the entry cannot be changed, not even by the kernel.
pub fn lock_guard(base: usize, size: usize) {
    let addr = napot_addr(&RegionDesc {
        base,
        size,
        attributes: 0,
    });
    let cfg = (PMP_L | PMP_NAPOT) << 24;
    // SAFETY: M-mode writes of entry 15's address and configuration (the
    // top byte of pmpcfg3; entries 12..14 stay off). The region is the
    // stack guard, which nothing may touch, so forbidding all access there
    // takes nothing from any correct code.
    unsafe {
        asm!("csrw pmpaddr15, {0}", in(reg) addr);
        asm!("csrw pmpcfg3, {0}", in(reg) cfg);
    }
}

/// `pmpcfg` address-matching mode TOR: the entry covers
/// `[pmpaddr(i-1), pmpaddr(i))`, whatever entry `i-1`'s own mode.
const PMP_TOR: u32 = 0b01 << 3;

/// The registers of a virtio-mmio window that a driver must not write
/// (they tell the device where memory is, or which ring layout to use;
/// `dma` writes them): the spans `[0x020, 0x050)` (DriverFeatures,
/// DriverFeaturesSel, GuestPageSize, QueueSel, QueueNumMax, QueueNum,
/// QueueAlign, QueuePFN, QueueReady) and `[0x080, 0x0c0)` (QueueDesc,
/// QueueDriver, QueueDevice low and high, and the shared-memory
/// registers). The feature registers are there because a device's
/// accepted features decide the layout of the rings it reads: with
/// `VIRTIO_F_RING_PACKED` a split descriptor's `next`, which the kernel
/// checks only where it links, is the packed descriptor's flags, and a
/// red-team driver's one checked descriptor became an indirect table in
/// its own RAM naming kernel text (on a device started with
/// `packed=on`). The kernel writes them (`DmaOp::Features`) with only the
/// bits whose rings it checks.
///
/// The cheapest arrangement found, 3 entries in front of the window's own
/// NAPOT entry (4 in all, against 1 for an unconfined window): an entry
/// that is off but holds `0x020` as the bottom of the next one, a TOR entry
/// up to `0x050` with no permission, and a NAPOT entry with no permission
/// over the 64 bytes at `0x080`. PMP takes the lowest-numbered matching
/// entry, so these holes win over the window behind them; everything else
/// (ids, the device's features, QueueNotify, interrupt status and ack,
/// Status, ConfigGeneration, config space) stays the driver's. Everything
/// from `0x0c0` up to ConfigGeneration is either unassigned or QueueReset
/// (which only disables a queue: re-enabling it needs QueueReady, which is
/// in a hole; and `VIRTIO_F_RING_RESET` is never accepted).
pub const VIRTIO_HOLE_ENTRIES: usize = 3;

const _: () = assert!(VIRTIO_HOLE_ENTRIES + 1 == crate::descs::VIRTIO_WINDOW_ENTRIES);

/// The entries of a window's holes (address, configuration byte).
fn virtio_holes(window: usize) -> [(usize, u32); VIRTIO_HOLE_ENTRIES] {
    [
        ((window + 0x020) >> 2, 0),
        ((window + 0x050) >> 2, PMP_TOR),
        (
            napot_addr(&RegionDesc {
                base: window + 0x080,
                size: 0x40,
                attributes: 0,
            }),
            PMP_NAPOT,
        ),
    ]
}

/// Compiles `regions` into the words a switch loads: `pmpaddr0..8`, then
/// `pmpcfg0` and `pmpcfg1`. A granted virtio window
/// (`REGION_VIRTIO`) takes [`VIRTIO_HOLE_ENTRIES`] more entries in front
/// of its own. Entries beyond 8 are dropped (the task then lacks its last
/// regions, which fails safe); xtask refuses an image that would need them
/// and the kernel refuses a grant that would.
pub fn compile(regions: &[RegionDesc], cache: &mut ProtectionCache) {
    cache.words = [0; MAX_TASK_REGIONS + 2];
    let mut i = 0;
    for r in regions {
        // The window's holes first, then its own entry: one list, so that
        // one copy of the entry-writing code serves both.
        let holes = if r.attributes & REGION_VIRTIO != 0 {
            VIRTIO_HOLE_ENTRIES
        } else {
            0
        };
        let mut entries = [(0, 0); VIRTIO_HOLE_ENTRIES + 1];
        entries[..VIRTIO_HOLE_ENTRIES].copy_from_slice(&virtio_holes(r.base));
        entries[VIRTIO_HOLE_ENTRIES] = (napot_addr(r), cfg_byte(r));
        for &(addr, cfg) in &entries[VIRTIO_HOLE_ENTRIES - holes..] {
            if i < MAX_TASK_REGIONS {
                cache.words[i] = addr;
                cache.words[MAX_TASK_REGIONS + i / 4] |= (cfg << (8 * (i % 4))) as usize;
                i += 1;
            }
        }
    }
    cache.entries = i;
    cache.valid = true;
}

/// Loads tasks' compiled settings into the PMP. It keeps no copy of what
/// is in force: a switch between two tasks (the only time it loads: the
/// kernel reloads nothing while the same task runs on, `protection_for`)
/// changes every entry in use, since no two tasks share a region, so
/// comparing each entry with the one in force before writing it only
/// cost the load, the compare and the store (some 50 instructions of
/// every switch between two drivers).
pub struct Pmp;

impl Pmp {
    /// The PMP at reset.
    pub const fn new() -> Self {
        Pmp
    }

    /// Loads a task's compiled settings (`count` entries): its entries'
    /// addresses, then both configuration words, which turn every entry
    /// from `count` to 8 off. An entry left off keeps the previous task's
    /// address, which nothing reads: an entry's address matters only to
    /// itself and as the bottom of a TOR entry right after it, and the
    /// entries after it are off too (a task's TOR entries follow an entry
    /// of its own, `virtio_holes`).
    ///
    /// Entries 0..8 are never locked and no U-mode instruction runs until
    /// `mret`, so the order of the writes does not matter: a half-updated
    /// set is never in force for a task, and M-mode accesses ignore
    /// unlocked entries.
    ///
    /// This runs on every task switch, the IPC round trip's included, so it
    /// is straight-line code: one compare per possible entry and a write
    /// for each one in use (the CSR number is part of the instruction, so
    /// each entry gets its own `csrw`, not a call through a table).
    #[inline(always)]
    pub fn load(&mut self, cache: &ProtectionCache, count: usize) {
        macro_rules! entry {
            ($i:literal, $csr:literal) => {
                if $i < count {
                    // SAFETY: M-mode write of an unlocked entry's
                    // address (entries 0..8); see above.
                    unsafe { asm!(concat!("csrw ", $csr, ", {0}"), in(reg) cache.words[$i]) };
                }
            };
        }
        entry!(0, "pmpaddr0");
        entry!(1, "pmpaddr1");
        entry!(2, "pmpaddr2");
        entry!(3, "pmpaddr3");
        entry!(4, "pmpaddr4");
        entry!(5, "pmpaddr5");
        entry!(6, "pmpaddr6");
        entry!(7, "pmpaddr7");
        const _: () = assert!(MAX_TASK_REGIONS == 8, "one entry! line per region");
        let (cfg0, cfg1) = (
            cache.words[MAX_TASK_REGIONS],
            cache.words[MAX_TASK_REGIONS + 1],
        );
        // SAFETY: M-mode writes of pmpcfg0 and pmpcfg1 (entries 0..8,
        // never locked); see above.
        unsafe {
            asm!("csrw pmpcfg0, {0}", in(reg) cfg0);
            asm!("csrw pmpcfg1, {0}", in(reg) cfg1);
        }
        // Privileged spec 3.7.2: after PMP CSRs change, SFENCE.VMA with
        // x0, x0 synchronises them with any address-translation or PMP
        // caches. QEMU needs it: it keeps permissions in its TLB and
        // (in 7.2) flushes that on pmpcfg writes but not on pmpaddr
        // writes, so skipping an unchanged pmpcfg without this let a
        // task reach the previous task's pages.
        // SAFETY: a fence; it changes no state the kernel relies on.
        unsafe { asm!("sfence.vma zero, zero") };
    }
}
