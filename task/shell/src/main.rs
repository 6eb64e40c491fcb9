//! The UART shell: the image's face when a person runs `cargo xtask run`.
//!
//! It owns the 16550 UART's receive side (app.toml `uses = ["uart"]`, the
//! receive interrupt on its `rx` notification), edits a line with echo and
//! backspace, and carries commands out by IPC: task status and fault
//! injection through the supervisor, the device table and bind/unbind
//! through the virtio bus, sector reads and writes through the `blk<n>`
//! driver tasks, random bytes through `rng0`.
//!
//! It must never be more important than a task it calls (IPC only goes up),
//! never hang on a dead server (the stubs return `ServerRestarted`; it
//! reads the server's state and says whether it restarted, waits out its
//! restart backoff or is stopped), and never panic on what a person types.

#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(target_os = "none")]
mod run;
#[cfg(target_os = "none")]
mod task;
#[cfg(target_os = "none")]
mod uart;

userlib::task_crate!();
