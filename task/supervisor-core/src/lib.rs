//! The supervisor's decisions, kept apart from its syscalls so that they
//! are tested on the host: when to restart a faulted task ([`Restarts`];
//! one that faults as it starts, every time, waits longer each time),
//! whether a driver has stopped answering ([`Liveness`]), holds a
//! caller's request for good ([`held`]) or refuses calls for being
//! broken itself ([`rejections`]), who may ask for what
//! ([`authority`]), the log of restarts made ([`restart_log`]), which
//! refusals are worth a console line ([`log_quota`]) and how a fault is
//! told on it ([`fault_words`]).
//!
//! Nothing here may panic or allocate: it runs in the one task whose fault
//! reboots the machine.

#![no_std]
#![deny(missing_docs)]

pub mod authority;
pub mod fault_words;
pub mod held;
pub mod log_quota;
pub mod rejections;
pub mod restart_log;

pub use rejections::{Rejections, REJECTION_WINDOW_MS};

use abi::{RestartCause, RestartKind, RestartPolicy};

/// Most tasks whose faults are tracked: every task of an image, which
/// `cargo xtask build` keeps to this many (a task beyond the table was
/// restarted at every fault, whatever its policy: a user's 41st task,
/// `never` to be restarted, was restarted 22,990 times in 20 s).
pub const MAX_TASKS: usize = 64;
/// Fault times remembered per task: one more than the largest `limit`, so
/// that a fault over any limit is seen. (It was 8, and a limit of 10, the
/// one app.toml gives, was never reached: the count stopped at 8.)
const HISTORY: usize = RestartPolicy::MAX_LIMIT as usize + 1;
/// The window when app.toml sets none, in ms.
pub const DEFAULT_WINDOW_MS: u32 = 10_000;
/// The backoff delay stops doubling at this multiple of `backoff-ms`.
pub const MAX_BACKOFF_FACTOR: u64 = 64;

/// A task that faults by itself within this long of its restart, having
/// served no call, faulted *as it starts* ([`Fault::BeforeServing`]).
/// Its restart cost the machine more than the task ran: re-initialising
/// its memory and five console lines (the kernel's "started",
/// "panicked" and the message, the supervisor's "faulted" and
/// "restarted"), 1.2 to 1.7 ms in QEMU at priority 0. Restarted at once
/// every time, a task whose bug no restart cures was restarted 600 to
/// 800 times a second, taking every moment more important tasks waited
/// (`test/restart.toml`'s suite lost 39 % of its wakes from 1 ms sleeps),
/// and filled the console with 3,000 to 4,000 lines a second.
pub const STARTUP_MS: u64 = 100;
/// Faults as it starts, in a row, that are still restarted at once, as
/// the policy says: a server that its client's calls end one after
/// another, each before it replied, comes back for each, and only a
/// longer row is a storm. `test/fuzz.toml`'s fuzzer (immediate, ended by
/// three rounds in four) had rows of up to 18 in 1,000 rounds, and its
/// suite counts on each restart being made at once (at 16 it saw the
/// fuzzer down and failed); a row of 65 there is a chance in millions.
/// `test/idol.toml`'s assistant, faulted for seven malformed calls in a
/// row, failed five cases with no allowance at all.
pub const START_FAULTS_AT_ONCE: u32 = 64;
/// The delay of the restart after the first fault as it starts past
/// [`START_FAULTS_AT_ONCE`], in ms; it doubles for each further one in
/// the row, up to [`MAX_START_DELAY_MS`].
pub const FIRST_START_DELAY_MS: u64 = 1;
/// The longest delay of a task that faults as it starts, every time: it
/// costs the rest of the machine about a thousandth of the CPU then, and
/// the console six lines a second. (The first 64 restarts at once and
/// the delays up to it take about 1.2 s.)
pub const MAX_START_DELAY_MS: u64 = 1024;

/// What the supervisor knows of the incarnation that faulted, as far as
/// telling a fault as it starts ([`STARTUP_MS`]) from others.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// It faulted by its own doing (not an injection) and had delivered no
    /// reply: soon after its restart, it faulted as it started.
    BeforeServing,
    /// It had served a call (delivered a reply) before it faulted, or the
    /// fault was not its own (injected by the supervisor for an operator
    /// or a test, `fault <task>`): never a fault as it starts, and it ends
    /// a row of them.
    Other,
}

/// Whether a restart for `cause` counts against the task's restart
/// policy, as a fault does ([`Restarts::on_fault`] with [`Fault::Other`]
/// for what a driver did alive): `backoff` delays it, `limit` gives up on
/// it. Every cause but the operator's: a driver restarted at once for
/// what it does after every restart comes back for ever (one releasing
/// its slot unasked came back 229 times in 1.85 s; one refusing or
/// faulting every well-formed call, at each call of a client calling in a
/// loop). The match names every cause, so a new one must be placed here.
pub fn counts_against_policy(cause: RestartCause) -> bool {
    match cause {
        RestartCause::Fault
        | RestartCause::Hung
        | RestartCause::Rejecting
        | RestartCause::RemovalTimeout
        | RestartCause::UnaskedRelease
        | RestartCause::HeldCaller
        | RestartCause::FaultedClients => true,
        // A fresh start: it clears the task's fault history (`forget`).
        RestartCause::Operator => false,
    }
}

/// What to do with a task that just faulted.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Restart it now.
    RestartNow,
    /// Restart it at this time (ms); until then it stays faulted and its
    /// callers get DEAD at once.
    RestartAt(u64),
    /// Restart it at `at` (ms), later than its policy alone says: it
    /// faulted as it started ([`STARTUP_MS`]) `in_a_row` times in a row,
    /// more than [`START_FAULTS_AT_ONCE`]. Faulted meanwhile, as for
    /// [`Decision::RestartAt`].
    StartStorm {
        /// When to restart it (ms).
        at: u64,
        /// Its faults as it started, in a row, this one included.
        in_a_row: u32,
    },
    /// Leave it stopped: its policy says never, or it faulted more than
    /// `limit` times within the window. Its device is reported failed.
    GiveUp {
        /// Faults counted in the window (0 for policy `never`).
        faults_in_window: u32,
    },
}

#[derive(Copy, Clone, Debug, Default)]
struct Record {
    /// The faults within the window of the last one, oldest first, as ms
    /// after `base`, the oldest's time: a window is at most `u32::MAX` ms,
    /// so each fits in 32 bits (the supervisor holds `MAX_TASKS` records).
    after_base: [u32; HISTORY],
    base: u64,
    len: usize,
    /// A delayed restart, if one is pending.
    pending: Option<u64>,
    /// When the supervisor last restarted it after a fault (ms); `None`
    /// before the first, and after the operator's restart.
    restarted_at: Option<u64>,
    /// Faults as it starts in a row ([`STARTUP_MS`]).
    start_faults: u32,
    /// Whether its last fault (or restart counted as one) was its last
    /// restart: the policy gave up on it.
    gave_up: bool,
}

impl Record {
    const EMPTY: Record = Record {
        after_base: [0; HISTORY],
        base: 0,
        len: 0,
        pending: None,
        restarted_at: None,
        start_faults: 0,
        gave_up: false,
    };
}

impl Record {
    /// Records a fault at `now` (ms, never earlier than the last) and
    /// returns how many faults, this one included, lie within `window` ms
    /// before it: at most `HISTORY`, one more than any limit.
    fn push_and_count(&mut self, now: u64, window: u32) -> u32 {
        let since = now.saturating_sub(u64::from(window));
        let len = self.len.min(HISTORY);
        let base = self.base;
        let mut gone = self.after_base[..len]
            .iter()
            .position(|&d| base.saturating_add(u64::from(d)) >= since)
            .unwrap_or(len);
        if len - gone == HISTORY {
            gone += 1;
        }
        self.after_base.copy_within(gone..len, 0);
        self.len = len - gone;
        match self.after_base[..self.len].first().copied() {
            Some(shift) => {
                self.base = base.saturating_add(u64::from(shift));
                for d in &mut self.after_base[..self.len] {
                    *d = d.saturating_sub(shift);
                }
            }
            None => self.base = now,
        }
        // `base` is at or after `since`, so this is at most `window`.
        let at = u32::try_from(now.saturating_sub(self.base)).unwrap_or(u32::MAX);
        if let Some(slot) = self.after_base.get_mut(self.len) {
            *slot = at;
            self.len += 1;
        }
        self.len as u32
    }
}

/// Fault history and pending restarts of every task.
#[derive(Debug)]
pub struct Restarts {
    tasks: [Record; MAX_TASKS],
}

impl Restarts {
    /// No faults seen. A constant, so that the supervisor's state is a
    /// static's initial value and never a temporary on its stack.
    pub const fn new() -> Self {
        Restarts {
            tasks: [Record::EMPTY; MAX_TASKS],
        }
    }
}

// (`Default` of `[T; N]` is derived only for N <= 32.)
impl Default for Restarts {
    fn default() -> Self {
        Self::new()
    }
}

impl Restarts {
    /// Records a fault of `task` at `now` (ms) and decides, per `policy`,
    /// and for an immediate restart per how the incarnation lived
    /// (`fault`): the restart after a fault as it starts that ends a row
    /// of more than [`START_FAULTS_AT_ONCE`] waits, from
    /// [`FIRST_START_DELAY_MS`], doubling, to [`MAX_START_DELAY_MS`].
    /// `never`, `backoff` and `limit` are decided as before it: a storm
    /// is slowed, never left stopped for it.
    pub fn on_fault(
        &mut self,
        task: usize,
        policy: &RestartPolicy,
        now: u64,
        fault: Fault,
    ) -> Decision {
        let Some(r) = self.tasks.get_mut(task) else {
            return Decision::RestartNow;
        };
        r.pending = None;
        r.gave_up = false;
        let as_it_started = fault == Fault::BeforeServing
            && r.restarted_at
                .is_some_and(|at| now.saturating_sub(at) < STARTUP_MS);
        r.start_faults = if as_it_started {
            r.start_faults.saturating_add(1)
        } else {
            0
        };
        if policy.kind == RestartKind::Never {
            r.push_and_count(now, 0);
            r.gave_up = true;
            return Decision::GiveUp {
                faults_in_window: 0,
            };
        }
        let window = if policy.window_ms == 0 {
            DEFAULT_WINDOW_MS
        } else {
            policy.window_ms
        };
        let count = r.push_and_count(now, window);
        // A larger limit than the history can count (an image not built
        // by xtask) is taken as the largest.
        let limit = policy.limit.min(RestartPolicy::MAX_LIMIT);
        if limit != 0 && count > limit {
            r.gave_up = true;
            return Decision::GiveUp {
                faults_in_window: count,
            };
        }
        match policy.kind {
            RestartKind::Backoff if policy.backoff_ms != 0 => {
                let factor = 1u64 << (count.saturating_sub(1)).min(63);
                let delay = policy.backoff_ms as u64 * factor.min(MAX_BACKOFF_FACTOR);
                let at = now.saturating_add(delay);
                r.pending = Some(at);
                Decision::RestartAt(at)
            }
            _ if r.start_faults > START_FAULTS_AT_ONCE => {
                let doublings = (r.start_faults - START_FAULTS_AT_ONCE - 1).min(63);
                let delay = FIRST_START_DELAY_MS
                    .saturating_mul(1 << doublings)
                    .min(MAX_START_DELAY_MS);
                let at = now.saturating_add(delay);
                r.pending = Some(at);
                Decision::StartStorm {
                    at,
                    in_a_row: r.start_faults,
                }
            }
            _ => {
                r.restarted_at = Some(now);
                Decision::RestartNow
            }
        }
    }

    /// Tasks whose delayed restart is due at `now`; each is returned once,
    /// and taken as restarted at `now` (the supervisor restarts it).
    pub fn take_due(&mut self, now: u64) -> Option<usize> {
        let i = self
            .tasks
            .iter()
            .position(|r| r.pending.is_some_and(|at| at <= now))?;
        let r = &mut self.tasks[i];
        r.pending = None;
        r.restarted_at = Some(now);
        Some(i)
    }

    /// Whether `task` awaits a delayed restart or its policy gave up on
    /// it (until the operator's restart, [`Restarts::forget`]): a driver
    /// restarted for what it did alive (an unasked release, a hang) gets
    /// no device meanwhile.
    pub fn held_back(&self, task: usize) -> bool {
        self.tasks
            .get(task)
            .is_some_and(|r| r.pending.is_some() || r.gave_up)
    }

    /// Whether `task` awaits a delayed restart. A driver awaiting one for
    /// what it did alive is still alive: the watchdog leaves it be, or it
    /// would count one hang again at every sample.
    pub fn restart_pending(&self, task: usize) -> bool {
        self.tasks.get(task).is_some_and(|r| r.pending.is_some())
    }

    /// The earliest pending restart.
    pub fn next_deadline(&self) -> Option<u64> {
        self.tasks.iter().filter_map(|r| r.pending).min()
    }

    /// Forgets a task's history (the operator revived it by hand).
    pub fn forget(&mut self, task: usize) {
        if let Some(r) = self.tasks.get_mut(task) {
            *r = Record::default();
        }
    }
}

/// Samples without progress after which a runnable driver counts as hung.
pub const HUNG_AFTER_SAMPLES: u8 = 2;
/// Samples with callers waiting and no reply after which a driver counts
/// as hung. Longer than a driver's own request deadline (1 s at 100 ms a
/// sample), so a driver that is waiting on a wedged device gets to fail
/// and reset it itself first.
pub const STUCK_AFTER_SAMPLES: u8 = 15;
/// Samples one caller may await the reply to one call from a driver that
/// answers others ([`held`]) before the driver counts as hung (5 s at
/// 100 ms a sample). Longer than a working driver keeps any request while
/// it completes others: a disk's requests queued four deep on a slow
/// device (64 KiB each at 128 KiB/s, as `test/dma.toml` throttles it) wait
/// up to 2 s.
pub const HELD_AFTER_SAMPLES: u8 = 50;

/// One liveness sample of a driver.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// It is runnable (not blocked).
    pub runnable: bool,
    /// Its syscall count.
    pub syscalls: u32,
    /// Some task is blocked calling it.
    pub callers_waiting: bool,
    /// Its count of replies delivered.
    pub replies: u32,
    /// Its generation: counts of another incarnation are no baseline.
    pub generation: u32,
    /// Timer ticks it has run (`TaskStatus::ran_ticks`, wrapping).
    pub ran: u32,
}

#[derive(Copy, Clone, Debug, Default)]
struct Watch {
    last: Option<Sample>,
    spinning: u8,
    stuck: u8,
}

/// The liveness watchdog.
///
/// Every sampling period the supervisor reads each bound driver's state and
/// counters. A driver has stopped answering if either
/// - it was runnable at [`HUNG_AFTER_SAMPLES`] samples in a row and made no
///   syscall in between (spinning: a healthy driver is either blocked in
///   `recv` or talking to the kernel), or
/// - callers were waiting on it at [`STUCK_AFTER_SAMPLES`] samples in a row
///   and it replied to none of them (busy, perhaps with syscalls, but
///   serving nobody — a corrupted loop can look alive to the first rule).
///
/// A sample in which a runnable driver hardly ran (less than the `min_run`
/// ticks [`Liveness::sample`] is given) counts for neither rule, and
/// against neither: the driver was starved — by more important tasks, or
/// by a host that stopped QEMU, whose clock runs on meanwhile — not hung.
/// A user's session saw net0 restarted as "stopped answering" five times
/// in six seconds while the host stopped QEMU for 105 ms at a time: at
/// each resumption the supervisor, first in line, sampled a driver that
/// had not had the CPU since the last sample. A blocked driver is judged
/// as before: its callers wait on what it chose to wait for.
///
/// No cooperation from the driver is needed, so a broken one cannot fool it.
#[derive(Debug)]
pub struct Liveness {
    watch: [Watch; MAX_TASKS],
}

impl Liveness {
    /// Nothing sampled yet (a constant, as [`Restarts::new`]).
    pub const fn new() -> Self {
        Liveness {
            watch: [Watch {
                last: None,
                spinning: 0,
                stuck: 0,
            }; MAX_TASKS],
        }
    }
}

impl Default for Liveness {
    fn default() -> Self {
        Self::new()
    }
}

impl Liveness {
    /// Takes one sample of `task`; true if it is now considered hung. A
    /// runnable driver that ran less than `min_run` ticks since the last
    /// sample was starved: the sample leaves its counts as they are.
    pub fn sample(&mut self, task: usize, now: Sample, min_run: u32) -> bool {
        let Some(w) = self.watch.get_mut(task) else {
            return false;
        };
        // A restart in between (a fault the supervisor restarted it for,
        // with no reset here) is progress: the new incarnation's counts
        // start from 0, and a task restarted just before each sample
        // would otherwise look like one that never moved.
        let Some(last) = w.last.filter(|l| l.generation == now.generation) else {
            w.spinning = 0;
            w.stuck = 0;
            w.last = Some(now);
            return false;
        };
        if now.runnable && now.ran.wrapping_sub(last.ran) < min_run {
            // Not its doing either way. The baseline stays: the next
            // sample compares with the last one in which it could act.
            return w.spinning >= HUNG_AFTER_SAMPLES || w.stuck >= STUCK_AFTER_SAMPLES;
        }
        let spinning = now.runnable && last.runnable && now.syscalls == last.syscalls;
        let stuck = now.callers_waiting && last.callers_waiting && now.replies == last.replies;
        w.spinning = if spinning {
            w.spinning.saturating_add(1)
        } else {
            0
        };
        w.stuck = if stuck { w.stuck.saturating_add(1) } else { 0 };
        w.last = Some(now);
        w.spinning >= HUNG_AFTER_SAMPLES || w.stuck >= STUCK_AFTER_SAMPLES
    }

    /// Forgets `task` (restarted, or no longer a driver). Every other
    /// task's spinning count starts again too: a hung task at the same
    /// priority starves its peers, which must not be blamed in the same
    /// breath. The stuck counts start again only for `callers` (bit `t`:
    /// task `t` was blocked calling `task`), whose own callers waited on
    /// `task`'s hang: zeroing every task's, a hostile driver that hung
    /// again after each restart (every third sample) kept a driver that
    /// held its callers for good from ever being found.
    pub fn reset_after_restart(&mut self, task: usize, callers: u64) {
        if let Some(w) = self.watch.get_mut(task) {
            w.last = None;
            w.stuck = 0;
        }
        for (t, w) in self.watch.iter_mut().enumerate() {
            w.spinning = 0;
            if callers & 1u64.checked_shl(t as u32).unwrap_or(0) != 0 {
                w.stuck = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immediate_restarts_every_time_without_a_limit() {
        let mut r = Restarts::default();
        let p = RestartPolicy::new(RestartKind::Immediate, 0, 0, 0);
        for t in 0..100 {
            assert_eq!(r.on_fault(3, &p, t, Fault::Other), Decision::RestartNow);
        }
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn never_gives_up_at_once() {
        let mut r = Restarts::default();
        assert_eq!(
            r.on_fault(
                1,
                &RestartPolicy::new(RestartKind::Never, 0, 0, 0),
                5,
                Fault::Other
            ),
            Decision::GiveUp {
                faults_in_window: 0
            }
        );
    }

    #[test]
    fn backoff_doubles_within_the_window_and_resets_after_it() {
        let mut r = Restarts::default();
        let p = RestartPolicy::new(RestartKind::Backoff, 10, 0, 1000);
        assert_eq!(r.on_fault(2, &p, 0, Fault::Other), Decision::RestartAt(10));
        assert_eq!(r.on_fault(2, &p, 20, Fault::Other), Decision::RestartAt(40));
        assert_eq!(r.on_fault(2, &p, 50, Fault::Other), Decision::RestartAt(90));
        assert_eq!(
            r.on_fault(2, &p, 100, Fault::Other),
            Decision::RestartAt(180)
        );
        // Long after the window, the count starts over.
        assert_eq!(
            r.on_fault(2, &p, 5000, Fault::Other),
            Decision::RestartAt(5010)
        );
    }

    #[test]
    fn backoff_is_capped() {
        let mut r = Restarts::default();
        let p = RestartPolicy::new(RestartKind::Backoff, 10, 0, 1_000_000);
        let mut last = Decision::RestartNow;
        for t in 0..HISTORY as u64 {
            last = r.on_fault(0, &p, t, Fault::Other);
        }
        assert_eq!(
            last,
            Decision::RestartAt(HISTORY as u64 - 1 + 10 * MAX_BACKOFF_FACTOR)
        );
    }

    #[test]
    fn the_limit_counts_faults_in_the_window() {
        let mut r = Restarts::default();
        let p = RestartPolicy::new(RestartKind::Immediate, 0, 3, 100);
        for t in [0, 10, 20] {
            assert_eq!(r.on_fault(4, &p, t, Fault::Other), Decision::RestartNow);
        }
        assert_eq!(
            r.on_fault(4, &p, 30, Fault::Other),
            Decision::GiveUp {
                faults_in_window: 4
            }
        );
        // Spread out, the same number of faults is fine.
        let mut r = Restarts::default();
        for t in [0, 200, 400, 600, 800] {
            assert_eq!(r.on_fault(4, &p, t, Fault::Other), Decision::RestartNow);
        }
    }

    #[test]
    fn every_limit_up_to_the_largest_is_reached() {
        // app.toml's limit is 10; a history of 8 fault times never counted
        // past 8, and such a task was restarted for ever.
        for limit in 1..=RestartPolicy::MAX_LIMIT {
            let mut r = Restarts::default();
            let p = RestartPolicy::new(RestartKind::Backoff, 10, limit, 10_000);
            for t in 0..u64::from(limit) {
                let d = r.on_fault(1, &p, t * 100, Fault::Other);
                assert!(
                    matches!(d, Decision::RestartAt(_)),
                    "limit {limit}, fault {t}: {d:?}"
                );
            }
            assert_eq!(
                r.on_fault(1, &p, u64::from(limit) * 100, Fault::Other),
                Decision::GiveUp {
                    faults_in_window: limit + 1
                },
                "limit {limit}"
            );
        }
        // A larger limit than the history holds acts as the largest.
        let mut r = Restarts::default();
        let p = RestartPolicy::new(RestartKind::Immediate, 0, 1000, 10_000);
        for t in 0..u64::from(RestartPolicy::MAX_LIMIT) {
            assert_eq!(r.on_fault(1, &p, t, Fault::Other), Decision::RestartNow);
        }
        assert!(matches!(
            r.on_fault(1, &p, 100, Fault::Other),
            Decision::GiveUp { .. }
        ));
    }

    #[test]
    fn fault_times_are_counted_right_at_any_uptime() {
        // Times are kept as 32-bit ms after the oldest in the window:
        // faults 2^32 ms apart, or late in a long uptime, count as they
        // are.
        let mut r = Restarts::default();
        let p = RestartPolicy::new(RestartKind::Immediate, 0, 2, 100);
        let t = 5_000_000_000_000u64;
        assert_eq!(r.on_fault(3, &p, t, Fault::Other), Decision::RestartNow);
        assert_eq!(
            r.on_fault(3, &p, t + (1 << 32), Fault::Other),
            Decision::RestartNow
        );
        assert_eq!(
            r.on_fault(3, &p, t + (1 << 32) + 50, Fault::Other),
            Decision::RestartNow
        );
        assert_eq!(
            r.on_fault(3, &p, t + (1 << 32) + 100, Fault::Other),
            Decision::GiveUp {
                faults_in_window: 3
            }
        );
        // The largest window keeps its faults too.
        let mut r = Restarts::default();
        let p = RestartPolicy::new(RestartKind::Immediate, 0, 1, u32::MAX);
        assert_eq!(r.on_fault(3, &p, t, Fault::Other), Decision::RestartNow);
        assert_eq!(
            r.on_fault(3, &p, t + u64::from(u32::MAX), Fault::Other),
            Decision::GiveUp {
                faults_in_window: 2
            }
        );
        // A clock that went back (it cannot) neither panics nor forgets.
        let mut r = Restarts::default();
        let p = RestartPolicy::new(RestartKind::Immediate, 0, 2, 100);
        r.on_fault(3, &p, 1000, Fault::Other);
        r.on_fault(3, &p, 990, Fault::Other);
        assert!(matches!(
            r.on_fault(3, &p, 1001, Fault::Other),
            Decision::GiveUp { .. }
        ));
    }

    #[test]
    fn delayed_restarts_come_due_once_in_order() {
        let mut r = Restarts::default();
        let p = RestartPolicy::new(RestartKind::Backoff, 10, 0, 1000);
        r.on_fault(1, &p, 0, Fault::Other);
        r.on_fault(2, &p, 5, Fault::Other);
        assert_eq!(r.next_deadline(), Some(10));
        assert_eq!(r.take_due(9), None);
        assert_eq!(r.take_due(10), Some(1));
        assert_eq!(r.take_due(10), None);
        assert_eq!(r.next_deadline(), Some(15));
        assert_eq!(r.take_due(100), Some(2));
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn the_last_task_of_the_table_keeps_its_policy() {
        // A user's 41st task, `never` to be restarted, was restarted at
        // every fault when the table held 32.
        let mut r = Restarts::default();
        let never = RestartPolicy {
            kind: RestartKind::Never,
            backoff_ms: 0,
            limit: 0,
            window_ms: 0,
        };
        for task in [31, 40, MAX_TASKS - 1] {
            assert_eq!(
                r.on_fault(task, &never, 0, Fault::Other),
                Decision::GiveUp {
                    faults_in_window: 0
                },
                "task {task}"
            );
        }
    }

    /// A task that faults as it starts, every time: the first
    /// `START_FAULTS_AT_ONCE` in a row come back at once, then each waits,
    /// doubling from 1 ms to the cap; and whatever it does, it never comes
    /// back more than a few times a second. Restarted at once every time,
    /// such a task was restarted about a thousand times a second.
    #[test]
    fn a_task_that_faults_as_it_starts_waits_longer_each_time() {
        let mut r = Restarts::default();
        let p = RestartPolicy::IMMEDIATE;
        let mut now = 1_000;
        // The boot's incarnation, then the first restarts, at once.
        for n in 0..=START_FAULTS_AT_ONCE {
            assert_eq!(
                r.on_fault(3, &p, now, Fault::BeforeServing),
                Decision::RestartNow,
                "fault {n}"
            );
            now += 1;
        }
        let mut delays = [0u64; 14];
        for (n, delay) in delays.iter_mut().enumerate() {
            let Decision::StartStorm { at, in_a_row } =
                r.on_fault(3, &p, now, Fault::BeforeServing)
            else {
                panic!("fault {n} past the row: restarted at once");
            };
            assert_eq!(in_a_row, START_FAULTS_AT_ONCE + 1 + n as u32);
            assert_eq!(r.next_deadline(), Some(at));
            assert_eq!(r.take_due(at - 1), None);
            assert_eq!(r.take_due(at), Some(3));
            *delay = at - now;
            // It faults again as soon as it is restarted.
            now = at;
        }
        assert_eq!(
            delays,
            [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 1024, 1024, 1024]
        );
        // Over ten minutes of it: a restart a second, not a thousand.
        let start = now;
        let mut restarts = 0u64;
        while now < start + 600_000 {
            match r.on_fault(3, &p, now, Fault::BeforeServing) {
                Decision::StartStorm { at, .. } => {
                    assert_eq!(r.take_due(at), Some(3));
                    now = at;
                }
                d => panic!("at {now}: {d:?}"),
            }
            restarts += 1;
        }
        assert!(
            restarts <= 600_000 / MAX_START_DELAY_MS + 1,
            "{restarts} restarts"
        );
    }

    /// What ends a row: a life longer than `STARTUP_MS`, a reply served, a
    /// fault not its own. After any of them the task comes back at once
    /// again: a task that faults now and then (and the client stub's one
    /// retry after `ServerRestarted`) never meets a delay.
    #[test]
    fn a_row_of_faults_as_it_starts_ends_with_a_life_a_reply_or_an_injection() {
        let p = RestartPolicy::IMMEDIATE;
        // `n` faults as it starts, each restarted at once.
        let storm = |r: &mut Restarts, now: &mut u64, n: u32| {
            for _ in 0..n {
                assert_eq!(
                    r.on_fault(3, &p, *now, Fault::BeforeServing),
                    Decision::RestartNow
                );
                *now += 1;
            }
        };
        for end in ["lived", "served", "injected"] {
            let mut r = Restarts::default();
            let mut now = 5_000;
            // The boot's incarnation's fault, then a row.
            storm(&mut r, &mut now, START_FAULTS_AT_ONCE + 1);
            let fault = match end {
                "lived" => {
                    now += STARTUP_MS;
                    Fault::BeforeServing
                }
                _ => Fault::Other,
            };
            assert_eq!(r.on_fault(3, &p, now, fault), Decision::RestartNow, "{end}");
            // A new row starts from nothing.
            now += 1;
            storm(&mut r, &mut now, START_FAULTS_AT_ONCE);
            assert!(
                matches!(
                    r.on_fault(3, &p, now, Fault::BeforeServing),
                    Decision::StartStorm { at, .. } if at == now + FIRST_START_DELAY_MS
                ),
                "{end}"
            );
        }
        // A fault that came STARTUP_MS - 1 after its restart is in a row.
        let mut r = Restarts::default();
        let mut now = 0;
        storm(&mut r, &mut now, START_FAULTS_AT_ONCE + 1);
        now += STARTUP_MS - 2;
        assert!(matches!(
            r.on_fault(3, &p, now, Fault::BeforeServing),
            Decision::StartStorm { .. }
        ));
        // Faults spread out never meet a delay, however many.
        let mut r = Restarts::default();
        for n in 0..1000u64 {
            assert_eq!(
                r.on_fault(3, &p, n * STARTUP_MS, Fault::BeforeServing),
                Decision::RestartNow
            );
        }
    }

    /// `never`, `backoff` and `limit` decide as they did; the row only
    /// slows what would have been an immediate restart, and an operator's
    /// revival (`forget`) starts afresh.
    #[test]
    fn the_policy_decides_first_and_the_operator_starts_afresh() {
        let fault_fast = |r: &mut Restarts, p: &RestartPolicy, n: u64| {
            let mut last = Decision::RestartNow;
            for t in 0..n {
                last = r.on_fault(1, p, 10 + t, Fault::BeforeServing);
                if let Decision::RestartAt(at) | Decision::StartStorm { at, .. } = last {
                    r.take_due(at);
                }
            }
            last
        };
        let mut r = Restarts::default();
        let never = RestartPolicy::new(RestartKind::Never, 0, 0, 0);
        assert!(matches!(
            fault_fast(&mut r, &never, 40),
            Decision::GiveUp { .. }
        ));
        let mut r = Restarts::default();
        let backoff = RestartPolicy::new(RestartKind::Backoff, 10, 0, 1_000_000);
        assert_eq!(
            fault_fast(&mut r, &backoff, 40),
            Decision::RestartAt(10 + 39 + 10 * MAX_BACKOFF_FACTOR)
        );
        let mut r = Restarts::default();
        let limited = RestartPolicy::new(RestartKind::Immediate, 0, 10, 10_000);
        assert!(matches!(
            fault_fast(&mut r, &limited, 11),
            Decision::GiveUp {
                faults_in_window: 11
            }
        ));
        // `backoff` of 0 ms restarts at once, and so is slowed too.
        let mut r = Restarts::default();
        let no_delay = RestartPolicy::new(RestartKind::Backoff, 0, 0, 1_000);
        assert!(matches!(
            fault_fast(&mut r, &no_delay, u64::from(START_FAULTS_AT_ONCE) + 2),
            Decision::StartStorm { .. }
        ));
        // The operator's restart: a fresh start, the row forgotten.
        r.forget(1);
        assert_eq!(
            r.on_fault(1, &no_delay, 1_000, Fault::BeforeServing),
            Decision::RestartNow
        );
    }

    /// A driver restarted for what it did alive (an unasked release, a
    /// hang: `Fault::Other`) is held to app.toml's policy like one that
    /// faulted: a hostile one releasing its slot again at once after every
    /// restart was restarted 229 times in 1.85 s. Meanwhile, and once its
    /// policy gives up, it is held back (no device) until the operator
    /// revives it; the watchdog leaves it be only while its restart is
    /// pending.
    #[test]
    fn restarts_for_what_a_driver_did_alive_follow_its_policy() {
        let mut r = Restarts::default();
        let p = RestartPolicy::new(RestartKind::Backoff, 10, 10, 10_000);
        let mut now = 1_000;
        for n in 0..10u32 {
            let Decision::RestartAt(at) = r.on_fault(5, &p, now, Fault::Other) else {
                panic!("release {n} not delayed");
            };
            assert_eq!(at - now, 10 << n.min(6), "release {n}");
            assert!(r.held_back(5) && r.restart_pending(5), "release {n}");
            assert_eq!(r.take_due(at), Some(5));
            assert!(!r.held_back(5), "restarted after release {n}");
            assert!(!r.restart_pending(5), "restarted after release {n}");
            // It releases its slot again as soon as it is probed.
            now = at + 1;
        }
        assert_eq!(
            r.on_fault(5, &p, now, Fault::Other),
            Decision::GiveUp {
                faults_in_window: 11
            }
        );
        // Given up: no device, yet watched (a live driver given up on is
        // restarted one last time, and again if it hangs again: it must
        // not hold its callers for good).
        assert!(r.held_back(5));
        assert!(!r.restart_pending(5));
        assert_eq!(r.next_deadline(), None);
        assert!(!r.held_back(4), "another task");
        r.forget(5);
        assert!(!r.held_back(5), "the operator revived it");
        assert!(!r.held_back(MAX_TASKS));
    }

    /// Every restart the supervisor makes for what a task did counts
    /// against its policy; only the operator's is made at once. (Refusing
    /// or faulting well-formed calls and keeping a removed slot were
    /// restarted at once, outside the policy, after unasked releases and
    /// hangs had been brought under it.)
    #[test]
    fn only_the_operators_restart_is_outside_the_policy() {
        use RestartCause::*;
        for cause in [
            Fault,
            Hung,
            Rejecting,
            RemovalTimeout,
            UnaskedRelease,
            HeldCaller,
            FaultedClients,
        ] {
            assert!(counts_against_policy(cause), "{cause:?}");
        }
        assert!(!counts_against_policy(Operator));
    }

    #[test]
    fn out_of_range_tasks_do_not_panic() {
        let mut r = Restarts::default();
        let p = RestartPolicy::new(RestartKind::Never, 0, 0, 0);
        assert_eq!(
            r.on_fault(MAX_TASKS + 5, &p, 0, Fault::Other),
            Decision::RestartNow
        );
        r.forget(MAX_TASKS + 5);
    }

    fn idle(syscalls: u32) -> Sample {
        Sample {
            runnable: false,
            syscalls,
            callers_waiting: false,
            replies: 0,
            generation: 0,
            ran: 0,
        }
    }

    /// Runnable, with callers waiting (tests that judge whether it ran
    /// give it a `ran`, [`Ticking`]).
    fn spinning(syscalls: u32) -> Sample {
        Sample {
            runnable: true,
            syscalls,
            callers_waiting: true,
            replies: 0,
            generation: 0,
            ran: 0,
        }
    }

    /// A driver's run ticks as the samples go: 1 ms (10,000 ticks) more
    /// each time, so that every sample finds it ran.
    struct Ticking(u32);

    impl Ticking {
        fn next(&mut self, s: Sample) -> Sample {
            self.0 = self.0.wrapping_add(MS);
            Sample { ran: self.0, ..s }
        }
    }

    /// A millisecond of timer ticks, and the least a driver must run
    /// between samples in these tests to be judged.
    const MS: u32 = 10_000;

    #[test]
    fn a_driver_blocked_in_recv_is_never_hung() {
        let mut l = Liveness::default();
        for _ in 0..100 {
            assert!(!l.sample(2, idle(7), 0));
        }
    }

    #[test]
    fn a_busy_driver_that_replies_is_alive() {
        let mut l = Liveness::default();
        for n in 0..100 {
            let s = Sample {
                runnable: true,
                syscalls: n,
                callers_waiting: true,
                replies: n,
                generation: 0,
                ran: 0,
            };
            assert!(!l.sample(2, s, 0));
        }
    }

    #[test]
    fn a_runnable_driver_without_syscalls_is_hung_after_two_samples() {
        let mut l = Liveness::default();
        assert!(
            !l.sample(2, spinning(5), 0),
            "first sample only sets the baseline"
        );
        assert!(!l.sample(2, spinning(5), 0));
        assert!(l.sample(2, spinning(5), 0));
        // Restarted: a fresh start, and peers are not blamed at once.
        l.sample(3, spinning(1), 0);
        l.sample(3, spinning(1), 0);
        l.reset_after_restart(2, 0);
        assert!(!l.sample(2, spinning(0), 0));
        assert!(!l.sample(3, spinning(1), 0));
    }

    /// The supervisor's loop (`sample_drivers`): each period it samples
    /// the drivers in task order and restarts the first found hung (a new
    /// generation), which ends the period. Returns the period in which
    /// `victim` was found, if it was within `periods`.
    fn watchdog(
        periods: u32,
        victim: usize,
        sample: impl Fn(usize, u32, u32) -> Option<Sample>,
        calling: impl Fn(usize) -> Option<usize>,
    ) -> Option<u32> {
        let mut l = Liveness::default();
        let mut generation = [0u32; 4];
        for period in 0..periods {
            for (task, incarnation) in generation.iter_mut().enumerate() {
                let Some(s) = sample(task, period, *incarnation) else {
                    continue;
                };
                if l.sample(task, s, MS) {
                    if task == victim {
                        return Some(period);
                    }
                    let callers = (0..4)
                        .filter(|&t| calling(t) == Some(task))
                        .fold(0u64, |m, t| m | 1 << t);
                    *incarnation += 1;
                    l.reset_after_restart(task, callers);
                    break;
                }
            }
        }
        None
    }

    /// A hostile driver that spins, and spins again after each restart, is
    /// restarted every third period: that must not wipe the count of
    /// another driver that holds its callers without replying (blocked on
    /// something that never comes, so its CPU budget never runs out and
    /// only this rule finds it). It did: every restart zeroed every
    /// driver's counts, and the stuck driver was never restarted.
    #[test]
    fn a_driver_hung_again_and_again_does_not_hide_a_stuck_one() {
        let stuck = Sample {
            runnable: false,
            ..spinning(3)
        };
        let found = watchdog(
            200,
            3,
            |task, period, generation| match task {
                // Runs its share each period, never a syscall.
                1 => Some(Sample {
                    generation,
                    ran: period * 10 * MS,
                    ..spinning(0)
                }),
                3 => Some(stuck),
                _ => None,
            },
            |_| None,
        );
        assert!(
            found.is_some_and(|p| p <= 2 * u32::from(STUCK_AFTER_SAMPLES)),
            "found at {found:?}"
        );
    }

    /// A driver blocked calling the one restarted had its callers wait on
    /// that one: its count starts again with the restart (its call now
    /// fails, and it can answer them).
    #[test]
    fn callers_of_a_restarted_driver_are_not_blamed_for_its_hang() {
        let waiting = Sample {
            runnable: false,
            ..spinning(3)
        };
        // Task 1 holds its callers and task 2 is blocked calling it: both
        // look stuck, and task 1 goes first. Task 2 is judged afresh after.
        let found = watchdog(
            u32::from(STUCK_AFTER_SAMPLES) + 2,
            2,
            |task, _, generation| {
                (task == 1 || task == 2).then_some(Sample {
                    generation,
                    ..waiting
                })
            },
            |t| (t == 2).then_some(1),
        );
        assert_eq!(found, None);
    }

    /// A driver restarted for faults just before each sample shows the
    /// same fresh counts every time (runnable, no syscall yet): that is a
    /// new incarnation each time, not one that never moved.
    #[test]
    fn a_driver_restarted_between_samples_is_not_hung() {
        let mut l = Liveness::default();
        for generation in 0..10 {
            let fresh = Sample {
                generation,
                ..spinning(0)
            };
            assert!(!l.sample(2, fresh, 0), "generation {generation}");
        }
        // Three samples of one incarnation that never moved still are.
        let stuck = Sample {
            generation: 10,
            ..spinning(0)
        };
        assert!(!l.sample(2, stuck, 0));
        assert!(!l.sample(2, stuck, 0));
        assert!(l.sample(2, stuck, 0));
    }

    #[test]
    fn a_driver_making_syscalls_but_never_replying_is_hung_eventually() {
        let mut l = Liveness::default();
        let mut hung_at = None;
        for n in 0..40u32 {
            if l.sample(2, spinning(n), 0) {
                hung_at = Some(n);
                break;
            }
        }
        assert_eq!(hung_at, Some(STUCK_AFTER_SAMPLES as u32));
    }

    #[test]
    fn waiting_callers_of_a_blocked_driver_get_time_for_its_own_deadline() {
        let mut l = Liveness::default();
        let waiting = Sample {
            runnable: false,
            syscalls: 3,
            callers_waiting: true,
            replies: 9,
            generation: 0,
            ran: 0,
        };
        // The first sample is the baseline; then STUCK_AFTER_SAMPLES
        // periods without a reply.
        for _ in 0..STUCK_AFTER_SAMPLES {
            assert!(!l.sample(2, waiting, 0));
        }
        assert!(l.sample(2, waiting, 0));
    }

    /// A runnable driver that did not get the CPU between samples (the
    /// host stopped QEMU, or more important tasks ran) is not judged by
    /// them: starved, not spinning, not stuck. Once it runs again without
    /// a syscall, it is.
    #[test]
    fn a_driver_that_did_not_run_is_not_judged() {
        let mut l = Liveness::default();
        let mut t = Ticking(0);
        assert!(!l.sample(2, t.next(spinning(5)), MS));
        for n in 0..100 {
            // It ran less than `min_run` each time.
            let starved = Sample {
                ran: t.0.wrapping_add(MS - 1),
                ..spinning(5)
            };
            assert!(!l.sample(2, starved, MS), "starved sample {n}");
        }
        // Running and still making no syscall: hung after two samples.
        assert!(!l.sample(2, t.next(spinning(5)), MS));
        assert!(l.sample(2, t.next(spinning(5)), MS));
    }

    /// A blocked driver does not run either, and is still judged: its
    /// callers wait on what it chose to wait for.
    #[test]
    fn a_blocked_driver_that_never_replies_is_judged_though_it_never_runs() {
        let mut l = Liveness::default();
        let waiting = Sample {
            runnable: false,
            ..spinning(3)
        };
        for _ in 0..STUCK_AFTER_SAMPLES {
            assert!(!l.sample(2, waiting, MS));
        }
        assert!(l.sample(2, waiting, MS));
    }

    /// The run count wraps (32 bits of 10 MHz ticks: seven minutes).
    #[test]
    fn run_ticks_that_wrap_still_count() {
        let mut l = Liveness::default();
        let mut t = Ticking(u32::MAX - MS / 2);
        assert!(!l.sample(2, t.next(spinning(5)), MS));
        assert!(!l.sample(2, t.next(spinning(5)), MS));
        assert!(l.sample(2, t.next(spinning(5)), MS));
    }

    #[test]
    fn out_of_range_samples_are_ignored() {
        let mut l = Liveness::default();
        assert!(!l.sample(MAX_TASKS, spinning(0), 0));
        l.reset_after_restart(MAX_TASKS + 1, u64::MAX);
    }
}
