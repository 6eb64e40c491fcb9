//! The seam between the virtio algorithms and the hardware: register reads
//! and writes at a byte offset into a device's register window.
//!
//! Everything above this trait is plain, host-testable Rust. On target the
//! implementation is [`Mmio`]: volatile accesses of exactly the requested
//! width, fenced against normal memory so that ring updates are visible to
//! the device before a notification reaches it. On the host, tests implement
//! the trait with a software model of the device side.
//!
//! Access widths matter: virtio-mmio control registers are 32-bit only, while
//! device-specific configuration fields must be read with their own width
//! (§4.2.2.2), so the trait has all three.

/// Register access at a byte offset into one device's register window
/// (§4.2.2 "MMIO Device Register Layout").
///
/// Implementations must perform exactly one access of the stated width per
/// call, in program order: a virtio-mmio device has side effects on reads
/// and writes (QueueNotify, InterruptACK, Status).
pub trait RegisterAccess {
    /// Reads the 32-bit register at `offset`.
    fn read32(&self, offset: usize) -> u32;
    /// Writes the 32-bit register at `offset`.
    fn write32(&mut self, offset: usize, value: u32);
    /// Reads the 16-bit field at `offset` (configuration space only).
    fn read16(&self, offset: usize) -> u16;
    /// Writes the 16-bit field at `offset` (configuration space only).
    fn write16(&mut self, offset: usize, value: u16);
    /// Reads the 8-bit field at `offset` (configuration space only).
    fn read8(&self, offset: usize) -> u8;
    /// Writes the 8-bit field at `offset` (configuration space only).
    fn write8(&mut self, offset: usize, value: u8);
}

/// The size of a virtio-mmio register window as QEMU's `virt` machine maps
/// it: 0x100 bytes of registers and 0x100 bytes of configuration space.
pub const MMIO_WINDOW_LEN: usize = 0x200;

/// Volatile access to a memory-mapped virtio-mmio register window of
/// [`MMIO_WINDOW_LEN`] bytes (§4.2.2).
///
/// Offsets are checked: an access that would leave the window, or is not
/// naturally aligned, is not performed (a read returns 0). The transport
/// never makes one, so this only guards against a caller's bad config offset.
#[derive(Debug)]
pub struct Mmio {
    base: usize,
}

impl Mmio {
    /// Wraps the register window at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be the address of a virtio-mmio register window of at
    /// least [`MMIO_WINDOW_LEN`] bytes that this task may access (granted
    /// to it), mapped as device memory, and no other `Mmio` or code may
    /// access that window while this one exists: register accesses have
    /// side effects and the transport relies on being the only driver.
    pub const unsafe fn new(base: usize) -> Self {
        Mmio { base }
    }

    /// The address of the register window.
    pub const fn base(&self) -> usize {
        self.base
    }

    /// The address for an access of `width` bytes at `offset`, if it lies
    /// within the window and is naturally aligned.
    fn checked(&self, offset: usize, width: usize) -> Option<usize> {
        if !offset.is_multiple_of(width) || offset.checked_add(width)? > MMIO_WINDOW_LEN {
            return None;
        }
        Some(self.base + offset)
    }
}

/// Orders every earlier normal-memory access (ring updates) before the
/// following device access: RISC-V `fence` with the I/O bits, which Rust's
/// atomic fences do not emit.
#[inline(always)]
fn io_barrier() {
    #[cfg(any(target_arch = "riscv32", target_arch = "riscv64"))]
    // SAFETY: `fence iorw, iorw` only orders memory and I/O accesses; it
    // reads or writes nothing and has no other effect.
    unsafe {
        core::arch::asm!("fence iorw, iorw", options(nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "riscv32", target_arch = "riscv64")))]
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
}

macro_rules! mmio_access {
    ($read:ident, $write:ident, $ty:ty) => {
        fn $read(&self, offset: usize) -> $ty {
            let Some(addr) = self.checked(offset, core::mem::size_of::<$ty>()) else {
                return 0;
            };
            // SAFETY: `Mmio::new`'s contract makes [base, base + MMIO_WINDOW_LEN)
            // a device window this task owns; `checked` keeps the access
            // inside it and naturally aligned.
            let value = unsafe { core::ptr::with_exposed_provenance::<$ty>(addr).read_volatile() };
            io_barrier();
            value
        }

        fn $write(&mut self, offset: usize, value: $ty) {
            let Some(addr) = self.checked(offset, core::mem::size_of::<$ty>()) else {
                return;
            };
            io_barrier();
            // SAFETY: as for the read: an aligned access inside the window
            // that `Mmio::new`'s caller handed exclusively to us.
            unsafe { core::ptr::with_exposed_provenance_mut::<$ty>(addr).write_volatile(value) };
        }
    };
}

impl RegisterAccess for Mmio {
    mmio_access!(read32, write32, u32);
    mmio_access!(read16, write16, u16);
    mmio_access!(read8, write8, u8);
}

#[cfg(test)]
mod tests {
    use super::{Mmio, RegisterAccess, MMIO_WINDOW_LEN};

    #[test]
    fn mmio_accesses_have_their_width_and_stay_in_the_window() {
        let mut window = [0u32; MMIO_WINDOW_LEN / 4];
        let base = window.as_mut_ptr().expose_provenance();
        // SAFETY: `window` is MMIO_WINDOW_LEN bytes, lives to the end of the
        // test and is only accessed through `mmio` until then.
        let mut mmio = unsafe { Mmio::new(base) };
        mmio.write32(0x70, 0x1234_5678);
        assert_eq!(mmio.read32(0x70), 0x1234_5678);
        assert_eq!(mmio.read16(0x72), 0x1234);
        assert_eq!(mmio.read8(0x71), 0x56);
        mmio.write8(0x100, 0xab);
        mmio.write16(0x102, 0xcdef);
        assert_eq!(mmio.read32(0x100), 0xcdef_00ab);
        // Out of the window or misaligned: not performed.
        mmio.write32(MMIO_WINDOW_LEN, 1);
        mmio.write32(0x101, 1);
        assert_eq!(mmio.read32(MMIO_WINDOW_LEN), 0);
        assert_eq!(mmio.read16(0x101), 0);
        assert_eq!(mmio.read32(usize::MAX - 1), 0);
        assert_eq!(window[0x100 / 4], 0xcdef_00ab);
        assert_eq!(mmio.base(), base);
        // The last word, half-word and byte of the window are inside it.
        let end = MMIO_WINDOW_LEN;
        mmio.write32(end - 4, 0x0102_0304);
        assert_eq!(mmio.read32(end - 4), 0x0102_0304);
        mmio.write16(end - 2, 0xaabb);
        assert_eq!(mmio.read16(end - 2), 0xaabb);
        mmio.write8(end - 1, 0x77);
        assert_eq!(mmio.read8(end - 1), 0x77);
        assert_eq!(window[end / 4 - 1], 0x77bb_0304);
    }
}
