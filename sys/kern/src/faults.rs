//! Faults and restarts: how an incarnation ends and a new one begins.
//!
//! A fault stops the task, records why, advances its generation and at once
//! wakes every task blocked on it with a DEAD code carrying the new
//! generation — nobody waits on a task that cannot answer. Then the
//! supervisor's fault bit is posted; recovery is the supervisor's policy.
//! A fault of the supervisor itself cannot be handled by anyone, so the
//! kernel says why and reboots.

use abi::{dead_code, FaultKind, FaultRecord};

use crate::console;
use crate::ipc;
use crate::machine::Machine;
use crate::notify;
use crate::sched::MaybeTask;
use crate::system::System;
use crate::task::{SchedState, TaskState};
use crate::umem::InteractFault;

/// Wakes every task blocked on `index` — calling it, or receiving from it
/// only — with the DEAD code. First the device of `index`, if it holds
/// leases of its callers, is reset (`dma::quiesce`): a caller learns of
/// the death only once no DMA can land in its memory. A caller whose lease
/// the device still holds (it did not finish its reset) stays blocked.
fn wake_callers<M: Machine>(sys: &mut System<'_, M>, index: usize) {
    crate::dma::quiesce(sys, index);
    let code = dead_code(sys.tasks[index].generation());
    for i in 0..sys.tasks.len() {
        let blocked_on_it = match sys.tasks[i].state() {
            TaskState::Healthy(
                SchedState::InSend(t) | SchedState::InReply(t) | SchedState::InRecv(Some(t)),
            ) => t.index() == index,
            _ => false,
        };
        if blocked_on_it && !crate::dma::pins(sys, index, i) {
            ipc::complete_with_code(&mut sys.tasks[i], code);
            sys.note(i);
        }
    }
}

/// Stops task `index` with a fault.
pub fn fault_task<M: Machine>(sys: &mut System<'_, M>, index: usize, record: FaultRecord) {
    if !sys.tasks[index].is_healthy() {
        return;
    }
    let kind = record.kind();
    if index == sys.supervisor {
        let name = sys.name(index);
        console::Line::kernel(&mut sys.machine)
            .str("supervisor '")
            .str(name)
            .str("' faulted (")
            .str(kind.describe())
            .str(", address ")
            .hex(record.address)
            .str(", pc ")
            .hex(record.pc)
            .str("): nobody can recover it; rebooting")
            .end();
        sys.machine.reboot();
        return;
    }
    sys.tasks[index].mark_faulted(record);
    sys.note(index);
    wake_callers(sys, index);
    let sup = sys.supervisor;
    notify::post_bits(sys, sup, abi::SUPERVISOR_FAULT_BIT);
}

/// Faults task `index`, which is in a syscall (blocked in it, or the
/// caller), with `record` at the `ecall` of that syscall: for the kernel
/// finding out, while serving another task, that something this one named
/// is bad.
#[inline(never)]
pub fn fault_blocked<M: Machine>(sys: &mut System<'_, M>, index: usize, mut record: FaultRecord) {
    // The saved pc is already past the 4-byte `ecall`.
    record.pc = sys.tasks[index].save().pc().wrapping_sub(4) as u32;
    fault_task(sys, index, record);
}

/// Faults the side (or sides) of a copy from task `src` to task `dst` that
/// named memory it does not own.
#[cold]
#[inline(never)]
pub fn apply_interact<M: Machine>(
    sys: &mut System<'_, M>,
    src: usize,
    dst: usize,
    f: InteractFault,
) {
    if let Some(bad) = f.src {
        fault_blocked(sys, src, bad.record());
    }
    if let Some(bad) = f.dst {
        fault_blocked(sys, dst, bad.record());
    }
}

/// Restarts task `index` from its entry point with fresh registers; its
/// startup code re-initialises its RAM from the image. `false`, with
/// nothing changed, if a device holding a lease of it did not finish its
/// reset: its memory stays as it is, the task blocked, until the device
/// is quiet (a later restart, once the driver's device reset).
#[must_use]
pub fn restart_task<M: Machine>(sys: &mut System<'_, M>, index: usize) -> bool {
    // Alive or faulted: an incarnation ends here. A task that never
    // started has none; one left stopped after a fault (`Kipc::StopTask`)
    // ended it at the fault, but a caller whose lease its device held then
    // may still wait, and is told below once the device is quiet.
    let ended =
        sys.tasks[index].state() != TaskState::Stopped || sys.tasks[index].fault_count() > 0;
    // Its memory is about to be re-initialised (by its own startup code):
    // no device may still hold a lease of it (`dma::quiesce` resets the
    // device that does), and its own device stops before its RAM is reused.
    if let Some(driver) = crate::dma::pinned_by(sys, index) {
        crate::dma::quiesce(sys, driver);
        if crate::dma::pins(sys, driver, index) {
            // The reset did not take: the device may still write the
            // lease, which re-initialised would be the new incarnation's.
            return false;
        }
    }
    crate::dma::quiesce(sys, index);
    sys.tasks[index].reinitialize();
    sys.note(index);
    if sys.protection_for.is(index) {
        sys.protection_for = MaybeTask::NONE; // its regions were reset to the image's
    }
    // Device grants do not survive a restart: the new incarnation must be
    // probed (and granted) again.
    for i in 0..sys.device_irqs.len() {
        if let Some(r) = sys.device_irqs[i].filter(|r| r.task as usize == index) {
            sys.machine.irq_set_enabled(r.irq, false);
            sys.device_irqs[i] = None;
        }
    }
    if ended {
        // The old incarnation ended just now: its callers learn at once
        // (after a fault, only those its device held leases of were left).
        wake_callers(sys, index);
    }
    notify::reprogram_timer(sys);
    true
}

/// A fault record for an access fault, classified as stack overflow when
/// the task's stack pointer had left its stack.
pub fn access_fault<M: Machine>(
    sys: &System<'_, M>,
    index: usize,
    kind: FaultKind,
    address: usize,
) -> FaultRecord {
    let t = &sys.tasks[index];
    FaultRecord {
        kind: t.access_fault_kind(kind) as u32,
        address: address as u32,
        pc: t.save().pc() as u32,
        detail: 0,
    }
}
