//! The virtio-rng driver (VIRTIO 1.2 §5.4, "Entropy Device"): everything the
//! driver task does that is not a syscall, so that the host tests run the
//! real algorithm against the virtio core's software device.
//!
//! The seed's `struct virtio_driver`, in pieces:
//!
//! - the id table: [`ID_TABLE`], what the task hands the bus in `register`;
//! - `probe`: [`Rng::probe`] brings a device up — reset, ACKNOWLEDGE, DRIVER,
//!   features, FEATURES_OK, queue 0, DRIVER_OK;
//! - `remove`: [`Rng::remove`] resets the device and takes every buffer back;
//! - the callback: [`Rng::interrupt`], and inside [`Rng::fill`] the IRQ path
//!   that calls `get_buf` until `restart()` returns true.
//!
//! The entropy server and the driver's life with the bus are
//! [`server::EntropyDriver`], generic over the syscalls
//! ([`server::Platform`]) so that they are host-tested too; the task
//! (`task.rs`) only supplies those.
//!
//! A fill of any length is a loop of device requests ([`fill::Fill`]), each
//! into the driver's own [`bounce::BounceBuffer`] and then copied out by the
//! caller's sink (in the task: into the client's lease).
//!
//! # What this crate must never do
//!
//! - **Never let the device write a client's memory.** The device only ever
//!   gets the bounce buffer's address; bytes reach the client by copy, after
//!   the device has handed the buffer back.
//! - **Never panic on what the device does.** A queue error, a request that
//!   never completes or a device that keeps returning nothing is a
//!   [`DeviceFault`]: the device is reset, the buffer taken back, the request
//!   fails, and the next request brings the device up again.
//! - **Never wait without a way out.** Every wait is for an interrupt, a
//!   remove request or a deadline ([`Event`]).

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod bounce;
pub mod device;
pub mod fill;
pub mod server;

#[cfg(test)]
mod tests;

pub use bounce::BounceBuffer;
pub use device::{DeviceFault, Event, FillError, ProbeError, Rng, Wait};
pub use fill::Fill;

/// The virtio device id of an entropy source (§5: 4).
pub const DEVICE_ID: u32 = 4;

/// The id table the driver registers with the bus (0 = unused entry).
pub const ID_TABLE: [u32; 4] = [DEVICE_ID, 0, 0, 0];

/// The only virtqueue of an entropy device: `requestq` (§5.4.2).
pub const REQUEST_QUEUE: u16 = 0;
