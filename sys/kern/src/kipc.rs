//! Kernel IPC: the supervisor's privileged operations.
//!
//! Only the task app.toml marks `supervisor` may call these; any other
//! caller gets `REFUSED_NOT_SUPERVISOR`. Arguments are small fixed records
//! copied through the same checked user-memory path as messages.

use abi::{
    FaultKind, FaultRecord, InjectEvidence, Kipc, TaskStatus, UsageError, REFUSED_NOT_SUPERVISOR,
};
use zerocopy::IntoBytes;

use crate::err::UserError;
use crate::faults;
use crate::machine::Machine;
use crate::notify;
use crate::sched::MaybeTask;
use crate::system::System;
use crate::task::{SchedState, Task, TaskState};
use crate::umem::{self, USlice};

/// Response code of a kipc naming a task index that does not exist.
pub const KIPC_NO_SUCH_TASK: u32 = 1;
/// Response code of an unknown kipc operation.
pub const KIPC_BAD_OPERATION: u32 = 2;
/// Response code of a kipc whose message is too short for its arguments.
pub const KIPC_BAD_MESSAGE: u32 = 3;

fn status_of<M: Machine>(sys: &System<'_, M>, i: usize) -> TaskStatus {
    let t = &sys.tasks[i];
    // The state, and whom it is calling if it is in a call.
    let (state, calling) = match t.state() {
        TaskState::Stopped => (abi::TaskState::Stopped, u32::MAX),
        TaskState::Faulted => (abi::TaskState::Faulted, u32::MAX),
        TaskState::Healthy(SchedState::Runnable) => (abi::TaskState::Runnable, u32::MAX),
        TaskState::Healthy(SchedState::InSend(p)) => (abi::TaskState::InSend, p.index() as u32),
        TaskState::Healthy(SchedState::InReply(p)) => (abi::TaskState::InReply, p.index() as u32),
        TaskState::Healthy(SchedState::InRecv(_)) => (abi::TaskState::InRecv, u32::MAX),
        TaskState::Healthy(SchedState::Throttled) => (abi::TaskState::Throttled, u32::MAX),
    };
    let mut name = [0u8; 16];
    let n = t.desc().name.len().min(16);
    name[..n].copy_from_slice(&t.desc().name.as_bytes()[..n]);
    TaskStatus {
        state: state as u32,
        generation: t.generation().0 as u32,
        priority: t.priority() as u32,
        fault_count: t.fault_count(),
        last_fault: t.last_fault(),
        name,
        syscalls: t.syscalls(),
        replies: t.replies(),
        rejections: t.rejections(),
        calling,
        rejected_call: t.rejected_call(),
        throttles: t.throttles(),
        ran_ticks: t.ran_ticks(),
    }
}

/// Response code: the slot does not exist, is already granted to that task,
/// or the task has no free PMP entry.
pub const KIPC_BAD_GRANT: u32 = 4;
/// Response code of a `StopTask` of a task that is alive: only a faulted
/// task (or one already stopped) can be left stopped.
pub const KIPC_TASK_ALIVE: u32 = 5;

/// Gives task `i` device slot `slot`'s window and routes its interrupt to
/// `bits`. Routes are exclusive: a source already routed — by a grant or by
/// a static app.toml `interrupts` entry — is never given to a second task,
/// and a grant may not claim bits that already carry another interrupt of
/// the task.
fn grant<M: Machine>(
    sys: &mut System<'_, M>,
    i: usize,
    slot: usize,
    bits: u32,
) -> Result<(), UserError> {
    let bad = UserError::Recoverable(KIPC_BAD_GRANT);
    let (window, irq) = sys.machine.device_slot(slot).ok_or(bad)?;
    let taken = sys.routes().any(|r| r.irq == irq);
    let free = sys.device_irqs.iter().position(|r| r.is_none());
    let (false, Some(free)) = (taken, free) else {
        return Err(bad);
    };
    if bits == 0 || bits & notify::irq_bits(sys, i) != 0 {
        return Err(bad);
    }
    // Every entry must fit the memory protection, holes included.
    let entries = crate::descs::protection_entries(sys.tasks[i].regions())
        + crate::descs::protection_entries(&[window]);
    if entries > crate::descs::MAX_TASK_REGIONS || !sys.tasks[i].add_region(window) {
        return Err(bad);
    }
    sys.device_irqs[free] = Some(crate::descs::IrqDesc {
        irq,
        task: i as u16,
        bits,
    });
    if sys.protection_for.is(i) {
        sys.protection_for = MaybeTask::NONE;
    }
    sys.machine.irq_set_enabled(irq, true);
    Ok(())
}

/// Takes slot `slot` back from task `i`: window and interrupt route. Only
/// what task `i` holds is touched: the interrupt of a slot routed to
/// another task (or statically) stays enabled, and a revoke of something
/// `i` does not hold is refused with [`KIPC_BAD_GRANT`]. The window says
/// whether `i` holds the slot: [`grant`] adds window and route together
/// and a restart drops both, so one is never held without the other.
fn revoke<M: Machine>(sys: &mut System<'_, M>, i: usize, slot: usize) -> Result<(), UserError> {
    let bad = UserError::Recoverable(KIPC_BAD_GRANT);
    let (window, irq) = sys.machine.device_slot(slot).ok_or(bad)?;
    if !sys.tasks[i].regions().contains(&window) {
        // (Refused before anything changes: its device is not reset.)
        return Err(bad);
    }
    // Leases its device holds are released only while the kernel can
    // still reach the device to reset it.
    crate::dma::quiesce(sys, i);
    if !sys.tasks[i].remove_region(&window) {
        return Err(bad);
    }
    for r in sys.device_irqs.iter_mut() {
        if matches!(r, Some(d) if d.irq == irq && d.task as usize == i) {
            *r = None;
        }
    }
    sys.machine.irq_set_enabled(irq, false);
    if sys.protection_for.is(i) {
        sys.protection_for = MaybeTask::NONE;
    }
    Ok(())
}

/// Corrupts `task` as `Kipc::Inject` asks, and returns what changed. The
/// task is not faulted here: what the corruption leads to is what the test
/// wants to see. `Err` is the response code of a request that cannot be
/// carried out.
fn inject<M: Machine>(
    task: &mut Task,
    machine: &mut M,
    kind: u32,
    arg: u32,
) -> Result<InjectEvidence, u32> {
    let bit = 1u32 << (arg & 31);
    match abi::Injection::from_u32(kind) {
        Some(abi::Injection::FlipRegisterBit) => {
            let r = ((arg >> 5) & 31) as usize;
            let s = task.save_mut();
            let before = s.reg(r) as u32;
            s.set_reg(r, (before ^ bit) as usize);
            Ok(InjectEvidence {
                location: r as u32,
                before,
                after: s.reg(r) as u32,
            })
        }
        Some(abi::Injection::Jump) => {
            let s = task.save_mut();
            let before = s.pc() as u32;
            s.set_pc(arg as usize);
            Ok(InjectEvidence {
                location: arg,
                before,
                after: s.pc() as u32,
            })
        }
        Some(abi::Injection::KernelStackOverflow) => {
            machine.overflow_kernel_stack();
            // Only a mock machine comes back: nothing of the task changed.
            Ok(InjectEvidence::default())
        }
        // A test image's own request (feature `test-panic`, never in a
        // shipping image): the post-mortem path is only testable if the
        // kernel can be made to panic on purpose.
        #[cfg(all(feature = "test-panic", not(test)))]
        Some(abi::Injection::KernelPanic) => panic!("injected on purpose (test-panic kernel)"),
        #[cfg(not(all(feature = "test-panic", not(test))))]
        Some(abi::Injection::KernelPanic) => Err(KIPC_BAD_OPERATION),
        // The supervisor commits this one on itself; it is no kernel op.
        Some(abi::Injection::SupervisorFault) => Err(KIPC_BAD_OPERATION),
        Some(abi::Injection::FlipRamBit) => {
            // The task's RAM is its second region (text, RAM, devices...).
            let ram = *task.desc().regions.get(1).ok_or(KIPC_BAD_MESSAGE)?;
            let words = (ram.size / 4).max(1);
            let offset = ((arg >> 5) as usize % words) * 4;
            let word = USlice::<u32>::from_raw(ram.base + offset, 1).ok_or(KIPC_BAD_MESSAGE)?;
            // The word is read, then written: it must be both.
            umem::check_readable(task, &word).map_err(|_| KIPC_BAD_MESSAGE)?;
            let w = umem::try_write(task, &word).map_err(|_| KIPC_BAD_MESSAGE)?;
            let before = w[0];
            w[0] = before ^ bit;
            Ok(InjectEvidence {
                location: (ram.base + offset) as u32,
                before,
                after: w[0],
            })
        }
        Some(abi::Injection::Fingerprint) => {
            let region = match arg {
                0 => task.desc().regions.get(1),
                1 => task
                    .desc()
                    .regions
                    .iter()
                    .find(|r| r.attributes & crate::descs::REGION_DMA_RING != 0),
                _ => None,
            };
            let r = *region.ok_or(KIPC_BAD_MESSAGE)?;
            let words = USlice::<u32>::from_raw(r.base, r.size / 4).ok_or(KIPC_BAD_MESSAGE)?;
            let words = umem::try_read(task, &words).map_err(|_| KIPC_BAD_MESSAGE)?;
            // FNV-1a over words: xor then an odd multiply, both bijections,
            // so any single changed word changes the result.
            let hash = words
                .iter()
                .fold(0x811c_9dc5u32, |h, &w| (h ^ w).wrapping_mul(0x0100_0193));
            Ok(InjectEvidence {
                location: r.base as u32,
                before: hash,
                after: r.size as u32,
            })
        }
        None => Err(KIPC_BAD_MESSAGE),
    }
}

/// The `kipc` syscall.
pub fn kipc<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    if caller != sys.supervisor {
        return Err(UserError::Recoverable(REFUSED_NOT_SUPERVISOR));
    }
    let s = sys.tasks[caller].save();
    let op = s.arg(0) as u32;
    let msg = USlice::from_raw(s.arg(1), s.arg(2)).ok_or(UsageError::InvalidSlice)?;
    let reply = USlice::from_raw(s.arg(3), s.arg(4)).ok_or(UsageError::InvalidSlice)?;
    umem::check_writable(&sys.tasks[caller], &reply)?;
    // The arguments: up to three words at the start of the message, read
    // once (the whole message must be readable); an operation that needs
    // more words than were sent answers KIPC_BAD_MESSAGE.
    let mut raw = [0u8; 12];
    let n = umem::read_bytes(&sys.tasks[caller], &msg, &mut raw)?;
    let word =
        |k: usize| u32::from_le_bytes([raw[4 * k], raw[4 * k + 1], raw[4 * k + 2], raw[4 * k + 3]]);
    let arg = (n >= 4).then(|| word(0));
    let pair = (n >= 8).then(|| [word(0), word(1)]);
    let words = (n >= 12).then(|| [word(0), word(1), word(2)]);

    let Some(op) = Kipc::from_u32(op) else {
        return Err(UserError::Recoverable(KIPC_BAD_OPERATION));
    };
    let mut out = [0u8; core::mem::size_of::<TaskStatus>()];
    let mut out_len = 0;
    let task_arg = |arg: Option<u32>| -> Result<usize, UserError> {
        let i = arg.ok_or(UserError::Recoverable(KIPC_BAD_MESSAGE))? as usize;
        if i >= sys.tasks.len() {
            return Err(UserError::Recoverable(KIPC_NO_SUCH_TASK));
        }
        Ok(i)
    };
    match op {
        Kipc::TaskStatus => {
            let i = task_arg(arg)?;
            let st = status_of(sys, i);
            out.copy_from_slice(st.as_bytes());
            out_len = out.len();
        }
        Kipc::RestartTask => {
            let i = task_arg(arg)?;
            if i == caller {
                return Err(UserError::Recoverable(KIPC_NO_SUCH_TASK));
            }
            // Refused while a device that did not reset holds its lease.
            if !faults::restart_task(sys, i) {
                return Err(UserError::Recoverable(abi::DMA_PINNED));
            }
        }
        Kipc::FaultTask => {
            // Test-only (`System::test_control`): a shipping kernel answers
            // KIPC_BAD_OPERATION, so not even a compromised supervisor can
            // kill a task without restarting it, or stop the machine.
            if !sys.has_test_control() {
                return Err(UserError::Recoverable(KIPC_BAD_OPERATION));
            }
            let i = task_arg(arg)?;
            if i == caller {
                return Err(UserError::Recoverable(KIPC_NO_SUCH_TASK));
            }
            let pc = sys.tasks[i].save().pc() as u32;
            let record = FaultRecord {
                kind: FaultKind::Injected as u32,
                address: 0,
                pc,
                detail: caller as u32,
            };
            faults::fault_task(sys, i, record);
        }
        Kipc::Shutdown => {
            if !sys.has_test_control() {
                return Err(UserError::Recoverable(KIPC_BAD_OPERATION));
            }
            let code = arg.ok_or(UserError::Recoverable(KIPC_BAD_MESSAGE))?;
            sys.machine.shutdown(code);
        }
        Kipc::GrantDevice => {
            let [task, slot, bits] = words.ok_or(UserError::Recoverable(KIPC_BAD_MESSAGE))?;
            let i = task_arg(Some(task))?;
            grant(sys, i, slot as usize, bits)?;
        }
        Kipc::RevokeDevice => {
            let [task, slot] = pair.ok_or(UserError::Recoverable(KIPC_BAD_MESSAGE))?;
            let i = task_arg(Some(task))?;
            revoke(sys, i, slot as usize)?;
        }
        Kipc::Inject => {
            let [task, kind, arg] = words.ok_or(UserError::Recoverable(KIPC_BAD_MESSAGE))?;
            let i = task_arg(Some(task))?;
            if i == caller || !sys.has_fault_injection() {
                return Err(UserError::Recoverable(KIPC_BAD_OPERATION));
            }
            let evidence = inject(&mut sys.tasks[i], &mut sys.machine, kind, arg)
                .map_err(UserError::Recoverable)?;
            out_len = core::mem::size_of::<InjectEvidence>();
            out[..out_len].copy_from_slice(evidence.as_bytes());
        }
        Kipc::StopTask => {
            let i = task_arg(arg)?;
            if sys.tasks[i].is_healthy() {
                return Err(UserError::Recoverable(KIPC_TASK_ALIVE));
            }
            // Faulted: its incarnation ended, and its callers were told,
            // at the fault. Only what it answers from now on changes.
            sys.tasks[i].leave_stopped();
        }
        Kipc::TaskCount => {
            out[..4].copy_from_slice(&(sys.tasks.len() as u32).to_le_bytes());
            out_len = 4;
        }
    }
    let n = umem::write_bytes(&sys.tasks[caller], &reply, &out[..out_len])?;
    let s = sys.tasks[caller].save_mut();
    s.set_ret(0, abi::SUCCESS as usize);
    s.set_ret(1, n);
    Ok(())
}
