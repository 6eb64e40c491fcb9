//! The net task: the TCP/IP stack (smoltcp) between one NIC driver
//! (`idl/ethernet.idol`) and the tasks that use sockets (`idl/net.idol`).
//!
//! It must never trust its clients' arguments (every socket id is checked
//! against its owner) nor its driver's frames (smoltcp parses them), and it
//! must keep serving when the driver restarts: frames lost meanwhile are
//! retransmitted by TCP; the stack state lives here, not in the driver.
//!
//! app.toml: `notifications = ["nic", "timer"]`, `slots = [<the NIC
//! driver>]`, `config = { … }` (see `settings`).

#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(target_os = "none")]
mod task;

userlib::task_crate!();
