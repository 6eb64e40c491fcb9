//! The bounce buffer: the only memory the entropy device may write.
//!
//! A client's buffer is never handed to the device (it could be any size,
//! anywhere in another task, and the client could die while the device
//! writes). The device fills this buffer in the driver's own RAM instead,
//! and the driver copies the bytes out once the device has given it back.

use core::cell::UnsafeCell;

use virtio::Buf;

/// `B` bytes of DMA memory, usable in a `static`.
///
/// The device writes it behind the compiler's back, so the bytes live in an
/// `UnsafeCell` and are only read through [`filled`](Self::filled), whose
/// contract says the device is done with them.
#[repr(C, align(8))]
pub struct BounceBuffer<const B: usize> {
    bytes: UnsafeCell<[u8; B]>,
}

// SAFETY: the only safe method hands out an address; every access to the
// bytes goes through the unsafe `filled`, whose caller promises that nobody
// (device or thread) writes them meanwhile.
unsafe impl<const B: usize> Sync for BounceBuffer<B> {}

impl<const B: usize> BounceBuffer<B> {
    /// A zeroed buffer.
    pub const fn new() -> Self {
        const {
            assert!(
                B > 0 && B <= u32::MAX as usize,
                "a bounce buffer holds 1 to 2^32-1 bytes"
            )
        };
        BounceBuffer {
            bytes: UnsafeCell::new([0; B]),
        }
    }

    /// The buffer's size in bytes.
    pub const fn len(&self) -> usize {
        B
    }

    /// Always false: a bounce buffer holds at least one byte.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// The descriptor of its first `len` bytes (at most `B`) for `add_buf`.
    pub fn buf(&self, len: usize) -> Buf {
        let len = len.min(B);
        // `len <= B <= u32::MAX` (checked in `new`).
        Buf::new(self.bytes.get().expose_provenance() as u64, len as u32)
    }

    /// The first `len` bytes (at most `B`), as the device left them.
    ///
    /// # Safety
    ///
    /// No device may own the buffer (every request using it came back from
    /// `get_buf`, or the device was reset and the queue shut down) and
    /// nothing else may write it while the returned slice lives.
    pub unsafe fn filled(&self, len: usize) -> &[u8] {
        let len = len.min(B);
        // SAFETY: the pointer is to `B` initialised bytes owned by `self`;
        // the caller guarantees that no one writes them while the slice
        // lives.
        unsafe { core::slice::from_raw_parts(self.bytes.get().cast::<u8>(), len) }
    }
}

impl<const B: usize> Default for BounceBuffer<B> {
    fn default() -> Self {
        Self::new()
    }
}
