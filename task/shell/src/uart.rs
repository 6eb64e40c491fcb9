//! The 16550 UART of QEMU `virt` at 0x1000_0000, as the shell drives it:
//! receive by interrupt, transmit polled (as the kernel does for its log
//! lines, which share the line).

use core::fmt;

const BASE: usize = 0x1000_0000;
/// Receive buffer (read) / transmit holding register (write).
const RBR_THR: usize = 0;
/// Interrupt enable register; bit 0: received data available.
const IER: usize = 1;
const IER_RX_AVAILABLE: u8 = 1 << 0;
/// Modem control register; OUT2 gates the interrupt line on a PC, and is
/// set as every 16550 driver does (QEMU does not need it).
const MCR: usize = 4;
const MCR_DTR_RTS_OUT2: u8 = 0x0b;
/// Line status register.
const LSR: usize = 5;
const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;

/// The UART. Only one exists (created in `main`).
pub struct Uart(());

impl Uart {
    /// Takes the UART.
    ///
    /// # Safety
    ///
    /// The task must have the `uart` window (app.toml `uses`), and this is
    /// called once.
    pub unsafe fn new() -> Self {
        Uart(())
    }

    fn read_reg(&self, reg: usize) -> u8 {
        // SAFETY: a byte-wide register of the 16550, inside the `uart`
        // window `new`'s caller promised we hold.
        unsafe { core::ptr::with_exposed_provenance::<u8>(BASE + reg).read_volatile() }
    }

    fn write_reg(&mut self, reg: usize, value: u8) {
        // SAFETY: as for `read_reg`.
        unsafe { core::ptr::with_exposed_provenance_mut::<u8>(BASE + reg).write_volatile(value) }
    }

    /// Raises the interrupt whenever a received byte waits.
    pub fn enable_receive_interrupt(&mut self) {
        self.write_reg(MCR, MCR_DTR_RTS_OUT2);
        self.write_reg(IER, IER_RX_AVAILABLE);
    }

    /// The next received byte, if one waits.
    pub fn read(&mut self) -> Option<u8> {
        (self.read_reg(LSR) & LSR_DATA_READY != 0).then(|| self.read_reg(RBR_THR))
    }

    /// Sends `bytes`, waiting for room before each.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            while self.read_reg(LSR) & LSR_THR_EMPTY == 0 {
                core::hint::spin_loop();
            }
            self.write_reg(RBR_THR, b);
        }
    }
}

impl fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write(s.as_bytes());
        Ok(())
    }
}
