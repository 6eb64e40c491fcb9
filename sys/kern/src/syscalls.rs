//! The syscall dispatcher and the other ways into the kernel (exceptions,
//! timer and external interrupts), all in portable code.
//!
//! Each entry point takes the system and the task that trapped and applies
//! the event: it sets the caller's result registers (or faults it), moves
//! tasks between states, and tells the scheduler which tasks changed
//! (`System::note`). None of them chooses what runs next: the arch layer's
//! trap entry calls one of them, then [`after_trap`] (or [`next_task`])
//! for the choice, and resumes the task that returns.

use abi::{FaultKind, FaultRecord, ReplyFaultReason, Sysnum, TaskId, UsageError};

use crate::err::UserError;
use crate::machine::Machine;
use crate::sched::MaybeTask;
use crate::system::System;
use crate::task::SchedState;
use crate::umem::{self, USlice};
use crate::{budget, console, fastpath, faults, ipc, kipc, leases, notify};

/// Handles an `ecall` from task `caller`.
pub fn syscall<M: Machine>(sys: &mut System<'_, M>, caller: usize) {
    sys.tasks[caller].count_syscall();
    let pc = sys.tasks[caller].save().pc();
    // Resume after the `ecall` (4 bytes: the compressed set has no ecall).
    sys.tasks[caller].save_mut().set_pc(pc.wrapping_add(4));
    let n = sys.tasks[caller].save().syscall_number() as u32;
    crate::probe!(sys.machine, Dispatch);
    // The two calls of every request try their fast paths before the
    // number is decoded.
    if (n == Sysnum::Send as u32 && fastpath::send(sys, caller))
        || (n == Sysnum::ReplyRecv as u32 && fastpath::reply_recv(sys, caller))
    {
        return;
    }
    let result = match Sysnum::from_u32(n) {
        None => Err(UsageError::BadSyscallNumber.into()),
        Some(Sysnum::Send) => ipc::send(sys, caller),
        Some(Sysnum::Recv) => ipc::recv(sys, caller),
        Some(Sysnum::Reply) => ipc::reply(sys, caller),
        Some(Sysnum::ReplyRecv) => ipc::reply_recv(sys, caller),
        Some(Sysnum::SetTimer) => notify::set_timer(sys, caller),
        Some(Sysnum::GetTimer) => notify::get_timer(sys, caller),
        Some(Sysnum::BorrowRead) => leases::borrow(sys, caller, false),
        Some(Sysnum::BorrowWrite) => leases::borrow(sys, caller, true),
        Some(Sysnum::BorrowInfo) => leases::borrow_info(sys, caller),
        Some(Sysnum::IrqControl) => notify::irq_control(sys, caller),
        Some(Sysnum::Post) => notify::post(sys, caller),
        Some(Sysnum::Panic) => panic(sys, caller),
        Some(Sysnum::RefreshTaskId) => refresh_task_id(sys, caller),
        Some(Sysnum::ReplyFault) => reply_fault(sys, caller),
        Some(Sysnum::Log) => log(sys, caller),
        Some(Sysnum::Kipc) => kipc::kipc(sys, caller),
        #[cfg(feature = "bench-probes")]
        Some(Sysnum::BenchProbes) => crate::probes::syscall(sys, caller),
        // Without the feature the syscall does not exist.
        #[cfg(not(feature = "bench-probes"))]
        Some(Sysnum::BenchProbes) => Err(UsageError::BadSyscallNumber.into()),
        Some(Sysnum::Dma) => crate::dma::syscall(sys, caller),
    };
    if let Err(e) = result {
        fail(sys, caller, pc, e);
    }
}

/// Applies error `e` of the syscall `caller` made at `pc`: the response
/// code in its registers, or the fault. Out of line: the compiler would
/// otherwise copy this into the error paths of every handler.
#[inline(never)]
fn fail<M: Machine>(sys: &mut System<'_, M>, caller: usize, pc: usize, e: UserError) {
    match e.to_fault() {
        Ok(code) => {
            let s = sys.tasks[caller].save_mut();
            s.set_ret(0, code as usize);
            s.set_ret(1, 0);
        }
        Err(mut record) => {
            record.pc = pc as u32;
            faults::fault_task(sys, caller, record);
        }
    }
}

/// Whether syscall number `n` is one the light path ([`light`]) answers.
#[inline(always)]
pub fn is_light(n: usize) -> bool {
    n == Sysnum::RefreshTaskId as usize || n == Sysnum::GetTimer as usize
}

/// The light path: a syscall that only reads the kernel's state back to
/// its caller — `refresh_task_id` and `get_timer` — neither blocks, wakes
/// anyone, fails nor changes what the scheduler or the budget code look
/// at, so the caller simply runs on. When, in addition, no CPU budget is
/// being watched (no budgeted task dispatched, no budget deadline armed),
/// the trap needs no scheduling decision and no budget bookkeeping; the
/// arch layer tries this first, so that such a call pays for none of the
/// general syscall path (nor for its registers).
///
/// Returns `false`, having changed nothing, for every other call: the
/// general path ([`syscall`], then [`after_trap`]) handles it. Host tests
/// (`tests::light`) check both paths give the same registers.
#[inline(always)]
pub fn light<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> bool {
    let n = sys.tasks[caller].save().syscall_number();
    if !is_light(n) || !sys.dispatched.is_none() || sys.budget_deadline.is_some() {
        return false;
    }
    if n == Sysnum::RefreshTaskId as usize {
        refresh_task_id_regs(sys, caller);
    } else {
        notify::get_timer_regs(sys, caller);
    }
    let t = &mut sys.tasks[caller];
    t.count_syscall();
    let s = t.save_mut();
    // Resume after the `ecall`, as in `syscall`.
    s.set_pc(s.pc().wrapping_add(4));
    true
}

/// The synchronous exceptions a task can take, decoded by the arch layer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Exception {
    /// Load access fault at the address.
    Load(usize),
    /// Store access fault at the address.
    Store(usize),
    /// Instruction fetch fault at the address.
    Fetch(usize),
    /// Illegal instruction (the instruction bits).
    Illegal(usize),
    /// Misaligned access at the address.
    Misaligned(usize),
    /// `ebreak`.
    Breakpoint,
}

/// Handles an exception (other than `ecall`) taken by task `index`.
pub fn exception<M: Machine>(sys: &mut System<'_, M>, index: usize, e: Exception) {
    let pc = sys.tasks[index].save().pc() as u32;
    let plain = |kind: FaultKind, address: usize, detail: usize| FaultRecord {
        kind: kind as u32,
        address: address as u32,
        pc,
        detail: detail as u32,
    };
    let record = match e {
        Exception::Load(a) => faults::access_fault(sys, index, FaultKind::LoadAccess, a),
        Exception::Store(a) => faults::access_fault(sys, index, FaultKind::StoreAccess, a),
        Exception::Fetch(a) => faults::access_fault(sys, index, FaultKind::FetchAccess, a),
        Exception::Illegal(bits) => plain(FaultKind::IllegalInstruction, 0, bits),
        Exception::Misaligned(a) => plain(FaultKind::Misaligned, a, 0),
        Exception::Breakpoint => plain(FaultKind::Breakpoint, 0, 0),
    };
    faults::fault_task(sys, index, record);
}

/// Picks the next task by the full choice, logs first runs, and sets up
/// its memory protection. `None` when nothing is runnable. The arch layer
/// uses [`after_trap`], which makes the same choice; this is that choice
/// without the quick one in front (host tests).
pub fn next_task<M: Machine>(sys: &mut System<'_, M>, current: usize) -> Option<usize> {
    budget::charge_all(sys);
    let next = choose(sys, current)?;
    budget::dispatch(sys, next);
    resume(sys, next);
    Some(next)
}

/// What runs after a trap by `current`, as the trap handler decides it:
/// the quick choice if there is one ([`crate::sched::Scheduler::quick`]),
/// else the full one. `None` when nothing can run (the arch layer then
/// waits for an interrupt and asks again).
///
/// The kernel's only way to the next task (boot and the wait for an
/// interrupt included), so that it holds the only copy of the dispatch
/// and of the protection loads.
#[inline(always)]
pub fn after_trap<M: Machine>(sys: &mut System<'_, M>, current: usize) -> Option<usize> {
    crate::probe!(sys.machine, Ipc);
    // The CPU budget first: a task past it is faulted before any choice.
    // For a task without a budget this is one test of `dispatched`; for a
    // budgeted task whose syscall returns to it, a look at the clock (its
    // stretch goes on, see `budget::stretch_goes_on`).
    budget::charge(sys, current);
    let next = match sys.sched.quick(sys.tasks, current) {
        Some(next) => {
            #[cfg(test)]
            assert_eq!(
                Some(next),
                crate::sched::select(sys.tasks, sys.sched.cursors()),
                "quick choice disagrees with select"
            );
            next
        }
        None => choose(sys, current)?,
    };
    budget::dispatch(sys, next);
    resume(sys, next);
    Some(next)
}

/// The full choice ([`crate::sched::Scheduler::choose`]), and the log line
/// of a first run. A quick choice never needs the log line: it is the
/// task that trapped, or one the IPC fast path handed the CPU to, which
/// was blocked in IPC and so has run before.
#[inline]
fn choose<M: Machine>(sys: &mut System<'_, M>, current: usize) -> Option<usize> {
    let Some(next) = sys.sched.choose(sys.tasks, current) else {
        budget::disarm_expired(sys);
        return None;
    };
    if sys.tasks[next].take_announce() {
        announce(sys, next);
    }
    Some(next)
}

/// Resumes `next`: loads its memory protection unless it is in force.
#[inline(always)]
fn resume<M: Machine>(sys: &mut System<'_, M>, next: usize) {
    crate::probe!(sys.machine, Schedule);
    if !sys.protection_for.is(next) {
        let (regions, cache) = sys.tasks[next].protection();
        sys.machine.protect_cached(regions, cache);
        sys.protection_for = MaybeTask::some(next);
    }
    crate::probe!(sys.machine, Pmp);
}

/// Logs a task's first run after a start.
#[inline(never)]
#[cold]
fn announce<M: Machine>(sys: &mut System<'_, M>, next: usize) {
    let name = sys.name(next);
    let generation = sys.tasks[next].generation().0;
    let line = console::Line::kernel(&mut sys.machine)
        .str("task ")
        .str(name)
        .str(" started");
    if generation == 0 {
        line.end();
    } else {
        line.str(" (generation ")
            .dec(generation as u32)
            .str(")")
            .end();
    }
}

fn panic<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    let msg = USlice::from_raw(s.arg(0), s.arg(1).min(256)).unwrap_or(USlice::EMPTY);
    let mut text = [0u8; 256];
    // A panic message the task does not own is not printed: it is faulted
    // for the panic either way.
    let n = umem::read_bytes(&sys.tasks[caller], &msg, &mut text).unwrap_or(0);
    let name = sys.name(caller);
    console::Line::kernel(&mut sys.machine)
        .str("task ")
        .str(name)
        .str(" panicked:")
        .end();
    console::task_text(&mut sys.machine, name, &text[..n.min(text.len())]);
    Err(UserError::Panic)
}

fn refresh_task_id<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    refresh_task_id_regs(sys, caller);
    Ok(())
}

/// `refresh_task_id`'s work (it cannot fail): `a0` becomes the current
/// incarnation of the task `a0` names (unchanged if there is no such task).
#[inline(always)]
fn refresh_task_id_regs<M: Machine>(sys: &mut System<'_, M>, caller: usize) {
    let id = TaskId::from_register(sys.tasks[caller].save().arg(0) as u32);
    let i = id.index();
    let fresh = if i < sys.tasks.len() {
        sys.tasks[i].id(i)
    } else {
        id
    };
    sys.tasks[caller].save_mut().set_ret(0, fresh.0 as usize);
}

/// `reply_fault`: the server rejects the message its caller sent.
///
/// Who is believed depends on the server. A *trusted* server (app.toml)
/// faults the caller with `FromServer`, as in Hubris: the caller sent
/// garbage and is broken. An *untrusted* server — every driver by default —
/// may itself be the broken party (a flipped bit, a wild write), and the
/// threat model says a driver must never make a well-behaved client fault;
/// so its verdict completes the caller's `send` with a REJECTED code
/// (`abi::rejected_code`) carrying the reason, which the generated client
/// stubs turn into a typed error.
fn reply_fault<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    let (peer, reason) = (TaskId::from_register(s.arg(0) as u32), s.arg(1) as u32);
    let reason = ReplyFaultReason::from_u32(reason).unwrap_or(ReplyFaultReason::BadMessageContents);
    let p = peer.index();
    let me = sys.tasks[caller].id(caller);
    // Like `reply`, a peer no longer waiting on us is skipped.
    if p < sys.tasks.len() && sys.tasks[p].id(p) == peer && sys.tasks[p].is(SchedState::InReply(me))
    {
        // As for `reply`: not while its lease is posted to our device.
        if crate::dma::pins(sys, caller, p) {
            return Err(UserError::Recoverable(abi::DMA_PINNED));
        }
        if sys.tasks[caller].desc().trusted {
            let pc = sys.tasks[p].save().pc().wrapping_sub(4) as u32;
            let record = FaultRecord {
                kind: FaultKind::FromServer as u32,
                address: 0,
                pc,
                // The reason fits below bit 16 (`ReplyFaultReason`).
                detail: ((caller as u32) << 16) + reason as u32,
            };
            faults::fault_task(sys, p, record);
        } else {
            // Recorded before the caller's registers take the code: the
            // supervisor decides by the call whether the server is the
            // broken one.
            let call = ipc::refused_call(&sys.tasks[p], me, reason as u32);
            sys.tasks[p].record_rejected_call(call);
            ipc::complete_with_code(&mut sys.tasks[p], abi::rejected_code(reason));
            sys.note(p);
            sys.tasks[caller].count_rejection();
            let sup = sys.supervisor;
            notify::post_bits(sys, sup, abi::SUPERVISOR_FAULT_BIT);
        }
        sys.tasks[caller].count_reply();
    }
    Ok(())
}

fn log<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    let text = USlice::from_raw(s.arg(0), s.arg(1)).ok_or(UsageError::InvalidSlice)?;
    // Copy through a bounded kernel buffer so a huge log cannot stall the
    // kernel for long, and so the console never reads task memory directly.
    // The whole slice must be the task's, not just the part printed.
    let mut buf = [0u8; 256];
    let n = umem::read_bytes(&sys.tasks[caller], &text, &mut buf)?;
    let name = sys.name(caller);
    console::task_text(&mut sys.machine, name, &buf[..n.min(buf.len())]);
    Ok(())
}
