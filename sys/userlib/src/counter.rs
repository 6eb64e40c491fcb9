//! The retired-instruction counter, which the kernel lets tasks read: the
//! unit of every Vireo benchmark (exact under QEMU's `-icount`).

/// Reads the 64-bit retired-instruction counter (`instret`/`instreth`,
/// re-reading across a carry of the low word). 0 on the host.
pub fn instret() -> u64 {
    #[cfg(target_arch = "riscv32")]
    loop {
        let (hi, lo, hi2): (u32, u32, u32);
        // SAFETY: reading the user-level counter CSRs has no side effects;
        // the kernel makes them readable in U-mode (`mcounteren`).
        unsafe {
            core::arch::asm!("csrr {0}, instreth", "csrr {1}, instret", "csrr {2}, instreth",
                out(reg) hi, out(reg) lo, out(reg) hi2);
        }
        if hi == hi2 {
            return ((hi as u64) << 32) | lo as u64;
        }
    }
    #[cfg(not(target_arch = "riscv32"))]
    0
}
