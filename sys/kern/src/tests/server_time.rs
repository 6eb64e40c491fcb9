//! Server time: a server without a budget that serves a budgeted task's
//! call runs on that caller's CPU share, until the call is over (see
//! `budget`, "Server time").

use abi::{Kipc, Sysnum, TICKS_PER_MS};

use super::harness::*;
use crate::share::PERIOD_TICKS;
use crate::syscalls;
use crate::task::SchedState;

const SRV: usize = 1;
const DRV: usize = 2;
const LOW: usize = 3;
/// The driver's share: 25 % of a 10 ms period.
const QUOTA: u64 = PERIOD_TICKS / 4;

/// sup 0 (waits for its fault bit); srv 1 (no budget, waits for calls);
/// drv 2 (budget 100 ms, share 25 %), dispatched; low 3 (no budget).
fn system() -> Harness {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("srv", 1)
        .task("drv", 2)
        .budget_ms(100)
        .cpu_share(25)
        .task("low", 3)
        .build();
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    h.recv(SRV, 64, 1);
    assert_eq!(next(&mut h, SRV), Some(DRV));
    h
}

fn next(h: &mut Harness, current: usize) -> Option<usize> {
    syscalls::next_task(&mut h.sys, current)
}

fn advance(h: &mut Harness, ticks: u64) {
    h.sys.machine.now += ticks;
}

/// The driver calls the server with an `len`-byte message (more than the
/// fast path carries goes the general way); the server runs next.
fn call(h: &mut Harness, len: usize) {
    let srv = h.id(SRV);
    h.send(DRV, srv, 1, &vec![7; len], 0, &[]);
    assert_eq!(next(h, DRV), Some(SRV));
    assert_eq!(h.sched(DRV), SchedState::InReply(srv));
}

/// The server replies to the driver and waits for calls again; who runs.
fn answer(h: &mut Harness) -> Option<usize> {
    let drv = h.id(DRV);
    h.reply(SRV, drv, 0, b"");
    h.recv(SRV, 64, 1);
    next(h, SRV)
}

fn used(h: &Harness, t: usize) -> u64 {
    u64::from(h.task(t).share().used())
}

#[test]
fn a_server_without_a_budget_runs_on_its_callers_share() {
    for len in [4, 40] {
        let mut h = system();
        advance(&mut h, 100);
        call(&mut h, len);
        assert_eq!(used(&h, DRV), 100, "the driver's own stretch");
        // The server works on the call for the rest of the driver's share.
        advance(&mut h, QUOTA - 100);
        assert_eq!(answer(&mut h), Some(DRV));
        assert_eq!(used(&h, DRV), QUOTA, "{len}-byte call: the server's time");
        // Nothing of its share is left: the timer throttles it at once, and
        // the task below it runs.
        let now = h.sys.machine.now;
        assert_eq!(h.sys.machine.deadline, Some(now));
        notify_timer(&mut h, now);
        assert_eq!(next(&mut h, DRV), Some(LOW));
        assert_eq!(h.sched(DRV), SchedState::Throttled);
        assert_eq!(h.task(DRV).throttles(), 1);
    }
}

#[test]
fn the_callers_budget_is_not_charged_for_the_server() {
    let mut h = system();
    advance(&mut h, 100);
    call(&mut h, 4);
    // Far past the driver's 100 ms budget: a slow server is no fault of
    // its caller's.
    advance(&mut h, 150 * TICKS_PER_MS);
    assert_eq!(answer(&mut h), Some(DRV));
    assert_eq!(h.task(DRV).run(), 100, "only its own stretch");
    assert_eq!(h.task(DRV).fault_count(), 0);
    assert_eq!(h.sched(DRV), SchedState::Runnable);
}

#[test]
fn a_notification_ends_the_servers_work_for_the_caller() {
    let mut h = system();
    call(&mut h, 4);
    advance(&mut h, 50);
    // The server holds the call and waits for its notification.
    h.recv(SRV, 64, 1);
    assert_eq!(next(&mut h, SRV), Some(LOW));
    assert_eq!(used(&h, DRV), 50);
    // The notification's work is the server's own.
    let srv = h.id(SRV);
    assert_eq!(h.post(LOW, srv, 1), abi::SUCCESS);
    assert_eq!(next(&mut h, LOW), Some(SRV));
    advance(&mut h, TICKS_PER_MS);
    h.recv(SRV, 64, 1);
    assert_eq!(next(&mut h, SRV), Some(LOW));
    assert_eq!(
        used(&h, DRV),
        50,
        "the notification's work was charged to the caller"
    );
    assert_eq!(h.sched(DRV), SchedState::InReply(srv));
}

#[test]
fn a_reply_ends_it() {
    let mut h = system();
    call(&mut h, 4);
    advance(&mut h, 50);
    let drv = h.id(DRV);
    h.reply(SRV, drv, 0, b"");
    // The server runs on after its reply: on nobody's share.
    assert_eq!(next(&mut h, SRV), Some(SRV));
    advance(&mut h, TICKS_PER_MS);
    h.recv(SRV, 64, 1);
    assert_eq!(next(&mut h, SRV), Some(DRV));
    assert_eq!(used(&h, DRV), 50);
}

#[test]
fn a_caller_faulted_in_the_call_pays_no_more() {
    let mut h = system();
    call(&mut h, 4);
    advance(&mut h, 50);
    // The supervisor ends the driver's incarnation while the server works.
    h.sys.tasks[SUP].set_sched(SchedState::Runnable);
    h.sys.note(SUP);
    assert_eq!(next(&mut h, SRV), Some(SUP));
    assert_eq!(used(&h, DRV), 50);
    let (code, _) = h.kipc(SUP, Kipc::FaultTask as u32, Some(DRV as u32));
    assert_eq!(code, abi::SUCCESS);
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(next(&mut h, SUP), Some(SUP), "woken by the fault bit");
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(next(&mut h, SUP), Some(SRV));
    advance(&mut h, TICKS_PER_MS);
    h.recv(SRV, 64, 1);
    next(&mut h, SRV);
    assert_eq!(used(&h, DRV), 50);
    assert!(h.sys.dispatched.is_none() || h.sys.donated.is_none());
}

#[test]
fn an_unbudgeted_callers_server_runs_on_nobodys_share() {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("srv", 1)
        .task("cli", 2)
        .build();
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    h.recv(SRV, 64, 1);
    assert_eq!(next(&mut h, SRV), Some(2));
    let srv = h.id(SRV);
    h.send(2, srv, 1, b"ping", 0, &[]);
    assert_eq!(next(&mut h, 2), Some(SRV));
    assert!(h.task(SRV).serving().is_none());
    assert!(h.sys.dispatched.is_none(), "nobody's budget to watch");
}

#[test]
fn a_budgeted_server_runs_on_its_own_share() {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("srv", 1)
        .budget_ms(100)
        .cpu_share(25)
        .task("drv", 2)
        .budget_ms(100)
        .cpu_share(25)
        .build();
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    h.recv(SRV, 64, 1);
    assert_eq!(next(&mut h, SRV), Some(DRV));
    let srv = h.id(SRV);
    h.send(DRV, srv, 1, b"ping", 0, &[]);
    assert_eq!(next(&mut h, DRV), Some(SRV));
    advance(&mut h, 300);
    h.syscall(SRV, Sysnum::GetTimer, &[]);
    next(&mut h, SRV);
    h.recv(SRV, 64, 1);
    next(&mut h, SRV);
    assert_eq!(used(&h, SRV), 300);
    assert_eq!(used(&h, DRV), 0);
}

// ---- a chain of calls: the budgeted driver calls a server without a
// budget, which calls another one for it

const TOP: usize = 1;
const MID: usize = 2;
const HEAD: usize = 3;
const BOTTOM: usize = 4;

/// sup 0; top 1 and mid 2 (no budget, wait for calls); head 3 (budget
/// 100 ms, share 25 %), dispatched; bottom 4 (no budget).
fn chain() -> Harness {
    chain_where(|h| h.recv(TOP, 64, 1))
}

/// [`chain`] with top waiting as `top_waits` makes it.
fn chain_where(top_waits: impl FnOnce(&mut Harness)) -> Harness {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("top", 1)
        .task("mid", 2)
        .task("head", 3)
        .budget_ms(100)
        .cpu_share(25)
        .task("bottom", 4)
        .build();
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    top_waits(&mut h);
    h.recv(MID, 64, 1);
    assert_eq!(next(&mut h, MID), Some(HEAD));
    h
}

/// `from` calls `to` with an `len`-byte message; who runs next.
fn call_on(h: &mut Harness, from: usize, to: usize, len: usize) -> Option<usize> {
    let id = h.id(to);
    h.send(from, id, 1, &vec![7; len], 0, &[]);
    next(h, from)
}

/// `server` answers `client` and waits for calls again; who runs next.
fn answer_to(h: &mut Harness, server: usize, client: usize) -> Option<usize> {
    let id = h.id(client);
    h.reply(server, id, 0, b"");
    h.recv(server, 64, 1);
    next(h, server)
}

/// A server calling on to another server for a budgeted caller: the
/// second server's time is the caller's too. Before, only the first
/// server's was: a task held to 25 % whose call made a server call a
/// second one that did the work took as much of the CPU as it liked
/// (the tasks below it got nothing while it called in a loop).
#[test]
fn a_second_servers_time_goes_to_the_budgeted_caller_too() {
    // Fast path and general path, on each hop.
    for len in [4, 40] {
        let mut h = chain();
        advance(&mut h, 100);
        assert_eq!(call_on(&mut h, HEAD, MID, len), Some(MID));
        advance(&mut h, 100);
        assert_eq!(call_on(&mut h, MID, TOP, len), Some(TOP));
        assert_eq!(used(&h, HEAD), 200, "{len}: head's and mid's stretches");
        // The second server works for the rest of the head's share.
        advance(&mut h, QUOTA - 200);
        assert_eq!(answer_to(&mut h, TOP, MID), Some(MID));
        assert_eq!(used(&h, HEAD), QUOTA, "{len}: top's time for the call");
        assert_eq!(answer_to(&mut h, MID, HEAD), Some(HEAD));
        assert_eq!(h.task(HEAD).run(), 100, "only its own stretch");
        // Its share is spent: throttled at once, and the task below runs.
        let now = h.sys.machine.now;
        assert_eq!(h.sys.machine.deadline, Some(now));
        notify_timer(&mut h, now);
        assert_eq!(next(&mut h, HEAD), Some(BOTTOM));
        assert_eq!(h.sched(HEAD), SchedState::Throttled);
    }
}

/// The second server busy when the first calls it: the call is
/// delivered later, from the queue, and is still the caller's.
#[test]
fn a_queued_second_call_goes_to_the_budgeted_caller_too() {
    // Top waits for the bottom task only: mid's call will queue.
    let mut h = chain_where(|h| {
        let bottom = h.id(BOTTOM);
        h.recv_from(TOP, 64, 1, bottom);
    });
    assert_eq!(call_on(&mut h, HEAD, MID, 4), Some(MID));
    advance(&mut h, 100);
    assert_eq!(call_on(&mut h, MID, TOP, 4), Some(BOTTOM));
    assert_eq!(used(&h, HEAD), 100);
    // The bottom task wakes top, whose notification is its own work.
    let top = h.id(TOP);
    assert_eq!(h.post(BOTTOM, top, 1), abi::SUCCESS);
    assert_eq!(next(&mut h, BOTTOM), Some(TOP));
    advance(&mut h, 300);
    // Then it takes the queued call.
    h.recv(TOP, 64, 1);
    assert_eq!(next(&mut h, TOP), Some(TOP));
    assert_eq!(used(&h, HEAD), 100, "top's own work is its own");
    advance(&mut h, 500);
    assert_eq!(answer_to(&mut h, TOP, MID), Some(MID));
    assert_eq!(used(&h, HEAD), 600, "the queued call's time");
}

/// A first server that turned to its own work (a notification) while it
/// holds the caller's call: what it then asks of a second server is its
/// own too, though the second one served that caller before.
#[test]
fn a_first_servers_own_call_is_not_the_callers() {
    let mut h = chain();
    assert_eq!(call_on(&mut h, HEAD, MID, 4), Some(MID));
    assert_eq!(call_on(&mut h, MID, TOP, 4), Some(TOP));
    advance(&mut h, 100);
    assert_eq!(answer_to(&mut h, TOP, MID), Some(MID));
    assert_eq!(used(&h, HEAD), 100);
    // Mid holds the call and waits for its notification.
    h.recv(MID, 64, 1);
    assert_eq!(next(&mut h, MID), Some(BOTTOM));
    let mid = h.id(MID);
    assert_eq!(h.post(BOTTOM, mid, 1), abi::SUCCESS);
    assert_eq!(next(&mut h, BOTTOM), Some(MID));
    // Its own call to top.
    assert_eq!(call_on(&mut h, MID, TOP, 4), Some(TOP));
    advance(&mut h, 1000);
    assert_eq!(answer_to(&mut h, TOP, MID), Some(MID));
    assert_eq!(used(&h, HEAD), 100, "mid's own call was charged to head");
}

/// The first server faulted while the second works for the caller: the
/// caller is told DEAD, and the second server's time is nobody's again.
#[test]
fn a_chain_broken_by_a_fault_charges_the_caller_no_more() {
    let mut h = chain();
    assert_eq!(call_on(&mut h, HEAD, MID, 4), Some(MID));
    assert_eq!(call_on(&mut h, MID, TOP, 4), Some(TOP));
    advance(&mut h, 100);
    // The supervisor faults mid while top works on its call.
    h.sys.tasks[SUP].set_sched(SchedState::Runnable);
    h.sys.note(SUP);
    assert_eq!(next(&mut h, TOP), Some(SUP));
    assert_eq!(used(&h, HEAD), 100, "top's time before the fault");
    let (code, _) = h.kipc(SUP, Kipc::FaultTask as u32, Some(MID as u32));
    assert_eq!(code, abi::SUCCESS);
    assert_eq!(h.sched(HEAD), SchedState::Runnable, "told DEAD");
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(next(&mut h, SUP), Some(SUP), "woken by the fault bit");
    h.recv(SUP, 0, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(next(&mut h, SUP), Some(TOP));
    advance(&mut h, 1000);
    h.recv(TOP, 64, 1);
    next(&mut h, TOP);
    assert_eq!(used(&h, HEAD), 100, "top's time after the fault");
}

/// Many rounds of the head calling a chain whose second server does the
/// work: the task below gets at least the CPU the head's share leaves it.
#[test]
fn a_task_calling_through_a_chain_in_a_loop_gets_only_its_share() {
    let mut h = chain();
    let start = h.sys.machine.now;
    let end = start + 20 * PERIOD_TICKS;
    let mut running = Some(HEAD);
    let (mut bottom, mut called_on) = (0, false);
    while h.sys.machine.now < end {
        running = match running {
            Some(HEAD) => {
                advance(&mut h, 20);
                call_on(&mut h, HEAD, MID, 4)
            }
            // Mid calls top for each of head's calls, then answers.
            Some(MID) => {
                advance(&mut h, 20);
                called_on = !called_on;
                if called_on {
                    call_on(&mut h, MID, TOP, 4)
                } else {
                    answer_to(&mut h, MID, HEAD)
                }
            }
            Some(TOP) => {
                advance(&mut h, 500);
                answer_to(&mut h, TOP, MID)
            }
            Some(BOTTOM) => {
                // It spins until the next timer interrupt.
                let at = h
                    .sys
                    .machine
                    .deadline
                    .unwrap_or(end)
                    .clamp(h.sys.machine.now, end);
                bottom += at - h.sys.machine.now;
                notify_timer(&mut h, at);
                next(&mut h, BOTTOM)
            }
            other => panic!("{other:?} ran"),
        };
        // A timer interrupt that came meanwhile.
        let now = h.sys.machine.now;
        if h.sys.machine.deadline.is_some_and(|d| d <= now) {
            notify_timer(&mut h, now);
            running = next(&mut h, running.unwrap());
        }
    }
    let percent = bottom * 100 / (h.sys.machine.now - start);
    assert!(percent >= 70, "the task below got {percent} % of the CPU");
}

/// The timer interrupt at `at`.
fn notify_timer(h: &mut Harness, at: u64) {
    h.sys.machine.now = at;
    crate::notify::service_timers(&mut h.sys);
}
