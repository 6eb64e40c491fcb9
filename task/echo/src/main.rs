//! The echo service task (RFC 862) on TCP and UDP port 7: see `task.rs`.

#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(target_os = "none")]
mod task;

userlib::task_crate!();
