//! The virtio-net driver task: one instance per NIC (`net0`, … in app.toml,
//! all this crate), each serving `idl/ethernet.idol` for the device the bus
//! supervisor binds to it.
//!
//! Its life follows the seed's `virtio_driver`: the first act is
//! `register(ID_TABLE)` to the bus; a probe record brings the device up
//! (`Net::probe`) in the granted window; the remove bit takes it down
//! (`Net::remove`, then `removed()` to the bus); the probe bit means a
//! device became free, so it registers again. It always answers its client
//! at once — `NoDevice` while it holds no device — and never blocks on the
//! device.
//!
//! It must never let the device write a client's memory (every frame is
//! copied through this task's DMA buffers) and never touch the window after
//! telling the bus `removed`.
//!
//! app.toml: `notifications = ["irq", "remove", "probe", "timer"]` (bits 0–3),
//! `slots = ["supervisor"]`, more important than its client (the stack).

#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(target_os = "none")]
mod task;

userlib::task_crate!();
