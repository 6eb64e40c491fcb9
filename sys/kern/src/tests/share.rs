//! CPU shares: a task with a budget that has run its share of a period is
//! held off the CPU until the period ends, whether or not it waited for
//! work in between; it is not faulted for it, and the tasks below it run.

use abi::{Kipc, Sysnum, TaskStatus, TICKS_PER_MS};
use zerocopy::FromBytes;

use super::harness::*;
use crate::share::{quota_ticks, ShareUse, PERIOD_TICKS};
use crate::task::{SchedState, TaskState};
use crate::{faults, notify, syscalls};

const DRV: usize = 1;
const LOW: usize = 2;
/// The driver's share: 25 % of a 10 ms period, 2.5 ms.
const SHARE: u8 = 25;
const QUOTA: u64 = PERIOD_TICKS / 4;
const Q32: u32 = QUOTA as u32;

/// sup 0 (waits for its fault bit); drv 1 (budget `budget_ms`, share 25 %);
/// low 2 (no budget).
fn system(budget_ms: u32) -> Harness {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("drv", 1)
        .budget_ms(budget_ms)
        .cpu_share(SHARE)
        .task("low", 2)
        .build();
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    h
}

fn next(h: &mut Harness, current: usize) -> Option<usize> {
    syscalls::next_task(&mut h.sys, current)
}

fn advance(h: &mut Harness, ticks: u64) {
    h.sys.machine.now += ticks;
}

/// Task `t` runs for `ticks`, then makes a syscall that returns at once;
/// who runs next.
fn spin(h: &mut Harness, t: usize, ticks: u64) -> Option<usize> {
    advance(h, ticks);
    h.syscall(t, Sysnum::GetTimer, &[]);
    next(h, t)
}

/// Time moves to `at` and the timer interrupt is taken while `current`
/// runs; who runs next.
fn timer_at(h: &mut Harness, current: usize, at: u64) -> Option<usize> {
    h.sys.machine.now = at;
    notify::service_timers(&mut h.sys);
    next(h, current)
}

/// The supervisor, woken (no choice of the scheduler's is made on the
/// way), makes kipc `op` about task `t` and waits for its fault bit again.
fn supervisor_kipc(h: &mut Harness, op: Kipc, t: usize) -> Vec<u8> {
    h.sys.tasks[SUP].set_sched(SchedState::Runnable);
    h.sys.note(SUP);
    let (code, bytes) = h.kipc(SUP, op as u32, Some(t as u32));
    assert_eq!(code, abi::SUCCESS);
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    bytes
}

fn status(h: &mut Harness, t: usize) -> TaskStatus {
    TaskStatus::read_from_bytes(&supervisor_kipc(h, Kipc::TaskStatus, t)).unwrap()
}

#[test]
fn a_task_that_ran_its_share_is_held_off_until_the_period_ends() {
    let mut h = system(100);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    // The timer is set for the moment the share runs out, well before the
    // budget does.
    assert_eq!(h.sys.machine.deadline, Some(QUOTA));
    assert_eq!(spin(&mut h, DRV, TICKS_PER_MS), Some(DRV));
    assert_eq!(spin(&mut h, DRV, TICKS_PER_MS), Some(DRV));
    // A tight loop from here: only the timer at 2.5 ms stops it.
    assert_eq!(timer_at(&mut h, DRV, QUOTA), Some(LOW));
    assert_eq!(h.sched(DRV), SchedState::Throttled);
    assert_eq!(h.task(DRV).throttles(), 1);
    assert_eq!(h.task(DRV).fault_count(), 0, "throttled, not faulted");
    // The timer now waits for the period's end, when it runs again.
    assert_eq!(h.sys.machine.deadline, Some(PERIOD_TICKS));
    assert_eq!(spin(&mut h, LOW, TICKS_PER_MS), Some(LOW));
    assert_eq!(timer_at(&mut h, LOW, PERIOD_TICKS - 1), Some(LOW));
    assert_eq!(timer_at(&mut h, LOW, PERIOD_TICKS), Some(DRV));
    // Its charge against the budget ran on: throttling is not waiting.
    assert_eq!(h.task(DRV).run(), QUOTA);
    // A new period, a new share: the timer is set 2.5 ms on.
    assert_eq!(h.sys.machine.deadline, Some(PERIOD_TICKS + QUOTA));
}

#[test]
fn waiting_for_work_does_not_give_the_share_back() {
    // The duty cycle the budget alone let through: run nearly all the
    // time, wait for a moment now and then.
    let mut h = system(100);
    let drv = h.id(DRV);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    assert_eq!(spin(&mut h, DRV, 2 * TICKS_PER_MS), Some(DRV));
    h.recv(DRV, 0, 1);
    assert_eq!(next(&mut h, DRV), Some(LOW));
    assert_eq!(h.task(DRV).run(), 0, "its budget charge is cleared");
    // Woken a millisecond later (the deadline armed for its first
    // stretch has passed by then, and goes).
    advance(&mut h, TICKS_PER_MS);
    assert_eq!(h.post(LOW, drv, 1), abi::SUCCESS);
    assert_eq!(next(&mut h, LOW), Some(DRV));
    // Only the half millisecond left of its share.
    let now = h.sys.machine.now;
    assert_eq!(h.sys.machine.deadline, Some(now + QUOTA - 2 * TICKS_PER_MS));
    assert_eq!(timer_at(&mut h, DRV, now + QUOTA / 5), Some(LOW));
    assert_eq!(h.sched(DRV), SchedState::Throttled);
    assert_eq!(h.task(DRV).fault_count(), 0);
}

#[test]
fn throttling_does_not_save_a_spinner_from_its_budget() {
    // Budget 10 ms: four periods' shares of running without waiting.
    let mut h = system(10);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    for period in 0..3 {
        let start = period * PERIOD_TICKS;
        assert_eq!(
            timer_at(&mut h, DRV, start + QUOTA),
            Some(LOW),
            "period {period}"
        );
        assert_eq!(timer_at(&mut h, LOW, start + PERIOD_TICKS), Some(DRV));
    }
    assert_eq!(h.task(DRV).throttles(), 3);
    assert_eq!(h.task(DRV).run(), 3 * QUOTA);
    // The fourth share spends the budget: a fault, not a throttle.
    assert_eq!(timer_at(&mut h, DRV, 3 * PERIOD_TICKS + QUOTA), Some(SUP));
    assert_eq!(h.task(DRV).state(), TaskState::Faulted);
    assert_eq!(h.fault(DRV).kind(), abi::FaultKind::BudgetExceeded);
    assert_eq!(h.task(DRV).throttles(), 3);
}

/// The host stops the machine in the middle of a driver's stretch (QEMU's
/// clock follows the host's): the timer's trap, armed for the end of the
/// driver's share, comes 300 ms late (or just past the kernel's grace for
/// its own work in a trap, `HOST_DELAY_TICKS`). The driver is charged to
/// the end of its share, not for the host's 300 ms: throttled, not
/// faulted past its 200 ms budget (a busy honest driver was, four times,
/// under a loaded host).
#[test]
fn a_trap_the_host_delayed_is_charged_only_to_the_deadline() {
    let grace = crate::budget::HOST_DELAY_TICKS;
    // The timer's trap, and a syscall's, 300 ms after the dispatch, and
    // just past the grace.
    for late in [300 * TICKS_PER_MS, QUOTA + grace + 1] {
        for delayed in [timer_at, |h: &mut Harness, t, at| spin(h, t, at)] {
            let mut h = system(200);
            assert_eq!(next(&mut h, SUP), Some(DRV));
            delayed(&mut h, DRV, late);
            assert_eq!(h.task(DRV).run(), QUOTA, "a trap at {late}");
            assert_eq!(h.task(DRV).share().used() as u64, QUOTA);
            assert_ne!(h.task(DRV).state(), TaskState::Faulted);
        }
    }
}

/// Stalled stretches one after another, each charged to its deadline and
/// no further, take a task past its budget no sooner than running would:
/// net0, whose `recv` always finds a notification and so never waits for
/// work, was faulted after sixteen to twenty stalls when each was charged
/// a whole share period more.
#[test]
fn repeated_host_stalls_cost_no_more_than_running() {
    let mut h = system(200);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    // 200 ms of budget is 80 stretches of its 2.5 ms share.
    for stall in 0..79 {
        let at = h.sys.machine.now + 300 * TICKS_PER_MS;
        if timer_at(&mut h, DRV, at) == Some(LOW) {
            let at = h.sys.machine.now + PERIOD_TICKS;
            assert_eq!(timer_at(&mut h, LOW, at), Some(DRV), "stall {stall}");
        }
        assert_ne!(h.task(DRV).state(), TaskState::Faulted, "stall {stall}");
    }
    assert_eq!(h.task(DRV).run(), 79 * QUOTA);
}

/// The kernel's own work in a trap that ends past the deadline — a long
/// log line, a big copy — is the task's, and charged in full: a red team
/// took a third more than its share by logging across the deadline when
/// nothing past it was charged.
#[test]
fn kernel_work_in_a_trap_past_the_deadline_is_charged() {
    let mut h = system(200);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    // The syscall began just before the share ran out and took 0.8 ms.
    let work = 8 * TICKS_PER_MS / 10;
    assert_eq!(spin(&mut h, DRV, QUOTA + work), Some(LOW));
    assert_eq!(h.task(DRV).run(), QUOTA + work);
}

/// ...and the host's delays do not hide a spinner: each stretch is
/// charged to the end of its share and the grace, and its budget runs out
/// all the same.
#[test]
fn a_spinner_whose_traps_come_late_is_still_faulted_at_its_budget() {
    let mut h = system(40);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    // Each trap 300 ms late, the spinner running whenever it may: each
    // is charged its share's 2.5 ms, so the 40 ms budget runs out at the
    // sixteenth.
    let mut traps = 0;
    while h.task(DRV).state() != TaskState::Faulted {
        traps += 1;
        assert!(traps <= 16, "still not faulted after {traps} late traps");
        let at = h.sys.machine.now + 300 * TICKS_PER_MS;
        let who = timer_at(&mut h, DRV, at);
        if who == Some(LOW) {
            let at = h.sys.machine.now + PERIOD_TICKS;
            assert_eq!(timer_at(&mut h, LOW, at), Some(DRV));
        }
    }
    assert_eq!(h.fault(DRV).kind(), abi::FaultKind::BudgetExceeded);
}

#[test]
fn a_share_spent_in_a_call_throttles_the_task_when_it_next_runs() {
    let mut h = system(100);
    let (sup, drv) = (h.id(SUP), h.id(DRV));
    assert_eq!(next(&mut h, SUP), Some(DRV));
    // It calls the supervisor just as its share runs out.
    advance(&mut h, QUOTA);
    h.send(DRV, sup, 1, b"", 0, &[]);
    assert_eq!(next(&mut h, DRV), Some(SUP));
    assert_eq!(
        h.sched(DRV),
        SchedState::InReply(sup),
        "a call is no stretch to cut"
    );
    advance(&mut h, TICKS_PER_MS);
    h.reply(SUP, drv, 0, b"");
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    // Nothing of its share is left: the deadline is now, and the timer
    // throttles it.
    let now = h.sys.machine.now;
    assert_eq!(h.sys.machine.deadline, Some(now));
    assert_eq!(timer_at(&mut h, DRV, now), Some(LOW));
    assert_eq!(h.sched(DRV), SchedState::Throttled);
    assert_eq!(h.task(DRV).throttles(), 1);
    assert_eq!(h.sys.machine.deadline, Some(PERIOD_TICKS));
}

#[test]
fn a_restart_lifts_the_throttle_but_not_the_spent_share() {
    let mut h = system(100);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    assert_eq!(timer_at(&mut h, DRV, QUOTA), Some(LOW));
    assert_eq!(h.sched(DRV), SchedState::Throttled);
    assert!(faults::restart_task(&mut h.sys, DRV));
    assert_eq!(h.sched(DRV), SchedState::Runnable);
    assert_eq!(next(&mut h, LOW), Some(DRV));
    // The new incarnation's period is the old one's, spent: held off at
    // its first trap.
    let now = h.sys.machine.now;
    assert_eq!(h.sys.machine.deadline, Some(now));
    assert_eq!(timer_at(&mut h, DRV, now), Some(LOW));
    assert_eq!(h.sched(DRV), SchedState::Throttled);
    assert_eq!(h.task(DRV).throttles(), 2);
    assert_eq!(timer_at(&mut h, LOW, PERIOD_TICKS), Some(DRV));
}

#[test]
fn a_fault_of_a_throttled_task_stops_it_and_no_release_revives_it() {
    let mut h = system(100);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    assert_eq!(timer_at(&mut h, DRV, QUOTA), Some(LOW));
    supervisor_kipc(&mut h, Kipc::FaultTask, DRV);
    assert_eq!(h.task(DRV).state(), TaskState::Faulted);
    // The supervisor has its fault bit (its recv returned at once). The
    // period's end comes and goes; the timer is not set again for it.
    assert_eq!(timer_at(&mut h, SUP, PERIOD_TICKS), Some(SUP));
    assert_eq!(h.task(DRV).state(), TaskState::Faulted);
    assert_eq!(h.sys.machine.deadline, None);
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(next(&mut h, SUP), Some(LOW));
}

#[test]
fn the_status_shows_a_throttled_task_and_counts_its_throttles() {
    let mut h = system(100);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    assert_eq!(status(&mut h, DRV).throttles, 0);
    assert_eq!(timer_at(&mut h, DRV, QUOTA), Some(LOW));
    let st = status(&mut h, DRV);
    assert_eq!(
        abi::TaskState::from_u32(st.state),
        Some(abi::TaskState::Throttled)
    );
    assert_eq!(st.throttles, 1);
    assert_eq!(st.fault_count, 0);
    assert_eq!(timer_at(&mut h, LOW, PERIOD_TICKS), Some(DRV));
    let st = status(&mut h, DRV);
    assert_eq!(
        abi::TaskState::from_u32(st.state),
        Some(abi::TaskState::Runnable)
    );
    assert_eq!(st.throttles, 1, "a count, not a state");
}

#[test]
fn a_task_held_to_no_share_is_never_throttled() {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("drv", 1)
        .budget_ms(100)
        .cpu_share(100)
        .task("low", 2)
        .build();
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    assert_eq!(h.sys.machine.deadline, Some(100 * TICKS_PER_MS));
    for _ in 0..50 {
        assert_eq!(spin(&mut h, DRV, TICKS_PER_MS), Some(DRV));
    }
    assert_eq!(h.task(DRV).throttles(), 0);
}

#[test]
fn two_throttled_tasks_are_released_each_at_its_own_period_end() {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("a", 1)
        .budget_ms(100)
        .cpu_share(SHARE)
        .task("b", 1)
        .budget_ms(100)
        .cpu_share(SHARE)
        .task("low", 2)
        .build();
    let (a, b, low) = (1, 2, 3);
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(next(&mut h, SUP), Some(a));
    assert_eq!(timer_at(&mut h, a, QUOTA), Some(b));
    // b's period starts when its first stretch does, 2.5 ms later.
    assert_eq!(timer_at(&mut h, b, 2 * QUOTA), Some(low));
    assert_eq!(h.sys.machine.deadline, Some(PERIOD_TICKS), "a's end first");
    assert_eq!(timer_at(&mut h, low, PERIOD_TICKS), Some(a));
    assert_eq!(h.sched(b), SchedState::Throttled);
    assert_eq!(h.sys.machine.deadline, Some(PERIOD_TICKS + QUOTA));
    assert_eq!(timer_at(&mut h, a, PERIOD_TICKS + QUOTA), Some(b));
    assert_eq!(h.sched(a), SchedState::Throttled);
}

#[test]
fn quotas_are_the_percentage_of_the_period() {
    assert_eq!(PERIOD_TICKS, 10 * TICKS_PER_MS);
    assert_eq!(quota_ticks(25), Some(Q32));
    assert_eq!(quota_ticks(1), Some((PERIOD_TICKS / 100) as u32));
    assert_eq!(quota_ticks(99), Some((PERIOD_TICKS * 99 / 100) as u32));
    assert_eq!(quota_ticks(100), None);
    assert_eq!(quota_ticks(u8::MAX), None);
    // Held to no share: never spent, and more left than any budget.
    let mut u = ShareUse::new(100);
    assert!(!u.spend(0, PERIOD_TICKS - 1));
    assert_eq!(
        u.left(PERIOD_TICKS - 1),
        u32::MAX - (PERIOD_TICKS - 1) as u32
    );
    // The image builder accepts budgets up to 60 s.
    assert!(u64::from(u.left(0)) > 60_000 * TICKS_PER_MS);
}

#[test]
fn a_period_adds_up_its_stretches_and_the_next_starts_afresh() {
    let mut u = ShareUse::new(SHARE);
    assert_eq!(u.left(0), Q32);
    assert!(!u.spend(100, 1_100));
    assert_eq!((u.period_end(), u.used()), (100 + PERIOD_TICKS, 1_000));
    assert_eq!(u.left(2_000), Q32 - 1_000);
    assert!(!u.spend(5_000, 5_000 + QUOTA - 1_001));
    assert!(u.spend(9_000, 9_001), "the last tick spends it");
    assert_eq!(u.left(9_001), 0);
    // After the period's end all of the share is back.
    assert_eq!(u.left(100 + PERIOD_TICKS), Q32);
    assert!(!u.spend(500_000, 500_010));
    assert_eq!((u.period_end(), u.used()), (500_000 + PERIOD_TICKS, 10));
}

#[test]
fn a_stretch_across_a_period_end_counts_from_the_end() {
    let mut u = ShareUse::new(SHARE);
    assert!(!u.spend(0, 10));
    let end = u.period_end();
    // From 100 ticks before the end to 300 after: 300 count.
    assert!(!u.spend(end - 100, end + 300));
    assert_eq!((u.period_end(), u.used()), (end + PERIOD_TICKS, 300));
    // A stretch longer than a period (a stalled host): a fresh period now.
    let now = end + 5 * PERIOD_TICKS;
    assert!(!u.spend(end + PERIOD_TICKS - 1, now));
    assert_eq!((u.period_end(), u.used()), (now + PERIOD_TICKS, 0));
}

#[test]
fn a_period_ends_at_its_end_tick() {
    let mut u = ShareUse::new(SHARE);
    assert!(!u.spend(0, 1_000));
    let end = u.period_end();
    assert_eq!(end, PERIOD_TICKS);
    assert_eq!(u.left(end - 1), Q32 - 1_000);
    assert_eq!(u.left(end), Q32, "the share is back at the end tick");
    // A stretch ending on the end tick belongs to the next period, which
    // it opens with nothing run in it.
    assert!(!u.spend(end - 500, end));
    assert_eq!((u.period_end(), u.used()), (end + PERIOD_TICKS, 0));
    // One that runs from before that period's end to the end of the
    // period after (a stalled host): a fresh period from its end, not a
    // spent one.
    let next_end = u.period_end();
    assert!(!u.spend(next_end - 10, next_end + PERIOD_TICKS));
    assert_eq!((u.period_end(), u.used()), (next_end + 2 * PERIOD_TICKS, 0));
}

#[test]
fn a_throttled_task_runs_when_nothing_else_can() {
    let mut h = system(100);
    let low = h.id(LOW);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    assert_eq!(timer_at(&mut h, DRV, QUOTA), Some(LOW));
    // The task below waits: the throttled driver gets the spare time, and
    // only its budget limits the stretch (the timer waits for the period's
    // end, the earlier of the two).
    advance(&mut h, TICKS_PER_MS);
    h.recv(LOW, 0, 1);
    assert_eq!(next(&mut h, LOW), Some(DRV));
    assert_eq!(h.sched(DRV), SchedState::Throttled, "still throttled");
    assert_eq!(h.sys.machine.deadline, Some(PERIOD_TICKS));
    // It wakes the task below, which comes first again.
    advance(&mut h, TICKS_PER_MS);
    assert_eq!(h.post(DRV, low, 1), abi::SUCCESS);
    assert_eq!(next(&mut h, DRV), Some(LOW));
    // Its budget charge ran on through the spare time.
    assert_eq!(h.task(DRV).run(), QUOTA + TICKS_PER_MS);
    // It waits in turn: nothing at all can run (the idle task's place).
    h.recv(LOW, 0, 1);
    assert_eq!(next(&mut h, LOW), Some(DRV));
    h.recv(DRV, 0, 1);
    assert_eq!(
        next(&mut h, DRV),
        None,
        "a task that blocked is no longer throttled"
    );
    // An interrupt wakes it: runnable, with no share left in this period,
    // so the deadline is now; throttled by it, it runs on all the same
    // (the only one), its stretch limited only by its budget.
    notify::post_bits(&mut h.sys, DRV, 1);
    assert_eq!(h.sched(DRV), SchedState::Runnable);
    assert_eq!(next(&mut h, DRV), Some(DRV));
    let now = h.sys.machine.now;
    assert_eq!(h.sys.machine.deadline, Some(now));
    assert_eq!(timer_at(&mut h, DRV, now), Some(DRV));
    assert_eq!(h.sched(DRV), SchedState::Throttled);
    assert_eq!(h.sys.machine.deadline, Some(PERIOD_TICKS));
}

#[test]
fn spare_time_does_not_save_a_throttled_spinner_from_its_budget() {
    let mut h = system(10);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    assert_eq!(timer_at(&mut h, DRV, QUOTA), Some(LOW));
    h.recv(LOW, 0, 1);
    assert_eq!(next(&mut h, LOW), Some(DRV));
    // It spins on through the spare time and the next period: faulted when
    // its 10 ms are run, throttled or not.
    let mut at = QUOTA;
    while h.task(DRV).is_healthy() {
        at += TICKS_PER_MS / 2;
        assert!(at <= 10 * TICKS_PER_MS, "not faulted by 10 ms");
        let _ = timer_at(&mut h, DRV, at);
    }
    assert_eq!(h.fault(DRV).kind(), abi::FaultKind::BudgetExceeded);
    assert_eq!(at, 10 * TICKS_PER_MS);
}

/// A throttled task on spare time is dispatched with its whole budget
/// left as its runway; a host's stall in that one stretch was charged to
/// the runway's end, the whole budget, and faulted an honest driver (a
/// helper session's reading of `dispatch_budgeted`). The stretch is now
/// charged no further than a period, as a stretch on its share is.
#[test]
fn a_host_stall_on_spare_time_costs_a_throttled_task_at_most_a_period() {
    let mut h = system(200);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    assert_eq!(timer_at(&mut h, DRV, QUOTA), Some(LOW));
    h.recv(LOW, 0, 1);
    assert_eq!(next(&mut h, LOW), Some(DRV));
    assert_eq!(h.sched(DRV), SchedState::Throttled);
    // The host stops the machine for 300 ms in the middle of the stretch.
    let at = h.sys.machine.now + 300 * TICKS_PER_MS;
    let _ = timer_at(&mut h, DRV, at);
    assert!(
        h.task(DRV).is_healthy(),
        "faulted for the host's stall: {:?}",
        h.task(DRV).state()
    );
    assert!(
        h.task(DRV).run() <= QUOTA + PERIOD_TICKS,
        "charged {} ticks for one stalled stretch",
        h.task(DRV).run()
    );
}

#[test]
fn a_throttled_task_on_spare_time_runs_on_without_a_scan() {
    let mut h = system(100);
    let low = h.id(LOW);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    assert_eq!(timer_at(&mut h, DRV, QUOTA), Some(LOW));
    h.recv(LOW, 0, 1);
    assert_eq!(syscalls::after_trap(&mut h.sys, LOW), Some(DRV));
    // Its syscalls return to it the quick way (`after_trap` checks each
    // quick choice against `select`): no scan, no choice at all.
    let choices = h.sys.sched.choices();
    for _ in 0..5 {
        advance(&mut h, TICKS_PER_MS / 10);
        h.syscall(DRV, Sysnum::GetTimer, &[]);
        assert_eq!(syscalls::after_trap(&mut h.sys, DRV), Some(DRV));
    }
    assert_eq!(h.sys.sched.choices(), choices);
    assert_eq!(h.sched(DRV), SchedState::Throttled);
    // Whatever it wakes comes first, however unimportant.
    assert_eq!(h.post(DRV, low, 1), abi::SUCCESS);
    assert_eq!(syscalls::after_trap(&mut h.sys, DRV), Some(LOW));
}

/// The ticks a budgeted task's stretches were charged add up in its
/// status (`ran_ticks`), waiting or not, and a server's time for its call
/// is not among them; a task without a budget shows 0.
#[test]
fn the_status_shows_the_ticks_a_task_ran() {
    let mut h = system(100);
    assert_eq!(next(&mut h, SUP), Some(DRV));
    assert_eq!(spin(&mut h, DRV, 300), Some(DRV));
    assert_eq!(spin(&mut h, DRV, 200), Some(DRV));
    h.recv(DRV, 0, 1);
    assert_eq!(next(&mut h, DRV), Some(LOW));
    spin(&mut h, LOW, 1_000);
    assert_eq!(status(&mut h, DRV).ran_ticks, 500);
    assert_eq!(status(&mut h, LOW).ran_ticks, 0);
}
