//! The virtio core library of Vireo: what every virtio driver task needs to
//! talk to a device, written to the VIRTIO 1.2 specification.
//!
//! It carries the model of the original `<linux/virtio.h>` into Rust: a
//! [`transport::Transport`] brings a device up and down (status sequence,
//! feature negotiation, queue setup, notifications, interrupts, config space),
//! and a [`queue::SplitQueue`] is the seed's `struct virtqueue` with its
//! `virtqueue_ops`: [`add_buf`](queue::SplitQueue::add_buf),
//! [`kick`](queue::SplitQueue::kick), [`get_buf`](queue::SplitQueue::get_buf),
//! [`restart`](queue::SplitQueue::restart) and
//! [`shutdown`](queue::SplitQueue::shutdown).
//!
//! # Layout
//!
//! The folder is the architecture:
//!
//! - [`regs`]: the one seam between the algorithms and the hardware: 8/16/32-bit
//!   register reads and writes at an offset. On target it is volatile MMIO; on
//!   the host, tests substitute a software device model.
//! - [`transport`]: the [`transport::Transport`] trait (device
//!   status, feature negotiation, interrupts, config space) and its virtio-mmio
//!   implementation for both register layouts (version 1 "legacy" and
//!   version 2), in [`transport::mmio`].
//! - [`queue`]: the split virtqueue (§2.7): its memory layout, the caller-provided
//!   ring memory, and the driver side of the ring protocol.
//! - [`features`], [`config`], [`error`]: feature bits (§6), generation-guarded
//!   config space reads (§2.5, §4.2.2), and the errors, each of which says who
//!   is to blame.
//!
//! # What this crate must never do
//!
//! - **Never trust the device.** Everything it writes (the used ring, the status
//!   register, feature bits, config space) is an allegation. A used entry naming
//!   a descriptor out of range or not in flight, a length larger than the
//!   buffers the device was allowed to write, or a used index that runs ahead of
//!   what was made available is reported as an [`error::Error`] whose
//!   [`blame`](error::Error::blame) is the device, so the driver resets it.
//! - **Never panic on device input**, never index out of bounds because of it,
//!   and never hand a token back twice. After the first device error a queue is
//!   *broken*: every operation but [`shutdown`](queue::SplitQueue::shutdown)
//!   refuses, and `shutdown` returns each outstanding token exactly once.
//! - **Never keep driver state in memory the device can write.** The free list,
//!   the chains and the tokens live in the queue's private fields; the rings are
//!   only ever written, or read and checked.
//! - **Never spin forever on the device.** Every wait (reset, config generation)
//!   is bounded and ends in an error.
//!
//! # Addresses
//!
//! Vireo runs without an IOMMU and with physical = virtual addresses: the
//! address of a buffer or ring in the driver task's RAM is the address the
//! device uses. Ring memory ([`queue::QueueMemory`], [`queue::IndirectTables`])
//! is provided by the caller, typically a `static` in the driver task.

//! # Example
//!
//! A driver task bringing up an entropy device and reading from it (the
//! addresses are QEMU `virt`'s first virtio-mmio slot; a real task gets its
//! slot from the bus supervisor):
//!
//! ```no_run
//! use virtio::regs::Mmio;
//! use virtio::{Buf, Features, MmioTransport, QueueMemory, Transport};
//!
//! static mut RING: QueueMemory<8> = QueueMemory::new();
//! static mut ENTROPY: [u8; 64] = [0; 64];
//!
//! fn main() -> Result<(), virtio::Error> {
//!     // SAFETY: the supervisor granted this task the slot at 0x1000_1000.
//!     let regs = unsafe { Mmio::new(0x1000_1000) };
//!     let mut dev = MmioTransport::new(regs)?;
//!     let features = dev.negotiate(Features::VIRTIO_F_EVENT_IDX)?;
//!     // SAFETY: the only reference ever made to RING.
//!     let ring = unsafe { &mut *core::ptr::addr_of_mut!(RING) };
//!     let mut queue = dev.setup_queue::<u32, 8>(0, ring, features)?;
//!     dev.driver_ok()?;
//!
//!     let buf = Buf::new(core::ptr::addr_of!(ENTROPY).expose_provenance() as u64, 64);
//!     // SAFETY: ENTROPY is only touched again after its token comes back.
//!     unsafe { queue.add_buf(&[], &[buf], 1)? };
//!     queue.kick(&mut dev);
//!     loop {
//!         while let Some((token, len)) = queue.get_buf()? {
//!             assert_eq!(token, 1);
//!             let _ = len; // bytes of entropy written
//!             return Ok(());
//!         }
//!         if queue.restart() {
//!             // Safe to sleep: wait for the IRQ notification, then
//!             // `dev.take_interrupt()` and re-enable the IRQ.
//!         }
//!     }
//! }
//! ```

#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod class;
pub mod config;
pub mod error;
pub mod features;
pub mod queue;
pub mod regs;
pub mod transport;

pub use error::{Blame, Error, ProbeError};
pub use features::Features;
#[cfg(target_os = "none")]
pub use queue::KernelGate;
pub use queue::{Buf, DmaGate, IndirectTables, QueueMemory, SplitQueue};
pub use regs::RegisterAccess;
pub use transport::mmio::MmioTransport;
pub use transport::{DeviceStatus, InterruptStatus, Transport};
