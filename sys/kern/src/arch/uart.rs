//! The kernel console: QEMU `virt`'s 16550 UART, transmit side, polled.

const UART: usize = 0x1000_0000;
/// Transmit holding register.
const THR: usize = 0;
/// Line status register; bit 5 = transmit holding register empty.
const LSR: usize = 5;
const LSR_THRE: u8 = 1 << 5;

/// Writes bytes, waiting for room before each. Out of line: every piece of
/// every console line calls it, and a copy of the loop at each would cost
/// the kernel a kilobyte of text for nothing (the UART is the slow part).
#[inline(never)]
pub fn write(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: UART is the 16550 of QEMU virt; byte-wide volatile access to
        // its LSR and THR is how it is driven. Only the kernel maps it.
        unsafe {
            while core::ptr::read_volatile((UART + LSR) as *const u8) & LSR_THRE == 0 {}
            core::ptr::write_volatile((UART + THR) as *mut u8, b);
        }
    }
}
