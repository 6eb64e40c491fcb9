//! The driver's DMA memory: both rings, and per buffer slot a header and a
//! frame buffer.
//!
//! The device only ever reaches this memory, never a client's: frames are
//! copied between a client's lease and a slot (`borrow_read` before a send
//! is queued, `borrow_write` after a receive completed). A client that dies
//! therefore never has the device writing into it.
//!
//! Every byte lives in an `UnsafeCell`: the device writes it behind the
//! compiler's back. [`Net`](crate::Net) hands out Rust references to a
//! slot's bytes only while the device does not own the slot.

use core::cell::UnsafeCell;

use ethernet_api::{MAX_RECV, MAX_SEND};
use virtio::{Buf, QueueMemory};

use crate::header::MAX_HEADER_LEN;

/// Receive buffers kept posted.
pub const RX_SLOTS: usize = 16;
/// Frames in flight to the device at once.
pub const TX_SLOTS: usize = 16;
/// Ring entries per queue: each chain is two descriptors (header, frame),
/// so 32 holds every slot's chain.
pub const QUEUE_SIZE: usize = 32;

const _: () = assert!(RX_SLOTS * 2 <= QUEUE_SIZE && TX_SLOTS * 2 <= QUEUE_SIZE);
const _: () = assert!(
    RX_SLOTS <= 32 && TX_SLOTS <= 32,
    "slot sets are u32 bitmaps"
);

/// Header buffers are padded to 16 bytes so each starts 8-aligned.
const HEADER_BUF: usize = 16;
const _: () = assert!(MAX_HEADER_LEN <= HEADER_BUF);

/// The frame buffers and headers of both queues.
#[repr(C, align(8))]
pub struct Buffers {
    rx_frames: UnsafeCell<[[u8; MAX_RECV]; RX_SLOTS]>,
    tx_frames: UnsafeCell<[[u8; MAX_SEND]; TX_SLOTS]>,
    rx_headers: UnsafeCell<[[u8; HEADER_BUF]; RX_SLOTS]>,
    tx_headers: UnsafeCell<[[u8; HEADER_BUF]; TX_SLOTS]>,
}

/// All the memory a virtio-net device may access by DMA, provided by the
/// driver task (a `static`) or by a test (the device model's guest memory).
/// Size: about 66 KiB.
#[repr(C, align(4096))]
pub struct NetMemory {
    rx_ring: QueueMemory<QUEUE_SIZE>,
    tx_ring: QueueMemory<QUEUE_SIZE>,
    buffers: Buffers,
}

impl NetMemory {
    /// Zeroed memory, usable in a `static` initialiser.
    pub const fn new() -> Self {
        NetMemory {
            rx_ring: QueueMemory::new(),
            tx_ring: QueueMemory::new(),
            buffers: Buffers {
                rx_frames: UnsafeCell::new([[0; MAX_RECV]; RX_SLOTS]),
                tx_frames: UnsafeCell::new([[0; MAX_SEND]; TX_SLOTS]),
                rx_headers: UnsafeCell::new([[0; HEADER_BUF]; RX_SLOTS]),
                tx_headers: UnsafeCell::new([[0; HEADER_BUF]; TX_SLOTS]),
            },
        }
    }

    /// The two rings (receive, transmit) and the buffers, borrowed
    /// separately.
    pub(crate) fn split(
        &mut self,
    ) -> (
        &mut QueueMemory<QUEUE_SIZE>,
        &mut QueueMemory<QUEUE_SIZE>,
        &Buffers,
    ) {
        (&mut self.rx_ring, &mut self.tx_ring, &self.buffers)
    }
}

impl Default for NetMemory {
    fn default() -> Self {
        Self::new()
    }
}

fn buf(addr: *mut u8, len: usize) -> Buf {
    // Buffer lengths are compile-time constants below 4 GiB.
    Buf::new(addr.expose_provenance() as u64, len as u32)
}

impl Buffers {
    /// Receive slot `slot`'s header and frame buffers, for `add_buf`.
    /// `slot` < [`RX_SLOTS`].
    pub(crate) fn rx_bufs(&self, slot: usize, header_len: usize) -> [Buf; 2] {
        let headers = self.rx_headers.get().cast::<[u8; HEADER_BUF]>();
        let frames = self.rx_frames.get().cast::<[u8; MAX_RECV]>();
        [
            buf(headers.wrapping_add(slot).cast(), header_len),
            buf(frames.wrapping_add(slot).cast(), MAX_RECV),
        ]
    }

    /// Transmit slot `slot`'s header and the first `len` bytes of its
    /// frame buffer, for `add_buf`. `slot` < [`TX_SLOTS`].
    pub(crate) fn tx_bufs(&self, slot: usize, header_len: usize, len: usize) -> [Buf; 2] {
        let headers = self.tx_headers.get().cast::<[u8; HEADER_BUF]>();
        let frames = self.tx_frames.get().cast::<[u8; MAX_SEND]>();
        [
            buf(headers.wrapping_add(slot).cast(), header_len),
            buf(frames.wrapping_add(slot).cast(), len.min(MAX_SEND)),
        ]
    }

    /// The first `len` bytes of receive slot `slot`, as the device left
    /// them.
    ///
    /// # Safety
    ///
    /// The device must not own the slot (its token came back from
    /// `get_buf`, or the device was reset and the queue shut down), and
    /// nothing may write it while the slice lives.
    pub(crate) unsafe fn rx_frame(&self, slot: usize, len: usize) -> &[u8] {
        let frames = self.rx_frames.get().cast::<[u8; MAX_RECV]>();
        // SAFETY: `slot` < RX_SLOTS (the caller's slot came from this
        // driver's bookkeeping), so the pointer is to MAX_RECV initialised
        // bytes of `self`; the caller guarantees nobody writes them while
        // the slice lives.
        unsafe { core::slice::from_raw_parts(frames.add(slot).cast::<u8>(), len.min(MAX_RECV)) }
    }

    /// Transmit slot `slot`'s header and frame buffer, to fill before the
    /// slot is queued.
    ///
    /// # Safety
    ///
    /// The device must not own the slot and no other reference to it may
    /// live while these do.
    #[allow(clippy::mut_from_ref)] // the UnsafeCell is the interior mutability
    pub(crate) unsafe fn tx_slot(&self, slot: usize) -> (&mut [u8], &mut [u8]) {
        let headers = self.tx_headers.get().cast::<[u8; HEADER_BUF]>();
        let frames = self.tx_frames.get().cast::<[u8; MAX_SEND]>();
        // SAFETY: `slot` < TX_SLOTS (from this driver's free set), so both
        // pointers are in bounds of `self`; the caller guarantees the device
        // does not own the slot and no other reference to it exists.
        unsafe {
            (
                &mut *headers.add(slot).cast::<[u8; HEADER_BUF]>(),
                &mut *frames.add(slot).cast::<[u8; MAX_SEND]>(),
            )
        }
    }
}
