//! The shell's logic, apart from the UART and the syscalls so that the host
//! tests run it: what a keystroke does to the line ([`line`]), what a line
//! asks for ([`command`]), which block of a disk holds a sector
//! ([`block`]), how bytes are shown ([`hexdump`]), how a size
//! is written ([`size`]), what a virtio device id is called ([`class`]),
//! how text other tasks wrote is made safe for the terminal ([`shown`]),
//! what a task's answer to `ringbuf` means ([`trace`]), what became of
//! a task the operator faulted ([`aftermath`]) and what to say of a
//! server that did not answer a call ([`unanswered`]). The supervisor's restart
//! log is read by `supervisor_api::restart_log`, shared with the status
//! page.
//!
//! The task (`main.rs`) owns the UART and carries the commands out by IPC.
//! Nothing here may panic on what a person types: every input byte and
//! every line has an answer, if only "unknown command".

#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod aftermath;
pub mod block;
pub mod class;
pub mod command;
pub mod hexdump;
pub mod line;
pub mod shown;
pub mod size;
pub mod trace;
pub mod unanswered;

pub use command::{Command, ParseError};
pub use line::{Key, LineEditor};

/// What the shell prints when it is ready for a command.
pub const PROMPT: &str = "vireo> ";
