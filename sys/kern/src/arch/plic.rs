//! The PLIC of QEMU `virt`: interrupt sources routed to hart 0's M-mode
//! context (context 0).

use crate::descs::IrqDesc;

const PLIC: usize = 0x0c00_0000;
/// Source priority registers, one word per source.
const PRIORITY: usize = PLIC;
/// Context 0's enable bits, one bit per source.
const ENABLE: usize = PLIC + 0x2000;
/// Context 0's priority threshold and claim/complete register.
const THRESHOLD: usize = PLIC + 0x20_0000;
const CLAIM: usize = PLIC + 0x20_0004;
/// Sources on QEMU virt are numbered 1..=95 (0 means "none").
const MAX_SOURCE: u32 = 127;

fn write(addr: usize, v: u32) {
    // SAFETY: every address passed here is a PLIC register of QEMU virt
    // computed from the constants above; only the kernel maps the PLIC.
    unsafe { core::ptr::write_volatile(addr as *mut u32, v) }
}

fn read(addr: usize) -> u32 {
    // SAFETY: as in `write`.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

/// Gives every routed source priority 1 and lets context 0 take them all.
pub fn init(irqs: &[IrqDesc]) {
    write(THRESHOLD, 0);
    for r in irqs {
        if (1..=MAX_SOURCE).contains(&r.irq) {
            write(PRIORITY + 4 * r.irq as usize, 1);
        }
    }
}

/// Unmasks or masks one source for context 0. Enabling also gives the
/// source priority 1: the PLIC only raises sources above the threshold (0),
/// and sources granted at run time (virtio slots) were not set up by `init`.
/// Out of line: half a dozen callers (`irq_control`, grants, boot), none in
/// a hurry, would each carry a copy.
#[inline(never)]
pub fn set_enabled(irq: u32, enabled: bool) {
    if !(1..=MAX_SOURCE).contains(&irq) {
        return;
    }
    if enabled {
        write(PRIORITY + 4 * irq as usize, 1);
    }
    let word = ENABLE + 4 * (irq as usize / 32);
    let bit = 1 << (irq % 32);
    let v = read(word);
    write(word, if enabled { v | bit } else { v & !bit });
}

/// Claims the highest-priority pending source, if any.
pub fn claim() -> Option<u32> {
    match read(CLAIM) {
        0 => None,
        irq => Some(irq),
    }
}

/// Signals that a claimed source has been handled.
pub fn complete(irq: u32) {
    write(CLAIM, irq);
}
