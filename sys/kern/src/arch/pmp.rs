//! Physical memory protection: the running task's regions, one NAPOT entry
//! each, in entries 0..8. A U-mode access that matches no entry fails, so a
//! task reaches exactly its own regions.
//!
//! Entry 15 is the kernel stack guard: a *locked* entry with no
//! permissions over the bytes just below the kernel stack. A locked entry
//! binds M-mode too, so a kernel stack overflow faults on its first store
//! into the guard instead of overwriting kernel text (which lies below the
//! kernel's RAM); the trap handler reports it and stops the machine.
//! Entries 8..15 stay off; no other entry is locked, so the kernel's other
//! accesses are unaffected.

use core::arch::asm;

use crate::descs::{RegionDesc, MAX_TASK_REGIONS, REGION_EXECUTE, REGION_READ, REGION_WRITE};

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

/// Programs entries 0..8 for `regions` (extra regions beyond 8 are ignored;
/// xtask refuses to build such an image).
pub fn apply(regions: &[RegionDesc]) {
    let mut addr = [0usize; MAX_TASK_REGIONS];
    let mut cfg = [0u32; 2];
    for (i, r) in regions.iter().take(MAX_TASK_REGIONS).enumerate() {
        addr[i] = napot_addr(r);
        cfg[i / 4] |= cfg_byte(r) << (8 * (i % 4));
    }
    // SAFETY: M-mode writes of the PMP CSRs for entries 0..8. No entry is
    // locked, so the kernel's own accesses are unaffected; configuration is
    // cleared first so no half-written entry is ever active.
    unsafe {
        asm!("csrw pmpcfg0, zero", "csrw pmpcfg1, zero");
        asm!(
            "csrw pmpaddr0, {0}", "csrw pmpaddr1, {1}", "csrw pmpaddr2, {2}", "csrw pmpaddr3, {3}",
            in(reg) addr[0], in(reg) addr[1], in(reg) addr[2], in(reg) addr[3],
        );
        asm!(
            "csrw pmpaddr4, {0}", "csrw pmpaddr5, {1}", "csrw pmpaddr6, {2}", "csrw pmpaddr7, {3}",
            in(reg) addr[4], in(reg) addr[5], in(reg) addr[6], in(reg) addr[7],
        );
        asm!("csrw pmpcfg0, {0}", "csrw pmpcfg1, {1}", in(reg) cfg[0], in(reg) cfg[1]);
    }
}
