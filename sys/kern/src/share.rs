//! CPU shares: a task with a budget may run for at most its share of every
//! period, so that no duty cycle of it starves the tasks below it.
//!
//! The budget (`budget`) bounds one continuous stretch: its charge is
//! cleared whenever the task waits for work. On its own it let a hostile
//! driver spin for just under its budget, sleep for one tick, and spin
//! again: every task less important than it got the CPU for a tick in
//! every 200 ms, and the threat model says a hostile task cannot stop
//! another from being served. So each task with a budget also has a share
//! (`TaskDesc::cpu_share`, a percentage) of every period of
//! `abi::CPU_SHARE_PERIOD_MS`. Its stretches are added up per period,
//! waiting or not; once they reach the share, the kernel *throttles* it:
//! [`SchedState::Throttled`] until the period ends, when the timer makes it
//! runnable again. A throttled task is not faulted and loses nothing. It
//! only runs later, so a legitimately busy driver that hits its share slows
//! down instead of being restarted. The budget still catches a task that
//! spins without waiting: throttling does not clear its charge.
//!
//! The tasks with a budget split 80 % of the CPU between them (the image
//! builder refuses more), so whatever they do, the tasks without one (the
//! network stack, the shell, the services) get a fifth of every period.
//!
//! Periods are per task, not a global clock: a period starts with the first
//! stretch charged after the last one ended and lasts
//! [`PERIOD_TICKS`]. A task can therefore run its share at the end of one
//! period and again at the start of the next, twice its share in a row;
//! over any longer span it never gets more than its share plus one
//! period's.
//!
//! Accounting rides on the budget's: the time is charged when the budget
//! charges a stretch (`budget::charge`), and the timer deadline the budget
//! arms at dispatch comes no later than the moment the share runs out, so
//! that a task spinning without syscalls is throttled on time too. Nothing
//! here runs on the IPC round trip between tasks without a budget.

use abi::TICKS_PER_MS;

use crate::machine::Machine;
use crate::system::System;
use crate::task::{SchedState, Task};

/// The length of a share period in timer ticks.
pub const PERIOD_TICKS: u64 = abi::CPU_SHARE_PERIOD_MS as u64 * TICKS_PER_MS;

/// The ticks of each period a task with a share of `percent` may run, or
/// `None` if it is held to no share (100 % or more).
#[inline]
pub const fn quota_ticks(percent: u8) -> Option<u64> {
    if percent >= 100 {
        None
    } else {
        Some(PERIOD_TICKS * percent as u64 / 100)
    }
}

/// One task's use of its share: the period it is in and what it ran in it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ShareUse {
    /// When the current period ends (0 before the first stretch).
    end: u64,
    /// Ticks run in the current period.
    used: u64,
}

impl ShareUse {
    /// When the current period ends: a throttled task runs again then.
    pub fn period_end(&self) -> u64 {
        self.end
    }

    /// Ticks run in the current period.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Adds the stretch run from `since` to `now` to the period, starting
    /// a new period first if the current one has ended; true if the share
    /// of `quota` ticks is used up (the task must be throttled until
    /// [`period_end`](Self::period_end)).
    ///
    /// A stretch that began before the period it ends in counts from the
    /// period's start: the earlier part belonged to a period that has
    /// ended. One longer than a whole period (only a host that stopped
    /// QEMU for that long makes one) starts a fresh period at `now`, with
    /// nothing used: it would be throttled until a period end already
    /// past.
    pub fn spend(&mut self, since: u64, now: u64, quota: u64) -> bool {
        let mut from = since;
        if now >= self.end {
            let start = since.max(self.end);
            self.end = start.saturating_add(PERIOD_TICKS);
            self.used = 0;
            from = start;
            if now >= self.end {
                self.end = now.saturating_add(PERIOD_TICKS);
                from = now;
            }
        }
        self.used = self.used.saturating_add(now.saturating_sub(from));
        self.used >= quota
    }

    /// Ticks the task may still run at `now` before its share of `quota`
    /// is used up: all of it if the current period has ended.
    pub fn left(&self, now: u64, quota: u64) -> u64 {
        if now >= self.end {
            quota
        } else {
            quota.saturating_sub(self.used)
        }
    }
}

/// Charges task `index`'s stretch from `since` to `now` to its share; true
/// if the share is used up. False for a task held to no share.
pub fn spend<M: Machine>(sys: &mut System<'_, M>, index: usize, since: u64, now: u64) -> bool {
    let t = &mut sys.tasks[index];
    match quota_ticks(t.desc().cpu_share) {
        Some(quota) => t.share_mut().spend(since, now, quota),
        None => false,
    }
}

/// Ticks task `index` may still run at `now` before its share is used up
/// (`u64::MAX` for a task held to no share).
pub fn left<M: Machine>(sys: &System<'_, M>, index: usize, now: u64) -> u64 {
    let t = &sys.tasks[index];
    match quota_ticks(t.desc().cpu_share) {
        Some(quota) => t.share().left(now, quota),
        None => u64::MAX,
    }
}

/// Holds runnable task `index` off the CPU until its period ends, and has
/// the timer fire then. A task that is not runnable (it blocked, faulted,
/// was stopped) is left alone: it is throttled at the end of its next
/// stretch, which the budget's deadline at its next dispatch cuts short.
pub fn throttle<M: Machine>(sys: &mut System<'_, M>, index: usize) {
    if sys.tasks[index].throttle() {
        sys.note(index);
        crate::notify::reprogram_timer(sys);
    }
}

/// Makes every throttled task whose period has ended by `now` runnable
/// again (the timer's work).
pub fn release_due<M: Machine>(sys: &mut System<'_, M>, now: u64) {
    for i in 0..sys.tasks.len() {
        let t = &mut sys.tasks[i];
        if t.is(SchedState::Throttled) && t.share().period_end() <= now {
            t.set_sched(SchedState::Runnable);
            sys.note(i);
        }
    }
}

/// When task `t` is due to run again, if it is throttled: a deadline for
/// the timer.
#[inline]
pub fn release_at(t: &Task) -> Option<u64> {
    t.is(SchedState::Throttled).then(|| t.share().period_end())
}
