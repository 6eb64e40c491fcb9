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
//! A throttled task waits for every other task, but not for nothing: when
//! no task is runnable the scheduler runs a throttled one
//! (`sched::select`), its stretch limited by its budget alone. So a share
//! bounds what a task takes from the others and never wastes time nobody
//! else wants. (Holding a driver off an idle CPU cut the default image's
//! bulk echo from some 4,300 to 2,700 KiB/s; with the spare time it runs
//! about as fast as without shares.) A throttled server that its clients
//! call while it is held off finds their calls waiting when it gets back
//! to `recv`: that counts as waiting for work (`budget::work_arrived`), or
//! its budget's charge would run on across them.
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
use crate::task::SchedState;

/// The length of a share period in timer ticks.
pub const PERIOD_TICKS: u64 = abi::CPU_SHARE_PERIOD_MS as u64 * TICKS_PER_MS;

/// A period's ticks per percent of share.
const TICKS_PER_PERCENT: u32 = (PERIOD_TICKS / 100) as u32;
const _: () = assert!(
    TICKS_PER_PERCENT as u64 * 100 == PERIOD_TICKS,
    "a share's ticks must be a multiplication away (no 64-bit division on the trap path)"
);

/// The ticks of each period a task with a share of `percent` may run, or
/// `None` if it is held to no share (100 % or more).
#[inline]
pub const fn quota_ticks(percent: u8) -> Option<u32> {
    if percent >= 100 {
        None
    } else {
        Some(percent as u32 * TICKS_PER_PERCENT)
    }
}

/// One task's use of its share: the period it is in and what it ran in it.
///
/// What is run in a period lies inside it, so `used` never exceeds
/// [`PERIOD_TICKS`] and fits 32 bits; the clock's 64 bits at 10 MHz do not
/// wrap in any machine's lifetime. So wrapping arithmetic, which on a
/// 32-bit hart is a fraction of the saturating kind and has no overflow
/// check (no panic) behind it: this runs at every switch between tasks
/// with a budget.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ShareUse {
    /// When the current period ends (0 before the first stretch).
    end: u64,
    /// Ticks run in the current period.
    used: u32,
    /// Ticks of each period the task may run: [`quota_ticks`] of its
    /// share, worked out once, or `u32::MAX` (some 7 minutes, never
    /// reached in a period) for a task held to no share.
    quota: u32,
}

impl ShareUse {
    /// The use of a task with a share of `percent` that has not run yet.
    pub const fn new(percent: u8) -> Self {
        ShareUse {
            end: 0,
            used: 0,
            quota: match quota_ticks(percent) {
                Some(q) => q,
                None => u32::MAX,
            },
        }
    }

    /// When the current period ends: a throttled task runs again then.
    pub fn period_end(&self) -> u64 {
        self.end
    }

    /// Ticks run in the current period.
    pub fn used(&self) -> u32 {
        self.used
    }

    /// Adds the stretch run from `since` to `now` (`since <= now`) to the
    /// period, starting a new period first if the current one has ended;
    /// true if the share is used up (the task must be throttled until
    /// [`period_end`](Self::period_end)). Never for a task held to none.
    ///
    /// A stretch that began before the period it ends in counts from the
    /// period's start: the earlier part belonged to a period that has
    /// ended. One that began inside the current period is shorter than a
    /// period. One longer than a whole period (only a host that stopped
    /// QEMU for that long makes one) starts a fresh period at `now`, with
    /// nothing used: it would be throttled until a period end already
    /// past.
    #[inline]
    pub fn spend(&mut self, since: u64, now: u64) -> bool {
        if now < self.end {
            // Stretches do not overlap, and one that ended in this period
            // opened it: this one began inside it.
            self.used = self.used.wrapping_add(now.wrapping_sub(since) as u32);
        } else {
            let start = since.max(self.end);
            self.end = start.wrapping_add(PERIOD_TICKS);
            self.used = 0;
            if now < self.end {
                self.used = now.wrapping_sub(start) as u32;
            } else {
                self.end = now.wrapping_add(PERIOD_TICKS);
            }
        }
        self.used >= self.quota
    }

    /// Ticks the task may still run at `now` before its share is used up:
    /// all of it if the current period has ended (for a task held to no
    /// share, some 7 minutes: more than the largest budget the image
    /// builder accepts).
    #[inline]
    pub fn left(&self, now: u64) -> u32 {
        if now >= self.end {
            self.quota
        } else {
            self.quota.saturating_sub(self.used)
        }
    }
}

/// Holds runnable task `index` off the CPU until its period ends, and has
/// the timer fire then. A task that is not runnable (it blocked, faulted,
/// was stopped) is left alone: it is throttled at the end of its next
/// stretch, which the budget's deadline at its next dispatch cuts short.
///
/// Out of line: its one caller, `budget::charge_dispatched`, runs at every
/// switch from a task with a budget and, with this inline, saved the
/// registers for it every time.
#[inline(never)]
pub fn throttle<M: Machine>(sys: &mut System<'_, M>, index: usize) {
    if sys.tasks[index].throttle() {
        let end = sys.tasks[index].share().period_end();
        sys.next_release = Some(sys.next_release.map_or(end, |r| r.min(end)));
        sys.note(index);
        sys.sched.now_throttled(index);
        crate::notify::reprogram_timer(sys);
    }
}

/// Makes every throttled task whose period has ended by `now` runnable
/// again (the timer's work), and notes when the next one is due. Only
/// looks at the tasks when one is due.
#[inline]
pub fn release_due<M: Machine>(sys: &mut System<'_, M>, now: u64) {
    if sys.next_release.is_some_and(|r| r <= now) {
        release(sys, now);
    }
}

/// [`release_due`] when a release is due.
#[inline(never)]
fn release<M: Machine>(sys: &mut System<'_, M>, now: u64) {
    let mut next = None;
    for i in 0..sys.tasks.len() {
        let t = &mut sys.tasks[i];
        if !t.is_throttled() {
            continue;
        }
        let end = t.share().period_end();
        if end <= now {
            t.set_sched(SchedState::Runnable);
            sys.note(i);
        } else {
            next = Some(next.map_or(end, |n: u64| n.min(end)));
        }
    }
    sys.next_release = next;
}
