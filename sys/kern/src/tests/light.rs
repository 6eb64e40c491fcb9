//! The light syscall path (`syscalls::light`): calls that only read the
//! kernel's state back to the caller are answered without the dispatcher,
//! the scheduler or the budget code, with exactly the registers the
//! general path gives; anything else, and any call while a CPU budget is
//! watched, is declined untouched.

use abi::{Sysnum, TICKS_PER_MS};

use super::harness::*;
use crate::task::SchedState;
use crate::{faults, syscalls};

use super::fastpath::ready_for_a_call as running_client;

/// What a task sees of a syscall: its result registers, its pc and its
/// syscall count.
fn seen(h: &Harness, t: usize) -> ([usize; 6], usize, u32) {
    let s = h.task(t).save();
    (
        core::array::from_fn(|i| s.reg(10 + i)),
        s.pc(),
        h.task(t).syscalls(),
    )
}

/// What the client saw of one call, each way.
type Seen = ([usize; 6], usize, u32);

/// Makes syscall `num` with `args` from the client twice, in two identical
/// systems (`running_client`, then `setup`): once through the light path,
/// once through the general one (dispatcher, then the scheduler's choice).
/// Returns what the client saw each time.
fn both_ways(setup: impl Fn(&mut Harness), num: Sysnum, args: &[usize]) -> (Seen, Seen) {
    let mut light = running_client();
    setup(&mut light);
    light.set_pc(CLI, 0x100);
    light.stage(CLI, num as usize, args);
    assert!(
        syscalls::light(&mut light.sys, CLI),
        "{num:?} not taken by the light path"
    );
    // The caller runs on, and the scheduler agrees nothing changed.
    assert_eq!(syscalls::after_trap(&mut light.sys, CLI), Some(CLI));
    assert_eq!(light.sched(CLI), SchedState::Runnable);

    let mut general = running_client();
    setup(&mut general);
    general.set_pc(CLI, 0x100);
    general.syscall(CLI, num, args);
    assert_eq!(syscalls::after_trap(&mut general.sys, CLI), Some(CLI));
    (seen(&light, CLI), seen(&general, CLI))
}

#[test]
fn refresh_task_id_light_is_the_general_answer() {
    // A stale id of a restarted server comes back current.
    let stale = abi::TaskId::new(SRV as u16, abi::Generation::default());
    let restarted = |h: &mut Harness| {
        assert!(faults::restart_task(&mut h.sys, SRV));
        h.recv(SRV, 64, 0);
        assert_eq!(syscalls::next_task(&mut h.sys, SRV), Some(CLI));
    };
    let (light, general) = both_ways(restarted, Sysnum::RefreshTaskId, &[stale.0 as usize]);
    assert_eq!(light, general);
    let mut h = running_client();
    restarted(&mut h);
    assert_ne!(h.id(SRV), stale);
    assert_eq!(light.0[0], h.id(SRV).0 as usize, "the current incarnation");
    assert_eq!(light.1, 0x104, "resumes after the ecall");
    assert_eq!(light.2, 1, "counted as a syscall");
    // An index beyond the table comes back as it was, both ways.
    let (light, general) = both_ways(|_| {}, Sysnum::RefreshTaskId, &[0x3ff]);
    assert_eq!(light, general);
    assert_eq!(light.0[0], 0x3ff);
}

#[test]
fn get_timer_light_is_the_general_answer() {
    let (light, general) = both_ways(|_| {}, Sysnum::GetTimer, &[]);
    assert_eq!(light, general);
    assert_eq!(light.1, 0x104);
}

#[test]
fn get_timer_light_reads_the_clock_and_the_armed_timer() {
    let mut h = running_client();
    h.set_timer(CLI, Some(5 * TICKS_PER_MS), 0b10);
    h.sys.machine.now = 0x1_2345_6789;
    h.stage(CLI, Sysnum::GetTimer as usize, &[]);
    assert!(syscalls::light(&mut h.sys, CLI));
    let (r, _, _) = seen(&h, CLI);
    assert_eq!((r[0], r[1]), (0x2345_6789, 1), "now, low and high words");
    assert_eq!((r[2], r[3]), (5 * TICKS_PER_MS as usize, 0), "deadline");
    assert_eq!((r[4], r[5]), (1, 0b10), "armed, bits");
}

#[test]
fn other_syscalls_are_declined_untouched() {
    let mut h = running_client();
    h.set_pc(CLI, 0x100);
    let srv = h.id(SRV);
    h.stage_send(CLI, srv, 1, b"", 0, &[]);
    let before = seen(&h, CLI);
    assert!(!syscalls::light(&mut h.sys, CLI), "light path took a send");
    assert_eq!(seen(&h, CLI), before, "a declined call changed registers");
    assert_eq!(h.sched(SRV), SchedState::InRecv(None), "nothing delivered");
    // A number that is no syscall at all: the general path's business.
    h.stage(CLI, 0x7777, &[]);
    assert!(!syscalls::light(&mut h.sys, CLI));
}

/// While a budget is watched, every call pays the general path's
/// bookkeeping: a task spinning on `get_timer` must still be charged (and
/// faulted at its budget, see `tests::budget`).
#[test]
fn a_budgeted_task_takes_the_general_path() {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("drv", 1)
        .budget_ms(10)
        .task("low", 2)
        .build();
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(syscalls::next_task(&mut h.sys, SUP), Some(1));
    assert!(!h.sys.dispatched.is_none());
    h.set_pc(1, 0x100);
    h.stage(1, Sysnum::GetTimer as usize, &[]);
    assert!(!syscalls::light(&mut h.sys, 1), "budget not watched");
    assert_eq!(h.task(1).save().pc(), 0x100, "declined, yet changed");
    // A task without a budget, while a budget deadline is still armed
    // from the budgeted one, declines too (the general path disarms it).
    h.recv(1, 0, 0);
    assert_eq!(syscalls::next_task(&mut h.sys, 1), Some(2));
    assert!(h.sys.budget_deadline.is_some());
    h.stage(2, Sysnum::RefreshTaskId as usize, &[0]);
    assert!(
        !syscalls::light(&mut h.sys, 2),
        "a budget deadline is armed"
    );
}
