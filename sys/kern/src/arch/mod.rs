//! RISC-V (RV32IMAC, M-mode kernel, U-mode tasks) on QEMU `virt`.
//!
//! The only part of the kernel that knows the machine. [`SavedState`] (the
//! register layout the trap entry saves) is plain data, built everywhere
//! so that the portable kernel and its host tests use it through named
//! accessors; everything else — the trap entry, PMP programming, the PLIC,
//! the CLINT timer, the UART console, `memcpy`/`memset` and QEMU's test finisher, and
//! [`Machine`](crate::machine::Machine) on them — only exists on the
//! target. All policy lives in the portable modules.

mod saved;
pub use saved::SavedState;

#[cfg(target_arch = "riscv32")]
mod clint;
#[cfg(target_arch = "riscv32")]
mod csr;
#[cfg(target_arch = "riscv32")]
mod mem;
#[cfg(target_arch = "riscv32")]
mod plic;
#[cfg(target_arch = "riscv32")]
mod pmp;
#[cfg(target_arch = "riscv32")]
mod trap;
#[cfg(target_arch = "riscv32")]
mod uart;
#[cfg(target_arch = "riscv32")]
mod virt;

#[cfg(target_arch = "riscv32")]
pub use virt::*;
