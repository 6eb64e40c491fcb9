//! Notifications: `post`, timers and interrupts all end up as bits in a
//! task's 32-bit notification word, delivered by `recv` when its mask
//! selects them.
//!
//! # Who may `post` what
//!
//! A notification bit is a small authority (a driver's remove bit tears its
//! device down, the supervisor's fault bit starts recovery), so `post` is
//! checked like `send` ([`check_post`]):
//!
//! 1. **Interrupt bits and the fault bit are the kernel's alone.** No task,
//!    not even the supervisor, may post a bit that an interrupt is routed to
//!    on the target (a static app.toml route or a live device grant), nor
//!    the supervisor's [`abi::SUPERVISOR_FAULT_BIT`].
//! 2. **The supervisor may post any other bit to any task**: it tells
//!    drivers to remove and probe (the bits they registered with the bus).
//! 3. **Any other task may post only to a task it may send to** (its
//!    `slots`) **or that its app.toml `posts` list names, and only bits the
//!    target declares `postable`** (by notification name in app.toml).
//!
//! A refused post changes nothing and returns [`abi::REFUSED_POST_TARGET`]
//! or [`abi::REFUSED_POST_BITS`] to the caller; the image builder refuses
//! app files whose grants contradict these rules.

use abi::{dead_code, TaskId, UsageError, REFUSED_POST_BITS, REFUSED_POST_TARGET};

use crate::descs::IrqDesc;
use crate::err::UserError;
use crate::ipc;
use crate::machine::Machine;
use crate::share;
use crate::system::System;

/// Posts `bits` to task `index` and wakes it if it waits for them.
pub fn post_bits<M: Machine>(sys: &mut System<'_, M>, index: usize, bits: u32) {
    let t = &mut sys.tasks[index];
    if !t.is_healthy() {
        return;
    }
    t.post(bits);
    ipc::wake_for_notifications(t);
    sys.note(index);
}

/// The notification bits of task `task` that an interrupt is routed to now
/// (static routes and device grants).
pub fn irq_bits<M: Machine>(sys: &System<'_, M>, task: usize) -> u32 {
    let mut bits = 0;
    for r in sys.routes() {
        if r.task as usize == task {
            bits |= r.bits;
        }
    }
    bits
}

/// Whether `caller` may post `bits` to task `target` (see the module docs
/// for the rule). `Err` is the response code of the refusal.
pub fn check_post<M: Machine>(
    sys: &System<'_, M>,
    caller: usize,
    target: usize,
    bits: u32,
) -> Result<(), u32> {
    let mut kernel_only = irq_bits(sys, target);
    if target == sys.supervisor {
        kernel_only |= abi::SUPERVISOR_FAULT_BIT;
    }
    if bits & kernel_only != 0 {
        return Err(REFUSED_POST_BITS);
    }
    if caller == sys.supervisor {
        return Ok(());
    }
    let desc = sys.tasks[caller].desc();
    if !desc.has_slot(target) && !desc.has_post(target) {
        return Err(REFUSED_POST_TARGET);
    }
    if bits & !sys.tasks[target].desc().postable != 0 {
        return Err(REFUSED_POST_BITS);
    }
    Ok(())
}

/// `post` syscall.
pub fn post<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    let (target, bits) = (TaskId::from_register(s.arg(0) as u32), s.arg(1) as u32);
    let i = target.index();
    if i >= sys.tasks.len() {
        return Err(UserError::Recoverable(abi::REFUSED_NO_SUCH_TASK));
    }
    if sys.tasks[i].generation() != target.generation() {
        return Err(UserError::Recoverable(dead_code(sys.tasks[i].generation())));
    }
    check_post(sys, caller, i, bits).map_err(UserError::Recoverable)?;
    post_bits(sys, i, bits);
    sys.tasks[caller]
        .save_mut()
        .set_ret(0, abi::SUCCESS as usize);
    Ok(())
}

/// Delivers every expired timer, lets every throttled task whose share
/// period has ended run again, and reprograms the hardware for the next.
pub fn service_timers<M: Machine>(sys: &mut System<'_, M>) {
    let now = sys.machine.now();
    share::release_due(sys, now);
    for i in 0..sys.tasks.len() {
        if let Some((deadline, bits)) = sys.tasks[i].timer() {
            if deadline <= now {
                sys.tasks[i].set_timer(None);
                post_bits(sys, i, bits);
            }
        }
    }
    reprogram_timer(sys);
}

/// Sets the hardware timer to the earliest armed deadline: the tasks'
/// timers, the running task's CPU budget and the end of a throttled task's
/// share period.
pub fn reprogram_timer<M: Machine>(sys: &mut System<'_, M>) {
    let mut next = match (sys.budget_deadline, sys.next_release) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    for t in sys.tasks.iter() {
        if let Some((d, _)) = t.timer() {
            next = Some(next.map_or(d, |n| n.min(d)));
        }
    }
    sys.machine.set_timer_deadline(next);
}

/// `set_timer` syscall.
pub fn set_timer<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    // The low word and the high word (shifted clear of it: no overflow).
    let deadline = (s.arg(1) as u32 as u64) + ((s.arg(2) as u32 as u64) << 32);
    let timer = (s.arg(0) != 0).then_some((deadline, s.arg(3) as u32));
    sys.tasks[caller].set_timer(timer);
    // A deadline already in the past fires now rather than never.
    service_timers(sys);
    Ok(())
}

/// `get_timer` syscall.
pub fn get_timer<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    get_timer_regs(sys, caller);
    Ok(())
}

/// `get_timer`'s work (it cannot fail): the time, the deadline and the
/// bits into `a0..a5`. Inlined: a call here would give the trap handler's
/// light path a stack frame, which every trap would pay for.
#[inline(always)]
pub fn get_timer_regs<M: Machine>(sys: &mut System<'_, M>, caller: usize) {
    let now = sys.machine.now();
    let timer = sys.tasks[caller].timer();
    let (deadline, bits) = timer.unwrap_or((0, 0));
    let s = sys.tasks[caller].save_mut();
    s.set_ret(0, now as u32 as usize);
    s.set_ret(1, (now >> 32) as u32 as usize);
    s.set_ret(2, deadline as u32 as usize);
    s.set_ret(3, (deadline >> 32) as u32 as usize);
    s.set_ret(4, timer.is_some() as usize);
    s.set_ret(5, bits as usize);
}

/// An interrupt from PLIC source `irq` fired: post its task's bits and leave
/// the source masked until the task re-enables it with `irq_control`.
pub fn interrupt<M: Machine>(sys: &mut System<'_, M>, irq: u32) {
    sys.machine.irq_set_enabled(irq, false);
    // A source has one route: the image builder refuses an IRQ claimed
    // twice, and `kipc::grant` a source already routed.
    let route = sys.routes().find(|r| r.irq == irq).copied();
    if let Some(r) = route {
        // Marked as the device's: a `recv` returning it finds work
        // arriving (`budget::work_arrived`), where a bit posted by a task
        // or a timer does not.
        sys.tasks[r.task as usize].mark_interrupted(r.bits);
        post_bits(sys, r.task as usize, r.bits);
    }
}

/// `irq_control` syscall: unmask or mask the IRQs routed to the caller's
/// notification `bits`.
pub fn irq_control<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    let (bits, enable) = (s.arg(0) as u32, s.arg(1) != 0);
    let mut found = false;
    let mine = |r: &&IrqDesc| r.task as usize == caller && r.bits & bits != 0;
    for r in crate::system::routes(sys.irqs, &sys.device_irqs).filter(mine) {
        sys.machine.irq_set_enabled(r.irq, enable);
        found = true;
    }
    if !found {
        return Err(UsageError::NoIrqForBits.into());
    }
    Ok(())
}
