//! What the supervisor sees and may do through kernel IPC: a task's state
//! and status, the `kipc` operations, fault injections and their evidence,
//! restart policies and the authority app.toml grants each task.

use crate::*;

code_enum! {
    /// Scheduling state of a task as reported by `kipc`.
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    #[repr(u32)]
    pub enum TaskState {
        /// Never started (`start = false` in app.toml) or stopped by the supervisor.
        Stopped = 0,
        /// Ready to run.
        Runnable = 1,
        /// Blocked in `send`: the message waits for the server's `recv`.
        InSend = 2,
        /// Blocked in `recv`.
        InRecv = 3,
        /// Stopped by a fault, waiting for the supervisor.
        Faulted = 4,
        /// Blocked in a call the server has received: waiting for its
        /// reply.
        InReply = 5,
        /// Ready to run, but held off the CPU by the kernel until its CPU
        /// share period ends: it used its share of this one
        /// ([`crate::CPU_SHARE_PERIOD_MS`]).
        Throttled = 6,
    }
    describe {
        Stopped => "stopped",
        Runnable => "runnable",
        InSend => "in send",
        InRecv => "in recv",
        Faulted => "faulted",
        InReply => "awaiting reply",
        Throttled => "throttled",
    }
}

/// Reply of [`Kipc::TaskStatus`].
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct TaskStatus {
    /// A [`TaskState`] value.
    pub state: u32,
    /// Current generation.
    pub generation: u32,
    /// Priority (0 is the most important).
    pub priority: u32,
    /// Faults since boot.
    pub fault_count: u32,
    /// The last fault (kind `None` if it never faulted).
    pub last_fault: FaultRecord,
    /// The task's name from app.toml, NUL-padded.
    pub name: [u8; 16],
    /// Syscalls this incarnation has made (wrapping). A task that is
    /// runnable yet makes no syscall for a long time has stopped answering:
    /// the supervisor's liveness check reads this.
    pub syscalls: u32,
    /// Replies this incarnation has delivered to waiting callers (wrapping).
    pub replies: u32,
    /// Index of the task this one is blocked calling (in send or awaiting
    /// the reply), or `u32::MAX`.
    pub calling: u32,
    /// Calls this incarnation refused with `reply_fault` while untrusted
    /// (wrapping): its clients got REJECTED codes instead of faults. The
    /// kernel posts the supervisor's fault bit at each, so the supervisor
    /// can judge whether the server, rather than its clients, is broken
    /// (by each client's [`rejected_call`](Self::rejected_call)).
    pub rejections: u32,
    /// Times the kernel held the task off the CPU for having used its CPU
    /// share of a period (wrapping; since boot, across restarts): how a
    /// task that keeps the CPU busy without ever running past its budget
    /// is kept from starving the tasks below it.
    pub throttles: u32,
    /// The last call of this task that an untrusted server refused with
    /// `reply_fault` (since boot, across restarts of either): what the
    /// supervisor judges the server by.
    pub rejected_call: RejectedCall,
    /// Timer ticks the task has run, as the kernel charged its stretches
    /// (wrapping; since boot): kept for tasks with a CPU budget (every
    /// driver), 0 for the others. The supervisor's liveness check reads
    /// it: a driver that did not run between two samples was starved (a
    /// host that stopped QEMU, more important tasks), not spinning.
    pub ran_ticks: u32,
}

/// A call an untrusted server refused with `reply_fault`, as the kernel
/// saw it when it was refused: its shape, from the caller's registers and
/// lease table, and its message bytes, which the server cannot change
/// (except through a writable lease over them: then they are not vouched
/// for).
///
/// A server generated from an IDL file refuses only calls that break the
/// interface (an unknown operation, a message or lease of the wrong
/// shape, a reply buffer too small). So a refused call that fits the
/// interface convicts the server — it is broken — and one that does not
/// convicts nobody, whoever the client: the supervisor restarts a driver
/// only on the first kind, and so no client, hostile or not, can get a
/// driver restarted by sending garbage.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct RejectedCall {
    /// Calls of this task refused so far (wrapping; 0: none yet, and the
    /// rest of the record is zero).
    pub count: u32,
    /// The server that refused it (a [`TaskId`]'s raw value, generation
    /// included).
    pub server: u32,
    /// The operation number.
    pub operation: u32,
    /// The message length in bytes.
    pub message_len: u32,
    /// The reply buffer's length in bytes.
    pub response_capacity: u32,
    /// How many leases it lent.
    pub lease_count: u32,
    /// The first lease's attributes and length as [`crate::describe_lease`]
    /// packs them (0: no lease, or one it cannot describe).
    pub first_lease: u32,
    /// 1 if the kernel vouches for `first_lease`: it read the caller's
    /// lease table, and the caller has no device of its own that could
    /// have rewritten the table since the server was told of the lease.
    /// 0 otherwise: the lease convicts nobody.
    pub lease_vouched: u32,
    /// The reason the server gave (a `ReplyFaultReason` value).
    pub reason: u32,
    /// 1 if the kernel vouches for `message`: the whole message (at most
    /// [`REJECTED_MESSAGE_BYTES`]) is there as the server was given it. It
    /// read the caller's message buffer, the caller has no device of its
    /// own, and no writable lease of the call covers the buffer (the server
    /// or its device may have written there in serving the call). A call
    /// of more than one lease is never vouched for (its leases decide
    /// nothing). 0 otherwise: the bytes convict nobody.
    pub message_vouched: u32,
    /// The message's first `message_len` bytes when `message_vouched`, else
    /// zero: what lets an op whose arguments must decode be judged (an
    /// enum, a `bool`, hubpack) and not only measured.
    pub message: [u8; REJECTED_MESSAGE_BYTES],
}

/// How much of a refused call's message the kernel records
/// ([`RejectedCall::message`]): every request of the bus's interfaces
/// (`block`, `entropy`, `ethernet`) fits.
pub const REJECTED_MESSAGE_BYTES: usize = 32;

impl TaskStatus {
    /// The task's name as text (see [`nul_padded_str`]).
    pub fn name_str(&self) -> &str {
        nul_padded_str(&self.name)
    }
}

code_enum! {
    /// Why the supervisor restarted a task ([`RestartRecord::cause`]).
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    #[repr(u32)]
    pub enum RestartCause {
        /// It faulted (restarted at once, or after its backoff).
        Fault = 1,
        /// An operator asked (the shell's `restart`).
        Operator = 2,
        /// The liveness watchdog found it spinning, or not answering its
        /// callers.
        Hung = 3,
        /// A driver that refused with `reply_fault` a call that fits the
        /// interface it serves ([`RejectedCall`]): no correct server of
        /// that interface refuses it.
        Rejecting = 4,
        /// A driver that did not release its slot by the bus's deadline.
        RemovalTimeout = 5,
        /// A driver that reported its slot released (`removed`) although
        /// the bus never asked it to: its idea of its own binding has gone
        /// wrong (a corrupted driver, sure it has no device, would answer
        /// every client "no device" for good).
        UnaskedRelease = 6,
        /// The liveness watchdog found it holding one caller's request
        /// unanswered for as long as it may hang, while it answered others.
        HeldCaller = 7,
        /// A trusted driver that faulted two different clients in a row
        /// within a second (its `reply_fault`s fault its clients): more
        /// likely corrupted than they are.
        FaultedClients = 8,
    }
    describe {
        Fault => "fault",
        Operator => "operator",
        Hung => "stopped answering",
        Rejecting => "refused a well-formed call",
        RemovalTimeout => "kept a removed slot",
        UnaskedRelease => "released its device unasked",
        HeldCaller => "held a caller",
        FaultedClients => "faulted two clients",
    }
}

/// Restarts the supervisor keeps records of (the latest).
pub const RESTARTS_KEPT: usize = 16;

/// One restart the supervisor made: the reply of the supervisor's
/// `restart_record`.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct RestartRecord {
    /// Its number: restarts made since boot before it.
    pub seq: u32,
    /// The task's index.
    pub task: u32,
    /// The generation it was restarted as.
    pub generation: u32,
    /// A [`RestartCause`] value.
    pub cause: u32,
    /// When, in ms since boot.
    pub at_ms: u64,
}

impl RestartRecord {
    /// Why, as a [`RestartCause`] (`None` for a value this build does not
    /// know).
    pub fn cause(&self) -> Option<RestartCause> {
        RestartCause::from_u32(self.cause)
    }
}

code_enum! {
    /// Supervisor-only kernel operations, the `a0` of [`Sysnum::Kipc`].
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    #[repr(u32)]
    pub enum Kipc {
        /// Message: task index (`u32`). Reply: [`TaskStatus`].
        TaskStatus = 0,
        /// Message: task index (`u32`). Restarts the task from its image: memory
        /// re-initialised by its startup code, generation advanced if it had not
        /// faulted, every caller blocked on it woken with a DEAD code.
        RestartTask = 1,
        /// Message: task index (`u32`). Faults the task with
        /// [`FaultKind::Injected`]. Test images only (kernel feature
        /// `test-control`): a shipping kernel refuses it.
        FaultTask = 2,
        /// Message: `u32` exit code. Stops the machine (QEMU's test finisher):
        /// 0 = pass, anything else = fail with that code. Test images only
        /// (kernel feature `test-control`): a shipping kernel refuses it.
        Shutdown = 3,
        /// Reply: `u32` number of tasks in the image.
        TaskCount = 4,
        /// Message: `[task, slot, bits]` (`u32`s). Gives the task the MMIO
        /// window of virtio-mmio `slot` (read/write, never executable) and
        /// routes the slot's interrupt to its notification `bits`, unmasked.
        /// Refused if the slot's interrupt is already routed anywhere (another
        /// grant or a static app.toml route), or `bits` is 0 or already
        /// carries one of the task's interrupts.
        GrantDevice = 5,
        /// Message: `[task, slot]`. Takes the window and the interrupt route
        /// back from that task (the interrupt is masked); the task faults if it
        /// touches the window afterwards. Refused if the task holds neither:
        /// an interrupt routed to another task is never disabled.
        RevokeDevice = 6,
        /// Message: `[task, kind, arg]`, `kind` an [`Injection`]. Corrupts a
        /// live task for fault-injection tests. Reply: [`InjectEvidence`]. Only
        /// kernels built with the `fault-injection` feature (test images)
        /// accept it.
        Inject = 7,
        /// Message: task index (`u32`). Leaves a faulted task stopped: no
        /// incarnation follows until [`Kipc::RestartTask`] starts one. A
        /// `send` to it is then refused with [`crate::SERVER_STOPPED`], not
        /// answered DEAD, so that its clients can tell a server that is
        /// not coming back from one restarting. The supervisor's answer to
        /// a task past its restart limit. Refused (`KIPC_TASK_ALIVE`, 5)
        /// for a task that is alive.
        StopTask = 8,
    }
}

code_enum! {
    /// What `Kipc::Inject` does to the task.
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    #[repr(u32)]
    pub enum Injection {
        /// Flip bit `arg & 31` of register `(arg >> 5) & 31` (0 = the pc).
        FlipRegisterBit = 0,
        /// Flip bit `arg & 31` of the RAM word at byte offset `(arg >> 5) * 4`,
        /// taken modulo the size of the task's RAM region.
        FlipRamBit = 1,
        /// Make the task resume at address `arg` (a wild jump).
        Jump = 2,
        /// Not a task's corruption: make the *kernel* recurse until its stack
        /// overflows, to show the kernel stack guard stops the machine with a
        /// clear message instead of overwriting kernel text.
        KernelStackOverflow = 3,
        /// Panic the kernel itself (the task is ignored), so that a test can
        /// check the post-mortem dump. Only kernels built with the `test-panic`
        /// feature accept it; every other kernel refuses it.
        KernelPanic = 4,
        /// Not a task's corruption: the supervisor faults *itself* (it panics;
        /// the task is ignored), so that a test can check the kernel's answer —
        /// a post-mortem dump, then a reboot. Only a supervisor built with
        /// `test-control` commits it; it never reaches the kernel, which
        /// refuses it.
        SupervisorFault = 5,
        /// Not a corruption: changes nothing. Reads the task's memory so that a
        /// test can show it did not change (no late DMA into a restarted
        /// driver): `arg` 0 is the task's RAM region, 1 its DMA ring region (a
        /// driver's). The evidence is `location` = the region's base, `before`
        /// = the FNV-1a hash of its 32-bit words, `after` = its size in bytes
        /// (so a test sees what was covered). One changed word always changes
        /// the hash (each step is a bijection of the state).
        Fingerprint = 6,
    }
}

/// Reply of [`Kipc::Inject`]: the evidence that the corruption took effect.
///
/// For a bit flip, `before` and `after` differ in exactly the flipped bit;
/// a test compares them to know the injection happened (a no-op injection
/// shows `before == after`), then watches what the task does next.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct InjectEvidence {
    /// Where: the register number ([`Injection::FlipRegisterBit`], 0 = pc),
    /// the RAM word's address ([`Injection::FlipRamBit`]), or the new pc
    /// ([`Injection::Jump`]).
    pub location: u32,
    /// The register or word before the injection (the old pc for a jump).
    pub before: u32,
    /// The register or word after the injection (the new pc for a jump).
    pub after: u32,
}

/// What the supervisor does when a task faults (app.toml `restart`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RestartKind {
    /// Restart at once.
    Immediate,
    /// Restart after a delay that doubles with each fault in the window.
    Backoff,
    /// Leave the task stopped.
    Never,
}

/// A task's restart policy, as app.toml gave it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// What to do.
    pub kind: RestartKind,
    /// First delay for `Backoff`, in ms.
    pub backoff_ms: u32,
    /// Most faults within `window_ms` before the task is left stopped;
    /// 0 = no limit. At most [`RestartPolicy::MAX_LIMIT`].
    pub limit: u32,
    /// The window `limit` and the backoff count over, in ms.
    pub window_ms: u32,
}

impl RestartPolicy {
    /// The largest `limit`: the supervisor remembers the last
    /// `MAX_LIMIT + 1` fault times of each task, so it can tell a fault
    /// more than `MAX_LIMIT` within the window; the image builder refuses
    /// a larger one.
    pub const MAX_LIMIT: u32 = 15;

    /// Restart at once, always: the policy of a task app.toml says nothing
    /// about.
    pub const IMMEDIATE: RestartPolicy = RestartPolicy::new(RestartKind::Immediate, 0, 0, 0);

    /// A policy from its four settings, in the order app.toml's `restart`
    /// table gives them.
    pub const fn new(kind: RestartKind, backoff_ms: u32, limit: u32, window_ms: u32) -> Self {
        RestartPolicy {
            kind,
            backoff_ms,
            limit,
            window_ms,
        }
    }
}

/// What a task may ask of the supervisor, as app.toml granted it (`cargo
/// xtask` passes it to the supervisor as `userlib::tasks::AUTHORITY`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Authority {
    /// Operator rights (`operator = true`): bind and unbind any slot,
    /// restart (and in test images fault) any task, read task status.
    pub operator: bool,
    /// Observer rights (`observer = true`): read any task's status, and
    /// nothing that changes anything. Implied by `operator`.
    pub observer: bool,
    /// The virtio device ids it may drive (`drives`): bit `n` set = it may
    /// register for device id `n`. Zero for a task that is no driver.
    pub device_ids: u64,
}

impl Authority {
    /// Whether the task may drive virtio device id `id`.
    pub const fn may_drive(&self, id: u32) -> bool {
        id < 64 && self.device_ids & (1 << id) != 0
    }
}
