//! Host tests of the portable kernel core.
//!
//! The tests play the tasks' part: they set a task's saved registers the way
//! its syscall stubs would, call the dispatcher (`syscalls::syscall`) or an
//! event entry point (`exception`, `notify::interrupt`,
//! `notify::service_timers`), and check registers, task states, the bytes in
//! the tasks' memory and what the mock machine recorded.
//!
//! Task memory is real: every region is a buffer in a low-address arena (see
//! `harness::arena`), so the kernel's validated copies move real bytes, and
//! lease descriptors (which carry 32-bit addresses, as on the target) can
//! name it.

mod harness;

mod bounds;
mod budget;
mod dma;
mod fastpath;
mod faults;
mod fuzz;
mod ipc;
mod kipc;
mod leases;
mod light;
mod misc;
mod notify;
mod redelivery;
mod regions;
mod sched;
mod server_time;
mod share;
mod table;
mod umem;
