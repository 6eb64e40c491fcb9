//! Control and status registers the kernel sets at boot and reads on traps.

use core::arch::asm;

/// `mstatus.MPP` mask: the privilege mode the trap came from.
pub const MSTATUS_MPP: usize = 0b11 << 11;
/// `mstatus.MPIE`: interrupts enabled after `mret`.
const MSTATUS_MPIE: usize = 1 << 7;
/// `mie` bits: machine timer and external interrupts.
const MIE_MTIE: usize = 1 << 7;
const MIE_MEIE: usize = 1 << 11;

/// Reads a CSR by name.
macro_rules! read {
    ($csr:literal) => {{
        let v: usize;
        // SAFETY: reading a machine-mode CSR has no side effects for the
        // registers used here, and the kernel runs in M-mode.
        unsafe { core::arch::asm!(concat!("csrr {0}, ", $csr), out(reg) v) };
        v
    }};
}
pub(crate) use read;

/// One-time CSR set-up: trap vector, return-to-U-mode defaults, interrupt
/// enables, and counters readable from U-mode (benchmarks use `rdinstret`).
pub fn init() {
    extern "C" {
        fn vireo_trap_entry();
    }
    let mtvec = vireo_trap_entry as *const () as usize;
    // SAFETY: M-mode set-up before any task runs. mtvec points at the
    // 4-byte-aligned trap entry (direct mode); MPP = U (00) and MPIE so that
    // `mret` enters tasks in U-mode with interrupts on; counters are made
    // readable in U-mode (they reveal nothing a task could not time itself).
    unsafe {
        asm!("csrw mtvec, {0}", in(reg) mtvec);
        asm!("csrc mstatus, {0}", in(reg) MSTATUS_MPP);
        asm!("csrs mstatus, {0}", in(reg) MSTATUS_MPIE);
        asm!("csrw mie, {0}", in(reg) MIE_MTIE | MIE_MEIE);
        asm!("csrw mcounteren, {0}", in(reg) 0b111);
        asm!("csrw scounteren, {0}", in(reg) 0b111);
    }
}
