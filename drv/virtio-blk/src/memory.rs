//! The driver's DMA memory: the ring, and per request slot a header, a
//! status byte and a bounce buffer of [`BOUNCE_LEN`] bytes.
//!
//! Without the kernel's gate (host tests) the device only ever reaches this
//! memory: data is copied between a client's lease and a slot's bounce
//! buffer by the driver (`borrow_read` before a write is submitted,
//! `borrow_write` after a read completed). In a task the gate posts the
//! client's lease itself (zero-copy), and the kernel pins the client until
//! the device gave it back or was reset, so a client that dies with a
//! request in flight is never re-initialised under the device.
//!
//! Every byte lives in an `UnsafeCell`: the device writes it behind the
//! compiler's back. [`BlkDevice`](crate::BlkDevice) hands out Rust
//! references to a slot's bytes only while the device does not own the
//! slot.

use core::cell::UnsafeCell;

use block_api::MAX_TRANSFER;

/// Bytes of each slot's bounce buffer. In a Vireo task the queue goes
/// through the kernel's DMA gate, which lets the device move a client's
/// lease itself (zero-copy): the bounce buffer then only carries GET_ID's
/// serial. Without a gate (the host tests against the device model) whole
/// requests are copied through it.
#[cfg(target_os = "none")]
pub const BOUNCE_LEN: usize = 512;
/// Bytes of each slot's bounce buffer; see the target's.
#[cfg(not(target_os = "none"))]
pub const BOUNCE_LEN: usize = MAX_TRANSFER;

const _: () =
    assert!(BOUNCE_LEN >= crate::protocol::VIRTIO_BLK_ID_BYTES && BOUNCE_LEN <= MAX_TRANSFER);
use virtio::QueueMemory;

/// Requests the driver keeps in flight at once (each has its own bounce
/// buffer). More clients than this wait in the kernel's send queue: the
/// driver does not receive a request it has no slot for.
pub const SLOTS: usize = 4;

/// Ring entries: each request is a chain of three descriptors (header,
/// data, status), so 16 holds every slot's chain.
pub const QUEUE_SIZE: usize = 16;

/// Descriptors per request chain.
pub(crate) const DESCS_PER_REQUEST: usize = 3;

const _: () = assert!(SLOTS * DESCS_PER_REQUEST <= QUEUE_SIZE);
const _: () = assert!(SLOTS <= u8::MAX as usize);

/// All the memory a virtio-blk device may access by DMA, provided by the
/// driver task (a `static`) or by a test (the device model's guest memory).
/// Size: about 264 KiB.
#[repr(C, align(4096))]
pub struct DmaMemory {
    /// The split virtqueue.
    pub(crate) ring: QueueMemory<QUEUE_SIZE>,
    /// Per slot: the data of one request.
    pub(crate) bounce: UnsafeCell<[[u8; BOUNCE_LEN]; SLOTS]>,
    /// Per slot: the request header (§5.2.6), 16 bytes, as words (so that
    /// it can be written a word at a time).
    pub(crate) headers: UnsafeCell<[[u32; 4]; SLOTS]>,
    /// Per slot: the status byte the device writes last (padded to 4).
    pub(crate) status: UnsafeCell<[[u8; 4]; SLOTS]>,
}

impl DmaMemory {
    /// Zeroed memory, usable in a `static` initialiser.
    pub const fn new() -> Self {
        DmaMemory {
            ring: QueueMemory::new(),
            bounce: UnsafeCell::new([[0; BOUNCE_LEN]; SLOTS]),
            headers: UnsafeCell::new([[0; 4]; SLOTS]),
            status: UnsafeCell::new([[0; 4]; SLOTS]),
        }
    }
}

impl Default for DmaMemory {
    fn default() -> Self {
        Self::new()
    }
}
