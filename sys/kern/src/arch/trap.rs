//! Trap entry and exit, and the one place the kernel state is reached from
//! a trap.
//!
//! While a task runs, `mscratch` holds the address of its `SavedState`. On
//! a trap the entry code swaps it with `sp`, saves the registers the Rust
//! handler may clobber (caller-saved, sp, pc) there, switches to the kernel
//! stack and calls [`vireo_trap_handler`], which returns the `SavedState`
//! of the task to resume. If that is the same task, only what was saved is
//! restored; otherwise the outgoing task's callee-saved registers (still
//! its own: the handler preserved them) are stored too and the incoming
//! task is loaded whole. So while a task runs, the callee-saved slots of
//! its `SavedState` are stale: kernel code never touches them for the
//! running task (kipc refuses to restart or inject into its caller). The kernel itself runs
//! with interrupts off and never traps except by a kernel bug, which is
//! reported as a kernel panic.

use core::arch::global_asm;
use core::mem::MaybeUninit;

use super::SavedState;
use super::{csr, plic, Virt};
use crate::notify;
use crate::syscalls::{self, Exception};
use crate::system::System;

global_asm!(
    r#"
    .section .text.start, "ax"
    .global _start
_start:
    la sp, _kstack_top
    la t0, _sbss
    la t1, _ebss
1:  bgeu t0, t1, 2f
    sw zero, 0(t0)
    addi t0, t0, 4
    j 1b
2:  call kernel_main
3:  j 3b

    .section .text.vireo_trap, "ax"
    .global vireo_trap_entry
    .align 4
vireo_trap_entry:
    csrrw sp, mscratch, sp
.if {probes}
    sw x5, 5*4(sp)
    csrr x5, minstret
    sw x5, 32*4(sp)
    lw x5, 5*4(sp)
.endif
    # Save what the Rust handler may clobber: the caller-saved registers
    # (ra, t0-t6, a0-a7), the stack pointer and the pc. The callee-saved
    # ones (s0-s11; gp and tp, which the kernel never uses) survive the
    # call by the calling convention, so they stay live in the registers
    # and are written back only when another task is resumed, below.
    .irp r, 1, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 28, 29, 30, 31
    sw x\r, \r*4(sp)
    .endr
    csrr t0, mscratch
    sw t0, 2*4(sp)
    csrr t0, mepc
    sw t0, 0(sp)
    # mscratch keeps the trapped task's SavedState for the exit path.
    csrw mscratch, sp
    la sp, _kstack_top
    # The handler's argument: the task's a7 (saved above), the syscall
    # number if this is an ecall, so that a light syscall is recognised
    # without looking the task up.
    mv a0, a7
    call vireo_trap_handler
    csrr t0, mscratch
    bne a0, t0, 1f
    # The same task runs on: its callee-saved registers are still in
    # place, so restore only what was saved on entry.
    mv sp, a0
    j .Lrestore_saved
1:  # Another task runs: complete the outgoing task's SavedState with its
    # callee-saved registers, then load every register of the incoming one.
    .irp r, 3, 4, 8, 9, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27
    sw x\r, \r*4(t0)
    .endr
    .global vireo_resume
vireo_resume:
    csrw mscratch, a0
    mv sp, a0
    .irp r, 3, 4, 8, 9, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27
    lw x\r, \r*4(sp)
    .endr
.Lrestore_saved:
    # Both ways end here: the registers saved on entry, the pc, and back
    # to U-mode. (One copy: the same task's way pays a jump for it.)
    lw t0, 0(sp)
    csrw mepc, t0
    .irp r, 1, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 28, 29, 30, 31
    lw x\r, \r*4(sp)
    .endr
.if {probes}
    csrr x5, minstret
    sw x5, 33*4(sp)
.endif
    lw x5, 5*4(sp)
    lw x2, 2*4(sp)
    mret
"#,
    probes = const PROBES,
);

/// 1 if the trap entry and exit stamp `minstret` for the bench probes.
const PROBES: u32 = cfg!(feature = "bench-probes") as u32;

extern "C" {
    fn vireo_resume(state: *mut SavedState) -> !;
}

/// The kernel state. Written once by [`run`] before the first task starts;
/// afterwards only the trap handler ([`vireo_trap_handler`],
/// [`full_trap`], which `run` also calls once to choose the first task)
/// touches it.
static mut SYSTEM: MaybeUninit<System<'static, Virt>> = MaybeUninit::uninit();
/// Index of the task that was running when the trap came.
static mut CURRENT: usize = 0;

/// Installs the system and enters the first task.
pub fn run(sys: System<'static, Virt>) -> ! {
    // SAFETY: single hart, interrupts are off in M-mode and no task has run
    // yet, so nothing else can be looking at SYSTEM.
    unsafe { (*core::ptr::addr_of_mut!(SYSTEM)).write(sys) };
    // The first choice is made as every trap ends, by `full_trap`, here for
    // an interrupt with no source (nothing to handle): one copy of the
    // choosing and resuming code serves boot and traps alike.
    let state = full_trap(MCAUSE_NONE);
    // SAFETY: `state` is a task's SavedState inside the 'static task table;
    // vireo_resume loads it and `mret`s into the task in U-mode.
    unsafe { vireo_resume(state) }
}

const MCAUSE_INTERRUPT: usize = 1 << 31;
/// An interrupt cause no source raises (user software interrupt, never
/// enabled): [`run`]'s way to have the first task chosen.
const MCAUSE_NONE: usize = MCAUSE_INTERRUPT;
const MCAUSE_ECALL_FROM_U: usize = 8;
const IRQ_MACHINE_TIMER: usize = 7;
const IRQ_MACHINE_EXTERNAL: usize = 11;

/// Nothing can run: sleeps until an interrupt comes and delivers it. Cold
/// and out of line, so that the trap path's choice stays straight-line
/// code.
#[cold]
#[inline(never)]
fn wait_for_interrupt(sys: &mut System<'static, Virt>) {
    // A hart retires nothing while it waits, but under QEMU's `-icount`
    // the instruction counter is the virtual clock, which runs on through
    // the wait (by as long as the host took to finish a disk read, say):
    // the counter is put back, so that `instret` counts work, the unit of
    // every benchmark, and not the host's timing. (`mtime`, the kernel's
    // clock, is not touched.)
    let (lo, hi) = (csr::read!("minstret"), csr::read!("minstreth"));
    // SAFETY: `wfi` waits for an enabled interrupt to become pending; with
    // mstatus.MIE clear it returns without trapping and we poll below.
    // Writing the counter back has no effect but on what it reads: low
    // word zeroed first, so that no carry can reach the high word between
    // the writes.
    unsafe {
        core::arch::asm!(
            "wfi",
            "csrw minstret, zero",
            "csrw minstreth, {hi}",
            "csrw minstret, {lo}",
            hi = in(reg) hi,
            lo = in(reg) lo,
        )
    };
    // The walk over every task's timer is the timer interrupt's business
    // only (pending in `mip` while `mtime` has reached the deadline the
    // kernel programmed, the earliest of them all): a device interrupt
    // ending the wait must not pay for it, as it does not in a trap.
    if csr::read!("mip") & (1 << IRQ_MACHINE_TIMER) != 0 {
        notify::service_timers(sys);
    }
    service_external(sys);
}

/// Delivers every pending device interrupt. It looks at the interrupt
/// routes only: a device interrupt must not cost a walk over every task's
/// timer (that is the timer interrupt's business), or its latency would
/// grow with the number of tasks.
fn service_external(sys: &mut System<'static, Virt>) {
    while let Some(irq) = plic::claim() {
        notify::interrupt(sys, irq);
        plic::complete(irq);
    }
}

/// A trap taken in M-mode: only a kernel bug does that. Reports it and
/// stops the machine.
#[cold]
#[inline(never)]
fn kernel_trap(mcause: usize) -> ! {
    let mtval = csr::read!("mtval");
    // Only a kernel bug traps from M-mode. The entry code has already
    // moved sp back to the top of the kernel stack, so even an overflow
    // leaves room to say so.
    let mepc = csr::read!("mepc");
    let guard = super::stack_guard();
    if guard.contains(&mtval) && matches!(mcause, 5 | 7 | 13 | 15) {
        // One line, so that tools and people see the cause at once.
        crate::console::Line::kernel(&mut Virt::new())
            .str("KERNEL PANIC: kernel stack overflow: access at ")
            .hex(mtval as u32)
            .str(" in the stack guard ")
            .hex(guard.start as u32)
            .str("..")
            .hex(guard.end as u32)
            .str(", pc ")
            .hex(mepc as u32)
            .str("; the machine stops before kernel text is overwritten")
            .end();
        super::stop_after_kernel_failure();
    }
    crate::console::Line::kernel(&mut Virt::new())
        .str("trap in kernel: mcause ")
        .hex(mcause as u32)
        .str(" mepc ")
        .hex(mepc as u32)
        .str(" mtval ")
        .hex(mtval as u32)
        .end();
    panic!("trap in kernel");
}

/// Called by the trap entry with the trapped task's registers saved.
/// Returns the `SavedState` of the task to resume.
///
/// A syscall the light path takes (`syscalls::light`) is answered here,
/// in a few dozen instructions and without touching a callee-saved
/// register; everything else goes to [`full_trap`].
///
/// `a7` is the trapped task's `a7`, which an `ecall` carries the syscall
/// number in.
#[no_mangle]
extern "C" fn vireo_trap_handler(a7: usize) -> *mut SavedState {
    let mcause = csr::read!("mcause");
    // A bench-probes kernel has no light path (every trap is measured
    // whole), so it has no use for `a7`.
    #[cfg(feature = "bench-probes")]
    let _ = a7;
    #[cfg(not(feature = "bench-probes"))]
    if mcause == MCAUSE_ECALL_FROM_U && syscalls::is_light(a7) {
        // SAFETY: SYSTEM was initialised by `run` before the first task
        // could trap; traps do not nest (the kernel runs with interrupts
        // off), so this is the only live reference. CURRENT likewise.
        let (sys, current) = unsafe {
            (
                (*core::ptr::addr_of_mut!(SYSTEM)).assume_init_mut(),
                CURRENT,
            )
        };
        if syscalls::light(sys, current) {
            return sys.tasks[current].save_mut() as *mut SavedState;
        }
    }
    full_trap(mcause)
}

/// Every trap but a light syscall: the syscall dispatcher, interrupts,
/// exceptions, and the scheduler's choice of the next task.
#[inline(never)]
fn full_trap(mcause: usize) -> *mut SavedState {
    // An `ecall` from U-mode (the common case, first) can only come from a
    // task; anything else may be a kernel bug, which is checked first.
    if mcause != MCAUSE_ECALL_FROM_U && csr::read!("mstatus") & csr::MSTATUS_MPP != 0 {
        kernel_trap(mcause);
    }
    // SAFETY: SYSTEM was initialised by `run` before the first task could
    // trap; traps do not nest (the kernel runs with interrupts off), so this
    // is the only live reference.
    let sys = unsafe { (*core::ptr::addr_of_mut!(SYSTEM)).assume_init_mut() };
    // SAFETY: as above.
    let current = unsafe { CURRENT };
    #[cfg(feature = "bench-probes")]
    {
        let (entered, left) = sys.tasks[current].save().probe_stamps();
        crate::probes::trap_start(csr::read!("minstret") as u32, entered, left);
    }

    if mcause == MCAUSE_ECALL_FROM_U {
        // The common case first.
        syscalls::syscall(sys, current);
    } else if mcause & MCAUSE_INTERRUPT != 0 {
        match mcause & !MCAUSE_INTERRUPT {
            IRQ_MACHINE_TIMER => notify::service_timers(sys),
            IRQ_MACHINE_EXTERNAL => service_external(sys),
            _ => {}
        }
    } else {
        let mtval = csr::read!("mtval");
        let e = match mcause {
            8 => None,
            0 | 4 | 6 => Some(Exception::Misaligned(mtval)),
            1 | 12 => Some(Exception::Fetch(mtval)),
            2 => Some(Exception::Illegal(mtval)),
            3 => Some(Exception::Breakpoint),
            5 | 13 => Some(Exception::Load(mtval)),
            7 | 15 => Some(Exception::Store(mtval)),
            _ => Some(Exception::Illegal(mtval)),
        };
        match e {
            None => syscalls::syscall(sys, current),
            Some(e) => syscalls::exception(sys, current, e),
        }
    }

    // Most traps need no choosing: the caller runs on, or an IPC fast path
    // already chose (see `sched::Scheduler::quick`). With nothing runnable,
    // sleep until an interrupt makes something runnable.
    let next = loop {
        if let Some(next) = syscalls::after_trap(sys, current) {
            break next;
        }
        wait_for_interrupt(sys);
    };
    // SAFETY: as above.
    unsafe { CURRENT = next };
    #[cfg(feature = "bench-probes")]
    crate::probes::trap_end(csr::read!("minstret") as u32);
    sys.tasks[next].save_mut() as *mut SavedState
}
