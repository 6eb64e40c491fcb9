//! The driver task's logic: `idl/block.idol` served with deferred replies,
//! the bus protocol (register, probe, remove) and the IRQ path — everything
//! but the syscalls, which come in through [`Ipc`] and [`Platform`] so that
//! host tests run this very code against the device model and the mock
//! kernel.
//!
//! # Requests in flight
//!
//! `read`, `write`, `flush` and `info` (the first time: GET_ID) take a
//! request slot, go on the virtqueue and return `Deferred::Later`; the IRQ
//! path answers each when the device completes it, through the generated
//! `block_reply_*` functions. While every slot is taken the driver receives
//! notifications only, so further clients wait in the kernel (blocked in
//! `send`, in priority order) instead of in a table here. A client has at
//! most one call outstanding (IPC is synchronous), so its own calls are
//! served in order; different clients' requests complete in any order.
//!
//! # What it must never do
//!
//! - Let the device reach a client's memory other than the lease of a call
//!   being served, posted through the kernel's gate (which checks and pins
//!   it); without a gate data is copied through bounce buffers (see
//!   [`crate::memory`]).
//! - Leave a caller hanging: every deferred call is answered exactly once —
//!   with its result, `Removed` when the device is taken away,
//!   `DeviceError` when the device breaks the protocol, `TimedOut` when it
//!   misses the request deadline — and with no device
//!   every request is answered at once (`NoDevice`, `Removed`).
//! - Panic on anything a client or the device does.

use core::marker::PhantomData;
use core::ptr::NonNull;

use block_api::{BlockError, BlockInfo};
use idol_runtime::{Detached, Ipc, NotificationHandler, RecvMessage, ServerError, TaskId, Write};
use virtio::transport::InterruptStatus;
use virtio::RegisterAccess;
use virtio_bus_api::Probe;

use crate::device::{BlkDevice, ResetFailed};
use crate::memory::{DmaMemory, SLOTS};
use crate::protocol::VIRTIO_BLK_ID_BYTES;
use crate::trace::{self, Trace};

/// The generated server side of `idl/block.idol`.
#[allow(dead_code)] // `block_serve_once`: the driver runs its own loop
mod generated {
    use block_api::{BlockError, BlockInfo};
    include!(concat!(env!("OUT_DIR"), "/block_server.rs"));
}

mod platform;
mod requests;

pub use platform::{Corrupt, Event, LazyTimer, Platform};
use requests::{answer, complete};

pub use generated::{
    block_dispatch, block_reply_flush, block_reply_info, block_reply_read, block_reply_write,
    BlockServer, BLOCK_BUFFER_SIZE,
};

/// Notification bit of the device interrupt (app.toml `notifications`,
/// first entry "irq").
pub const IRQ_BIT: u32 = 1 << 0;
/// Notification bit the bus posts to take the device away ("remove").
pub const REMOVE_BIT: u32 = 1 << 1;
/// Notification bit the bus posts when a device may be free ("probe").
pub const PROBE_BIT: u32 = 1 << 2;
/// Notification bit of the request deadline timer ("timer").
pub const TIMER_BIT: u32 = 1 << 3;
/// How long the device may take to complete a request before the driver
/// gives up on it, fails what is in flight and resets the device, unless
/// the platform says otherwise ([`Platform::request_deadline_ms`], from
/// app.toml). A device that refuses a corrupted ring (or simply wedges)
/// completes nothing, and no client may wait forever for it.
///
/// The clock of a request starts at its submission and is moved on only by
/// progress — a completion of any request — never by an interrupt alone: a
/// device that interrupts without completing anything must not keep a
/// request unanswered for ever.
pub const REQUEST_DEADLINE_MS: u64 = 1000;

/// Broken-queue recoveries in a row, with no completion in between, after
/// which the driver stops rather than reset the device again.
pub const RECOVERIES_WITHOUT_PROGRESS: u32 = 3;

/// Requests in a row the driver could not hand its device (no slot free
/// where one should be, or its own descriptors refused) before it stops:
/// its own state is corrupt (see [`Corrupt::RefusesRequests`]).
pub const REFUSED_IN_A_ROW: u32 = 8;

/// The driver's id table: block devices only (the seed's `id_table`).
pub const ID_TABLE: [u32; 4] = [crate::protocol::VIRTIO_ID_BLOCK, 0, 0, 0];

/// Where the driver is with its device.
// One value per driver, changed only at probe and remove: the size of the
// bound variant costs nothing worth a box (and there is no heap).
#[allow(clippy::large_enum_variant)]
enum Binding<'a, R: RegisterAccess> {
    /// Registered, no device yet: requests get `NoDevice`.
    Waiting,
    /// Driving a device.
    Bound {
        probe: Probe,
        device: BlkDevice<'a, R>,
    },
    /// The bus took the device away: requests get `Removed` until the next
    /// probe.
    Removed,
    /// The device could not be brought up: requests get `DeviceError`.
    Failed,
    /// The device did not finish a reset and may still write the DMA
    /// memory: requests get `DeviceError`, and nothing is ever probed with
    /// this memory again.
    Dead,
}

/// A deferred call waiting for its slot's completion.
enum Pending {
    /// `lease` is `None` when the device wrote it directly (zero-copy).
    Read {
        caller: TaskId,
        lease: Option<Detached<Write, u8>>,
        len: usize,
    },
    Write {
        caller: TaskId,
    },
    Flush {
        caller: TaskId,
    },
    Info {
        caller: TaskId,
    },
}

impl Pending {
    /// Whom the answer goes to.
    fn caller(&self) -> TaskId {
        match *self {
            Pending::Read { caller, .. }
            | Pending::Write { caller }
            | Pending::Flush { caller }
            | Pending::Info { caller } => caller,
        }
    }
}

/// The virtio-blk driver: a [`BlockServer`] over one device at a time,
/// with its DMA memory borrowed for `'a`.
pub struct BlockDriver<'a, I: Ipc + Copy, P: Platform> {
    ipc: I,
    platform: P,
    binding: Binding<'a, P::Regs>,
    pending: [Option<Pending>; SLOTS],
    /// When the device must have made progress (clock ticks, see
    /// [`Platform::now`]), while requests are in flight: the oldest
    /// request's submission, or the last completion if later, plus
    /// `deadline_ticks`.
    deadline: Option<u64>,
    /// While requests are in flight, the later of the oldest one's
    /// submission and the last completion (ticks): the moment the
    /// deadline runs from. It is kept as requests come and go rather than
    /// found again from each slot's submission time (a scan and 64-bit
    /// compares twice a request; 22 instructions of a read through
    /// IPC): the clock was read later at a completion than at every
    /// submission still in flight, so a completion moves it to now, and a
    /// submission moves it only onto a driver with nothing in flight (the
    /// new request is then the oldest, and later than any completion).
    clock_from: u64,
    /// The request deadline from the platform, converted once from ms to
    /// ticks.
    deadline_ticks: u64,
    /// The serial from GET_ID, once read (cleared at each probe).
    serial: Option<[u8; VIRTIO_BLK_ID_BYTES]>,
    /// Broken-queue recoveries: device faults and missed deadlines after
    /// which the in-flight requests failed and the device was reset.
    recoveries: u32,
    /// Recoveries since the device last completed a request: a driver whose
    /// own state is corrupt (a flipped register, say) fails every request
    /// after every reset while looking alive.
    recoveries_without_progress: u32,
    /// Requests refused in a row before they reached the device
    /// ([`REFUSED_IN_A_ROW`]).
    refused_in_a_row: u32,
    /// The DMA memory. A `BlkDevice` holds the only reference made from it
    /// while `binding` is `Bound`; none exists otherwise.
    memory: NonNull<DmaMemory>,
    _memory: PhantomData<&'a mut DmaMemory>,
}

impl<'a, I: Ipc + Copy, P: Platform> BlockDriver<'a, I, P> {
    /// A driver that will drive devices with `memory`. Call
    /// [`start`](Self::start) next.
    pub fn new(ipc: I, platform: P, memory: &'a mut DmaMemory) -> Self {
        let deadline_ticks = platform
            .request_deadline_ms()
            .saturating_mul(platform.ticks_per_ms());
        BlockDriver {
            ipc,
            platform,
            binding: Binding::Waiting,
            pending: [const { None }; SLOTS],
            deadline: None,
            clock_from: 0,
            deadline_ticks,
            serial: None,
            recoveries: 0,
            recoveries_without_progress: 0,
            refused_in_a_row: 0,
            memory: NonNull::from(memory),
            _memory: PhantomData,
        }
    }

    /// The driver's first act (the seed's `register_virtio_driver`):
    /// registers with the bus and probes the device it is given, if any.
    pub fn start(&mut self) {
        self.try_probe();
    }

    /// The platform (for tests and the task's own use).
    pub fn platform(&mut self) -> &mut P {
        &mut self.platform
    }

    /// Whether a device is bound and up.
    pub fn is_bound(&self) -> bool {
        matches!(self.binding, Binding::Bound { .. })
    }

    /// How many times this driver recovered from a broken queue: the device
    /// broke the ring protocol or missed a request deadline, and the driver
    /// failed what was in flight and reset it. Fault-injection tests confirm
    /// a queue corruption by this count advancing.
    pub fn recoveries(&self) -> u32 {
        self.recoveries
    }

    /// Counts a broken-queue recovery. After [`RECOVERIES_WITHOUT_PROGRESS`]
    /// in a row with no completion in between, resetting the device is not
    /// helping: the driver's own state is the likelier culprit, so it stops
    /// ([`Platform::corrupt`]) and the supervisor restarts it from its
    /// image (and, should the device really be dead, its restart policy
    /// gives up on it).
    ///
    /// Only a recovery that fails requests counts toward stopping: a device
    /// that asks for a reset while idle (DEVICE_NEEDS_RESET, §2.1.2) is
    /// reset as often as it asks, and the driver's state is not to blame
    /// (three such requests stopped a driver that had failed nothing).
    fn recovered(&mut self) {
        self.recoveries = self.recoveries.wrapping_add(1);
        if self.in_flight() == 0 {
            return;
        }
        self.recoveries_without_progress += 1;
        if self.recoveries_without_progress >= RECOVERIES_WITHOUT_PROGRESS {
            self.recoveries_without_progress = 0;
            self.stop_corrupt(Corrupt::NoProgress);
        }
    }

    /// Counts a request the driver could not hand its device (nothing the
    /// device did: the queue never reached it). A few in a row with none
    /// handed over between are not bad luck: a flipped bit in the driver's
    /// slots or queue had it answer `DeviceError` to every request while
    /// looking alive, until an operator restarted it (a fault campaign
    /// found it). It stops ([`Platform::corrupt`]) and is restarted from
    /// its image. (Cold and out of line: inlined on the request path it
    /// took blk0's text over its 32 KiB; moving the whole submission out
    /// of line instead cost a read through IPC 194 instructions.)
    #[cold]
    #[inline(never)]
    pub(super) fn refused(&mut self) {
        self.refused_in_a_row += 1;
        if self.refused_in_a_row >= REFUSED_IN_A_ROW {
            self.refused_in_a_row = 0;
            self.stop_corrupt(Corrupt::RefusesRequests);
        }
    }

    /// Whether `caller` has a call in flight here. A caller waits in the
    /// kernel from its send until its reply, so a new request from one
    /// cannot be: what `recv` returned is not what this driver reads (a
    /// fault campaign's flip of the register holding where the message's
    /// header goes had blk0 act on an earlier caller's header with a new
    /// body, and post that caller's lease, still lent to it, as data for
    /// another sector). Exact identity, generation included: a restarted
    /// client is a new caller.
    fn awaits_reply(&self, caller: TaskId) -> bool {
        self.pending.iter().flatten().any(|p| p.caller() == caller)
    }

    /// A request came "from" a caller already waiting for its reply (see
    /// [`awaits_reply`](Self::awaits_reply)): acting on it would post
    /// that caller's lease for a request it never made, and answering it
    /// would end the call it is waiting in. Nothing is done with it; the
    /// driver stops ([`Corrupt::CallerAlreadyWaiting`]). Cold: a correct
    /// driver never gets here.
    #[cold]
    #[inline(never)]
    fn caller_already_waiting(&mut self) {
        self.stop_corrupt(Corrupt::CallerAlreadyWaiting);
    }

    /// Deferred calls waiting for the device.
    pub fn in_flight(&self) -> usize {
        self.pending.iter().flatten().count()
    }

    /// Whether any deferred call waits for the device.
    fn any_pending(&self) -> bool {
        self.pending.iter().any(Option::is_some)
    }

    /// Whether a request could be taken now: with every slot in flight the
    /// driver waits for notifications only.
    pub fn accepts_requests(&self) -> bool {
        match &self.binding {
            Binding::Bound { device, .. } => device.has_free_slot(),
            _ => true,
        }
    }

    /// The notification bits the driver waits for.
    pub fn mask(&self) -> u32 {
        IRQ_BIT | REMOVE_BIT | PROBE_BIT | TIMER_BIT
    }

    /// Sets the request deadline from the oldest request in flight and the
    /// last progress, or stops it when nothing is in flight. Notifications
    /// that bring no completion do not move it. The platform's timer is
    /// told of a change, and always after it fired (`fired`: it may fire
    /// before the deadline, see [`LazyTimer`]).
    fn rearm_deadline(&mut self, fired: bool) {
        let deadline = self
            .any_pending()
            .then(|| self.clock_from.saturating_add(self.deadline_ticks));
        if fired || deadline != self.deadline {
            self.deadline = deadline;
            self.platform.set_timer(deadline);
        }
    }

    /// The driver found its own state corrupt: stop ([`Platform::corrupt`]),
    /// with every answer given so far sent first (the `Ipc` may hold one
    /// back until the next receive, see `idol_runtime::HeldReply`).
    fn stop_corrupt(&mut self, why: Corrupt) {
        self.ipc.flush();
        self.platform.corrupt(why);
    }

    /// The deadline timer fired: if requests are still stuck, give up on
    /// them and reset the device.
    fn deadline_passed(&mut self) {
        match self.deadline {
            Some(d) if self.in_flight() > 0 && self.platform.now() >= d => {}
            _ => return,
        }
        trace::record_rare(Trace::Timeout);
        self.platform.event(Event::Timeout);
        // `handle_notification` re-arms (or disarms) the timer after this.
        // A slow disk is not a broken one: its clients are told which.
        self.restart_device_failing(BlockError::TimedOut);
    }

    /// Fails what is in flight, resets the device and brings it up again
    /// (unless the reset failed: then it is given up).
    fn restart_device(&mut self) {
        self.restart_device_failing(BlockError::DeviceError);
    }

    /// [`restart_device`](Self::restart_device), answering `error` to what
    /// was in flight.
    fn restart_device_failing(&mut self, error: BlockError) {
        let Binding::Bound { probe, .. } = self.binding else {
            return;
        };
        self.recovered();
        self.fail_in_flight(error);
        if self.is_bound() {
            self.bring_up(probe);
        }
    }

    /// One turn of the driver's loop: receives a request (only while a slot
    /// is free) or notifications, and handles it. `buffer` should be
    /// [`BLOCK_BUFFER_SIZE`] bytes.
    pub fn serve_once(&mut self, buffer: &mut [u8]) {
        let from = if self.accepts_requests() {
            None
        } else {
            Some(TaskId::KERNEL)
        };
        let ipc = self.ipc;
        let msg = ipc.recv(buffer, self.mask(), from);
        self.handle(buffer, &msg);
    }

    /// Handles what `recv` returned (a request or notifications).
    pub fn handle(&mut self, buffer: &[u8], msg: &RecvMessage) {
        if msg.sender == TaskId::KERNEL {
            self.handle_notification(msg.operation);
        } else if self.awaits_reply(msg.sender) {
            self.caller_already_waiting();
        } else {
            let ipc = self.ipc;
            block_dispatch(self, &ipc, buffer, msg);
        }
    }

    /// Registers (again) and brings up the device the bus gives us.
    fn try_probe(&mut self) {
        if self.is_bound() || matches!(self.binding, Binding::Dead) {
            return;
        }
        if let Some(probe) = self.platform.register() {
            self.bring_up(probe);
        }
    }

    fn bring_up(&mut self, probe: Probe) {
        // Drop any device first: its Drop resets it, and the reference it
        // held to the memory ends before a new one is made.
        self.binding = Binding::Failed;
        let regs = self.platform.regs(&probe);
        // SAFETY: `binding` is not `Bound`, so no `BlkDevice` exists and no
        // reference to the memory is alive (see the `memory` field); the
        // one made here is held by the new device only, until it is dropped
        // when `binding` changes again. The memory itself is borrowed
        // exclusively for 'a by `new`.
        let memory: &'a mut DmaMemory = unsafe { &mut *self.memory.as_ptr() };
        self.serial = None;
        match BlkDevice::probe(regs, memory, self.platform.dma_gate()) {
            Ok(device) => {
                trace::record_rare(Trace::Probed {
                    slot: probe.slot,
                    capacity: device.geometry().capacity,
                    version: probe.version,
                });
                self.platform.event(Event::Probed {
                    slot: probe.slot,
                    capacity: device.geometry().capacity,
                    version: probe.version,
                });
                self.binding = Binding::Bound { probe, device };
            }
            Err(e) => {
                self.platform.event(Event::ProbeFailed(e));
                self.binding = Binding::Failed;
            }
        }
    }

    /// The IRQ path: take the interrupt, then `get_buf` until `restart`
    /// says nothing raced in.
    fn interrupt(&mut self) {
        let Binding::Bound { device, .. } = &mut self.binding else {
            return;
        };
        let cause = device.take_interrupt();
        if let Some(e) = self.drain() {
            self.device_fault(e);
        } else if cause.contains(InterruptStatus::CONFIG_CHANGE) {
            self.config_changed();
        }
        if self.is_bound() {
            self.platform.enable_irq();
        }
    }

    /// Answers every request the device has completed, then asks for an
    /// interrupt at the next completion (`restart`), until none raced in.
    /// `Some` is a device that broke the protocol.
    fn drain(&mut self) -> Option<virtio::Error> {
        let Binding::Bound { device, .. } = &mut self.binding else {
            return None;
        };
        loop {
            match device.poll() {
                Ok(Some(done)) => {
                    self.recoveries_without_progress = 0;
                    // Test images: a fault armed for this point fires with
                    // the device done and the client not yet answered.
                    // (Answers given before it are sent first: an armed fault
                    // may end the task.)
                    #[cfg(feature = "fault-injection")]
                    if let Some((how, arg)) = {
                        self.ipc.flush();
                        fault_inject::point::fire(fault_inject::point::Point::BeforeReply)
                    } {
                        device.corrupt_queue(how, arg);
                    }
                    let mut none = None;
                    let pending = self.pending.get_mut(done.slot.index()).unwrap_or(&mut none);
                    complete(self.ipc, device, &mut self.serial, done, pending);
                    // Progress: the deadline of what is still in flight
                    // runs from now (see `clock_from`).
                    self.clock_from = self.platform.now();
                }
                Ok(None) => {
                    if device.restart() {
                        return None;
                    }
                }
                Err(e) => return Some(e),
            }
        }
    }

    /// Looks for completions right after a request went onto an idle
    /// queue, before waiting: a device that is done by the time the kick
    /// returns is answered at once (its interrupt, still asked for, then
    /// finds nothing new). The in-task driver does the same
    /// (`transfer_blocking` polls before it waits).
    ///
    /// The device is almost never done yet: that case is one look at the
    /// used index (`nothing_completed`), not a whole `drain` (its saved
    /// registers, `poll` and `restart`).
    pub(super) fn poll_first(&mut self) {
        if let Binding::Bound { device, .. } = &self.binding {
            if device.nothing_completed() {
                return;
            }
        }
        if let Some(e) = self.drain() {
            self.device_fault(e);
        }
    }

    /// A hostile or broken device: fail what is in flight, reset, and bring
    /// it up again.
    fn device_fault(&mut self, error: virtio::Error) {
        trace::record_rare(Trace::DeviceFault);
        // `QueueBroken` from `poll` means the driver's own bookkeeping
        // disagrees with the queue's (the queue is reset at every bring-up,
        // so it cannot be left broken by an earlier device error here):
        // this driver's state is corrupt. Blaming the device would reset it
        // and carry on with the same bad state, failing every request
        // forever while looking alive; stopping lets the supervisor restart
        // the driver from its image (device reset first).
        if error == virtio::Error::QueueBroken {
            self.stop_corrupt(Corrupt::QueueLeftBroken);
        }
        self.platform.event(Event::DeviceFault(error));
        self.restart_device();
    }

    /// A configuration change notification (§2.5.2, §4.2.3.4): the device
    /// either needs a reset (§2.1.2: it says so with DEVICE_NEEDS_RESET and
    /// this notification) or its config space changed (a disk resize).
    fn config_changed(&mut self) {
        let Binding::Bound { device, .. } = &mut self.binding else {
            return;
        };
        if device.needs_reset() {
            self.platform.event(Event::NeedsReset);
            self.restart_device();
            return;
        }
        let before = device.geometry().capacity;
        match device.refresh_geometry() {
            Ok(g) if g.capacity != before => {
                self.platform.event(Event::Resized {
                    capacity: g.capacity,
                });
            }
            Ok(_) => {}
            // Config space that never settles: a broken device.
            Err(e) => self.device_fault(e),
        }
    }

    /// Resets the device and answers every in-flight call with `error`. If
    /// the reset fails the device is given up (`Dead`): its in-flight
    /// buffers are never reused.
    fn fail_in_flight(&mut self, error: BlockError) -> usize {
        let Binding::Bound { device, .. } = &mut self.binding else {
            return 0;
        };
        let mut failed = 0;
        let taken = match device.reset() {
            Ok(taken) => taken,
            Err(ResetFailed { .. }) => {
                for p in self.pending.iter_mut().filter_map(Option::take) {
                    answer(self.ipc, p, Err(ServerError::Error(error)));
                    failed += 1;
                }
                // Dropping the device tries one more reset; its memory is
                // never borrowed again (`try_probe` refuses when `Dead`).
                self.binding = Binding::Dead;
                self.platform.event(Event::ResetFailed);
                // The task stops here: every answer must be out first.
                self.ipc.flush();
                self.platform.device_failed();
                return failed;
            }
        };
        for slot in taken.iter() {
            if let Some(p) = self.pending.get_mut(slot.index()).and_then(Option::take) {
                answer(self.ipc, p, Err(ServerError::Error(error)));
                failed += 1;
            }
            device.release(slot);
        }
        // Calls whose slot the reset did not report (cannot happen while
        // the queue keeps its promise) are answered too: never a hang.
        for p in self.pending.iter_mut().filter_map(Option::take) {
            answer(self.ipc, p, Err(ServerError::Error(error)));
            failed += 1;
        }
        failed
    }

    /// The seed's `remove`, at the bus's request.
    fn remove(&mut self) {
        if !self.is_bound() {
            return;
        }
        let in_flight = self.fail_in_flight(BlockError::Removed);
        if matches!(self.binding, Binding::Dead) {
            // The reset failed: `device_failed` has told the platform.
            return;
        }
        // Dropping the device resets it again; nothing of ours is on it.
        self.binding = Binding::Removed;
        trace::record_rare(Trace::Removed(in_flight as u32));
        self.platform.event(Event::Removed { in_flight });
        self.platform.removed();
    }

    /// The error for a request that cannot reach a device now.
    fn unbound_error(&self) -> BlockError {
        match self.binding {
            Binding::Waiting => BlockError::NoDevice,
            Binding::Removed => BlockError::Removed,
            Binding::Failed | Binding::Dead | Binding::Bound { .. } => BlockError::DeviceError,
        }
    }

    fn info_now(&self, serial: [u8; VIRTIO_BLK_ID_BYTES]) -> Option<BlockInfo> {
        let Binding::Bound { device, .. } = &self.binding else {
            return None;
        };
        let g = device.geometry();
        Some(BlockInfo {
            capacity_sectors: g.capacity,
            block_size: g.block_size,
            read_only: u32::from(g.read_only),
            serial,
            reserved: [0; 4],
        })
    }
}

impl<I: Ipc + Copy, P: Platform> NotificationHandler for BlockDriver<'_, I, P> {
    fn notification_mask(&self) -> u32 {
        self.mask()
    }

    fn handle_notification(&mut self, bits: u32) {
        // Completions first: a request the device finished before the
        // remove request is answered with its data, not `Removed`.
        if bits & IRQ_BIT != 0 {
            self.interrupt();
        }
        if bits & REMOVE_BIT != 0 {
            self.remove();
        }
        if bits & PROBE_BIT != 0 {
            self.try_probe();
        }
        let fired = bits & TIMER_BIT != 0;
        if fired {
            self.platform.timer_fired();
            self.deadline_passed();
        }
        self.rearm_deadline(fired);
    }
}

/// Fault injection (test images only): corrupts the bound device's ring.
#[cfg(feature = "fault-injection")]
impl<I: Ipc + Copy, P: Platform> fault_inject::serve::Injectable for BlockDriver<'_, I, P> {
    fn corrupt_queue(&mut self, how: virtio::queue::Corruption, value: u32) -> bool {
        match &mut self.binding {
            Binding::Bound { device, .. } => {
                device.corrupt_queue(how, value);
                true
            }
            _ => false,
        }
    }

    fn recoveries(&self) -> u32 {
        self.recoveries
    }
}
