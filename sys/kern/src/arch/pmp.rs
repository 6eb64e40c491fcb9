//! Physical memory protection: the running task's regions, one NAPOT entry
//! each, in entries 0..8. Entries 8..16 stay off. A U-mode access that
//! matches no entry fails, so a task reaches exactly its own regions; the
//! kernel (M-mode, no locked entries) is unaffected.

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
