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
//!
//! # Authority
//!
//! The model (who may do what, who decides, how it is enforced) is written
//! once, in the README's "Authority" section. The kernel's part of it:
//!
//! - a task touches only its regions (PMP), `send`s only to its slots and
//!   up the priority order (`ipc`), and `post`s only to its slots or its
//!   app.toml `posts`, only bits the target declares `postable`; interrupt
//!   bits and the supervisor's fault bit are the kernel's alone
//!   (`notify::check_post`);
//! - only the supervisor has `kipc`; a device grant never routes an
//!   interrupt that is routed already, and a revoke takes back only what
//!   that task holds (`kipc`); `FaultTask`, `Shutdown` and `Inject` exist
//!   only in test kernels (features `test-control`, `fault-injection`);
//! - generations are 16 bits wide, so a stale `TaskId` stays stale for
//!   65,536 restarts (`abi::TaskId`);
//! - the kernel's own stack has a locked PMP guard below it: an overflow
//!   stops the machine with "kernel stack overflow" instead of running into
//!   kernel text (`arch::pmp`).
//!
//! # Untrusted servers and CPU budgets
//!
//! Two rules keep an untrusted task (every driver, by app.toml's defaults)
//! from hurting others through the kernel:
//!
//! - *A driver's verdicts do not kill clients.* `reply_fault` from a server
//!   app.toml marks untrusted (`trusted = false`, the default for drivers:
//!   tasks with `drives`) completes the client's `send` with
//!   `abi::rejected_code(reason)` instead of faulting it; only a trusted
//!   server's `reply_fault` faults the client (`syscalls::reply_fault`). Everything else a server can do to
//!   a waiting client already ends in a reply or a DEAD code: a reply that
//!   is too big or uses a kernel code faults the *server*, a reply to a
//!   task not waiting on it is dropped, and a server that dies wakes its
//!   callers with DEAD. One that never replies is the supervisor's to
//!   restart (its watchdog), which wakes the callers with DEAD. Nor may it
//!   pick whom it serves: its `recv` names no one task (`ipc::recv`,
//!   `abi::REFUSED_CLOSED_RECV`), so a caller it leaves waiting is one it
//!   received, which the watchdog sees.
//! - *A task that runs past its CPU budget without waiting for work is
//!   faulted* (`budget`), however many syscalls or calls it makes, so a
//!   spinning driver cannot starve the tasks below it.

//!
//! # DMA confinement
//!
//! PMP confines a task's CPU, not its device: virtio-mmio on QEMU's `virt`
//! has no IOMMU, so a device reads and writes whatever its descriptors
//! name. The kernel is therefore the only author of every address a device
//! is given (`dma`): descriptor tables and available rings live in each
//! driver's ring region, which the kernel writes and the driver may only
//! read; the queue registers are left out of a granted window by PMP holes
//! (`arch::pmp`) and written by the kernel's queue setup, for an idle queue
//! only; every descriptor is checked to name the driver's own RAM. The
//! feature registers are in the holes too, and the kernel writes a driver's
//! features with only the transport bits of the split rings it checks
//! (`abi::DMA_FEATURES_ALLOWED`): what a device accepts decides how it
//! reads its rings, and a packed ring reads a checked split descriptor's
//! `next` as its flags. The README's "Isolation" section says what this
//! confines and what not.
//!
//! Zero-copy: a descriptor may also name a lease of the call the driver is
//! serving (`abi::DMA_LEASE`), checked like a borrow (the lender blocked
//! calling this driver now, the range inside the lease, a device write
//! only into a writable lease). Posting it *pins* the lender: every
//! descriptor of that chain is recorded in the ring region as holding the
//! lender's memory, and the pin is released only when the device names
//! the chain in its used ring or the queue is idle (the device was reset).
//!
//! The ordering argument — no DMA lands in a client's memory once the
//! client runs again or is re-initialised:
//!
//! 1. A client blocked in `send` does not run; its memory changes only by
//!    the kernel's copies or its driver's device.
//! 2. It runs again only when answered: by `reply`/`reply_fault` of the
//!    driver, refused (`DMA_PINNED`) while a pin on it stands (the fast
//!    path leaves such replies to the general path); or by DEAD when the
//!    driver dies or restarts, which `faults::wake_callers` delivers only
//!    after `dma::quiesce` reset the device and found the queue idle (a
//!    device that does not reset keeps its lenders blocked).
//! 3. It is re-initialised only by `faults::restart_task`, which first
//!    quiesces the device of any driver pinning it, and refuses the
//!    restart if the pin still stands (the device did not reset); a
//!    revoked grant is quiesced first too, and only the device a queue
//!    was set up on can release its pins (`dma::release`; another device
//!    granted later does not set the queue up over them), so a pin never
//!    outlives the kernel's reach to its device.
//! 4. Every chain the kernel writes, of a lease or of the driver's own
//!    buffers, holds its descriptors until the device gives it back or is
//!    reset, and a post may neither rewrite a held descriptor
//!    (`DMA_PINNED`) nor visit one twice. So each descriptor the device
//!    can follow belongs to exactly one chain, made available once: the
//!    chain the device gives back is the chain that was pinned, no other
//!    use of its descriptors is outstanding, and the release in step 2
//!    frees exactly what the device is done with. (Holding only a lease
//!    chain's descriptors was not enough: a head made available as a chain
//!    of the driver's own buffers and again, rewritten, as a lease chain
//!    ran the lease chain twice, and its first completion released the
//!    pins while the second still wrote the lender's buffer.)
//!
//! None of this trusts the driver or the supervisor; it trusts the device
//! (QEMU) to report in its used ring only chains it has finished, and to
//! stop all DMA on reset. The driver's own RAM is re-initialised only at
//! its restart, after the same quiesce.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
// Task memory is touched only in `umem`, hardware only in `arch`: the
// compiler holds every other module to no `unsafe` at all.
#![deny(unsafe_code)]

pub mod budget;
pub mod console;
pub mod descs;
pub mod dma;
pub mod err;
pub mod fastpath;
pub mod faults;
pub mod ipc;
pub mod kipc;
pub mod leases;
pub mod machine;
pub mod notify;
pub mod probes;
pub mod sched;
pub mod share;
pub mod syscalls;
pub mod system;
pub mod table;
pub mod task;
#[allow(unsafe_code)]
pub mod umem;

#[allow(unsafe_code)]
pub mod arch;

// The host harness maps the tasks' memory (`mmap`) and plays their part
// in it.
#[cfg(test)]
#[allow(unsafe_code)]
mod tests;
