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
//! reports `removed()` only for its own slot; bind, unbind of other slots,
//! task status and restarts need `operator = true`; fault, inject and
//! shutdown exist only in test images. A refusal is logged with the task's
//! name and answered with a typed error (`NotPermitted`, `NotOperator`,
//! `TestOnly`).

#![no_std]
#![no_main]

use abi::{
    FaultKind, FaultRecord, Generation, RestartKind, RestartPolicy, TaskId, TaskState,
    SUPERVISOR_FAULT_BIT,
};
use idol_runtime::{NotificationHandler, ServerError, UserlibIpc};
use supervisor_core::authority::{self, Refusal, Request};
use supervisor_core::{Decision, Liveness, Rejections, Restarts, Sample, MAX_TASKS};
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
    use supervisor_api::{InjectEvidence, SupervisorError, TaskStatus};
    include!(concat!(env!("OUT_DIR"), "/supervisor_server.rs"));
}

use bus_server::VirtioBusServer;
use supervisor_api::{InjectEvidence, SupervisorError, TaskStatus};
use supervisor_server::SupervisorServer;
use virtio_bus_api::{BusError, DeviceTable, Probe};

/// Notification bit of the removal-deadline timer (app.toml: "timer").
const TIMER_BIT: u32 = 1 << 1;
/// How long a driver has to answer a remove request before it is reset
/// and restarted.
const REMOVAL_DEADLINE_MS: u64 = 500;
/// How often bound drivers are sampled by the liveness watchdog.
const LIVENESS_PERIOD_MS: u64 = 100;
/// First op number of `idl/supervisor.idol` (its `first_op`).
const SUPERVISOR_FIRST_OP: u32 = 100;

/// The transport of `slot`, if the slot holds a virtio device.
fn transport(slot: usize) -> Option<MmioTransport<Mmio>> {
    // SAFETY: the supervisor's `virtio-bus` window (app.toml `uses`) covers
    // every virtio-mmio slot; `slot_base` stays inside it for slot < SLOTS.
    let regs = unsafe { Mmio::new(slot_base(slot as u32)) };
    MmioTransport::new(regs).ok()
}

/// Reads magic, version, device and vendor id of every slot (the seed's
/// `register_virtio_device`, once per slot).
fn enumerate() -> [Option<DeviceIdent>; SLOTS] {
    core::array::from_fn(|slot| {
        let t = transport(slot)?;
        let ident = DeviceIdent {
            device_id: t.device_id(),
            vendor_id: t.vendor_id(),
            version: if t.is_legacy() { 1 } else { 2 },
        };
        (ident.device_id != 0).then_some(ident)
    })
}

/// Resets the device in `slot` so it stops all DMA (VIRTIO 1.2 §2.4).
/// Resets the device in `slot`; false if it did not finish its reset (it
/// may still be doing DMA: the slot must be given up).
fn reset_device(slot: usize) -> bool {
    let Some(mut t) = transport(slot) else {
        return true;
    };
    if t.reset().is_err() {
        sys_log!("bus: slot {slot} did not finish its reset");
        return false;
    }
    true
}

/// The task with index `task` at its current generation.
fn current_id(task: u16) -> TaskId {
    sys_refresh_task_id(TaskId::new(task, Generation(0)))
}

fn task_name(st: &TaskStatus) -> &str {
    let n = st
        .name
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(st.name.len());
    core::str::from_utf8(&st.name[..n]).unwrap_or("?")
}

fn name_of(task: u16) -> TaskName {
    TaskName(
        kipc::task_status(task as usize)
            .map(|s| s.name)
            .unwrap_or([b'?'; 16]),
    )
}

/// A task's name for log lines.
struct TaskName([u8; 16]);

impl core::fmt::Display for TaskName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let n = self.0.iter().position(|&b| b == 0).unwrap_or(16);
        f.write_str(core::str::from_utf8(&self.0[..n]).unwrap_or("?"))
    }
}

/// Kind-specific detail of a fault, in words.
struct Detail<'a>(&'a FaultRecord);

impl core::fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let r = self.0;
        match r.kind() {
            FaultKind::SyscallUsage => {
                let u = abi::UsageError::from_u32(r.detail);
                write!(
                    f,
                    " ({})",
                    u.map(|u| u.describe()).unwrap_or("unknown misuse")
                )
            }
            FaultKind::FromServer => {
                let why = abi::ReplyFaultReason::from_u32(r.detail & 0xffff);
                let why = why.map(|w| w.describe()).unwrap_or("unknown reason");
                write!(f, " ({why}, by task index {})", r.detail >> 16)
            }
            FaultKind::IllegalInstruction => write!(f, " ({:#010x})", r.detail),
            FaultKind::BudgetExceeded => write!(f, " ({} ms without blocking)", r.detail),
            _ => Ok(()),
        }
    }
}

struct Supervisor {
    bus: Bus,
    /// Per slot: when its driver must have answered a remove request.
    removal_deadline: [Option<u64>; SLOTS],
    /// Fault history and delayed restarts, per task.
    restarts: Restarts,
    /// Per task: the kernel's fault count we have already acted on, so a
    /// task left faulted (backoff, limit) is not counted twice.
    handled_faults: [u32; MAX_TASKS],
    /// The watchdog of bound drivers, and when it samples next (ticks).
    liveness: Liveness,
    next_sample: u64,
    /// Drivers that fault their clients with `reply_fault`.
    rejections: Rejections,
    /// Per task: the (generation, rejection count) already judged, so that
    /// each of an untrusted server's `reply_fault`s is counted once.
    seen_rejections: [(u32, u32); MAX_TASKS],
}

fn now_ms() -> u64 {
    sys_get_timer().now / abi::TICKS_PER_MS
}

/// Whether this supervisor was built for a test image.
const TEST_IMAGE: bool = cfg!(feature = "test-control");

/// Checks `request` from `caller` against its app.toml authority; logs a
/// refusal with the caller's name.
fn authorize(bus: &Bus, caller: TaskId, request: Request) -> Result<(), Refusal> {
    let task = caller.index();
    let auth = tasks::AUTHORITY.get(task).copied().unwrap_or_default();
    let bound = bus.slot_of(task as u16);
    authority::check(&auth, bound, TEST_IMAGE, request).inspect_err(|r| {
        let who = name_of(task as u16);
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

fn restart_policy(task: usize) -> RestartPolicy {
    tasks::RESTART.get(task).copied().unwrap_or(RestartPolicy {
        kind: RestartKind::Immediate,
        backoff_ms: 0,
        limit: 0,
        window_ms: 0,
    })
}

impl Supervisor {
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
            self.judge_rejections(i, &st);
            let seen = self.handled_faults.get(i).copied().unwrap_or(0);
            if TaskState::from_u32(st.state) != Some(TaskState::Faulted) || st.fault_count == seen {
                continue;
            }
            if let Some(h) = self.handled_faults.get_mut(i) {
                *h = st.fault_count;
            }
            let f = st.last_fault;
            sys_log!(
                "task {} faulted: {}{} at address {:#010x}, pc {:#010x}",
                task_name(&st),
                f.kind().describe(),
                Detail(&f),
                f.address,
                f.pc,
            );
            if f.kind() == FaultKind::FromServer {
                self.check_rejecting_driver((f.detail >> 16) as usize);
            }
            let slot = self.bus.driver_died(i as u16);
            if let Some(slot) = slot {
                self.detach(i as u16, slot);
            }
            match self.restarts.on_fault(i, &restart_policy(i), now_ms()) {
                Decision::RestartNow => self.restart(i),
                Decision::RestartAt(at) => {
                    sys_log!(
                        "task {}: restart in {} ms (backoff)",
                        task_name(&st),
                        at.saturating_sub(now_ms())
                    );
                    self.arm_timer();
                }
                Decision::GiveUp { faults_in_window } => {
                    sys_log!(
                        "task {}: restart limit reached ({faults_in_window} faults in its window); left stopped",
                        task_name(&st)
                    );
                    if let Some(slot) = slot {
                        self.bus.mark_failed(slot);
                        sys_log!("bus: slot {slot} marked failed");
                    }
                }
            }
        }
    }

    fn restart(&mut self, task: usize) {
        match kipc::restart_task(task) {
            Ok(()) => {
                let generation = kipc::task_status(task).map(|s| s.generation).unwrap_or(0);
                sys_log!(
                    "task {} restarted as generation {generation}",
                    name_of(task as u16)
                );
            }
            Err(code) => sys_log!("restart of task index {task} refused: code {code:#x}"),
        }
    }

    /// Carries out delayed restarts that are due.
    fn restart_due(&mut self) {
        while let Some(task) = self.restarts.take_due(now_ms()) {
            self.restart(task);
        }
    }

    /// An untrusted server's `reply_fault`s reach its clients as codes, not
    /// faults (see the kernel's `reply_fault`); the kernel counts them and
    /// wakes us. Each new one is judged as a rejection that faulted a
    /// client would be.
    fn judge_rejections(&mut self, task: usize, st: &TaskStatus) {
        let Some(seen) = self.seen_rejections.get_mut(task) else {
            return;
        };
        let before = if seen.0 == st.generation { seen.1 } else { 0 };
        *seen = (st.generation, st.rejections);
        // Two in the window are enough to act; more need not be replayed.
        for _ in 0..st.rejections.wrapping_sub(before).min(2) {
            if self.check_rejecting_driver(task) {
                break;
            }
        }
    }

    /// A client was faulted by `server`'s `reply_fault`. A bus driver that
    /// does that twice in a second is more likely corrupted than its
    /// clients: restart it (device reset first) before it kills them all.
    ///
    /// True if the driver was restarted.
    fn check_rejecting_driver(&mut self, server: usize) -> bool {
        let Some(slot) = self.bus.slot_of(server as u16) else {
            return false;
        };
        if !self.rejections.rejected(server, now_ms()) {
            return false;
        }
        sys_log!(
            "driver {} rejected two clients within {} ms; restarting it",
            name_of(server as u16),
            supervisor_core::REJECTION_WINDOW_MS
        );
        self.bus.driver_died(server as u16);
        self.detach(server as u16, slot);
        self.restart(server);
        true
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
                    "bus: driver {} did not release slot {slot} in time; restarting it",
                    name_of(task)
                );
                self.detach(task, slot);
                self.restart(task as usize);
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
        let any_driver = (0..MAX_TASKS).any(|t| self.bus.slot_of(t as u16).is_some());
        let sample = any_driver.then_some(self.next_sample);
        let next = [removal, restart, sample].into_iter().flatten().min();
        sys_set_timer(next, TIMER_BIT);
    }

    /// The liveness watchdog: restarts (at most) one bound driver that has
    /// stopped answering — runnable, yet no syscall since the last sample.
    fn sample_drivers(&mut self) {
        let now = sys_get_timer().now;
        if now < self.next_sample {
            return;
        }
        self.next_sample = now + LIVENESS_PERIOD_MS * abi::TICKS_PER_MS;
        let count = kipc::task_count().min(MAX_TASKS);
        // Who is blocked calling whom, once per sample.
        let mut waited_on = [false; MAX_TASKS];
        for t in 0..count {
            if let Ok(st) = kipc::task_status(t) {
                if let Some(w) = waited_on.get_mut(st.calling as usize) {
                    *w = true;
                }
            }
        }
        for task in 0..count {
            let Some(slot) = self.bus.slot_of(task as u16) else {
                continue;
            };
            let Ok(st) = kipc::task_status(task) else {
                continue;
            };
            let sample = Sample {
                runnable: TaskState::from_u32(st.state) == Some(TaskState::Runnable),
                syscalls: st.syscalls,
                callers_waiting: waited_on[task],
                replies: st.replies,
            };
            if !self.liveness.sample(task, sample) {
                continue;
            }
            sys_log!(
                "task {} stopped answering (spinning, or callers waiting and no reply); restarting it",
                task_name(&st)
            );
            self.bus.driver_died(task as u16);
            self.detach(task as u16, slot);
            self.restart(task);
            self.liveness.reset_after_restart(task);
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

impl VirtioBusServer for Supervisor {
    fn register(
        &mut self,
        caller: TaskId,
        device_ids: [u32; 4],
        irq_bits: u32,
        remove_bits: u32,
        probe_bits: u32,
    ) -> Result<Probe, ServerError<BusError>> {
        authorize(&self.bus, caller, Request::Register(device_ids))
            .map_err(|_| BusError::NotPermitted)?;
        let task = caller.index() as u16;
        let reg = Registration {
            task,
            ids: device_ids,
            irq_bits,
            remove_bits,
            probe_bits,
        };
        let probe = self.bus.register(reg)?;
        let slot = probe.slot as usize;
        // The seed's probe: a device in a known state, then the driver's.
        // One that cannot even be reset is given to nobody.
        if !reset_device(slot) {
            self.bus.grant_failed(task);
            self.bus.mark_failed(slot);
            sys_log!("bus: slot {slot} marked failed (no reset)");
            return Err(BusError::NoDevice.into());
        }
        if kipc::grant_device(task as usize, slot, irq_bits).is_err() {
            self.bus.grant_failed(task);
            return Err(BusError::GrantFailed.into());
        }
        sys_log!(
            "bus: slot {slot} (device {}, transport v{}) bound to {}",
            probe.device_id,
            probe.version,
            name_of(task)
        );
        self.arm_timer();
        Ok(probe)
    }

    fn removed(&mut self, caller: TaskId) -> Result<(), ServerError<BusError>> {
        let task = caller.index() as u16;
        let slot = self.bus.removed(task)?;
        self.detach(task, slot);
        self.arm_timer();
        sys_log!("bus: slot {slot} released by {}", name_of(task));
        Ok(())
    }

    fn devices(
        &mut self,
        _: TaskId,
    ) -> Result<DeviceTable, ServerError<core::convert::Infallible>> {
        Ok(self.bus.table())
    }

    fn unbind(&mut self, caller: TaskId, slot: u32) -> Result<(), ServerError<BusError>> {
        authorize(&self.bus, caller, Request::Unbind(slot as usize))
            .map_err(|_| BusError::NotPermitted)?;
        match self.bus.unbind(slot as usize)? {
            Unbind::Done => {}
            Unbind::AskDriver { task, bits } => {
                let _ = sys_post(current_id(task), bits);
                let deadline = sys_get_timer().now + REMOVAL_DEADLINE_MS * abi::TICKS_PER_MS;
                self.removal_deadline[slot as usize] = Some(deadline);
                self.arm_timer();
            }
        }
        Ok(())
    }

    fn bind(&mut self, caller: TaskId, slot: u32) -> Result<(), ServerError<BusError>> {
        authorize(&self.bus, caller, Request::Bind(slot as usize))
            .map_err(|_| BusError::NotPermitted)?;
        if let Some(poke) = self.bus.bind(slot as usize)? {
            let _ = sys_post(current_id(poke.task), poke.bits);
        }
        Ok(())
    }
}

impl SupervisorServer for Supervisor {
    fn task_count(&mut self, _: TaskId) -> Result<u32, ServerError<core::convert::Infallible>> {
        Ok(kipc::task_count() as u32)
    }

    fn task_status(
        &mut self,
        caller: TaskId,
        index: u32,
    ) -> Result<TaskStatus, ServerError<SupervisorError>> {
        authorize(&self.bus, caller, Request::TaskStatus).map_err(refusal)?;
        kipc::task_status(index as usize).map_err(|_| SupervisorError::NoSuchTask.into())
    }

    fn fault_task(
        &mut self,
        caller: TaskId,
        index: u32,
    ) -> Result<(), ServerError<SupervisorError>> {
        authorize(&self.bus, caller, Request::FaultTask).map_err(refusal)?;
        if index as usize >= kipc::task_count() {
            return Err(SupervisorError::NoSuchTask.into());
        }
        // The supervisor cannot fault itself (the kernel refuses), and a
        // task faulting its own caller chain is allowed: it is a test tool.
        kipc::fault_task(index as usize).map_err(|_| SupervisorError::NotAllowed)?;
        sys_log!(
            "task index {index} faulted at the request of task index {}",
            caller.index()
        );
        Ok(())
    }

    fn inject(
        &mut self,
        caller: TaskId,
        index: u32,
        kind: u32,
        arg: u32,
    ) -> Result<InjectEvidence, ServerError<SupervisorError>> {
        authorize(&self.bus, caller, Request::Inject).map_err(refusal)?;
        let kind = abi::Injection::from_u32(kind).ok_or(SupervisorError::NotAllowed)?;
        if !cfg!(feature = "test-control") || index as usize >= kipc::task_count() {
            return Err(SupervisorError::NotAllowed.into());
        }
        let ev =
            kipc::inject(index as usize, kind, arg).map_err(|_| SupervisorError::NotAllowed)?;
        sys_log!(
            "injected {kind:?} ({arg:#x}) into {} for task index {}: {:#x}: {:#010x} -> {:#010x}",
            name_of(index as u16),
            caller.index(),
            ev.location,
            ev.before,
            ev.after
        );
        Ok(ev)
    }

    fn restart_task(
        &mut self,
        caller: TaskId,
        index: u32,
    ) -> Result<(), ServerError<SupervisorError>> {
        authorize(&self.bus, caller, Request::RestartTask).map_err(refusal)?;
        let task = index as usize;
        if task >= kipc::task_count() {
            return Err(SupervisorError::NoSuchTask.into());
        }
        sys_log!(
            "restart of {} requested by {}",
            name_of(task as u16),
            name_of(caller.index() as u16)
        );
        // As for a fault: the device stops DMA before the memory it
        // targets is re-initialised.
        if let Some(slot) = self.bus.driver_died(task as u16) {
            self.detach(task as u16, slot);
        }
        // The kernel refuses to restart the supervisor itself.
        kipc::restart_task(task).map_err(|_| SupervisorError::NotAllowed)?;
        sys_log!(
            "task {} restarted as generation {}",
            name_of(task as u16),
            kipc::task_status(task).map(|s| s.generation).unwrap_or(0)
        );
        self.liveness.reset_after_restart(task);
        self.arm_timer();
        Ok(())
    }

    fn shutdown(&mut self, caller: TaskId, code: u32) -> Result<(), ServerError<SupervisorError>> {
        authorize(&self.bus, caller, Request::Shutdown).map_err(refusal)?;
        if !cfg!(feature = "test-control") {
            return Err(SupervisorError::NotAllowed.into());
        }
        sys_log!(
            "shutdown requested by task index {} with code {code}",
            caller.index()
        );
        let _ = kipc::shutdown(code);
        Err(SupervisorError::NotAllowed.into())
    }
}

/// The typed error of a refused supervisor op.
fn refusal(r: Refusal) -> ServerError<SupervisorError> {
    match r {
        Refusal::TestOnly => SupervisorError::TestOnly.into(),
        _ => SupervisorError::NotOperator.into(),
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
    let sup = unsafe { &mut *core::ptr::addr_of_mut!(SUPERVISOR_STATE) };
    let sup = sup.write(Supervisor {
        bus: Bus::new(devices),
        removal_deadline: [None; SLOTS],
        restarts: Restarts::default(),
        handled_faults: [0; MAX_TASKS],
        liveness: Liveness::default(),
        next_sample: 0,
        rejections: Rejections::default(),
        seen_rejections: [(0, 0); MAX_TASKS],
    });
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
