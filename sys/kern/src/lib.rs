//! The Vireo kernel.
//!
//! A Hubris-style microkernel: a fixed table of isolated tasks, strict
//! priority scheduling, synchronous IPC with leases, notifications, and
//! faults that stop a task without disturbing anyone else. Everything but
//! `arch` is portable Rust that runs, and is tested, on the host; `arch`
//! holds the few RISC-V specifics (trap entry, PMP, PLIC, CLINT, UART).
//!
//! What it must never do: panic, hang or corrupt memory because of anything
//! a task or device did. Every pointer a task passes is validated against
//! its regions before use (`umem`), and every error is classified by whom it
//! blames (`err`).

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod console;
pub mod descs;
pub mod err;
pub mod faults;
pub mod ipc;
pub mod kipc;
pub mod leases;
pub mod machine;
pub mod notify;
pub mod sched;
pub mod syscalls;
pub mod system;
pub mod task;
pub mod umem;

#[cfg(target_arch = "riscv32")]
pub mod arch;

#[cfg(test)]
mod tests;
