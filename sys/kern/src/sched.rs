//! Choosing the next task: strict priority, round-robin among equals (a
//! turn ends when a task blocks, not when it is preempted: see
//! [`Cursors`]), and a task throttled for its CPU share (`share`) only
//! when no other task can run.
//!
//! [`select`] is the definition: one pass over the whole table. The kernel
//! itself uses a [`Scheduler`], which gives the same answer without looking
//! at every task:
//!
//! - a bitmap of runnable tasks ([`TaskSet`]), so a full choice visits only
//!   the runnable ones (a 64-task system with two runnable tasks costs about
//!   what an 8-task one does);
//! - the *fast path*: the task that trapped was the most important runnable
//!   one when it was chosen, and only this trap can have changed anything
//!   since. So if it is still runnable and nothing more important woke
//!   during the trap, it runs on; and if it blocked and exactly one task
//!   more important than it woke (a send to a server waiting in `recv`),
//!   that task runs. Anything else (ties, a woken task that blocked again, a
//!   task that blocked with nothing woken) takes the full choice.
//!
//! Every change of a task's scheduling state must be reported with
//! [`Scheduler::note`]; host tests check after every syscall that the
//! bitmaps agree with the task table and that each fast choice is the one
//! [`select`] makes.
//!
//! The kernel's paths index the table through [`TaskTable::of`], whose
//! indexing has no formatting panic behind it (see `table`).

use abi::TaskId;

use crate::table::TaskTable;
use crate::task::{SchedState, Task, TaskState};

/// For each priority, where the round among that level's tasks stands
/// (indexed by priority): the task whose turn it is, or the place just
/// after the task whose turn ended (0 until a task of the level ran).
///
/// A task's turn begins when it is chosen and ends when it blocks — waits
/// in `recv`, calls a server, or stops. Being preempted by a more important
/// task does not end it. Ties go round from the cursor: a task whose turn
/// goes on resumes before its equals, and one that blocked comes after
/// them. Going round from the task that trapped instead (the more
/// important one that preempted, or the server that answered) put the
/// same equal first every time: the echo, busy with four bulk transfers
/// and calling the stack at every step, kept the page server (as
/// important, later in the table) from running at all until the transfers
/// ended (a page took 8.7 s, another timed out).
pub type Cursors = [u16; 256];

/// The order key of runnable task `i` of priority `priority`: less is
/// chosen first. Priority first; then the place in the cyclic order from
/// the level's cursor (`i - cursor`, wrapping, puts the tasks from the
/// cursor on before those below it). No two tasks share a key.
#[inline(always)]
fn key(cursors: &Cursors, i: usize, priority: u8) -> (u16, usize) {
    let from = usize::from(cursors[usize::from(priority)]);
    (u16::from(priority), i.wrapping_sub(from))
}

/// Task `i`'s priority level: its index in [`Cursors`].
#[inline(always)]
fn level(tasks: &[Task], i: usize) -> usize {
    usize::from(TaskTable::of(tasks)[i].priority())
}

/// Picks the most important runnable task; among equally important ones,
/// the first runnable one from the level's cursor (see [`Cursors`]) on, in
/// table order. If none is runnable, a throttled one, chosen the same way:
/// a throttled task (see `share`) waits for every other task, but not for
/// nothing, so its share limits what it takes from others and never wastes
/// time nobody else wants. `None` if nothing can run (every task blocked,
/// the idle task included): the arch layer then waits for an interrupt.
///
/// This is the reference the kernel's [`Scheduler`] must agree with; it
/// visits every task.
pub fn select(tasks: &[Task], cursors: &Cursors) -> Option<usize> {
    let pick = |eligible: fn(&Task) -> bool| {
        tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| eligible(t))
            .min_by_key(|&(i, t)| key(cursors, i, t.priority()))
            .map(|(i, _)| i)
    };
    pick(Task::is_runnable).or_else(|| pick(Task::is_throttled))
}

/// Whether task `t`, chosen last and with nothing woken since, may run on
/// after a trap: runnable, or throttled (then it was chosen because
/// nothing else could run, and nothing else can yet). A task throttled in
/// this very trap has had its turn ended, which the callers also ask.
#[inline(always)]
fn may_run_on(t: &Task) -> bool {
    t.is_runnable() || t.is_throttled()
}

/// [`select`] with every level's cursor at `current`: the order of a plain
/// round from `current` (host tests of it).
#[cfg(test)]
pub fn select_from(tasks: &[Task], current: usize) -> Option<usize> {
    select(tasks, &[current as u16; 256])
}

/// Words in a [`TaskSet`]: one bit per possible task index.
const WORDS: usize = TaskId::MAX_TASKS.div_ceil(32);
const _: () = assert!(
    WORDS <= 64,
    "TaskSet would be too large: revisit its layout"
);

/// A set of task indices, one bit each. Iteration visits only the words
/// that cover the table and, within them, only the members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSet {
    words: [u32; WORDS],
}

impl Default for TaskSet {
    fn default() -> Self {
        TaskSet { words: [0; WORDS] }
    }
}

impl TaskSet {
    /// Adds or removes task `i` (indices beyond the set are ignored: no
    /// image has them).
    #[inline(always)]
    pub fn set(&mut self, i: usize, member: bool) {
        if let Some(w) = self.words.get_mut(i / 32) {
            let bit = 1 << (i % 32);
            if member {
                *w |= bit;
            } else {
                *w &= !bit;
            }
        }
    }

    /// Whether task `i` is in the set.
    #[inline]
    pub fn contains(&self, i: usize) -> bool {
        self.words
            .get(i / 32)
            .is_some_and(|w| w & (1 << (i % 32)) != 0)
    }

    /// Calls `f` for each member in `lo..hi`, in increasing order.
    #[inline]
    pub fn for_each_in(&self, lo: usize, hi: usize, mut f: impl FnMut(usize)) {
        let hi = hi.min(WORDS * 32);
        if lo >= hi {
            return;
        }
        for wi in lo / 32..hi.div_ceil(32) {
            let mut w = self.words[wi];
            let first = wi * 32;
            // Below `lo`: only ever in the first word (a shift under 32).
            w &= !0 << lo.saturating_sub(first);
            if hi < first + 32 {
                w &= (1 << (hi - first)) - 1;
            }
            while w != 0 {
                f(first + w.trailing_zeros() as usize);
                w &= w - 1;
            }
        }
    }
}

/// [`select`] over the runnable set only: the same answer, visiting only
/// runnable tasks (with the same keys, so ties break the same way).
#[inline(never)]
pub fn select_ready(tasks: &[Task], ready: &TaskSet, cursors: &Cursors) -> Option<usize> {
    let tasks = TaskTable::of(tasks);
    let n = tasks.len().min(WORDS * 32);
    // The least key is the answer; `u16::MAX` is no task's priority.
    let mut best = ((u16::MAX, 0usize), 0usize);
    for (wi, &word) in ready.words[..n.div_ceil(32)].iter().enumerate() {
        let mut w = word;
        while w != 0 {
            let i = wi * 32 + w.trailing_zeros() as usize;
            w &= w - 1;
            best = best.min((key(cursors, i, tasks[i].priority()), i));
        }
    }
    (best.0 .0 != u16::MAX).then_some(best.1)
}

/// A task index or none, in one word. The scheduler and the trap path
/// compare these on every trap: an `Option<usize>` is a tag and a value
/// (two loads and two compares), this is one of each. `usize::MAX` is
/// never a task index (`TaskId::MAX_TASKS` is far below it).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MaybeTask(usize);

impl MaybeTask {
    /// No task.
    pub const NONE: MaybeTask = MaybeTask(usize::MAX);

    /// Task `i`.
    #[inline(always)]
    pub const fn some(i: usize) -> Self {
        MaybeTask(i)
    }

    /// Whether this is task `i`.
    #[inline(always)]
    pub fn is(self, i: usize) -> bool {
        self.0 == i
    }

    /// Whether this is no task.
    #[inline(always)]
    pub fn is_none(self) -> bool {
        self.0 == usize::MAX
    }

    /// The task, if any.
    #[inline(always)]
    pub fn get(self) -> Option<usize> {
        (self.0 != usize::MAX).then_some(self.0)
    }

    /// The task, if any, leaving none behind.
    #[inline(always)]
    pub fn take(&mut self) -> Option<usize> {
        core::mem::replace(self, MaybeTask::NONE).get()
    }
}

/// The scheduler's bookkeeping beside the task table.
///
/// Laid out in this order (`repr(C)`): the words the fast paths and the
/// quick choice read first, the sets and the cursors after (see
/// [`System`](crate::system::System)).
#[derive(Debug)]
#[repr(C)]
pub struct Scheduler {
    /// The task the last choice picked (none if nothing could run). Until
    /// something wakes it is still the most important runnable task,
    /// whoever traps in between (only host tests let other tasks trap):
    /// priorities never change, and every wake is recorded in `woken`.
    running: MaybeTask,
    /// The most important task that became runnable since the last choice.
    woken: MaybeTask,
    /// The next task, decided by an IPC fast path during this trap.
    hint: MaybeTask,
    /// How many tasks `sending` holds: whether anyone is sending, in one
    /// load (the `reply_recv` fast path asks on every call).
    senders: u16,
    /// Whether `throttled` may hold a bit: what the idle system's choice
    /// tests, one load rather than a whole set.
    any_throttled: bool,
    /// Another task as important as `woken` also became runnable.
    woken_tie: bool,
    /// How the choices were made, for tests and benches.
    choices: Choices,
    /// Tasks that are runnable.
    ready: TaskSet,
    /// Tasks blocked in `send` (waiting for their target to receive), so
    /// that `recv` looks only at them.
    sending: TaskSet,
    /// Every throttled task, and perhaps some that were: a task's bit is
    /// set when it is throttled ([`Scheduler::now_throttled`]) and left
    /// behind when it stops being throttled, so that no other path pays
    /// for it. The choice looks here only when no task is runnable, and
    /// drops the bits it finds stale.
    throttled: TaskSet,
    /// Where each level's round stands (see [`Cursors`]).
    cursors: Cursors,
}

/// How many choices took the slower ways: what shows that the common
/// cases cost no scan (the full scan should run only when the fast path's
/// premise fails: a tie woke, or the running task blocked with nothing
/// more important woken). Both counts wrap.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Choices {
    /// Full choices ([`Scheduler::choose`]): no quick one was possible.
    pub full: u32,
    /// Full choices that scanned the runnable set ([`select_ready`]).
    pub scans: u32,
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler {
            ready: TaskSet::default(),
            sending: TaskSet::default(),
            throttled: TaskSet::default(),
            any_throttled: false,
            senders: 0,
            running: MaybeTask::NONE,
            woken: MaybeTask::NONE,
            woken_tie: false,
            hint: MaybeTask::NONE,
            cursors: [0; 256],
            choices: Choices::default(),
        }
    }
}

impl Scheduler {
    /// Records task `i`'s current state. Must follow every change of a
    /// task's scheduling state.
    #[inline]
    pub fn note(&mut self, tasks: &[Task], i: usize) {
        let tasks = TaskTable::of(tasks);
        let (w, bit) = (i / 32, 1u32 << (i % 32));
        if w >= WORDS {
            return;
        }
        let t = &tasks[i];
        match t.state() {
            TaskState::Healthy(SchedState::Runnable) => {
                if self.ready.words[w] & bit == 0 {
                    self.make_ready(w, bit);
                    self.track(tasks, i);
                }
                self.set_sending(w, bit, false);
            }
            TaskState::Healthy(SchedState::InSend(_)) => {
                self.unready(w, bit);
                self.set_sending(w, bit, true);
                self.end_turn(tasks, i);
            }
            _ => {
                self.unready(w, bit);
                self.set_sending(w, bit, false);
                self.end_turn(tasks, i);
            }
        }
    }

    /// Sets or clears a task's bit (word `w`, `bit`) in `sending`, keeping
    /// the count.
    #[inline(always)]
    fn set_sending(&mut self, w: usize, bit: u32, member: bool) {
        let was = self.sending.words[w] & bit != 0;
        if member && !was {
            self.sending.words[w] |= bit;
            // Wrapping: there are fewer tasks than a u16 counts.
            self.senders = self.senders.wrapping_add(1);
        } else if !member && was {
            self.sending.words[w] &= !bit;
            self.senders = self.senders.wrapping_sub(1);
        }
    }

    /// Clears a task's ready bit (word `w`, `bit`).
    #[inline(always)]
    fn unready(&mut self, w: usize, bit: u32) {
        self.ready.words[w] &= !bit;
    }

    /// Sets a task's ready bit (word `w`, `bit`).
    #[inline(always)]
    fn make_ready(&mut self, w: usize, bit: u32) {
        self.ready.words[w] |= bit;
    }

    /// The fast path's [`note`](Scheduler::note) for a task it just made
    /// runnable from a blocked state other than `send`. Unlike `note` it
    /// does not record the task as woken: the fast path either hands off to
    /// it or calls [`track_woken`](Scheduler::track_woken).
    #[inline(always)]
    pub fn now_runnable(&mut self, i: usize) {
        self.ready.set(i, true);
    }

    /// Records that task `i` was throttled (after [`note`](Scheduler::note)
    /// of its new state): it runs again when nothing else can.
    #[inline]
    pub fn now_throttled(&mut self, i: usize) {
        self.throttled.set(i, true);
        self.any_throttled = true;
    }

    /// Records that task `i`, made runnable by
    /// [`now_runnable`](Scheduler::now_runnable), woke in this trap.
    #[inline(always)]
    pub fn track_woken(&mut self, tasks: &[Task], i: usize) {
        self.track(tasks, i);
    }

    /// The fast path's [`note`](Scheduler::note) for a runnable task it
    /// just blocked (in a state other than `send`): as `note`, it ends the
    /// task's turn.
    #[inline(always)]
    pub fn now_blocked(&mut self, tasks: &[Task], i: usize) {
        self.ready.set(i, false);
        self.end_turn(tasks, i);
    }

    /// Whether task `i`, of `priority` and runnable (the caller has just
    /// made it so), is strictly more important than every other runnable
    /// task: then [`select`] picks it from anywhere. Visits the other
    /// runnable tasks only (blocked ones cost nothing), and stops at the
    /// first as important as `i`: the reply's hand-back in a system where
    /// the client is the one task left to run, the common case, looks at
    /// no task at all.
    #[inline(always)]
    pub fn is_sole_top(&self, tasks: &[Task], i: usize, priority: u8) -> bool {
        let words = tasks.len().div_ceil(32).min(WORDS);
        for (wi, &word) in self.ready.words[..words].iter().enumerate() {
            let mut w = word;
            if wi == i / 32 {
                w &= !(1 << (i % 32));
            }
            while w != 0 {
                // (`wi << 5 | bit`: the index, without a multiply's overflow check.)
                let j = wi << 5 | w.trailing_zeros() as usize;
                w &= w - 1;
                if tasks.get(j).is_none_or(|t| t.priority() <= priority) {
                    return false;
                }
            }
        }
        true
    }

    /// Whether some task is blocked in `send` (to anyone).
    #[inline(always)]
    pub fn anyone_sending(&self) -> bool {
        self.senders != 0
    }

    /// Whether the fast path may decide the next task in this trap: the
    /// caller is the task the last choice picked (so it was the most
    /// important runnable one) and nothing has woken since.
    #[inline]
    pub fn premise(&self, caller: usize) -> bool {
        self.running.is(caller) && self.woken.is_none()
    }

    /// An IPC fast path decided that `next` runs after this trap. Only
    /// valid under [`premise`](Scheduler::premise), and only when `next`
    /// is what [`select`] would pick (host tests check it is).
    #[inline]
    pub fn hand_off(&mut self, next: usize) {
        self.hint = MaybeTask::some(next);
    }

    /// Remembers task `i` if it is the most important woken so far. Out
    /// of line: `note` and both IPC fast paths' fallbacks share it (a
    /// hand-off, the round trip's case, does not come here).
    #[inline(never)]
    fn track(&mut self, tasks: &[Task], i: usize) {
        let tasks = TaskTable::of(tasks);
        let t = &tasks[i];
        match self.woken.get() {
            Some(w) if tasks[w].is_more_important_than(t) => {}
            Some(w) if !t.is_more_important_than(&tasks[w]) => self.woken_tie = true,
            _ => {
                self.woken = MaybeTask::some(i);
                self.woken_tie = false;
            }
        }
    }

    /// How the choices so far were made.
    pub fn choices(&self) -> Choices {
        self.choices
    }

    /// Tasks blocked in `send`.
    pub fn sending(&self) -> &TaskSet {
        &self.sending
    }

    /// Whether [`quick`](Scheduler::quick) would resume the caller
    /// itself: no task was handed the CPU in this trap, nothing woke, and
    /// `current` was running and still can. Only looks.
    #[inline(always)]
    pub fn runs_on(&self, tasks: &[Task], current: usize) -> bool {
        self.hint.is_none()
            && self.running.is(current)
            && self.woken.is_none()
            && may_run_on(&TaskTable::of(tasks)[current])
            && self.has_turn(tasks, current)
    }

    /// The choice when it takes no looking: the task an IPC fast path
    /// handed the CPU to in this trap, or the caller itself if it can still
    /// run and nothing woke (most syscalls). The arch layer resumes it
    /// without [`choose`](Scheduler::choose); `None` means "choose".
    #[inline(always)]
    pub fn quick(&mut self, tasks: &[Task], current: usize) -> Option<usize> {
        match self.hint.take() {
            Some(next) => {
                self.ran(tasks, next);
                Some(next)
            }
            // The caller runs on: it was `running`, nothing woke, and its
            // turn goes on (`runs_on` checked), so there is nothing to
            // record. (No hint now: `runs_on` asks the rest.)
            None if self.runs_on(tasks, current) => Some(current),
            None => None,
        }
    }

    /// Records that the choice was `next`: it runs, nothing has woken
    /// since, and its turn has begun.
    #[inline(always)]
    fn ran(&mut self, tasks: &[Task], next: usize) {
        self.running = MaybeTask::some(next);
        self.woken = MaybeTask::NONE;
        self.woken_tie = false;
        self.cursors[level(tasks, next)] = next as u16;
    }

    /// Ends task `i`'s turn at its level if it has it (it blocked or
    /// stopped): the round goes on from the place after it. `note` and
    /// `now_blocked` do this for every state that is not runnable.
    #[inline(always)]
    fn end_turn(&mut self, tasks: &[Task], i: usize) {
        if self.has_turn(tasks, i) {
            self.cursors[level(tasks, i)] = (i + 1) as u16;
        }
    }

    /// Whether task `i`'s turn at its level goes on.
    #[inline(always)]
    fn has_turn(&self, tasks: &[Task], i: usize) -> bool {
        usize::from(self.cursors[level(tasks, i)]) == i
    }

    /// Where each level's round stands.
    pub fn cursors(&self) -> &Cursors {
        &self.cursors
    }

    /// Chooses the task to run after a trap taken by `current`; the same
    /// answer as [`select`].
    #[inline]
    pub fn choose(&mut self, tasks: &[Task], current: usize) -> Option<usize> {
        self.choices.full = self.choices.full.wrapping_add(1);
        let next = match self.hint.take() {
            Some(next) => Some(next),
            None => match self.fast(tasks, current) {
                Some(next) => Some(next),
                None => {
                    self.choices.scans = self.choices.scans.wrapping_add(1);
                    select_ready(tasks, &self.ready, &self.cursors)
                        .or_else(|| self.throttled_choice(tasks))
                }
            },
        };
        #[cfg(test)]
        {
            self.assert_consistent(tasks);
            assert_eq!(
                next,
                select(tasks, &self.cursors),
                "scheduler disagrees with select"
            );
        }
        match next {
            Some(next) => self.ran(tasks, next),
            None => {
                self.running = MaybeTask::NONE;
                self.woken = MaybeTask::NONE;
                self.woken_tie = false;
            }
        }
        next
    }

    /// With no task runnable, the throttled task to run (see [`select`]),
    /// if any. One test of a word when none is throttled: the idle
    /// system's case.
    #[inline]
    fn throttled_choice(&mut self, tasks: &[Task]) -> Option<usize> {
        if !self.any_throttled {
            return None;
        }
        self.drop_stale_throttled(tasks)
    }

    /// Clears the bits of tasks that are no longer throttled (see
    /// `throttled`), and chooses among those that are.
    #[inline(never)]
    fn drop_stale_throttled(&mut self, tasks: &[Task]) -> Option<usize> {
        let table = TaskTable::of(tasks);
        let mut any = false;
        for i in 0..table.len() {
            if self.throttled.contains(i) {
                let still = table[i].is_throttled();
                self.throttled.set(i, still);
                any |= still;
            }
        }
        self.any_throttled = any;
        if any {
            select_ready(tasks, &self.throttled, &self.cursors)
        } else {
            None
        }
    }

    /// The fast path's answer, if its premise holds.
    #[inline]
    fn fast(&self, tasks: &[Task], current: usize) -> Option<usize> {
        let tasks = TaskTable::of(tasks);
        if !self.running.is(current) {
            return None;
        }
        let cur = &tasks[current];
        // The caller runs on if it can and its turn goes on (one that
        // blocked and was woken in the same trap comes after its equals:
        // the scan's business).
        let runs_on = cur.is_runnable() && self.has_turn(tasks, current);
        match self.woken.get() {
            // Nothing woke: the caller, if it can still run, is still the
            // most important; a throttled one chosen because nothing else
            // could run still has nothing else.
            None => (may_run_on(cur) && self.has_turn(tasks, current)).then_some(current),
            Some(w) => {
                let t = &tasks[w];
                if !t.is_more_important_than(cur) {
                    // Whatever woke is no more important than the caller.
                    runs_on.then_some(current)
                } else if !self.woken_tie && t.is_runnable() {
                    // One task more important than every runnable one.
                    Some(w)
                } else {
                    None
                }
            }
        }
    }

    /// Host tests: the bitmaps describe the task table exactly.
    #[cfg(test)]
    pub fn assert_consistent(&self, tasks: &[Task]) {
        assert_eq!(
            usize::from(self.senders),
            tasks
                .iter()
                .filter(|t| matches!(t.state(), TaskState::Healthy(SchedState::InSend(_))))
                .count(),
            "count of tasks in send"
        );
        for (i, t) in tasks.iter().enumerate() {
            assert_eq!(
                self.ready.contains(i),
                t.is_runnable(),
                "ready bit of task {i}"
            );
            assert_eq!(
                self.sending.contains(i),
                matches!(t.state(), TaskState::Healthy(SchedState::InSend(_))),
                "sending bit of task {i}"
            );
            assert!(
                (self.throttled.contains(i) && self.any_throttled) || !t.is_throttled(),
                "throttled task {i} without its bit"
            );
        }
    }
}
