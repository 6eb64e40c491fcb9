//! The counters the kernel lets tasks read (`mcounteren`): retired
//! instructions, the unit of every Vireo benchmark (exact under QEMU's
//! `-icount`), and the timer.

/// Reads a 64-bit user-level counter CSR pair (`$hi`/`$lo`), re-reading
/// across a carry of the low word. 0 on the host.
macro_rules! read_counter64 {
    ($hi:literal, $lo:literal) => {{
        #[cfg(target_arch = "riscv32")]
        loop {
            let (hi, lo, hi2): (u32, u32, u32);
            // SAFETY: reading the user-level counter CSRs has no side
            // effects; the kernel makes them readable in U-mode
            // (`mcounteren`).
            unsafe {
                core::arch::asm!(
                    concat!("csrr {0}, ", $hi),
                    concat!("csrr {1}, ", $lo),
                    concat!("csrr {2}, ", $hi),
                    out(reg) hi, out(reg) lo, out(reg) hi2);
            }
            if hi == hi2 {
                break ((hi as u64) << 32) | lo as u64;
            }
        }
        #[cfg(not(target_arch = "riscv32"))]
        0
    }};
}

/// Reads the 64-bit retired-instruction counter (`instret`/`instreth`).
/// 0 on the host.
pub fn instret() -> u64 {
    read_counter64!("instreth", "instret")
}

/// Reads the timer (`time`/`timeh`, the machine timer `mtime` the kernel
/// reads): the `now` of [`sys_get_timer`](crate::sys_get_timer), in the
/// same ticks, without a syscall. 0 on the host.
pub fn timer_now() -> u64 {
    read_counter64!("timeh", "time")
}
