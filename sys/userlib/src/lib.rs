//! The task runtime: what every Vireo task links against.
//!
//! - `_start` (in [`start`]): copies the task's .data initialiser from its
//!   text region, clears .bss, calls the task's `main`;
//! - typed syscall stubs ([`sys_send`], [`sys_recv`], [`sys_reply`], …);
//! - a panic handler that hands the message to the kernel ([`sys_panic`]);
//! - [`tasks`]: a `TaskId` constant per task of the image (task slots);
//! - [`sys_log!`]: formatted console output through the kernel, for
//!   bring-up and tests;
//! - [`kipc`]: the supervisor's kernel operations;
//! - [`traces`]: every task answers a trace reader's "show me your
//!   ringbufs" inside its `recv`, before the task sees the message.
//!
//! It must never hide a failure: every syscall result is returned to the
//! caller typed, and a DEAD code is never mistaken for a reply.

#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod config;
mod counter;
mod host;
pub mod kipc;
pub mod log;
mod raw;
pub mod start;
mod syscalls;
pub mod traces;

pub use abi::{self, Lease, TaskId};
pub use counter::{instret, timer_now};
pub use syscalls::*;

/// One `TaskId` constant per task in the image being built, named after the
/// task in upper case (`pong` → `PONG`), at generation 0.
pub mod tasks {
    #[allow(unused_imports)]
    use abi::{Authority, Generation, RestartKind, RestartPolicy, TaskId};
    include!(concat!(env!("OUT_DIR"), "/tasks.rs"));
}
