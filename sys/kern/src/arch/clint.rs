//! The CLINT timer of QEMU `virt`: `mtime` and hart 0's `mtimecmp`.

const MTIME: usize = 0x0200_bff8;
const MTIMECMP: usize = 0x0200_4000;

/// Reads the 64-bit `mtime` with 32-bit loads, retrying across a carry.
pub fn now() -> u64 {
    loop {
        // SAFETY: MTIME is the CLINT's always-present timer register on QEMU
        // virt; 32-bit volatile reads of it have no side effects.
        let (hi, lo, hi2) = unsafe {
            (
                core::ptr::read_volatile((MTIME + 4) as *const u32),
                core::ptr::read_volatile(MTIME as *const u32),
                core::ptr::read_volatile((MTIME + 4) as *const u32),
            )
        };
        if hi == hi2 {
            return ((hi as u64) << 32) | lo as u64;
        }
    }
}

/// Programs the timer interrupt, or parks it at the end of time.
pub fn set_deadline(deadline: Option<u64>) {
    let d = deadline.unwrap_or(u64::MAX);
    // SAFETY: MTIMECMP is hart 0's compare register. Writing the high word
    // to all-ones first keeps the 64-bit value from passing through a
    // spurious early deadline while the halves are updated.
    unsafe {
        core::ptr::write_volatile((MTIMECMP + 4) as *mut u32, u32::MAX);
        core::ptr::write_volatile(MTIMECMP as *mut u32, d as u32);
        core::ptr::write_volatile((MTIMECMP + 4) as *mut u32, (d >> 32) as u32);
    }
}
