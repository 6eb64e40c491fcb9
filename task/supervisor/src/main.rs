//! The supervisor: the most important task, and the only one with kernel IPC.
//!
//! Two jobs, one loop:
//! - **the virtio bus** (`idl/virtio-bus.idol`): at boot it reads every
//!   virtio-mmio slot into the device table; drivers `register` their id
//!   tables and are probed — device reset, window and IRQ granted — or told
//!   to wait; the operator can `unbind` and `bind` slots. The bookkeeping is
//!   the host-tested `virtio-bus` crate; this file only carries out its
//!   decisions with syscalls.
//! - **fault recovery**: on the kernel's fault notification it logs every
//!   faulted task (name, kind, address, pc), resets the device the task
//!   drove *before* its memory is re-initialised (so no DMA lands in it),
//!   revokes the grant and restarts the task, which registers again.
//!
//! It also answers `idl/supervisor.idol` (task status, restarts, and in test
//! images fault injection and shutdown). It must never block on another
//! task: it only receives, replies and posts, so no misbehaving task can
//! stall recovery.
//!
//! **Authority.** Every request is checked against what app.toml granted
//! the caller (`userlib::tasks::AUTHORITY`) by
//! `supervisor_core::authority::check` before anything happens: a driver
//! registers only for the device classes in its `drives`, unbinds and
//! reports `removed()` only for its own slot; bind, unbind of other slots
//! and restarts need `operator = true`, task status and restart records
//! `observer = true` or `operator = true`; fault, inject and shutdown
//! exist only in test images. A refusal is logged with the task's name
//! (its first each second, `LogQuota`) and answered with a typed error
//! (`NotPermitted`, `NotOperator`, `NotObserver`, `TestOnly`).

#![no_std]
#![no_main]

use abi::{
    FaultKind, Generation, RestartCause, RestartPolicy, TaskId, TaskState, SUPERVISOR_FAULT_BIT,
};
use idol_runtime::{NotificationHandler, Served, ServerError, UserlibIpc};
use supervisor_core::authority::{self, Refusal, Request};
use supervisor_core::fault_words::{FaultWords, GaveUpWords};
use supervisor_core::held::{Call, HeldCalls};
use supervisor_core::log_quota::LogQuota;
use supervisor_core::restart_log::RestartLog;
use supervisor_core::{
    Decision, Fault, Liveness, Rejections, Restarts, Sample, HELD_AFTER_SAMPLES, MAX_TASKS,
};
use userlib::{kipc, sys_get_timer, sys_log, sys_post, sys_refresh_task_id, sys_set_timer, tasks};
use virtio::regs::Mmio;
use virtio::transport::{mmio::MmioTransport, Transport};
use virtio_bus::{Bus, DeviceIdent, Registration, Unbind};
use virtio_bus_api::{slot_base, SLOTS};

#[allow(dead_code)] // the generated serve_once: this task runs its own loop
mod bus_server {
    use virtio_bus_api::{BusError, DeviceTable, Probe};
    include!(concat!(env!("OUT_DIR"), "/virtio_bus_server.rs"));
}

#[allow(dead_code)]
mod supervisor_server {
    use supervisor_api::{InjectEvidence, RestartRecord, SupervisorError, TaskStatus};
    include!(concat!(env!("OUT_DIR"), "/supervisor_server.rs"));
}

use bus_server::VirtioBusServer;
use supervisor_api::{InjectEvidence, RestartRecord, SupervisorError, TaskStatus};
use supervisor_server::SupervisorServer;
use virtio_bus_api::{BusError, DeviceTable, Probe};

mod bus;
mod ops;

use bus::{enumerate, reset_device};

/// Notification bit of the removal-deadline timer (app.toml: "timer").
const TIMER_BIT: u32 = 1 << 1;
/// How long a driver has to answer a remove request before it is reset
/// and restarted.
const REMOVAL_DEADLINE_MS: u64 = 500;
/// How often bound drivers are sampled by the liveness watchdog, unless
/// app.toml says otherwise (the supervisor's `config = { liveness-ms =
/// "N" }`): a driver spinning is found after two samples, callers left
/// without a reply after fifteen, so drivers' request deadlines
/// (`deadline-ms`) must stay well below fifteen periods. An image whose
/// deadlines are short (the fault campaign's) samples faster.
const LIVENESS_PERIOD_MS: u64 = 100;

fn liveness_period_ms() -> u64 {
    let value = userlib::config::setting(option_env!("VIREO_CONFIG"), "liveness-ms");
    userlib::config::ms(value, LIVENESS_PERIOD_MS)
}
/// First op number of `idl/supervisor.idol` (its `first_op`).
const SUPERVISOR_FIRST_OP: u32 = 100;

/// The task with index `task` at its current generation.
fn current_id(task: u16) -> TaskId {
    sys_refresh_task_id(TaskId::new(task, Generation(0)))
}

fn name_of(task: u16) -> TaskName {
    TaskName(
        kipc::task_status(task as usize)
            .map(|s| s.name)
            .unwrap_or([b'?'; 16]),
    )
}

/// The name of the task at an index, looked up only if it is shown (a
/// fault record's server index means something only for `FromServer`).
struct NameAt(u16);

impl core::fmt::Display for NameAt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        name_of(self.0).fmt(f)
    }
}

/// A task's name for log lines.
struct TaskName([u8; 16]);

impl core::fmt::Display for TaskName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(abi::nul_padded_str(&self.0))
    }
}

struct Supervisor {
    bus: Bus,
    /// Per slot: when its driver must have answered a remove request.
    removal_deadline: [Option<u64>; SLOTS],
    /// Fault history and delayed restarts, per task.
    restarts: Restarts,
    /// Per task: what its delayed restart will be recorded as.
    pending_cause: [RestartCause; MAX_TASKS],
    /// Per task: the kernel's fault count we have already acted on, so a
    /// task left faulted (backoff, limit) is not counted twice.
    handled_faults: [u32; MAX_TASKS],
    /// The watchdog of bound drivers, and when it samples next (ticks).
    liveness: Liveness,
    next_sample: u64,
    /// Per task: the call it awaits a reply to, and for how many samples.
    held: HeldCalls,
    /// Drivers that fault their clients with `reply_fault`.
    rejections: Rejections,
    /// Every restart made (the last few), for `restart_record`.
    log: RestartLog,
    /// Which refusals are worth a console line.
    refusals_logged: LogQuota,
}

fn now_ms() -> u64 {
    sys_get_timer().now / abi::TICKS_PER_MS
}

/// Whether this supervisor was built for a test image.
const TEST_IMAGE: bool = cfg!(feature = "test-control");

/// Whether `task` is a driver (app.toml `drives`): an untrusted server the
/// liveness watchdog watches, whether the bus has it bound or not.
fn is_driver(task: usize) -> bool {
    tasks::AUTHORITY
        .get(task)
        .is_some_and(|a| a.device_ids != 0)
}

/// Whether `call`, refused by `server`, fits the interface `server`'s crate
/// serves (`tasks::SERVES`): a call no correct server of it refuses. A
/// server of an interface the supervisor does not know convicts itself of
/// nothing (xtask notes such a server when it builds the image: keep its
/// `image::crates::JUDGED` the list of interfaces matched here).
fn well_formed(server: usize, call: &abi::RejectedCall) -> bool {
    let verdict = match tasks::SERVES.get(server).copied() {
        Some("block") => block_api::block_judge_call(call),
        Some("entropy") => entropy_api::entropy_judge_call(call),
        Some("ethernet") => ethernet_api::ethernet_judge_call(call),
        _ => return false,
    };
    verdict == idol_runtime::judge::Verdict::WellFormed
}

/// The tasks blocked calling `task` (bit `t`: task `t`), whose callers
/// in turn wait on it. Read before `task` restarts: the restart ends
/// their calls.
fn callers_of(task: usize) -> u64 {
    (0..kipc::task_count().min(MAX_TASKS))
        .filter(|&t| kipc::task_status(t).is_ok_and(|st| st.calling as usize == task))
        .fold(0, |mask, t| mask | 1 << t)
}

fn restart_policy(task: usize) -> RestartPolicy {
    tasks::RESTART
        .get(task)
        .copied()
        .unwrap_or(RestartPolicy::IMMEDIATE)
}

impl Supervisor {
    /// Checks `request` from `caller` against its app.toml authority; logs a
    /// refusal with the caller's name — the caller's first each second, with
    /// how many were kept quiet since (`LogQuota`). A log line is the
    /// kernel's work in the supervisor's trap while it serves the call, so
    /// it is charged to the caller's CPU share if the caller has a budget
    /// (`sys/kern/src/budget.rs`, "Server time"), to nobody's otherwise.
    fn authorize(&mut self, caller: TaskId, request: Request) -> Result<(), Refusal> {
        let (bus, logged) = (&self.bus, &mut self.refusals_logged);
        let task = caller.index();
        let auth = tasks::AUTHORITY.get(task).copied().unwrap_or_default();
        let bound = bus.slot_of(task as u16);
        authority::check(&auth, bound, TEST_IMAGE, request).inspect_err(|r| {
            let Some(quiet) = logged.admit(task, now_ms()) else {
                return;
            };
            let who = name_of(task as u16);
            if quiet > 0 {
                sys_log!("{quiet} more refusal(s) of {who} in the last second, not logged");
            }
            match *r {
                Refusal::ClassNotGranted { device_id } => sys_log!(
                    "refused {request:?} from {who}: device id {device_id} is outside its app.toml `drives`"
                ),
                Refusal::NotItsSlot { bound: Some(s) } => sys_log!(
                    "refused {request:?} from {who}: it is bound to slot {s}, and a driver may only unbind its own slot"
                ),
                _ => sys_log!("refused {request:?} from {who}: {}", r.describe()),
            }
        })
    }

    /// Takes a driver off its device: reset first (no more DMA into the
    /// driver's memory), then revoke the window and IRQ.
    ///
    /// A device that does not finish its reset is not trusted with any
    /// driver's memory again: its slot is marked failed (until an operator
    /// `bind`s it).
    fn detach(&mut self, task: u16, slot: usize) {
        if !reset_device(slot) {
            self.bus.mark_failed(slot);
            sys_log!("bus: slot {slot} marked failed (no reset)");
        }
        let _ = kipc::revoke_device(task as usize, slot);
        self.removal_deadline[slot] = None;
    }

    /// Logs every newly faulted task, detaches it from its device, and
    /// restarts it now, later, or never, as its restart policy says.
    fn recover(&mut self) {
        for i in 0..kipc::task_count() {
            let Ok(st) = kipc::task_status(i) else {
                continue;
            };
            self.judge_refusal(i, &st);
            let seen = self.handled_faults.get(i).copied().unwrap_or(0);
            if TaskState::from_u32(st.state) != Some(TaskState::Faulted) || st.fault_count == seen {
                continue;
            }
            if let Some(h) = self.handled_faults.get_mut(i) {
                *h = st.fault_count;
            }
            let f = st.last_fault;
            sys_log!(
                "task {} faulted: {}, pc {:#010x}",
                st.name_str(),
                FaultWords {
                    record: &f,
                    server: NameAt((f.detail >> 16) as u16),
                },
                f.pc,
            );
            if f.kind() == FaultKind::FromServer {
                self.check_trusted_verdict((f.detail >> 16) as usize, i);
            }
            let slot = self.bus.driver_died(i as u16);
            if let Some(slot) = slot {
                self.detach(i as u16, slot);
            }
            // Whether it may have faulted as it started: by its own doing,
            // before serving anyone (`supervisor_core::STARTUP_MS`).
            let fault = if f.kind() == FaultKind::Injected || st.replies != 0 {
                Fault::Other
            } else {
                Fault::BeforeServing
            };
            let now = now_ms();
            let decision = self.restarts.on_fault(i, &restart_policy(i), now, fault);
            self.carry_out(i, decision, RestartCause::Fault, slot, now);
        }
    }

    /// Restarts `task`, taken off its device (`slot`) for what it did
    /// alive (`cause`: an unasked release, a hang, a refused well-formed
    /// call, two clients faulted, a removed slot kept), as its restart policy
    /// says: counted as a fault, so `backoff` delays it and `limit` gives
    /// up on it (`supervisor_core::counts_against_policy`). Restarted at
    /// once every time, a driver that released its slot again as soon as
    /// it was probed came back 229 times in 1.85 s, and one that hung
    /// after every restart, every sample for ever. (`Fault::Other`: it
    /// did not fault as it started.) Alive until its restart (the kernel
    /// stops only a faulted task), without a device and left be by the
    /// watchdog; given up, restarted one last time, without a device
    /// (`Restarts::held_back`).
    fn restart_per_policy(&mut self, task: usize, cause: RestartCause, slot: Option<usize>) {
        if !supervisor_core::counts_against_policy(cause) {
            self.restart(task, cause);
            return;
        }
        let now = now_ms();
        let decision = self
            .restarts
            .on_fault(task, &restart_policy(task), now, Fault::Other);
        self.carry_out(task, decision, cause, slot, now);
    }

    /// Carries out `decision` on `task`, off its device (`slot`), whose
    /// restart record will say `cause`.
    fn carry_out(
        &mut self,
        task: usize,
        decision: Decision,
        cause: RestartCause,
        slot: Option<usize>,
        now: u64,
    ) {
        let name = name_of(task as u16);
        if let Some(c) = self.pending_cause.get_mut(task) {
            *c = cause;
        }
        match decision {
            Decision::RestartNow => {
                self.restart(task, cause);
            }
            Decision::RestartAt(at) => {
                sys_log!(
                    "task {name}: restart in {} ms (backoff)",
                    at.saturating_sub(now_ms())
                );
                self.arm_timer();
            }
            Decision::StartStorm { at, in_a_row } => {
                sys_log!(
                    "task {name} faulted as it started {in_a_row} times in a row: restart in {} ms",
                    at.saturating_sub(now)
                );
                self.arm_timer();
            }
            Decision::GiveUp { faults_in_window } => {
                if cause == RestartCause::Fault {
                    sys_log!("task {name}: {}", GaveUpWords(faults_in_window));
                    // Its clients are told it is not coming back
                    // (`SERVER_STOPPED`), not DEAD as if it were. The
                    // kernel refuses only a task that is alive, which it
                    // is not.
                    let _ = kipc::stop_task(task);
                } else {
                    // Alive, and the kernel stops only a faulted task: a
                    // last restart frees the callers it may hold, and the
                    // new incarnation gets no device (`held_back`) until
                    // the operator's restart; hung again, it is restarted
                    // again, so its callers never wait for good. Its slot
                    // is marked failed below, and a failed slot is offered
                    // again only by `bind`: the way back names both, as
                    // the shell's `fault` does.
                    match slot {
                        Some(slot) => sys_log!(
                            "task {name}: restart limit reached ({faults_in_window} in its window); restarted without a device until an operator's `bind {slot}` and `restart {name}`"
                        ),
                        None => sys_log!(
                            "task {name}: restart limit reached ({faults_in_window} in its window); restarted without a device until an operator's `restart {name}`"
                        ),
                    }
                    self.restart(task, cause);
                }
                self.bus.gave_up(task as u16);
                if let Some(slot) = slot {
                    self.bus.mark_failed(slot);
                    sys_log!("bus: slot {slot} marked failed");
                }
            }
        }
    }

    /// Restarts `task` (its device, if any, already detached) and logs
    /// it; false if the kernel refused.
    fn restart(&mut self, task: usize, cause: RestartCause) -> bool {
        match kipc::restart_task(task) {
            Ok(()) => {
                let generation = kipc::task_status(task).map(|s| s.generation).unwrap_or(0);
                self.log.record(task, generation, cause, now_ms());
                sys_log!(
                    "task {} restarted as generation {generation}",
                    name_of(task as u16)
                );
                true
            }
            Err(abi::DMA_PINNED) => {
                sys_log!(
                    "restart of task {} refused: a device that did not reset holds its memory",
                    name_of(task as u16)
                );
                false
            }
            Err(code) => {
                sys_log!(
                    "restart of task {} refused: code {code:#x}",
                    name_of(task as u16)
                );
                false
            }
        }
    }

    /// Carries out delayed restarts that are due.
    fn restart_due(&mut self) {
        while let Some(task) = self.restarts.take_due(now_ms()) {
            let cause = self
                .pending_cause
                .get(task)
                .copied()
                .unwrap_or(RestartCause::Fault);
            self.restart(task, cause);
        }
    }

    /// An untrusted server's `reply_fault`s reach its clients as codes, not
    /// faults (see the kernel's `reply_fault`); the kernel records each in
    /// the client's status and wakes us. A refused call that fits the
    /// interface of the driver that refused it (`supervisor_core::
    /// rejections`) convicts the driver: restart it, device reset first,
    /// before it turns every client away. A call that does not fit is the
    /// client's garbage, and gets nobody restarted.
    fn judge_refusal(&mut self, client: usize, st: &TaskStatus) {
        let call = st.rejected_call;
        let convicts = |call: &abi::RejectedCall| {
            let server = TaskId(call.server);
            // Only the incarnation that refused it (a restart since has
            // dealt with it), and only against the interface it serves.
            let current = kipc::task_status(server.index())
                .is_ok_and(|s| s.generation == u32::from(server.generation().0));
            current && well_formed(server.index(), call)
        };
        if let Some(server) = self.rejections.refused_call(client, &call, convicts) {
            self.restart_rejecting(server, client);
        }
    }

    /// A trusted `server` faulted `client` with its verdict: a bus driver
    /// that faults two different clients in a row within a second is more
    /// likely corrupted than they are (`Rejections::client_faulted`).
    fn check_trusted_verdict(&mut self, server: usize, client: usize) {
        if self.rejections.client_faulted(server, client, now_ms()) {
            self.restart_faulting(server);
        }
    }

    /// Restarts bus driver `task`, which refused a call of `client` that no
    /// correct server refuses (device reset first).
    fn restart_rejecting(&mut self, task: usize, client: usize) {
        if self.bus.slot_of(task as u16).is_some() {
            sys_log!(
                "driver {} refused a well-formed call of {}; restarting it as its policy says",
                name_of(task as u16),
                name_of(client as u16)
            );
            self.restart_broken_driver(task, RestartCause::Rejecting);
        }
    }

    /// Restarts trusted bus driver `task`, which faulted two different
    /// clients in a row within the window (device reset first).
    fn restart_faulting(&mut self, task: usize) {
        if self.bus.slot_of(task as u16).is_some() {
            sys_log!(
                "driver {} faulted two clients within {} ms; restarting it as its policy says",
                name_of(task as u16),
                supervisor_core::REJECTION_WINDOW_MS
            );
            self.restart_broken_driver(task, RestartCause::FaultedClients);
        }
    }

    /// Restarts bus driver `task` as broken by its verdicts (`cause`):
    /// takes its device away (reset first), then restarts it as its
    /// policy says. Restarted at once, a driver that refused (or faulted)
    /// every well-formed call after each restart came back at every call
    /// of a client calling in a loop. While its restart waits it has no
    /// slot, so its verdicts convict it no more.
    fn restart_broken_driver(&mut self, task: usize, cause: RestartCause) {
        let slot = self.bus.driver_died(task as u16);
        if let Some(slot) = slot {
            self.detach(task as u16, slot);
        }
        self.restart_per_policy(task, cause, slot);
    }

    /// Restarts drivers that let a removal deadline pass.
    fn check_removals(&mut self) {
        let now = sys_get_timer().now;
        for slot in 0..SLOTS {
            match self.removal_deadline[slot] {
                Some(d) if d <= now => {}
                _ => continue,
            }
            self.removal_deadline[slot] = None;
            if let Some(task) = self.bus.removal_timed_out(slot) {
                sys_log!(
                    "bus: driver {} did not release slot {slot} in time; restarting it as its policy says",
                    name_of(task)
                );
                self.detach(task, slot);
                // As its policy says, like any restart for what a driver
                // did. Given up on, it leaves the slot as the removal
                // would (`removal_timed_out`), not failed: the operator
                // emptied it, its device is not to blame.
                self.restart_per_policy(task as usize, RestartCause::RemovalTimeout, None);
            }
        }
        self.arm_timer();
    }

    fn arm_timer(&self) {
        let removal = self.removal_deadline.iter().flatten().min().copied();
        let restart = self
            .restarts
            .next_deadline()
            .map(|ms| ms * abi::TICKS_PER_MS);
        let any_driver = (0..MAX_TASKS).any(is_driver);
        let sample = any_driver.then_some(self.next_sample);
        let next = [removal, restart, sample].into_iter().flatten().min();
        sys_set_timer(next, TIMER_BIT);
    }

    /// The liveness watchdog: restarts (at most) one driver that has
    /// stopped answering — runnable, yet no syscall since the last sample;
    /// callers waiting and none answered; or one caller's request held
    /// unanswered ([`HeldCalls`]) while it answers others. Every task with
    /// `drives` is watched, bound to a slot or not: watching only bound
    /// ones, a red team's driver unbound its own slot (which a driver may)
    /// and then held its caller for good.
    fn sample_drivers(&mut self) {
        let now = sys_get_timer().now;
        if now < self.next_sample {
            return;
        }
        self.next_sample = now + liveness_period_ms() * abi::TICKS_PER_MS;
        let count = kipc::task_count().min(MAX_TASKS);
        // Who is blocked calling whom, and the longest any caller has
        // awaited one reply from each server, once per sample.
        let mut waited_on = [false; MAX_TASKS];
        let mut longest_hold = [0u8; MAX_TASKS];
        for t in 0..count {
            let Ok(st) = kipc::task_status(t) else {
                continue;
            };
            if let Some(w) = waited_on.get_mut(st.calling as usize) {
                *w = true;
            }
            let call =
                (TaskState::from_u32(st.state) == Some(TaskState::InReply)).then_some(Call {
                    server: st.calling,
                    generation: st.generation,
                    syscalls: st.syscalls,
                });
            let held = self.held.sample(t, call);
            if let Some(h) = longest_hold.get_mut(st.calling as usize) {
                *h = (*h).max(held);
            }
        }
        // A twentieth of a period: a spinner held to its CPU share (10 %
        // at the least, eight drivers splitting 80 %) runs far more; a
        // driver the host stopped with the rest of QEMU, far less.
        let min_run = (liveness_period_ms() * abi::TICKS_PER_MS / 20) as u32;
        for task in 0..count {
            if !is_driver(task) || self.restarts.restart_pending(task) {
                continue;
            }
            let Ok(st) = kipc::task_status(task) else {
                continue;
            };
            let sample = Sample {
                runnable: TaskState::from_u32(st.state) == Some(TaskState::Runnable),
                syscalls: st.syscalls,
                callers_waiting: waited_on[task],
                replies: st.replies,
                generation: st.generation,
                ran: st.ran_ticks,
            };
            let stopped = self.liveness.sample(task, sample, min_run);
            let holding = longest_hold[task] >= HELD_AFTER_SAMPLES;
            if !(stopped || holding) {
                continue;
            }
            let cause = if holding && !stopped {
                sys_log!(
                    "task {} has held a caller's request for {} samples while answering others; restarting it",
                    st.name_str(),
                    longest_hold[task]
                );
                RestartCause::HeldCaller
            } else {
                sys_log!(
                    "task {} stopped answering (spinning, or callers waiting and no reply); restarting it",
                    st.name_str()
                );
                RestartCause::Hung
            };
            // Read before the restart, which fails the calls waiting on it.
            let callers = callers_of(task);
            let slot = self.bus.driver_died(task as u16);
            if let Some(slot) = slot {
                self.detach(task as u16, slot);
            }
            self.restart_per_policy(task, cause, slot);
            self.liveness.reset_after_restart(task, callers);
            break;
        }
    }
}

impl NotificationHandler for Supervisor {
    fn notification_mask(&self) -> u32 {
        SUPERVISOR_FAULT_BIT | TIMER_BIT
    }

    fn handle_notification(&mut self, bits: u32) {
        if bits & SUPERVISOR_FAULT_BIT != 0 {
            self.recover();
        }
        if bits & TIMER_BIT != 0 {
            self.restart_due();
            self.sample_drivers();
            self.check_removals();
        }
    }
}

/// The supervisor's state lives in a static rather than on `main`'s stack
/// so that `cargo xtask dump` finds it by name and shows the bus table.
static mut SUPERVISOR_STATE: core::mem::MaybeUninit<Supervisor> = core::mem::MaybeUninit::uninit();

#[export_name = "main"]
fn main() -> ! {
    let devices = enumerate();
    for (slot, d) in devices.iter().enumerate() {
        if let Some(d) = d {
            sys_log!(
                "bus: slot {slot}: virtio device {} (vendor {:#x}, transport v{})",
                d.device_id,
                d.vendor_id,
                d.version
            );
        }
    }
    // SAFETY: `main` runs once (the supervisor is never restarted: its
    // fault reboots the machine), and this is the only place that names
    // SUPERVISOR_STATE, so the reference made here is the only one.
    let state = unsafe { &mut *core::ptr::addr_of_mut!(SUPERVISOR_STATE) };
    // Written a field at a time: built whole and then written, the state
    // (per-task tables for 64 tasks) was a temporary on the stack and
    // overflowed it at boot.
    let p = state.as_mut_ptr();
    // SAFETY: `p` points at the static, valid for writes and aligned; each
    // field is written once, and every field is written before
    // `assume_init_mut` below.
    unsafe {
        core::ptr::addr_of_mut!((*p).bus).write(Bus::new(devices));
        core::ptr::addr_of_mut!((*p).removal_deadline).write([None; SLOTS]);
        core::ptr::addr_of_mut!((*p).restarts).write(Restarts::new());
        core::ptr::addr_of_mut!((*p).pending_cause).write([RestartCause::Fault; MAX_TASKS]);
        core::ptr::addr_of_mut!((*p).handled_faults).write([0; MAX_TASKS]);
        core::ptr::addr_of_mut!((*p).liveness).write(Liveness::new());
        core::ptr::addr_of_mut!((*p).held).write(HeldCalls::new());
        core::ptr::addr_of_mut!((*p).next_sample).write(0);
        core::ptr::addr_of_mut!((*p).rejections).write(Rejections::new());
        core::ptr::addr_of_mut!((*p).log).write(RestartLog::new());
        core::ptr::addr_of_mut!((*p).refusals_logged).write(LogQuota::new());
    }
    // SAFETY: every field was written just above.
    let sup = unsafe { state.assume_init_mut() };
    const BUFFER: usize = max(
        bus_server::VIRTIO_BUS_BUFFER_SIZE,
        supervisor_server::SUPERVISOR_BUFFER_SIZE,
    );
    let mut buffer = [0u8; BUFFER];
    let ipc = UserlibIpc;
    loop {
        let msg = idol_runtime::Ipc::recv(&ipc, &mut buffer, sup.notification_mask(), None);
        if msg.sender == TaskId::KERNEL {
            sup.handle_notification(msg.operation);
        } else if msg.operation >= SUPERVISOR_FIRST_OP {
            supervisor_server::supervisor_dispatch(sup, &ipc, &buffer, &msg);
        } else {
            bus_server::virtio_bus_dispatch(sup, &ipc, &buffer, &msg);
        }
    }
}

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}
