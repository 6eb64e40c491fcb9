//! The seam between the portable kernel and the hardware.
//!
//! Everything in this crate except `arch` talks to the machine only through
//! [`Machine`], so that the scheduling, IPC, lease and fault logic is the
//! same code on the target and in host tests (where a mock records calls).
//! Each machine states its devices and counters itself: nothing defaults
//! to "none", which only a machine that does not exist would answer.

/// What the portable kernel needs from the machine.
pub trait Machine {
    /// The current time in timer ticks ([`abi::TICKS_PER_MS`] per ms).
    fn now(&self) -> u64;
    /// Programs the timer interrupt for the earliest deadline, or none.
    fn set_timer_deadline(&mut self, deadline: Option<u64>);
    /// Writes bytes to the console.
    fn console_write(&mut self, bytes: &[u8]);
    /// Unmasks or masks one interrupt source.
    fn irq_set_enabled(&mut self, irq: u32, enabled: bool);
    /// Reprograms memory protection for the task about to run.
    fn protect(&mut self, regions: &[crate::descs::RegionDesc]);
    /// As [`Machine::protect`], with the task's cache of the compiled
    /// settings: a machine that compiles regions into registers fills it
    /// once (when not valid) and then only loads it. The default ignores it.
    fn protect_cached(
        &mut self,
        regions: &[crate::descs::RegionDesc],
        cache: &mut crate::task::ProtectionCache,
    ) {
        let _ = cache;
        self.protect(regions);
    }
    /// The low word of the retired-instruction counter, for the bench-only
    /// probes (`probes`). Machines without one return 0.
    fn instret(&self) -> u32;
    /// Stops the machine with an exit code (0 = pass). On the target this
    /// does not return.
    fn shutdown(&mut self, code: u32);
    /// Resets the machine. On the target this does not return.
    fn reboot(&mut self);
    /// Fault injection (test kernels only): recurses in the kernel until
    /// the kernel stack guard stops the machine. On the target this does
    /// not return.
    fn overflow_kernel_stack(&mut self);
    /// The MMIO window and interrupt source of device slot `slot`, if the
    /// machine has one; what `kipc` grants a driver.
    fn device_slot(&self, slot: usize) -> Option<(crate::descs::RegionDesc, u32)>;
    /// Reads a 32-bit device register (the kernel's own queue setup, `dma`).
    fn mmio_read32(&mut self, addr: usize) -> u32;
    /// Writes a 32-bit device register (`dma`'s queue setup).
    fn mmio_write32(&mut self, addr: usize, value: u32);
}
