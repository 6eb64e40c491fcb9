//! CPU budgets: a task that runs too long without waiting for work is faulted.
//!
//! A task with a budget (app.toml `budget-ms`; drivers get one by default)
//! is charged for every stretch of time it holds the CPU, from the moment
//! the kernel dispatches it to the next trap. The charge is cleared only
//! when the task *waits for work* — ends a trap blocked in `recv`, or
//! finds there a call waiting or an interrupt of its device
//! ([`work_arrived`]; see "Interrupts") — or a new incarnation
//! starts. Syscalls that return at once (`get_timer`, `post`, a `recv`
//! with a notification a task or a timer posted already pending) do not
//! clear it:
//! a task spinning on them is running, and would otherwise starve every
//! less important task while looking alive to a watchdog that counts
//! syscalls. Nor does a call (waiting in `send` or for the reply): a driver
//! calling a more important server in a loop — the supervisor's `devices`,
//! say — blocks at every call, and with the charge cleared there it kept
//! the CPU from every less important task for good. The time it waits is
//! not charged, only its own stretches. Time spent preempted by a more
//! important task is not charged either.
//!
//! When the charge reaches the budget the kernel faults the task with
//! `FaultKind::BudgetExceeded` (detail = the budget in ms); the supervisor
//! then restarts it like any other fault. So that a task that never traps
//! is caught too, the timer is programmed for the moment the running task's
//! budget would run out. To keep the timer off the IPC path, a deadline
//! already programmed that comes no later than the new one is kept: it may
//! fire early, and that trap simply charges and re-arms.
//!
//! Budgets are measured in timer ticks (`mtime`), which on QEMU follow the
//! host's clock unless `-icount` is used (QEMU's instret and cycle
//! counters follow it too): the host may stop the machine for a while in
//! the middle of a task's stretch. The timer is armed no later than the
//! moment the task's budget or share runs out, as reckoned at its
//! dispatch, so a trap that comes later than that and a short grace
//! ([`HOST_DELAY_TICKS`]: the kernel's own work in one trap, a long log
//! line, which is the task's) was delayed by the host, and the stretch is
//! charged only up to that moment ([`charged_until`]). A trap within the
//! grace is charged in full. A busy honest driver was faulted four times
//! under a loaded host (load average 5 to 16 on two cores), each stretch
//! charged with hundreds of milliseconds it never ran. With a grace of a
//! whole share period (10 ms) still charged to every late trap, a user's
//! net0 was faulted under repeated host stalls (sixteen to twenty stalled
//! stretches of 12.6 ms, net0's `recv` always finding a notification and
//! so never waiting for work), and the syscall fuzzer's driver under a
//! load average of 4.7. A spinner is still charged each of its stretches
//! to the end of its share, and is faulted as before.
//!
//! # Interrupts
//!
//! A `recv` that returns a bit an interrupt of the task's device posted
//! (one that came since the task last re-armed the source with
//! `irq_control`: the kernel masks it at each delivery) finds work
//! arriving, as a call found waiting does. A driver under constant
//! traffic finds its interrupt pending at every `recv` (`recv` hands over
//! notifications before calls), and before this it never waited for work:
//! net0 was faulted "ran past its CPU budget" under a flood it served
//! honestly (two 1,472-byte UDP senders, three 1 MiB TCP echoes and eight
//! page loops). A stretch cut short by its share (it is throttled some
//! 2,000 times a second under bulk traffic) or by the host's stall ends in
//! the middle of handling an interrupt, and the device interrupts again
//! while it is held off, so the next stretch begins with the interrupt,
//! and the stack's call waits behind it. Tests `budget::
//! a_driver_whose_device_keeps_interrupting_is_throttled_not_faulted`
//! (faulted before) and `..._own_timer_posts_its_interrupt_bit_is_still_
//! faulted`.
//!
//! Only the kernel's interrupt counts (`Task::mark_interrupted`), each
//! once at most: no task
//! may post a bit an interrupt is routed to (`notify::check_post`), and a
//! timer set to such a bit, or any bit a task posts, is not the device's
//! and clears nothing. So a driver spinning on `get_timer`, `post`, its
//! own notifications or a timer in the past is faulted as before. What
//! a rogue driver can do is make its own device interrupt — queue a
//! frame, kick, re-arm, `recv` — and spin on that unfaulted. That is
//! accepted: its CPU share still holds it to its percentage of every
//! period, so the tasks below it lose no more than they would to an
//! honest driver under a flood, and it is doing I/O its device accepted,
//! which the budget cannot tell from a busy driver's. The budget stays
//! what catches a driver stuck in a loop that never waits for anything
//! (nor traps: the budget timer), and the share what bounds its duty
//! cycle.
//!
//! # Server time
//!
//! A server without a budget (the supervisor; any task app.toml leaves
//! unbudgeted) serving a call from a task with one runs on the caller's
//! share: from the delivery of the call until the server receives
//! anything else (a notification, another call), replies, or the caller
//! is faulted or restarted, each stretch the server runs is added to the
//! *caller's* share ([`dispatch`] finds the caller in
//! [`Task::serving`](crate::task::Task::serving) and checks it still
//! waits for this server's reply). Otherwise a driver held to 25 % could
//! take as much of the CPU as it liked through a server more important
//! than everyone: a red team's driver calling the supervisor in a loop
//! left the tasks below it 27 to 46 % of their time, and calls that cost
//! the server more than they cost the caller would leave them nothing.
//! Only the share is charged, not the budget: the server's time is not
//! the caller running without waiting, and a slow server must not get
//! its callers faulted. A caller whose share the server used up is
//! throttled when it runs again, as a task whose share ran out while it
//! waited; the server itself is never held off, since it serves everyone.
//! A server with a budget of its own runs on its own share, as before.
//! A call a server makes on to another server *for* the caller (while
//! its time is the caller's) is followed: the second server's time goes
//! to the caller's share too, and so on down a chain of servers without
//! a budget ([`waits_for`]). Before, a budgeted task whose call made a
//! server call a second one that did the work took all the CPU it
//! liked: in a host test of such a loop the task below it got 0 %, now
//! 74 % (the caller's share is 25 %). A server's call for its own work
//! (after a notification or another call) stays its own.

use abi::{FaultKind, FaultRecord, TICKS_PER_MS};

use crate::faults;
use crate::machine::Machine;
use crate::notify;
use crate::sched::MaybeTask;
use crate::share;
use crate::system::System;
use crate::task::{SchedState, TaskState};

/// Charges the task dispatched last for the time since, clears its charge
/// if it waits for work, and faults it if it is still running past its budget —
/// unless its stretch goes on ([`stretch_goes_on`]): then nothing is
/// charged, it stays the task dispatched, and [`dispatch`] leaves it so.
/// Called at the end of every trap (by `current`), before the next task is
/// chosen.
///
/// Inlined into the trap path: with no budgeted task running (the IPC
/// round trip's case) it is one load and one branch.
#[inline(always)]
pub fn charge<M: Machine>(sys: &mut System<'_, M>, current: usize) {
    if !sys.dispatched.is_none() && !stretch_goes_on(sys, current) {
        charge_dispatched(sys);
    }
}

/// [`charge`] whatever the trap: no stretch goes on (the full choice's
/// way to the next task, which need not be the quick one).
pub fn charge_all<M: Machine>(sys: &mut System<'_, M>) {
    if !sys.dispatched.is_none() {
        charge_dispatched(sys);
    }
}

/// [`charge`] when a budgeted task was dispatched.
#[inline(never)]
fn charge_dispatched<M: Machine>(sys: &mut System<'_, M>) {
    let Some(index) = sys.dispatched.take() else {
        return;
    };
    let since = sys.dispatched_at;
    let now = charged_until(sys);
    // Every stretch counts against the share, whatever the task did at its
    // end: waiting for work does not give the time back.
    let share_spent = sys.tasks[index].share_mut().spend(since, now);
    if let Some(server) = sys.donated.take() {
        // A server ran this stretch for `index`, which waits for its
        // reply: only its share pays, and throttles it when it runs again
        // if that used the share up (`dispatch_budgeted` arms a deadline
        // of now). See "Server time".
        if let TaskState::Healthy(SchedState::InReply(next)) = sys.tasks[server].state() {
            // It called on for `index`, and the call was delivered (on
            // the fast path: a delivery from the queue is noted there):
            // the next server works on the same share.
            sys.tasks[next.index()].set_serving(MaybeTask::some(index));
        }
        return;
    }
    sys.tasks[index].count_ran(now.saturating_sub(since));
    let state = sys.tasks[index].state();
    if let TaskState::Healthy(SchedState::InReply(server)) = state {
        // Its call was just delivered (a task in a call runs no more): the
        // server works on its share now. Noted here rather than on the
        // IPC fast path, which the null round trip takes between tasks
        // without a budget; a call delivered later, from a queue, is
        // noted by the delivery (`ipc::deliver_checked`).
        sys.tasks[server.index()].set_serving(MaybeTask::some(index));
    }
    let t = &mut sys.tasks[index];
    let in_call = matches!(
        state,
        TaskState::Healthy(SchedState::InSend(_) | SchedState::InReply(_))
    );
    // A throttled task that ran (nothing else could) was running, not
    // waiting: its budget's charge goes on.
    let running = t.is_runnable() || t.is_throttled();
    if !running && !in_call {
        // It waits for work, faulted or was restarted: a fresh start next
        // time. (A spent share throttles it at the end of its next
        // stretch, which `dispatch_budgeted` cuts short.)
        t.clear_run();
        return;
    }
    let Some(budget_ms) = t.desc().budget_ms else {
        return;
    };
    let ran = t.charge(now.saturating_sub(since));
    // A task in a call keeps its charge and is faulted, if it is due, at
    // its next dispatch: the budget deadline `dispatch_budgeted` arms then
    // is already due. Likewise it is throttled then.
    if !in_call && ran >= budget_ticks(budget_ms) {
        exceeded(sys, index, budget_ms);
    } else if share_spent {
        share::throttle(sys, index);
    }
}

/// Faults task `index`, which ran past its budget of `budget_ms`. Out of
/// line, as `share::throttle`: [`charge_dispatched`] then calls nothing on
/// its usual way, and saves no registers for it (at every switch from a
/// task with a budget).
#[cold]
#[inline(never)]
fn exceeded<M: Machine>(sys: &mut System<'_, M>, index: usize, budget_ms: u32) {
    let record = FaultRecord {
        kind: FaultKind::BudgetExceeded as u32,
        address: 0,
        pc: sys.tasks[index].save().pc() as u32,
        detail: budget_ms,
    };
    faults::fault_task(sys, index, record);
}

/// Task `index`'s `recv` found a call waiting (or ended a closed receive):
/// it has waited for work as surely as if it had blocked for it, so its
/// budget's charge starts afresh. A server whose clients queue calls while
/// it is busy — or held off for its CPU share, which is when they get to —
/// does not block between them, and before this its charge ran on across
/// them until a `recv` found nothing: under load that long, a busy driver
/// was faulted for serving. The stretch so far still counts toward its
/// share: it is charged there now and goes on from here. The deadline
/// armed at its dispatch stays; it may now come early, and then charges
/// and re-arms. Out of line: `recv` comes here only when a call was
/// already waiting.
#[inline(never)]
pub fn work_arrived<M: Machine>(sys: &mut System<'_, M>, index: usize) {
    if sys.dispatched.is(index) {
        let now = charged_until(sys);
        let since = core::mem::replace(&mut sys.dispatched_at, now);
        // A share spent by this is throttled at the armed deadline, which
        // is no later than the moment it ran out.
        let _ = sys.tasks[index].share_mut().spend(since, now);
        sys.tasks[index].count_ran(now.saturating_sub(since));
    }
    sys.tasks[index].clear_run();
}

/// Now, or, if the trap came more than [`HOST_DELAY_TICKS`] after the
/// moment the dispatched task's budget or share ran out (as reckoned at
/// its dispatch), that moment: the host delayed the trap, and the
/// stretch is charged no further (see the module documentation).
///
/// `dispatched_until` holds that moment and the grace, summed at the
/// dispatch (a 64-bit sum on every charge cost the blk read through IPC
/// tens of instructions), and `dispatched_expiry` the moment. Neither is
/// before `dispatched_at`, which is the dispatch or a charge's result.
#[inline(always)]
fn charged_until<M: Machine>(sys: &System<'_, M>) -> u64 {
    let now = sys.machine.now();
    if now > sys.dispatched_until {
        sys.dispatched_expiry
    } else {
        now
    }
}

/// How far past its deadline a trap is still charged in full: the
/// kernel's own work in one trap, which the task asked for and must pay
/// (a 240-byte log line, about 0.8 ms; a red team took a third more than
/// its share by logging across the deadline when nothing past it was
/// charged). A host's stall, which is not the task's, is tens or hundreds
/// of milliseconds; one that ends within the grace is charged, so the
/// grace is kept short.
pub const HOST_DELAY_TICKS: u64 = 2 * TICKS_PER_MS;

/// Whether the trap just taken by `current` may leave the budget
/// bookkeeping as it is: `current` is the budgeted task dispatched last,
/// it runs on after the trap ([`crate::sched::Scheduler::runs_on`]), and
/// the budget deadline armed since has not come.
///
/// Skipping the charge and the dispatch then changes nothing anyone sees
/// (the task stays `dispatched`: [`charge`] takes it whenever it charges,
/// so [`dispatch`] finds it still there only when the stretch goes on,
/// and `current` is then the task chosen, the scheduler's quick choice).
/// The stretch simply goes on from `dispatched_at`, and the next charge
/// adds the whole of it, exactly the sum the skipped charges would have
/// made. The armed deadline is no later than the moment the budget or the
/// share runs out (`dispatch_budgeted` keeps or sets it so), and a
/// re-dispatch now would compute that same moment again; so while it is
/// ahead, a charge now could neither fault nor throttle the task, and once
/// it has come the trap it causes
/// (or any trap after it) charges in full. A driver's `post`,
/// `irq_control` and `recv` of a pending notification — the syscalls of
/// every request that return to the caller — save both.
///
/// Out of line, and a leaf: the IPC round trip, between tasks without a
/// budget, never comes here, and a driver's syscall pays for no more than
/// these few loads.
#[inline(never)]
fn stretch_goes_on<M: Machine>(sys: &System<'_, M>, current: usize) -> bool {
    sys.dispatched.is(current)
        && sys.sched.runs_on(sys.tasks, current)
        && sys.budget_deadline.is_some_and(|d| sys.machine.now() < d)
}

/// Notes that task `index` is about to run and makes sure the timer fires
/// no later than the moment its budget or its CPU share (`share`) runs
/// out. A task whose share ran out while it waited or called gets a
/// deadline of now: the timer throttles it at once.
///
/// Inlined into the trap path: for a task without a budget and no budget
/// deadline armed it is a few loads and branches.
#[inline(always)]
pub fn dispatch<M: Machine>(sys: &mut System<'_, M>, index: usize) {
    match sys.tasks[index].desc().budget_ms {
        // Its stretch goes on (see `charge`): nothing to re-arm.
        Some(_) if sys.dispatched.is(index) => {}
        Some(budget_ms) => dispatch_budgeted(sys, index, budget_ms),
        // No budget to watch. A deadline armed for an earlier task may
        // still fire (once); the trap it causes disarms it here.
        None if sys.tasks[index].serving().is_none() => disarm_expired(sys),
        // A server that received a budgeted task's call last.
        None => dispatch_serving(sys, index),
    }
}

/// The budgeted caller of a call just delivered from task `caller`, the
/// one a server's time then goes to (see "Server time"): the caller if
/// it has a budget, else the one it serves now ([`waits_for`]), if any.
#[inline(always)]
pub fn payer<M: Machine>(sys: &System<'_, M>, caller: usize) -> MaybeTask {
    let t = &sys.tasks[caller];
    if t.desc().budget_ms.is_some() {
        return MaybeTask::some(caller);
    }
    match t.serving().get() {
        Some(p) if waits_for(sys, p, caller) => MaybeTask::some(p),
        _ => MaybeTask::NONE,
    }
}

/// Whether task `payer` waits for the reply of task `server`: it calls
/// `server`, or calls a server without a budget that serves it (its
/// [`Task::serving`]) and waits for the reply of `server` in turn. Calls
/// go to more important tasks only, so the walk ends; it is bounded all
/// the same.
fn waits_for<M: Machine>(sys: &System<'_, M>, payer: usize, server: usize) -> bool {
    let mut caller = payer;
    for _ in 0..sys.tasks.len() {
        let TaskState::Healthy(SchedState::InReply(t)) = sys.tasks[caller].state() else {
            return false;
        };
        let i = t.index();
        if i == server {
            return t == sys.tasks[server].id(server);
        }
        // (A call delivered names a task of the table.)
        let hop = &sys.tasks[i];
        if hop.desc().budget_ms.is_some() || !hop.serving().is(payer) {
            // A budgeted server works on its own share, and one that
            // turned to other work (a notification, another call) makes
            // its own calls.
            return false;
        }
        caller = i;
    }
    false
}

/// [`dispatch`] for task `index`, without a budget, that last received a
/// budgeted task's call: if that caller still waits for this server's
/// reply, its share pays for the stretch (see "Server time"); otherwise
/// the server serves nobody's call and is dispatched as any task without
/// a budget.
///
/// No deadline is armed: the server is not held off when the caller's
/// share runs out (it serves everyone), and the next trap charges the
/// stretch whenever it comes. Nor is the charge bounded against a host's
/// stall ([`charged_until`]): it can cost the caller no more than the rest
/// of its period, throttled, never a fault (a stretch longer than a
/// period starts a fresh one, `ShareUse::spend`).
#[inline(never)]
fn dispatch_serving<M: Machine>(sys: &mut System<'_, M>, index: usize) {
    disarm_expired(sys);
    let Some(payer) = sys.tasks[index].serving().get() else {
        return;
    };
    if !waits_for(sys, payer, index) {
        // Replied to, faulted or restarted: the call is over.
        sys.tasks[index].set_serving(MaybeTask::NONE);
        return;
    }
    sys.dispatched = MaybeTask::some(payer);
    sys.donated = MaybeTask::some(index);
    sys.dispatched_at = sys.machine.now();
    sys.dispatched_until = u64::MAX;
}

/// [`dispatch`] for a task with a budget of `budget_ms`.
#[inline(never)]
fn dispatch_budgeted<M: Machine>(sys: &mut System<'_, M>, index: usize, budget_ms: u32) {
    let now = sys.machine.now();
    let t = &sys.tasks[index];
    // A throttled task runs only on time nobody else wants: its share
    // does not limit that, only its budget does. Its stretch is still
    // reckoned a period at most, so that a host's stall in it is charged
    // no further (`charged_until`): with its whole budget as the runway,
    // one stall faulted an honest driver. Past the period the timer
    // charges and re-arms, and the stretch goes on.
    let share_left = if t.is_throttled() {
        share::PERIOD_TICKS
    } else {
        u64::from(t.share().left(now))
    };
    let runway = budget_ticks(budget_ms)
        .saturating_sub(t.run())
        .min(share_left);
    sys.dispatched = MaybeTask::some(index);
    sys.dispatched_at = now;
    // Plain sums: the runway is under 2^32 ticks (a share's quota, or a
    // period) and so is the grace, while the clock's 64 bits at 10 MHz do
    // not wrap in any machine's lifetime (`share::ShareUse`). Saturating,
    // each was a compare and a select on the way to every budgeted task.
    let expiry = now.wrapping_add(runway);
    sys.dispatched_expiry = expiry;
    sys.dispatched_until = expiry.wrapping_add(HOST_DELAY_TICKS);
    match sys.budget_deadline {
        Some(d) if d > now && d <= expiry => {}
        _ => {
            sys.budget_deadline = Some(expiry);
            notify::reprogram_timer(sys);
        }
    }
}

/// Nothing with a budget is about to run: drops a budget deadline that has
/// passed, so that the timer does not fire again and again for it. Inline
/// for the trap path's usual case, no deadline armed: one test.
#[inline(always)]
pub fn disarm_expired<M: Machine>(sys: &mut System<'_, M>) {
    if let Some(d) = sys.budget_deadline {
        disarm_if_passed(sys, d);
    }
}

/// [`disarm_expired`] with budget deadline `d` armed.
#[inline(never)]
fn disarm_if_passed<M: Machine>(sys: &mut System<'_, M>, d: u64) {
    if d <= sys.machine.now() {
        sys.budget_deadline = None;
        notify::reprogram_timer(sys);
    }
}

/// A budget in timer ticks.
pub const fn budget_ticks(budget_ms: u32) -> u64 {
    budget_ms as u64 * TICKS_PER_MS
}
