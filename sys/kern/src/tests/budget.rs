//! CPU budgets: charged while running, cleared by blocking, not by cheap
//! syscalls; a task past its budget is faulted with its own kind and the
//! tasks below it run.

use abi::{FaultKind, Sysnum, TICKS_PER_MS};

use super::harness::*;
use crate::syscalls;
use crate::task::{SchedState, TaskState};
use crate::{budget, notify};

const DRV: usize = 1;
const LOW: usize = 2;
const BUDGET_MS: u32 = 10;

/// sup 0; drv 1 (budget 10 ms); low 2 (no budget). The supervisor waits
/// for its fault bit, so the driver is the most important runnable task.
fn system() -> Harness {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("drv", 1)
        .budget_ms(BUDGET_MS)
        .task("low", 2)
        .build();
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    h
}

/// The end of a trap: charge and pick the next task (as the arch layer
/// does), which the test then plays.
fn next(h: &mut Harness, current: usize) -> Option<usize> {
    syscalls::next_task(&mut h.sys, current)
}

fn advance_ms(h: &mut Harness, ms: u64) {
    h.sys.machine.now += ms * TICKS_PER_MS;
}

/// The driver runs for `ms` more, then traps with a syscall that returns at
/// once (`get_timer`, which does not count as blocking); returns who runs
/// next.
fn spin_ms(h: &mut Harness, ms: u64) -> Option<usize> {
    spin_ms_then(h, ms, next)
}

/// [`spin_ms`], the next task chosen by `choose` ([`next`] or
/// [`after_trap`]).
fn spin_ms_then(
    h: &mut Harness,
    ms: u64,
    choose: fn(&mut Harness, usize) -> Option<usize>,
) -> Option<usize> {
    advance_ms(h, ms);
    h.syscall(DRV, Sysnum::GetTimer, &[]);
    choose(h, DRV)
}

#[test]
fn a_task_spinning_on_a_cheap_syscall_is_faulted_at_its_budget() {
    let mut h = system();
    assert_eq!(next(&mut h, SUP), Some(DRV));
    // The timer is set for the moment the budget runs out.
    assert_eq!(h.sys.machine.deadline, Some(10 * TICKS_PER_MS));
    for ms in 1..BUDGET_MS {
        assert_eq!(
            spin_ms(&mut h, 1),
            Some(DRV),
            "still within budget at {ms} ms"
        );
    }
    assert_eq!(h.task(DRV).run(), 9 * TICKS_PER_MS);
    // The tenth millisecond: faulted, and the supervisor is told.
    assert_eq!(spin_ms(&mut h, 1), Some(SUP));
    assert_eq!(h.task(DRV).state(), TaskState::Faulted);
    let f = h.fault(DRV);
    assert_eq!(f.kind(), FaultKind::BudgetExceeded);
    assert_eq!(f.detail, BUDGET_MS);
    assert_eq!(h.ret(SUP, 1) as u32, abi::SUPERVISOR_FAULT_BIT);
    // The task below the spinner gets the CPU at last.
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(next(&mut h, SUP), Some(LOW));
}

#[test]
fn a_task_that_never_traps_is_faulted_by_the_budget_timer() {
    let mut h = system();
    assert_eq!(next(&mut h, SUP), Some(DRV));
    // A tight loop: no syscall, only the timer interrupt at the deadline.
    advance_ms(&mut h, BUDGET_MS as u64);
    notify::service_timers(&mut h.sys);
    assert_eq!(next(&mut h, DRV), Some(SUP));
    assert_eq!(h.fault(DRV).kind(), FaultKind::BudgetExceeded);
    assert_eq!(h.fault(DRV).pc as usize, h.mem[DRV].text, "where it was");
    // With the driver gone, no budget deadline is left armed.
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(next(&mut h, SUP), Some(LOW));
    assert_eq!(h.sys.budget_deadline, None);
    assert_eq!(h.sys.machine.deadline, None);
}

#[test]
fn blocking_clears_the_charge_and_a_task_below_its_budget_runs_on() {
    let mut h = system();
    for _ in 0..5 {
        assert_eq!(next(&mut h, SUP), Some(DRV));
        assert_eq!(spin_ms(&mut h, 5), Some(DRV));
        assert_eq!(h.task(DRV).run(), 5 * TICKS_PER_MS);
        advance_ms(&mut h, 3);
        // Blocks in recv; a notification wakes it at once on the next round.
        h.recv(DRV, 0, 1);
        assert_eq!(next(&mut h, DRV), Some(LOW));
        assert_eq!(h.task(DRV).run(), 0);
        let drv = h.id(DRV);
        assert_eq!(h.post(LOW, drv, 1), abi::SUCCESS);
    }
    // 40 ms of work in 8 ms stretches: never faulted.
    assert_eq!(h.task(DRV).fault_count(), 0);
    assert!(h.task(DRV).is_healthy());
}

#[test]
fn a_recv_that_returns_at_once_is_not_blocking() {
    let mut h = system();
    let drv = h.id(DRV);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    for _ in 0..BUDGET_MS {
        // A notification is always pending: recv never waits.
        h.syscall(DRV, Sysnum::Post, &[drv.0 as usize, 1]);
        advance_ms(&mut h, 1);
        h.recv(DRV, 0, 1);
        assert_eq!(h.sched(DRV), SchedState::Runnable);
        let _ = next(&mut h, DRV);
    }
    assert_eq!(h.fault(DRV).kind(), FaultKind::BudgetExceeded);
}

#[test]
fn a_task_calling_a_server_in_a_loop_is_charged_and_faulted() {
    let mut h = system();
    let (sup, drv) = (h.id(SUP), h.id(DRV));
    assert_eq!(next(&mut h, SUP), Some(DRV));
    for _ in 0..BUDGET_MS {
        advance_ms(&mut h, 1);
        // The supervisor waits in recv: the call is taken at once.
        h.send(DRV, sup, 1, b"", 0, &[]);
        assert_eq!(h.sched(DRV), SchedState::InReply(sup));
        assert_eq!(next(&mut h, DRV), Some(SUP));
        // The server's own time is not the driver's.
        advance_ms(&mut h, 5);
        h.reply(SUP, drv, 0, b"");
        h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
        assert_eq!(next(&mut h, SUP), Some(DRV));
    }
    assert_eq!(h.task(DRV).run(), BUDGET_MS as u64 * TICKS_PER_MS);
    assert_eq!(h.task(DRV).fault_count(), 0, "not while in a call");
    // Dispatched again past its budget: the deadline is now, and its
    // timer interrupt faults it.
    assert_eq!(h.sys.budget_deadline, Some(h.sys.machine.now));
    notify::service_timers(&mut h.sys);
    assert_eq!(next(&mut h, DRV), Some(SUP));
    assert_eq!(h.fault(DRV).kind(), FaultKind::BudgetExceeded);
}

#[test]
fn time_preempted_by_a_more_important_task_is_not_charged() {
    preempted_time_is_not_charged(next);
    // The trap handler's way: the post that wakes the more important task
    // ends the driver's stretch (it does not go on).
    preempted_time_is_not_charged(after_trap);
}

fn preempted_time_is_not_charged(next: fn(&mut Harness, usize) -> Option<usize>) {
    // sup 0; hi 1 (woken by the driver's post); drv 2 (budget); low 3.
    const HI: usize = 1;
    const D: usize = 2;
    const WAKE: u32 = 1 << 1;
    let mut h = Builder::default()
        .task("sup", 0)
        .task("hi", 1)
        .task("drv", 2)
        .budget_ms(BUDGET_MS)
        .task("low", 3)
        .build();
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    h.recv(HI, 0, WAKE);
    assert_eq!(next(&mut h, SUP), Some(D));
    advance_ms(&mut h, 6);
    // The driver wakes the more important task, which runs for 30 ms.
    let hi = h.id(HI);
    h.syscall(D, Sysnum::Post, &[hi.0 as usize, WAKE as usize]);
    assert_eq!(h.ret(D, 0) as u32, abi::SUCCESS);
    assert_eq!(next(&mut h, D), Some(HI));
    advance_ms(&mut h, 30);
    h.recv(HI, 0, WAKE);
    assert_eq!(next(&mut h, HI), Some(D));
    assert_eq!(h.task(D).run(), 6 * TICKS_PER_MS);
    // 6 + 3 ms: fine; 6 + 3 + 1: out.
    advance_ms(&mut h, 3);
    h.syscall(D, Sysnum::GetTimer, &[]);
    assert_eq!(next(&mut h, D), Some(D));
    advance_ms(&mut h, 1);
    h.syscall(D, Sysnum::GetTimer, &[]);
    let _ = next(&mut h, D);
    assert_eq!(h.fault(D).kind(), FaultKind::BudgetExceeded);
}

#[test]
fn tasks_without_a_budget_are_never_faulted() {
    let mut h = system();
    h.recv(DRV, 0, 1);
    assert_eq!(next(&mut h, SUP), Some(LOW));
    for _ in 0..100 {
        advance_ms(&mut h, 100);
        h.syscall(LOW, Sysnum::GetTimer, &[]);
        assert_eq!(next(&mut h, LOW), Some(LOW));
    }
    assert_eq!(h.task(LOW).fault_count(), 0);
    assert_eq!(h.sys.machine.deadline, None, "no timer for it");
}

#[test]
fn a_restart_clears_the_charge() {
    let mut h = system();
    assert_eq!(next(&mut h, SUP), Some(DRV));
    assert_eq!(spin_ms(&mut h, 9), Some(DRV));
    assert!(crate::faults::restart_task(&mut h.sys, DRV));
    assert_eq!(h.task(DRV).run(), 0);
    assert_eq!(next(&mut h, DRV), Some(DRV));
    assert_eq!(
        spin_ms(&mut h, 9),
        Some(DRV),
        "a new incarnation, a new budget"
    );
}

#[test]
fn an_early_deadline_is_kept_off_the_ipc_path_and_a_passed_one_is_dropped() {
    let mut h = system();
    assert_eq!(next(&mut h, SUP), Some(DRV));
    let first = h.sys.budget_deadline;
    assert_eq!(first, Some(10 * TICKS_PER_MS));
    // The driver blocks after 1 ms and is woken at 2 ms: its new expiry is
    // later, so the programmed deadline stays (it fires early, harmlessly).
    advance_ms(&mut h, 1);
    h.recv(DRV, 0, 1);
    assert_eq!(next(&mut h, DRV), Some(LOW));
    advance_ms(&mut h, 1);
    let drv = h.id(DRV);
    assert_eq!(h.post(LOW, drv, 1), abi::SUCCESS);
    assert_eq!(next(&mut h, LOW), Some(DRV));
    assert_eq!(h.sys.budget_deadline, first);
    // It blocks again; when the old deadline passes with only the
    // unbudgeted task running, the trap it causes disarms it.
    h.recv(DRV, 0, 1);
    assert_eq!(next(&mut h, DRV), Some(LOW));
    advance_ms(&mut h, 10);
    notify::service_timers(&mut h.sys);
    assert_eq!(next(&mut h, LOW), Some(LOW));
    assert_eq!(h.sys.budget_deadline, None);
    assert_eq!(h.sys.machine.deadline, None);
    assert_eq!(budget::budget_ticks(3), 3 * TICKS_PER_MS);
}

#[test]
fn a_programmed_deadline_later_than_the_new_expiry_or_not_in_the_future_is_replaced() {
    // A second budgeted task with a shorter budget: when it runs, the first
    // one's later deadline would let it spin past its own budget.
    let mut h = Builder::default()
        .task("sup", 0)
        .task("short", 1)
        .budget_ms(2)
        .stopped()
        .task("long", 2)
        .budget_ms(50)
        .build();
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(next(&mut h, SUP), Some(2));
    assert_eq!(h.sys.machine.deadline, Some(50 * TICKS_PER_MS));
    // The short-budget task starts (more important): its 2 ms expiry comes
    // first and must be what the timer is set to.
    advance_ms(&mut h, 1);
    h.sys.tasks[1].start();
    h.sys.note(1);
    assert_eq!(next(&mut h, 2), Some(1));
    assert_eq!(h.sys.budget_deadline, Some(3 * TICKS_PER_MS));
    assert_eq!(h.sys.machine.deadline, Some(3 * TICKS_PER_MS));

    // A deadline that is due right now is not "early": it is replaced by
    // the expiry of the task about to run.
    h.recv(1, 0, 1);
    h.sys.machine.now = 3 * TICKS_PER_MS;
    assert_eq!(next(&mut h, 1), Some(2));
    // "long" ran 1 ms of its 50 before it was preempted: 49 ms from now.
    assert_eq!(h.sys.budget_deadline, Some(52 * TICKS_PER_MS));
    assert_eq!(h.sys.machine.deadline, Some(52 * TICKS_PER_MS));
}

/// The trap handler's way to the next task ([`syscalls::after_trap`]),
/// which lets a budgeted task's stretch go on through syscalls that
/// return to it (`budget::stretch_goes_on`).
fn after_trap(h: &mut Harness, current: usize) -> Option<usize> {
    syscalls::after_trap(&mut h.sys, current)
}

/// Like [`spin_ms`], through [`after_trap`].
fn spin_ms_quick(h: &mut Harness, ms: u64) -> Option<usize> {
    spin_ms_then(h, ms, after_trap)
}

#[test]
fn a_stretch_left_uncharged_is_charged_whole_and_faulted_at_the_same_syscall() {
    let mut h = system();
    assert_eq!(after_trap(&mut h, SUP), Some(DRV));
    for ms in 1..BUDGET_MS {
        assert_eq!(
            spin_ms_quick(&mut h, 1),
            Some(DRV),
            "within budget at {ms} ms"
        );
        // Nothing charged or re-armed: the stretch goes on.
        assert_eq!(h.task(DRV).run(), 0, "charged at {ms} ms");
        assert_eq!(h.sys.machine.deadline, Some(10 * TICKS_PER_MS));
    }
    // The tenth millisecond, as through the full path: faulted.
    assert_eq!(spin_ms_quick(&mut h, 1), Some(SUP));
    let f = h.fault(DRV);
    assert_eq!(f.kind(), FaultKind::BudgetExceeded);
    assert_eq!(f.detail, BUDGET_MS);
}

#[test]
fn an_early_deadline_ends_an_uncharged_stretch_with_a_charge_and_no_fault() {
    let mut h = system();
    assert_eq!(after_trap(&mut h, SUP), Some(DRV));
    // Blocks at 1 ms, woken at 2: the 10 ms deadline stays, its expiry
    // is 12 ms.
    advance_ms(&mut h, 1);
    h.recv(DRV, 0, 1);
    assert_eq!(after_trap(&mut h, DRV), Some(LOW));
    advance_ms(&mut h, 1);
    let drv = h.id(DRV);
    assert_eq!(h.post(LOW, drv, 1), abi::SUCCESS);
    assert_eq!(after_trap(&mut h, LOW), Some(DRV));
    assert_eq!(h.sys.budget_deadline, Some(10 * TICKS_PER_MS));
    // Spins to 9 ms uncharged; at 10 the early deadline has come: charged
    // (8 ms since it was woken), not faulted, re-armed for 12.
    for _ in 3..10 {
        assert_eq!(spin_ms_quick(&mut h, 1), Some(DRV));
    }
    assert_eq!(h.task(DRV).run(), 0);
    assert_eq!(spin_ms_quick(&mut h, 1), Some(DRV));
    assert_eq!(h.task(DRV).run(), 8 * TICKS_PER_MS);
    assert_eq!(h.sys.machine.deadline, Some(12 * TICKS_PER_MS));
    assert_eq!(spin_ms_quick(&mut h, 1), Some(DRV));
    // 12 ms: ten of running since it was woken.
    assert_eq!(spin_ms_quick(&mut h, 1), Some(SUP));
    assert_eq!(h.fault(DRV).kind(), FaultKind::BudgetExceeded);
}

#[test]
fn the_budget_timer_ends_an_uncharged_stretch() {
    let mut h = system();
    assert_eq!(after_trap(&mut h, SUP), Some(DRV));
    assert_eq!(spin_ms_quick(&mut h, 4), Some(DRV));
    // No syscall after that: only the timer interrupt at the deadline.
    advance_ms(&mut h, 6);
    notify::service_timers(&mut h.sys);
    assert_eq!(after_trap(&mut h, DRV), Some(SUP));
    assert_eq!(h.fault(DRV).kind(), FaultKind::BudgetExceeded);
}

#[test]
fn a_call_waiting_in_recv_ends_the_stretch_as_blocking_does() {
    let mut h = system();
    let (sup, drv) = (h.id(SUP), h.id(DRV));
    assert_eq!(next(&mut h, SUP), Some(DRV));
    assert_eq!(spin_ms(&mut h, 8), Some(DRV));
    // It calls the supervisor, which takes the call and does not answer
    // yet; meanwhile the task below calls the driver.
    h.send(DRV, sup, 1, b"", 0, &[]);
    assert_eq!(next(&mut h, DRV), Some(SUP));
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(next(&mut h, SUP), Some(LOW));
    h.send(LOW, drv, 1, b"", 0, &[]);
    assert_eq!(h.sched(LOW), SchedState::InSend(drv));
    assert_eq!(next(&mut h, LOW), None);
    // The supervisor answers; the driver's `recv` finds the call waiting:
    // work, as surely as if it had blocked for it.
    notify::post_bits(&mut h.sys, SUP, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(next(&mut h, LOW), Some(SUP));
    h.reply(SUP, drv, 0, b"");
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    assert_eq!(
        h.task(DRV).run(),
        8 * TICKS_PER_MS,
        "a call keeps the charge"
    );
    h.recv(DRV, 0, 1);
    assert_eq!(h.sched(DRV), SchedState::Runnable);
    assert_eq!(h.sched(LOW), SchedState::InReply(drv));
    assert_eq!(next(&mut h, DRV), Some(DRV));
    assert_eq!(h.task(DRV).run(), 0);
    // Nine more milliseconds serving it: within a fresh budget.
    for _ in 0..9 {
        assert_eq!(spin_ms(&mut h, 1), Some(DRV));
    }
    assert_eq!(h.task(DRV).fault_count(), 0);
}

/// The driver's interrupt in [`interrupted_driver`]: PLIC source 7, bit 0.
const IRQ: u32 = 7;
const IRQ_BIT: u32 = 1;

/// A driver under constant traffic (net0 under a flood): its device
/// interrupts again while it handles the last interrupt, so every `recv`
/// finds the interrupt pending and never blocks; no call arrives (its
/// client, less important, is held off meanwhile). Returns the driver's
/// and the task below's ticks over `ms`, with the bit the driver's recv
/// finds delivered by `deliver` (the device's interrupt, or the driver's
/// own timer).
fn interrupted_driver(ms: u64, deliver: fn(&mut Harness)) -> (Harness, u64, u64) {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("drv", 1)
        .budget_ms(BUDGET_MS)
        .cpu_share(25)
        .task("low", 2)
        .irq(IRQ, DRV as u16, IRQ_BIT)
        .build();
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    let step = TICKS_PER_MS / 4;
    let end = ms * TICKS_PER_MS;
    let (mut drv_ticks, mut low_ticks) = (0, 0);
    let mut current = next(&mut h, SUP);
    while h.sys.machine.now < end {
        // The timer's trap (budget, share period, the driver's own timer)
        // when its deadline has come.
        if let Some(d) = h.sys.machine.deadline {
            if d <= h.sys.machine.now {
                notify::service_timers(&mut h.sys);
                current = next(&mut h, current.unwrap_or(SUP));
                continue;
            }
        }
        h.sys.machine.now += step;
        match current {
            Some(DRV) => {
                drv_ticks += step;
                // It handled the bit (the step just run) and re-arms its
                // interrupt; the device, still busy, interrupts again
                // (or its own timer posts the bit), and its `recv`
                // returns the bit at once.
                h.syscall(DRV, Sysnum::IrqControl, &[IRQ_BIT as usize, 1]);
                current = next(&mut h, DRV);
                if current == Some(DRV) {
                    deliver(&mut h);
                    current = next(&mut h, DRV);
                }
                if current == Some(DRV) {
                    h.recv(DRV, 0, IRQ_BIT);
                    assert_eq!(h.sched(DRV), SchedState::Runnable, "never blocks");
                    assert_eq!(h.ret(DRV, 1) as u32, IRQ_BIT);
                    current = next(&mut h, DRV);
                }
            }
            Some(LOW) => {
                low_ticks += step;
                h.syscall(LOW, Sysnum::GetTimer, &[]);
                current = next(&mut h, LOW);
            }
            other => panic!("{other:?} runs"),
        }
        if !h.task(DRV).is_healthy() {
            break;
        }
    }
    (h, drv_ticks, low_ticks)
}

#[test]
fn a_driver_whose_device_keeps_interrupting_is_throttled_not_faulted() {
    // A recv returning its device's interrupt is work arriving, as a call
    // found waiting is: a driver under constant traffic (net0 under a
    // flood) found its interrupt pending at every recv and was faulted
    // "ran past its CPU budget" though it served honestly. Its share
    // still bounds it.
    let (h, drv, low) = interrupted_driver(20 * BUDGET_MS as u64, |h| {
        notify::interrupt(&mut h.sys, IRQ)
    });
    assert_eq!(h.task(DRV).fault_count(), 0, "{:?}", h.task(DRV).state());
    assert!(h.task(DRV).is_healthy());
    assert!(h.task(DRV).throttles() > 10, "held to its share");
    let total = drv + low;
    assert!(
        drv * 100 <= total * 30,
        "driver took {drv} of {total} ticks"
    );
    assert!(
        low * 100 >= total * 70,
        "the task below got {low} of {total}"
    );
}

#[test]
fn a_driver_whose_own_timer_posts_its_interrupt_bit_is_still_faulted() {
    // The same loop with the bit coming from the driver's own timer (set
    // in the past, it fires at once): no device interrupted, the driver
    // is spinning, and its budget faults it.
    let (h, _, _) = interrupted_driver(20 * BUDGET_MS as u64, |h| {
        h.syscall(DRV, Sysnum::SetTimer, &[1, 0, 0, 1])
    });
    assert_eq!(h.fault(DRV).kind(), FaultKind::BudgetExceeded);
}
