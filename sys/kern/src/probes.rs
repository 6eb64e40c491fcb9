//! Bench-only instruction probes: where a trap's instructions go.
//!
//! A kernel built with the `bench-probes` feature (bench images only: each
//! probe costs a few instructions) reads `minstret` at fixed points of every
//! trap and charges each stretch between two points to a phase
//! ([`abi::Probe`]): trap entry and exit (the assembly, stamped by the trap
//! entry itself), dispatch, IPC logic, message copy, the scheduling decision
//! and PMP reprogramming. `Sysnum::BenchProbes` resets or reads the
//! counters. Without the feature [`probe!`] expands to nothing and the
//! syscall is an unknown number (`syscalls::syscall`): everything in this
//! file is compiled only with the feature.
//!
//! It must never change what the kernel does, only count: the counters are
//! plain atomics, and no decision reads them.

#[cfg(feature = "bench-probes")]
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

#[cfg(feature = "bench-probes")]
static COUNTERS: [AtomicU32; abi::PROBES] = [const { AtomicU32::new(0) }; abi::PROBES];
/// `minstret` at the last probe point.
#[cfg(feature = "bench-probes")]
static LAST: AtomicU32 = AtomicU32::new(0);
/// `minstret` when the Rust handler of the previous trap finished.
#[cfg(feature = "bench-probes")]
static HANDLER_END: AtomicU32 = AtomicU32::new(0);

/// Ends the current phase at `minstret` = `now`, charging it to `phase`.
/// Use [`probe!`], which vanishes in kernels without the feature.
#[cfg(feature = "bench-probes")]
#[inline(always)]
pub fn mark(phase: abi::Probe, now: u32) {
    let last = LAST.swap(now, Relaxed);
    COUNTERS[phase as usize].fetch_add(now.wrapping_sub(last), Relaxed);
}

/// The Rust trap handler starts at `now`. `entered` is when the assembly
/// entry stamped the trap, `left` when the previous trap's assembly exit
/// stamped its `mret` (0 if never): both stretches are entry and exit.
#[cfg(feature = "bench-probes")]
pub fn trap_start(now: u32, entered: u32, left: u32) {
    let end = HANDLER_END.load(Relaxed);
    if end != 0 && left != 0 {
        let asm = now.wrapping_sub(entered) + left.wrapping_sub(end);
        COUNTERS[abi::Probe::EntryExit as usize].fetch_add(asm, Relaxed);
    }
    COUNTERS[abi::Probe::Traps as usize].fetch_add(1, Relaxed);
    LAST.store(now, Relaxed);
}

/// The Rust trap handler ends at `now`: the rest is charged to the phase
/// in progress and the assembly exit is measured from here.
#[cfg(feature = "bench-probes")]
pub fn trap_end(now: u32) {
    mark(abi::Probe::Ipc, now);
    HANDLER_END.store(now, Relaxed);
}

/// `bench_probes` syscall: `a0` = 1 resets the counters; otherwise they are
/// copied (as `u32`s in [`abi::Probe`] order) to the buffer `a1`/`a2`.
#[cfg(feature = "bench-probes")]
pub fn syscall<M: crate::machine::Machine>(
    sys: &mut crate::system::System<'_, M>,
    caller: usize,
) -> Result<(), crate::err::UserError> {
    use crate::umem::{self, USlice};
    let s = sys.tasks[caller].save();
    if s.arg(0) == 1 {
        for c in &COUNTERS {
            c.store(0, Relaxed);
        }
        return Ok(());
    }
    let out = USlice::from_raw(s.arg(1), s.arg(2)).ok_or(abi::UsageError::InvalidSlice)?;
    let mut bytes = [0u8; 4 * abi::PROBES];
    for (b, c) in bytes.chunks_exact_mut(4).zip(&COUNTERS) {
        b.copy_from_slice(&c.load(Relaxed).to_le_bytes());
    }
    umem::write_bytes(&sys.tasks[caller], &out, &bytes)?;
    Ok(())
}

/// `probe!(machine, Phase)`: ends the current phase, charging it to
/// `abi::Probe::Phase`. Nothing at all in kernels without `bench-probes`.
#[macro_export]
macro_rules! probe {
    ($machine:expr, $phase:ident) => {
        #[cfg(feature = "bench-probes")]
        $crate::probes::mark(abi::Probe::$phase, $machine.instret());
    };
}
