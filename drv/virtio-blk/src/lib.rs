//! The virtio-blk driver of Vireo (VIRTIO 1.2 §5.2), as a library: the
//! driver task (`src/main.rs`) is this code plus the syscalls, and the host
//! tests run the same code against the virtio device model and the mock
//! kernel.
//!
//! It carries the seed's `struct virtio_driver` into code:
//!
//! - the **id table**: [`ID_TABLE`], registered with the bus supervisor
//!   (`idl/virtio-bus.idol`) as the driver's first act;
//! - **probe**: [`BlkDevice::probe`] brings the device up (reset →
//!   ACKNOWLEDGE → DRIVER → features → FEATURES_OK → queue → DRIVER_OK) and
//!   reads capacity, block size and the read-only flag from config space
//!   under the generation check;
//! - **remove**: [`BlkDevice::reset`] quiesces it (device reset, every
//!   request taken back from the ring) when the bus posts its remove bit;
//! - the **callback**: the IRQ path calls `get_buf` ([`BlkDevice::poll`])
//!   until `restart()` returns true, so no completion is lost.
//!
//! [`BlockDriver`] serves `idl/block.idol` on top: `read`/`write` of whole
//! sectors up to 64 KiB, `flush`, `info` (with the serial from GET_ID), each
//! a *deferred* op, so requests of several clients are on the virtqueue at
//! once and each is answered when the device completes it.
//!
//! Layout: [`protocol`] (the spec's names), [`memory`] (the DMA memory and
//! its bounce buffers), [`device`] (one device and its request slots),
//! [`server`] (the IPC side).
//!
//! # What it must never do
//!
//! - Let the device DMA into a client's memory: clients' data goes through
//!   bounce buffers in the driver's own RAM (a client may die and be
//!   re-initialised while its request is in flight).
//! - Trust the device: a used ring that breaks the protocol (reported by
//!   `drv/virtio` as an error blamed on the device) fails the in-flight
//!   requests with `DeviceError` and resets and re-initialises the device;
//!   nothing the device writes can make the driver panic.
//! - Leave a client hanging: every request is answered exactly once,
//!   including when the device is removed (`Removed`) or absent
//!   (`NoDevice`).
//! - Make a syscall itself: those go through `idol_runtime::Ipc` and
//!   [`Platform`].

#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod device;
pub mod geometry;
pub mod memory;
pub mod protocol;
pub mod server;
pub mod slot;
pub mod trace;

pub use device::{BlkDevice, Completion, Geometry, ProbeError, Request, Slot, SlotSet};
pub use memory::{DmaMemory, BOUNCE_LEN, QUEUE_SIZE, SLOTS};
pub use server::{
    BlockDriver, Corrupt, Event, LazyTimer, Platform, BLOCK_BUFFER_SIZE, ID_TABLE, IRQ_BIT,
    PROBE_BIT, REMOVE_BIT, REQUEST_DEADLINE_MS, TIMER_BIT,
};
