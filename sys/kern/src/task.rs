//! A task's mutable kernel state: saved registers, scheduling state,
//! generation, notifications, timer and fault record.
//!
//! The saved registers are the machine's ([`SavedState`], from `arch`):
//! this module and the rest of the portable kernel only use its named
//! accessors, never a register number.
//!
//! Invariants are kept by this type, behind private fields:
//! - a task's `regions` always start with the ones its descriptor gave it;
//! - the generation only moves forward, by one per ended incarnation;
//! - a faulted task is never runnable until it is restarted.

use abi::{FaultKind, FaultRecord, Generation, TaskId};

pub use crate::arch::SavedState;
use crate::descs::{RegionDesc, TaskDesc, MAX_TASK_REGIONS};
use crate::sched::MaybeTask;
use crate::share::ShareUse;

/// Memory-protection settings the machine compiled from a task's regions
/// (on RISC-V: the PMP address registers, then the configuration words),
/// kept with the task so that switching to it only loads them. The task
/// clears it whenever its regions change; only the machine fills it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ProtectionCache {
    /// The words below describe the task's current regions.
    pub valid: bool,
    /// Machine-specific register values.
    pub words: [usize; MAX_TASK_REGIONS + 2],
    /// How many protection entries the words program (a region may take
    /// more than one: `arch::pmp`'s virtio windows).
    pub entries: usize,
}

/// What a healthy task is doing.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SchedState {
    /// Ready to run.
    Runnable,
    /// Blocked in `send`, waiting for the target to receive.
    InSend(TaskId),
    /// Its message was received; waiting for the reply.
    InReply(TaskId),
    /// Blocked in `recv`, from anyone (`None`) or one task.
    InRecv(Option<TaskId>),
    /// Ready to run, but held off the CPU until its share period ends: it
    /// used its CPU share of this one (see `share`). Only a task that was
    /// `Runnable` is throttled, and only the timer (or a restart) makes it
    /// `Runnable` again. Meanwhile it runs when no other task can, and
    /// leaves this state if it then blocks.
    Throttled,
}

/// Whether a task can run, and if not, why.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Not started, or stopped by the supervisor.
    Stopped,
    /// Alive.
    Healthy(SchedState),
    /// Stopped by a fault until the supervisor restarts it.
    Faulted,
}

/// One task's kernel state.
///
/// On the target it fills exactly [`TASK_SIZE`] bytes, a power of two, so
/// that finding task `i` in the table is a shift rather than a multiply
/// (see [`TASK_SIZE`]).
///
/// The field order is the layout (`repr(C)` on the target): what nearly
/// every syscall reads comes first, then the budget's share and the
/// saved registers, so that these and `a0..a7` lie within the 124 bytes
/// a compressed load or store reaches (164 bytes of kernel code against
/// Rust's own order, which put the registers past them). Keep new fields
/// after `save`: the assert below keeps `a7` in reach.
#[derive(Debug)]
#[cfg_attr(target_arch = "riscv32", repr(C, align(64)))]
pub struct Task {
    desc: &'static TaskDesc,
    state: TaskState,
    notifications: u32,
    notification_mask: u32,
    /// The bits an interrupt posted (not a task, not a timer) since a
    /// `recv` that returned them last counted them: such a `recv` finds
    /// work arriving (see `budget`, "Interrupts").
    interrupted: u32,
    /// The caller with a CPU budget whose call this task received last,
    /// if it has received nothing since (neither a notification nor
    /// another call): the task its time is charged to while that caller
    /// waits for the reply (see `budget`, "Server time").
    serving: MaybeTask,
    generation: Generation,
    /// `desc.priority`, kept here: every scheduling decision asks, and
    /// this is one load where the descriptor is two.
    priority: u8,
    announce: bool,
    region_count: usize,
    /// Ticks its stretches were charged, since boot (wrapping; tasks with
    /// a budget only): `TaskStatus::ran_ticks`.
    ran_ticks: u32,
    /// Its use of its CPU share in the current period, kept across
    /// restarts: a restart must not give it a fresh share.
    share: ShareUse,
    save: SavedState,
    regions: [RegionDesc; MAX_TASK_REGIONS],
    protection: ProtectionCache,
    last_fault: FaultRecord,
    fault_count: u32,
    syscalls: u32,
    replies: u32,
    rejections: u32,
    /// Times it was throttled, since boot.
    throttles: u32,
    /// Its own last call an untrusted server refused, since boot (see
    /// [`Task::record_rejected_call`]).
    rejected_call: abi::RejectedCall,
    timer: Option<(u64, u32)>,
    run: u64,
    /// The index of the sender its last `recv` took from the queue: the
    /// next takes, of equally important senders, the first after it in
    /// table order (`ipc::recv`). Kept across restarts, as nothing else
    /// of it matters to the new incarnation.
    last_sender: u16,
}

/// What a [`Task`] takes on the target: 512 bytes, its fields (472 when
/// this was written) rounded up by its alignment. The kernel indexes the
/// task table in a hundred places, and at a size that is not a power of
/// two each of them is a constant load and a multiply, a shift at this one:
/// 524 bytes of kernel code (`bench/kernel.toml`) for 40 bytes of RAM a
/// task, and 19 instructions off the null IPC round trip. A field that takes
/// the task past it fails the assert below: make room, or weigh the code
/// a different size costs.
pub const TASK_SIZE: usize = 512;

#[cfg(target_arch = "riscv32")]
const _: () = assert!(core::mem::size_of::<Task>() == TASK_SIZE);

/// The saved `a7` (register 17), the last syscall argument, within the
/// reach of a compressed load or store from the task (see [`Task`]).
#[cfg(target_arch = "riscv32")]
const _: () = assert!(core::mem::offset_of!(Task, save) + 4 * 17 <= 124);

impl Task {
    /// A task as the image describes it, not yet started.
    pub fn new(desc: &'static TaskDesc) -> Self {
        let mut regions = [RegionDesc {
            base: 0,
            size: 0,
            attributes: 0,
        }; MAX_TASK_REGIONS];
        let region_count = desc.regions.len().min(MAX_TASK_REGIONS);
        regions[..region_count].copy_from_slice(&desc.regions[..region_count]);
        Task {
            desc,
            priority: desc.priority,
            save: SavedState::default(),
            state: TaskState::Stopped,
            generation: Generation::default(),
            notifications: 0,
            interrupted: 0,
            notification_mask: 0,
            timer: None,
            regions,
            region_count,
            protection: ProtectionCache::default(),
            last_fault: FaultRecord::default(),
            fault_count: 0,
            syscalls: 0,
            replies: 0,
            announce: false,
            run: 0,
            last_sender: 0,
            rejections: 0,
            rejected_call: abi::RejectedCall::default(),
            share: ShareUse::new(desc.cpu_share),
            throttles: 0,
            serving: MaybeTask::NONE,
            ran_ticks: 0,
        }
    }

    /// The build-time description.
    pub fn desc(&self) -> &'static TaskDesc {
        self.desc
    }

    /// Priority: lower numbers are more important.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// True if this task should run in preference to `other`. Priorities are
    /// deliberately not `Ord`: "less" meaning "more important" invites bugs.
    #[inline]
    pub fn is_more_important_than(&self, other: &Task) -> bool {
        self.priority < other.priority
    }

    /// Saved registers.
    pub fn save(&self) -> &SavedState {
        &self.save
    }

    /// Saved registers, for syscall results and the trap path.
    pub fn save_mut(&mut self) -> &mut SavedState {
        &mut self.save
    }

    /// Current state.
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// Sets a healthy task's scheduling state. Faulted and stopped tasks are
    /// left alone: only `start`/`restart` bring them back.
    pub fn set_sched(&mut self, s: SchedState) {
        if let TaskState::Healthy(_) = self.state {
            self.state = TaskState::Healthy(s);
        }
    }

    /// [`set_sched`](Task::set_sched) for a task the caller has just seen
    /// healthy (the IPC fast path, which checked both parties' states and
    /// changed nothing else about them since): no second look at the state,
    /// which the copy between the two (volatile accesses) makes the
    /// compiler reload.
    #[inline(always)]
    pub fn set_sched_of_healthy(&mut self, s: SchedState) {
        debug_assert!(
            self.is_healthy(),
            "set_sched_of_healthy on {:?}",
            self.state
        );
        self.state = TaskState::Healthy(s);
    }

    /// True if the task can be scheduled (healthy and not blocked).
    #[inline]
    pub fn is_runnable(&self) -> bool {
        matches!(self.state, TaskState::Healthy(SchedState::Runnable))
    }

    /// True if the task is throttled: it runs only when nothing else can
    /// (see `share`). A pattern rather than [`is`](Task::is), whose derived
    /// equality of the whole state is a call: the trap path asks this.
    #[inline(always)]
    pub fn is_throttled(&self) -> bool {
        matches!(self.state, TaskState::Healthy(SchedState::Throttled))
    }

    /// True if the task is healthy and in this scheduling state.
    #[inline(always)]
    pub fn is(&self, s: SchedState) -> bool {
        self.state == TaskState::Healthy(s)
    }

    /// True if the task is alive (neither stopped nor faulted).
    pub fn is_healthy(&self) -> bool {
        matches!(self.state, TaskState::Healthy(_))
    }

    /// The current generation.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// The `TaskId` naming this task's current incarnation.
    pub fn id(&self, index: usize) -> TaskId {
        TaskId::new(index as u16, self.generation)
    }

    /// The regions the task may access now.
    pub fn regions(&self) -> &[RegionDesc] {
        &self.regions[..self.live_regions()]
    }

    /// Region `i` if the task has it, looked up without the slice of
    /// [`regions`](Task::regions): for a constant `i` the array needs no
    /// bounds check, and the count no clamp (`umem`'s memory check asks
    /// region 1, the RAM, first, at nearly every syscall).
    #[inline(always)]
    pub fn region(&self, i: usize) -> Option<&RegionDesc> {
        if i < self.region_count {
            self.regions.get(i)
        } else {
            None
        }
    }

    /// How many of `regions` are in use. `region_count` never exceeds the
    /// array (`add_region` checks); the `min` tells the compiler so, which
    /// then needs no bounds check, nor the formatting panic one drags in
    /// (see `table`).
    #[inline(always)]
    fn live_regions(&self) -> usize {
        self.region_count.min(MAX_TASK_REGIONS)
    }

    /// The regions, and the machine's compiled form of them (which the
    /// machine may fill in if it is not valid).
    pub fn protection(&mut self) -> (&[RegionDesc], &mut ProtectionCache) {
        (&self.regions[..self.live_regions()], &mut self.protection)
    }

    /// Adds a granted region. False if the task already holds it or has no
    /// room (every region takes a PMP entry).
    pub fn add_region(&mut self, r: RegionDesc) -> bool {
        if self.region_count >= MAX_TASK_REGIONS || self.regions().contains(&r) {
            return false;
        }
        self.protection.valid = false;
        self.regions[self.region_count] = r;
        self.region_count += 1;
        true
    }

    /// Removes a granted region. Regions from the task's descriptor cannot
    /// be removed. False if the task did not hold it.
    pub fn remove_region(&mut self, r: &RegionDesc) -> bool {
        let live = self.live_regions();
        let fixed = self.desc.regions.len().min(live);
        // One pass: find it, then shift each region after it down by one
        // (a handful of regions; no library memmove for it).
        let mut found = false;
        for j in fixed..live {
            if found {
                self.regions[j - 1] = self.regions[j];
            } else {
                found = self.regions[j] == *r;
            }
        }
        if found {
            self.protection.valid = false;
            self.region_count = live - 1;
        }
        found
    }

    /// Pending notification bits.
    pub fn notifications(&self) -> u32 {
        self.notifications
    }

    /// ORs bits into the pending set.
    pub fn post(&mut self, bits: u32) {
        self.notifications |= bits;
    }

    /// Takes (clears and returns) the pending bits selected by `mask`.
    pub fn take_notifications(&mut self, mask: u32) -> u32 {
        let taken = self.notifications & mask;
        self.notifications &= !taken;
        taken
    }

    /// Notes that an interrupt of the task's device posts `bits` (the
    /// post itself is `notify::post_bits`'s).
    pub fn mark_interrupted(&mut self, bits: u32) {
        self.interrupted |= bits;
    }

    /// Whether an interrupt posted any of `taken`, the bits a `recv` just
    /// took (or a wake from a blocked `recv` took since: that mark stays,
    /// so each interrupt counts once at most); forgets that it did.
    pub fn take_interrupted(&mut self, taken: u32) -> bool {
        let hit = self.interrupted & taken != 0;
        self.interrupted &= !taken;
        hit
    }

    /// The mask the task passed to its current `recv`.
    pub fn notification_mask(&self) -> u32 {
        self.notification_mask
    }

    /// Records the mask of a `recv` that blocked.
    pub fn set_notification_mask(&mut self, mask: u32) {
        self.notification_mask = mask;
    }

    /// The armed timer: deadline and bits.
    pub fn timer(&self) -> Option<(u64, u32)> {
        self.timer
    }

    /// Arms or disarms the timer.
    pub fn set_timer(&mut self, timer: Option<(u64, u32)>) {
        self.timer = timer;
    }

    /// The last fault (kind `None` if it never faulted).
    pub fn last_fault(&self) -> FaultRecord {
        self.last_fault
    }

    /// Syscalls made by this incarnation (wrapping).
    pub fn syscalls(&self) -> u32 {
        self.syscalls
    }

    /// Replies delivered by this incarnation (wrapping).
    pub fn replies(&self) -> u32 {
        self.replies
    }

    /// Counts one reply delivered to a waiting caller.
    pub fn count_reply(&mut self) {
        self.replies = self.replies.wrapping_add(1);
    }

    /// Calls this incarnation refused while untrusted (wrapping).
    pub fn rejections(&self) -> u32 {
        self.rejections
    }

    /// Counts one call refused with `reply_fault` by this untrusted server.
    pub fn count_rejection(&mut self) {
        self.rejections = self.rejections.wrapping_add(1);
    }

    /// Its own last call that an untrusted server refused (`count` 0: none
    /// since boot).
    pub fn rejected_call(&self) -> abi::RejectedCall {
        self.rejected_call
    }

    /// Records `call`, a call of this task an untrusted server has just
    /// refused, counting it.
    ///
    /// Kept in the *client's* record, not the server's, and across
    /// restarts of both: the supervisor judges the server by each client's
    /// last refused call, and one client's garbage must not be able to
    /// overwrite the record of another's good call before the supervisor
    /// reads it.
    pub fn record_rejected_call(&mut self, call: abi::RejectedCall) {
        let count = self.rejected_call.count.wrapping_add(1);
        self.rejected_call = abi::RejectedCall { count, ..call };
    }

    /// Counts one syscall.
    pub fn count_syscall(&mut self) {
        self.syscalls = self.syscalls.wrapping_add(1);
    }

    /// Its use of its CPU share (see `share`).
    pub fn share(&self) -> &ShareUse {
        &self.share
    }

    /// Its use of its CPU share, to account a stretch.
    pub fn share_mut(&mut self) -> &mut ShareUse {
        &mut self.share
    }

    /// Holds the task off the CPU until its share period ends, if it is
    /// runnable (see `share::throttle`); true if it was.
    pub fn throttle(&mut self) -> bool {
        let runnable = self.is_runnable();
        if runnable {
            self.state = TaskState::Healthy(SchedState::Throttled);
            self.throttles = self.throttles.wrapping_add(1);
        }
        runnable
    }

    /// Times the task was throttled, since boot.
    pub fn throttles(&self) -> u32 {
        self.throttles
    }

    /// The budgeted caller whose call this task is serving, if any (see
    /// `budget`, "Server time"): it may have been replied to, faulted or
    /// restarted since, which the budget asks at each dispatch.
    #[inline(always)]
    pub fn serving(&self) -> MaybeTask {
        self.serving
    }

    /// Notes whom this task now works for: the budgeted caller whose call
    /// was just delivered, or nobody (a notification, an unbudgeted
    /// caller's call).
    #[inline(always)]
    pub fn set_serving(&mut self, payer: MaybeTask) {
        self.serving = payer;
    }

    /// Ticks its stretches were charged, since boot (wrapping).
    pub fn ran_ticks(&self) -> u32 {
        self.ran_ticks
    }

    /// Counts a stretch of `ticks` it ran (see `budget`).
    #[inline(always)]
    pub fn count_ran(&mut self, ticks: u64) {
        self.ran_ticks = self.ran_ticks.wrapping_add(ticks as u32);
    }

    /// Timer ticks this task has run since it last blocked (see `budget`).
    pub fn run(&self) -> u64 {
        self.run
    }

    /// Adds `ticks` to the time run since the task last blocked; returns
    /// the new total.
    pub fn charge(&mut self, ticks: u64) -> u64 {
        self.run = self.run.saturating_add(ticks);
        self.run
    }

    /// The task blocked: its next stretch of running starts from zero.
    pub fn clear_run(&mut self) {
        self.run = 0;
    }

    /// Faults since boot.
    pub fn fault_count(&self) -> u32 {
        self.fault_count
    }

    /// Stops the incarnation with a fault: records it and advances the
    /// generation, so that any `TaskId` naming the dead incarnation is stale
    /// from this moment on.
    pub fn mark_faulted(&mut self, record: FaultRecord) {
        self.state = TaskState::Faulted;
        self.last_fault = record;
        self.fault_count = self.fault_count.saturating_add(1);
        self.generation = self.generation.next();
        self.timer = None;
        self.run = 0;
    }

    /// Leaves a faulted task stopped (`Kipc::StopTask`): no incarnation
    /// follows until a restart, and calls to it are refused as to a task
    /// that never started. A healthy task is left alone.
    pub fn leave_stopped(&mut self) {
        if !self.is_healthy() {
            self.state = TaskState::Stopped;
        }
    }

    /// Starts a fresh incarnation at the entry point. A task restarted while
    /// still alive ends that incarnation here, so its generation advances;
    /// a faulted one advanced already when it faulted.
    pub fn reinitialize(&mut self) {
        if self.is_healthy() {
            self.generation = self.generation.next();
        }
        self.save.reset(self.desc.entry, self.desc.initial_sp);
        self.state = TaskState::Healthy(SchedState::Runnable);
        self.syscalls = 0;
        self.replies = 0;
        self.rejections = 0;
        // `rejected_call` is kept: the supervisor may not have read it yet.
        self.notifications = 0;
        self.interrupted = 0;
        self.notification_mask = 0;
        self.timer = None;
        self.run = 0;
        self.serving = MaybeTask::NONE;
        let n = self.desc.regions.len().min(MAX_TASK_REGIONS);
        self.regions[..n].copy_from_slice(&self.desc.regions[..n]);
        self.region_count = n;
        self.protection.valid = false;
        self.announce = true;
    }

    /// First start of a task that never ran (at boot, or one app.toml
    /// leaves stopped): [`reinitialize`](Task::reinitialize), which keeps
    /// generation 0 for a task that is not alive and otherwise finds
    /// everything as `new` left it. One copy of the start for both.
    pub fn start(&mut self) {
        self.reinitialize();
    }

    /// Returns true once after each start, so the kernel can log it.
    pub fn take_announce(&mut self) -> bool {
        core::mem::take(&mut self.announce)
    }

    /// The sender its last `recv` took from the queue (see `ipc::recv`).
    pub fn last_sender(&self) -> usize {
        usize::from(self.last_sender)
    }

    /// Notes the sender a `recv` just took from the queue (an index of
    /// the table, below `TaskId::MAX_TASKS`).
    pub fn set_last_sender(&mut self, index: usize) {
        self.last_sender = index as u16;
    }

    /// Classifies an access fault: with the stack pointer below the stack,
    /// it is an overflow rather than a stray pointer.
    pub fn access_fault_kind(&self, default: FaultKind) -> FaultKind {
        if self.save.sp() < self.desc.stack_base {
            FaultKind::StackOverflow
        } else {
            default
        }
    }
}

/// Tasks `a` and `b` of the table at once, mutably: `None` if either index
/// is out of range or they are the same task. The IPC fast path's way to
/// hold both parties with one bounds check each (the library's
/// `get_disjoint_mut` checks any number of indices with a loop).
#[inline(always)]
pub fn pair_mut(tasks: &mut [Task], a: usize, b: usize) -> Option<(&mut Task, &mut Task)> {
    let n = tasks.len();
    if a >= n || b >= n {
        return None;
    }
    // `get_mut`/`first_mut`, not indexing: after a three-way compare the
    // compiler no longer proves `low[a]` in bounds, and an index that
    // might panic brings `core::fmt`'s number printing (900 bytes) into
    // the kernel (see `table`).
    if a < b {
        let (low, high) = tasks.split_at_mut(b);
        Some((low.get_mut(a)?, high.first_mut()?))
    } else if a > b {
        let (low, high) = tasks.split_at_mut(a);
        Some((high.first_mut()?, low.get_mut(b)?))
    } else {
        None
    }
}
