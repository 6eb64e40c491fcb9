//! Notifications: `post`, timers and interrupts all end up as bits in a
//! task's 32-bit notification word, delivered by `recv` when its mask
//! selects them.

use abi::{dead_code, TaskId, UsageError};

use crate::err::UserError;
use crate::ipc;
use crate::machine::Machine;
use crate::system::System;

/// Posts `bits` to task `index` and wakes it if it waits for them.
pub fn post_bits<M: Machine>(sys: &mut System<'_, M>, index: usize, bits: u32) {
    let t = &mut sys.tasks[index];
    if !t.is_healthy() {
        return;
    }
    t.post(bits);
    ipc::wake_for_notifications(t);
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
    post_bits(sys, i, bits);
    sys.tasks[caller]
        .save_mut()
        .set_ret(0, abi::SUCCESS as usize);
    Ok(())
}

/// Delivers every expired timer and reprograms the hardware for the next.
pub fn service_timers<M: Machine>(sys: &mut System<'_, M>) {
    let now = sys.machine.now();
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

/// Sets the hardware timer to the earliest armed deadline.
pub fn reprogram_timer<M: Machine>(sys: &mut System<'_, M>) {
    let next = sys
        .tasks
        .iter()
        .filter_map(|t| t.timer())
        .map(|(d, _)| d)
        .min();
    sys.machine.set_timer_deadline(next);
}

/// `set_timer` syscall.
pub fn set_timer<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    let deadline = (s.arg(1) as u32 as u64) | ((s.arg(2) as u32 as u64) << 32);
    let timer = (s.arg(0) != 0).then_some((deadline, s.arg(3) as u32));
    sys.tasks[caller].set_timer(timer);
    // A deadline already in the past fires now rather than never.
    service_timers(sys);
    Ok(())
}

/// `get_timer` syscall.
pub fn get_timer<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
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
    Ok(())
}

/// An interrupt from PLIC source `irq` fired: post its task's bits and leave
/// the source masked until the task re-enables it with `irq_control`.
pub fn interrupt<M: Machine>(sys: &mut System<'_, M>, irq: u32) {
    sys.machine.irq_set_enabled(irq, false);
    for i in 0..sys.route_slots() {
        match sys.route(i) {
            Some(r) if r.irq == irq => post_bits(sys, r.task as usize, r.bits),
            _ => {}
        }
    }
}

/// `irq_control` syscall: unmask or mask the IRQs routed to the caller's
/// notification `bits`.
pub fn irq_control<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    let (bits, enable) = (s.arg(0) as u32, s.arg(1) != 0);
    let mut found = false;
    for i in 0..sys.route_slots() {
        match sys.route(i) {
            Some(r) if r.task as usize == caller && r.bits & bits != 0 => {
                sys.machine.irq_set_enabled(r.irq, enable);
                found = true;
            }
            _ => {}
        }
    }
    if !found {
        return Err(UsageError::NoIrqForBits.into());
    }
    Ok(())
}
