//! The virtio-rng driver task: serves `idl/entropy.idol` (`fill` of any
//! length) from the virtio entropy device the bus supervisor binds to it.
//!
//! Its life follows the seed's `virtio_driver`: the first act is
//! `register(ID_TABLE)` to the bus; a probe record brings the device up
//! (`Rng::probe`) in the granted window; the remove bit takes it down
//! (`Rng::remove`, then `removed()` to the bus); the probe bit means a
//! device became free, so it registers again. Meanwhile it always answers
//! its clients — `NoDevice` while it holds no device, `Removed` for a fill
//! cut short by a remove, `TimedOut` when the device was too slow for the
//! deadline, `DeviceError` when the device misbehaved — and
//! never leaves one hanging.
//!
//! It must never let the device write a client's memory (every byte goes
//! through the bounce buffer in this task's RAM) and never touch the
//! window after telling the bus `removed`.

#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(target_os = "none")]
mod task;

userlib::task_crate!();
