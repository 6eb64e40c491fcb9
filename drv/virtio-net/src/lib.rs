//! The virtio-net driver (VIRTIO 1.2 §5.1, "Network Device"): everything the
//! driver task does that is not a syscall, so that the host tests run the
//! real algorithm against the virtio core's software device.
//!
//! The seed's `struct virtio_driver`, in pieces:
//!
//! - the id table: [`ID_TABLE`], what the task hands the bus in `register`;
//! - `probe`: [`Net::probe`] brings a device up — reset, ACKNOWLEDGE,
//!   DRIVER, features (`VIRTIO_NET_F_MAC`, `VIRTIO_NET_F_STATUS`),
//!   FEATURES_OK, receiveq1 and transmitq1, every receive buffer posted,
//!   DRIVER_OK;
//! - `remove`: [`Net::remove`] resets the device and takes every buffer back;
//! - the callback: [`Net::interrupt`] reaps both queues and re-reads the link
//!   status on a configuration change.
//!
//! Frames are copied: between the client's lease and a transmit buffer
//! before the device sees it, and from a receive buffer into the client's
//! lease after the device gave it back ([`memory`]), up to eight per call
//! (`batch`). The kernel's zero-copy lease path (`abi::DMA_LEASE`, which
//! virtio-blk uses) is not used for frames: with batches the isolated TCP
//! echo runs at 0.9-1.0x the linked one (`bench/net-*.toml`), and pinning
//! a lease per 1.5 KiB frame costs more kernel calls than the copy it
//! saves (the kernel copies words at any alignment).
//!
//! # What this crate must never do
//!
//! - **Never let the device write a client's memory**, or any memory but
//!   the receive buffers it was given.
//! - **Never panic on what the device does.** A queue error, a frame
//!   shorter than its header, a transmit that never completes or a device
//!   asking to be reset is a [`DeviceFault`]: the device is reset, every
//!   buffer taken back and the device brought up again. Frames already
//!   received survive; frames in flight are lost, as on a wire, and TCP
//!   retransmits them.
//! - **Never block.** Every operation returns at once; the task waits for
//!   interrupts and its timer between them.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod batch;
pub mod device;
pub mod error;
pub mod header;
pub mod memory;
mod ready;

#[cfg(test)]
mod tests;

pub use device::{
    DeviceFault, Events, Net, ProbeError, RecvError, SendError, REQUEST_FAULTS_IN_A_ROW,
};
pub use memory::NetMemory;

/// The virtio device id of a network card (§5: 1).
pub const DEVICE_ID: u32 = 1;

/// The id table the driver registers with the bus (0 = unused entry).
pub const ID_TABLE: [u32; 4] = [DEVICE_ID, 0, 0, 0];

/// receiveq1 (§5.1.2): the device writes received frames here.
pub const RX_QUEUE: u16 = 0;
/// transmitq1 (§5.1.2): the device reads frames to send from here.
pub const TX_QUEUE: u16 = 1;

/// How long a transmitted frame may stay in flight before the driver takes
/// the device for wedged and resets it.
pub const TX_DEADLINE_MS: u64 = 1000;
