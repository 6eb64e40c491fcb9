//! The contract between the Vireo kernel and its tasks.
//!
//! Everything that crosses the user/kernel boundary is defined here: syscall
//! numbers and their register conventions, task identities, response codes,
//! lease descriptors, fault records and the kernel-IPC (`kipc`) operations the
//! supervisor may use. Both `sys/kern` and `sys/userlib` depend on this crate,
//! so a change here is a change of ABI.
//!
//! This crate must never contain behaviour: only types, constants and the pure
//! encodings between them. It is `#![no_std]` and tested on the host.

#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

#[macro_use]
mod code_enum;
mod fault;
mod status;
mod text;

pub use fault::{FaultKind, FaultRecord, ReplyFaultReason, UsageError};
pub use status::{
    Authority, InjectEvidence, Injection, Kipc, RejectedCall, RestartCause, RestartKind,
    RestartPolicy, RestartRecord, TaskState, TaskStatus, REJECTED_MESSAGE_BYTES, RESTARTS_KEPT,
};
pub use text::{acts_on_terminal, is_bidi_format};

/// Names a task *incarnation*: the task's index in the image's task table and
/// the generation it is on.
///
/// The generation lets a client notice that the server it was talking to has
/// died and been replaced: a send to a stale generation completes with a
/// [`dead_code`] instead of reaching the new incarnation unannounced.
///
/// Encoding: the low [`TaskId::INDEX_BITS`] bits are the index, the next
/// [`Generation::BITS`] bits the generation; the top bits are always zero,
/// so every `TaskId` is below [`TaskId::LIMIT`] and can never be mistaken
/// for a kernel response code (those start at [`KERNEL_CODE_BASE`]).
///
/// The generation is 16 bits wide so that a stale id stays stale: a task
/// must be restarted 65,536 times before an old id names a live incarnation
/// again, far beyond any restart limit or fault campaign (a 6-bit generation
/// wrapped after 64 restarts, and a campaign restarts a driver thousands of
/// times).
#[derive(Copy, Clone, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(transparent)]
pub struct TaskId(pub u32);

/// `TaskId(index 2, gen 5)`: the raw word (`TaskId(5122)`) hid both.
impl core::fmt::Debug for TaskId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "TaskId(index {}, gen {})",
            self.index(),
            self.generation().0
        )
    }
}

impl TaskId {
    /// Bits of a `TaskId` that hold the task index.
    pub const INDEX_BITS: u32 = 10;
    /// Mask selecting the task index.
    pub const INDEX_MASK: u32 = (1 << Self::INDEX_BITS) - 1;
    /// Every `TaskId` (including [`TaskId::KERNEL`]) is below this.
    pub const LIMIT: u32 = 1 << (Self::INDEX_BITS + Generation::BITS);
    /// The kernel's own id: the sender of notifications in `recv`. Its index
    /// (`INDEX_MASK`) is never a task's.
    pub const KERNEL: TaskId = TaskId(Self::LIMIT - 1);
    /// Largest number of tasks an image may contain.
    pub const MAX_TASKS: usize = Self::INDEX_MASK as usize; // 0x3FF is KERNEL's index

    /// Builds a task id from an index and a generation.
    pub const fn new(index: u16, generation: Generation) -> Self {
        TaskId((index as u32 & Self::INDEX_MASK) | ((generation.0 as u32) << Self::INDEX_BITS))
    }

    /// Reads a `TaskId` from a register. Bits above [`TaskId::LIMIT`] are
    /// dropped, so a garbage register still names *some* index and
    /// generation that the kernel then checks like any other.
    pub const fn from_register(r: u32) -> Self {
        TaskId(r & (Self::LIMIT - 1))
    }

    /// The task's index in the task table.
    pub const fn index(self) -> usize {
        (self.0 & Self::INDEX_MASK) as usize
    }

    /// The incarnation this id names.
    pub const fn generation(self) -> Generation {
        Generation((self.0 >> Self::INDEX_BITS) as u16)
    }
}

/// A task's incarnation counter. It advances by one each time an incarnation
/// ends (a fault, or a restart of a task that had not faulted); it is 16
/// bits wide, so it would take 65,536 restarts to wrap.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Generation(pub u16);

impl Generation {
    /// Width of a generation in a `TaskId` and in a DEAD code.
    pub const BITS: u32 = 16;
    /// The largest generation; the one after it is 0.
    pub const MASK: u16 = u16::MAX;

    /// The generation after this one.
    pub const fn next(self) -> Self {
        Generation(self.0.wrapping_add(1))
    }

    /// How many incarnations ended from `earlier` to this generation: a
    /// client that last saw `earlier` and now sees `self` (in a DEAD code)
    /// missed that many restarts, however many of its calls failed in
    /// between. Fewer than 65,536 are assumed.
    pub const fn since(self, earlier: Generation) -> u16 {
        self.0.wrapping_sub(earlier.0)
    }
}

/// The word `_start` paints over a task's whole stack before anything runs,
/// so a dump can find the deepest the stack ever reached: the lowest word
/// that no longer holds it (Humility's "stack high-water mark").
pub const STACK_PAINT: u32 = 0xBADD_CAFE;

/// The operation of a "show me your trace rings" message. Every task's
/// `recv` (userlib) answers it by itself, before the task sees it: it
/// writes its rings as text into the caller's lease 0 and replies with the
/// length as a little-endian u32 — if the caller is an operator (app.toml
/// `operator = true`); anyone else gets [`TRACE_REFUSED`].
/// Operations are 16 bits on the wire; interfaces number theirs from 0 up,
/// so the top of the range is free.
pub const RINGBUF_OP: u16 = 0xFF72;

/// Reply code to a [`RINGBUF_OP`] from a task that may not read traces.
pub const TRACE_REFUSED: u32 = 0x7269_0001;
/// Reply code to a [`RINGBUF_OP`] whose reply buffer has no room for the
/// answer's length (4 bytes): nothing is written. Answered with the length,
/// such a call would get the server faulted by the kernel (a reply larger
/// than the caller's buffer), and the supervisor's fault reboots the
/// machine.
pub const TRACE_NO_ROOM: u32 = 0x7269_0002;

/// Response code of a successful `send`.
pub const SUCCESS: u32 = 0;

/// Codes at or above this value are reserved by the kernel; a server must
/// never reply with one (the kernel faults a server that tries). Each
/// family has a range of its own, so no code has two readings: DEAD
/// `0xFFFE_xxxx`, REJECTED `0xFFFF_FCxx`, `BORROW_*` `0xFFFF_FDxx`,
/// `REFUSED_*` and [`SERVER_STOPPED`] `0xFFFF_FExx`, `DMA_*` `0xFFFF_FFxx`.
pub const KERNEL_CODE_BASE: u32 = 0xFFFE_0000;

/// Prefix of the DEAD response codes: the low 16 bits carry the generation
/// the peer is on now.
const DEAD_PREFIX: u32 = 0xFFFE_0000;

/// The DEAD response code telling a caller that the task it addressed is not
/// the incarnation it named (it died, before or during the call). The code
/// carries the generation the task is on now, so the caller can refresh its
/// `TaskId` without another syscall.
pub const fn dead_code(now: Generation) -> u32 {
    DEAD_PREFIX | now.0 as u32
}

/// If `code` is a DEAD code, the generation it carries.
pub const fn dead_generation(code: u32) -> Option<Generation> {
    if code & 0xFFFF_0000 == DEAD_PREFIX {
        Some(Generation(code as u16))
    } else {
        None
    }
}

/// `send` refused: the target is not named in the caller's task slots.
pub const REFUSED_NOT_IN_SLOTS: u32 = 0xFFFF_FE01;
/// `send` refused: the target is not more important than the caller. IPC
/// only flows up the priority order, which is what keeps it deadlock-free.
pub const REFUSED_PRIORITY: u32 = 0xFFFF_FE02;
/// `send` refused: no task has that index.
pub const REFUSED_NO_SUCH_TASK: u32 = 0xFFFF_FE03;
/// A `kipc` call from a task that is not the supervisor.
pub const REFUSED_NOT_SUPERVISOR: u32 = 0xFFFF_FE04;

/// `post` refused: the target is neither in the caller's slots nor in its
/// app.toml `posts` list.
pub const REFUSED_POST_TARGET: u32 = 0xFFFF_FE05;
/// `post` refused: a bit is not one the target declares `postable` in
/// app.toml, or is an interrupt's bit or the supervisor's fault bit (those
/// are the kernel's alone).
pub const REFUSED_POST_BITS: u32 = 0xFFFF_FE06;
/// `send` refused: the target is stopped, and no restart is coming until
/// an operator's: app.toml does not start it, or the supervisor left it
/// stopped at its restart limit (`Kipc::StopTask`). A task that faulted and
/// awaits its restart answers DEAD instead.
pub const SERVER_STOPPED: u32 = 0xFFFF_FE07;
/// `recv` refused: an untrusted task (app.toml `trusted = false`, every
/// driver by default) named one task to receive from. Such a server takes
/// its callers in the kernel's order (the most important waiting first);
/// it may still wait for notifications alone ([`TaskId::KERNEL`]).
/// Receiving from chosen callers only, a driver could answer them and
/// leave another caller queued for good, where the supervisor's watchdog,
/// which sees calls received and replies, never looks.
pub const REFUSED_CLOSED_RECV: u32 = 0xFFFF_FE08;
/// Prefix of the REJECTED response codes: the low byte carries the
/// [`ReplyFaultReason`].
const REJECTED_PREFIX: u32 = 0xFFFF_FC00;

/// The REJECTED response code: an *untrusted* server (app.toml `trusted =
/// false`, the default for drivers) answered the call with `reply_fault`.
/// A trusted server's `reply_fault` faults the caller instead; an untrusted
/// one's verdict is only an allegation, so the caller gets this code and
/// carries on. The code carries the server's reason.
pub const fn rejected_code(reason: ReplyFaultReason) -> u32 {
    REJECTED_PREFIX | reason as u32
}

/// If `code` is a REJECTED code, the reason it carries (an unknown reason
/// reads as [`ReplyFaultReason::BadMessageContents`], as the kernel itself
/// treats one).
pub const fn rejected_reason(code: u32) -> Option<ReplyFaultReason> {
    if code & 0xFFFF_FF00 != REJECTED_PREFIX {
        return None;
    }
    match ReplyFaultReason::from_u32(code & 0xFF) {
        Some(r) => Some(r),
        None => Some(ReplyFaultReason::BadMessageContents),
    }
}

/// Borrow failed: the lender is not (any longer) waiting on a call to us.
pub const BORROW_NOT_LENT: u32 = 0xFFFF_FD01;
/// Borrow failed: no lease with that index in the call.
pub const BORROW_NO_SUCH_LEASE: u32 = 0xFFFF_FD02;
/// Borrow failed: offset and length reach past the end of the lease.
pub const BORROW_OUT_OF_RANGE: u32 = 0xFFFF_FD03;
/// Borrow failed: the lease does not grant that direction (read / write).
pub const BORROW_WRONG_ATTRIBUTES: u32 = 0xFFFF_FD04;

/// The constant's name for a `REFUSED_*` or `BORROW_*` code, so that a log
/// or a `{:?}` says which refusal it was instead of a number (`4294966785`
/// is `REFUSED_NOT_IN_SLOTS`); `None` for any other value. Apart from
/// [`kernel_code_meaning`] so that a task that only names codes does not
/// carry the sentences (drivers' text budgets are tight).
pub const fn kernel_code_name(code: u32) -> Option<&'static str> {
    Some(match code {
        REFUSED_NOT_IN_SLOTS => "REFUSED_NOT_IN_SLOTS",
        REFUSED_PRIORITY => "REFUSED_PRIORITY",
        REFUSED_NO_SUCH_TASK => "REFUSED_NO_SUCH_TASK",
        REFUSED_NOT_SUPERVISOR => "REFUSED_NOT_SUPERVISOR",
        REFUSED_POST_TARGET => "REFUSED_POST_TARGET",
        REFUSED_POST_BITS => "REFUSED_POST_BITS",
        SERVER_STOPPED => "SERVER_STOPPED",
        REFUSED_CLOSED_RECV => "REFUSED_CLOSED_RECV",
        BORROW_NOT_LENT => "BORROW_NOT_LENT",
        BORROW_NO_SUCH_LEASE => "BORROW_NO_SUCH_LEASE",
        BORROW_OUT_OF_RANGE => "BORROW_OUT_OF_RANGE",
        BORROW_WRONG_ATTRIBUTES => "BORROW_WRONG_ATTRIBUTES",
        _ => return None,
    })
}

/// What a code [`kernel_code_name`] names means, in a sentence.
pub const fn kernel_code_meaning(code: u32) -> Option<&'static str> {
    Some(match code {
        REFUSED_NOT_IN_SLOTS => "the target is not in the caller's `slots` in app.toml",
        REFUSED_PRIORITY => {
            "the target is not more important than the caller (IPC flows up the priorities in app.toml)"
        }
        REFUSED_NO_SUCH_TASK => "no task has that index",
        REFUSED_NOT_SUPERVISOR => "only the supervisor may make this kernel call",
        REFUSED_POST_TARGET => {
            "the target is neither in the caller's `slots` nor in its `posts` in app.toml"
        }
        REFUSED_POST_BITS => "a bit is not one the target declares `postable` in app.toml",
        SERVER_STOPPED => {
            "the server is stopped and no restart is coming (not started by app.toml, or left stopped at its restart limit: an operator's `restart` brings it back)"
        }
        REFUSED_CLOSED_RECV => {
            "an untrusted task may receive from the kernel alone or from anyone, not from one task it picks"
        }
        BORROW_NOT_LENT => "the lender is no longer waiting on a call to us",
        BORROW_NO_SUCH_LEASE => "the call has no lease with that index",
        BORROW_OUT_OF_RANGE => "offset and length reach past the end of the lease",
        BORROW_WRONG_ATTRIBUTES => "the lease does not grant that direction (read / write)",
        _ => return None,
    })
}

code_enum! {
    /// Syscall numbers, passed in register `a7`.
    ///
    /// Register conventions (arguments in `a0..a6`, results in `a0..a5`) are
    /// documented on each variant.
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    #[repr(u32)]
    pub enum Sysnum {
        /// `a0` = target `TaskId`, `a1`/`a2` = message pointer/length,
        /// `a3`/`a4` = reply buffer pointer/length, `a5` = lease table pointer,
        /// `a6` = operation << 16 | lease count (see [`send_op_leases`]).
        /// Returns `a0` = response code, `a1` = reply length.
        Send = 0,
        /// `a0`/`a1` = buffer pointer/length, `a2` = notification mask, `a3` =
        /// [`RECV_OPEN`] to receive from anyone, `TaskId::KERNEL` for
        /// notifications only, or the `TaskId` of the one task to receive from.
        /// Returns `a0` = sender (`KERNEL` for notifications), `a1` = operation
        /// (or the notification bits), `a2` = message length as sent, `a3` =
        /// response capacity, `a4` = lease count, and with a lease count of at
        /// least 1, `a5` = the first lease described ([`describe_lease`]; with
        /// none, `a5` is left as it was). A receive from one task that
        /// is dead, or dies while we wait, returns at once with `a0` = a DEAD
        /// code (which no `TaskId` can equal: those are below
        /// [`TaskId::LIMIT`]). An untrusted task naming one task gets
        /// [`REFUSED_CLOSED_RECV`] in `a0`.
        Recv = 1,
        /// `a0` = caller `TaskId`, `a1` = response code, `a2`/`a3` = message.
        Reply = 2,
        /// `a0` = 1 to arm, 0 to disarm; `a1`/`a2` = deadline (low/high word, in
        /// timer ticks); `a3` = notification bits to post at the deadline.
        SetTimer = 3,
        /// `a0` = lender, `a1` = lease index, `a2` = offset, `a3`/`a4` =
        /// destination. Returns `a0` = code, `a1` = bytes copied.
        BorrowRead = 4,
        /// As [`Sysnum::BorrowRead`], `a3`/`a4` the source.
        BorrowWrite = 5,
        /// `a0` = lender, `a1` = lease index. Returns `a0` = code, `a1` =
        /// attributes, `a2` = length.
        BorrowInfo = 6,
        /// `a0` = notification bits whose IRQs to control, `a1` = 1 enable / 0
        /// disable.
        IrqControl = 7,
        /// `a0`/`a1` = message. Does not return: the task is faulted.
        Panic = 8,
        /// Returns `a0`/`a1` = now, `a2`/`a3` = deadline, `a4` = armed, `a5` =
        /// notification bits.
        GetTimer = 9,
        /// `a0` = a `TaskId`. Returns `a0` = the same index at its current
        /// generation.
        RefreshTaskId = 10,
        /// `a0` = target `TaskId`, `a1` = bits. Returns `a0` = code:
        /// [`SUCCESS`], a DEAD code, [`REFUSED_NO_SUCH_TASK`],
        /// [`REFUSED_POST_TARGET`] or [`REFUSED_POST_BITS`] (nothing is posted
        /// then).
        Post = 11,
        /// `a0` = caller `TaskId`, `a1` = [`ReplyFaultReason`]. Faults the
        /// caller if the server is trusted (app.toml); from an untrusted server
        /// the caller's `send` completes with [`rejected_code`] instead.
        ReplyFault = 12,
        /// `a0`/`a1` = text to print on the console (early bring-up logging).
        Log = 13,
        /// Kernel IPC, supervisor only: `a0` = [`Kipc`] op, `a1`/`a2` =
        /// message, `a3`/`a4` = reply buffer. Returns `a0` = code, `a1` = reply
        /// length.
        Kipc = 14,
        /// `reply` then an open `recv`, in one trap: what a server does at the
        /// end of every request. `a0` = caller `TaskId`, `a1` = response code,
        /// `a2`/`a3` = reply message (as [`Sysnum::Reply`]); `a4`/`a5` =
        /// receive buffer, `a6` = notification mask (as [`Sysnum::Recv`] from
        /// anyone). Returns as [`Sysnum::Recv`]. A bad reply faults the caller
        /// before anything is received.
        ReplyRecv = 20,
        /// Bench kernels only (built with the `bench-probes` feature): `a0` = 1
        /// resets the instruction probes; otherwise `a1`/`a2` = a buffer for
        /// [`PROBES`] `u32` counters in [`Probe`] order. Any other kernel
        /// treats it as an unknown number.
        BenchProbes = 21,
        /// DMA confinement (a driver's only way to tell its device where
        /// memory is; see [`DmaOp`]): `a0` = [`DmaOp`], the rest per op.
        /// Returns `a0` = [`SUCCESS`] or a `DMA_*` refusal code.
        Dma = 22,
    }
}

code_enum! {
    /// The operations of [`Sysnum::Dma`].
    ///
    /// A driver cannot write its descriptor tables (they live in its
    /// kernel-owned, driver-read-only ring region, app.toml `queues`) nor the
    /// queue-address registers of its device (PMP leaves them out of its
    /// window): the kernel writes both, after checking that every buffer is
    /// memory the driver may expose to its device.
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    #[repr(u32)]
    pub enum DmaOp {
        /// `a1` = queue index, `a2` = the most entries the driver wants. The
        /// device's queue must be idle (after a reset). The kernel picks the
        /// size (a power of two, at most the device's QueueNumMax, `a2` and
        /// [`DMA_MAX_QUEUE_SIZE`]), zeroes the queue's ring memory and writes
        /// the queue registers. Returns `a1` = ring address (legacy layout,
        /// §2.7.2: descriptors, available ring, used ring at +4096), `a2` = size.
        Setup = 0,
        /// `a1` = queue, `a2`/`a3` = pointer to and count of descriptors
        /// (`struct virtq_desc`, 16 bytes each, the table aligned to 8 bytes
        /// like the `u64` it starts with) in chain order, `a4` = head,
        /// `a5` = the lender of any [`DMA_LEASE`] descriptor (the client whose
        /// call is being served). Each is checked and written (the first at
        /// `head`, each next at the previous one's `next`), then `head` is made
        /// available (§2.7.13). A chain holding a lease pins the lender: the
        /// driver's reply to it is refused ([`DMA_PINNED`]) until the device
        /// gave the chain back or was reset, and if the driver dies the kernel
        /// resets its device before the lender hears of it. `a6` = 0, or a
        /// `used_event` + 1 to write (as [`DmaOp::Avail`] would) before `head`
        /// is made available: a driver that left interrupts to be re-enabled
        /// while nothing was in flight does it in the same call.
        Post = 1,
        /// `a1` = queue, `a2` = [`DMA_AVAIL_FLAGS`] or [`DMA_USED_EVENT`], `a3`
        /// = the 16-bit value to write there (notification suppression, §2.7.7).
        Avail = 2,
        /// `a1` = feature bank (0: bits 0..32, 1: bits 32..64), `a2` = the
        /// driver's features of that bank. The kernel writes
        /// DriverFeaturesSel and DriverFeatures (§4.2.2; legacy
        /// GuestFeatures, §4.2.4), which PMP leaves out of the driver's
        /// window, keeping only [`DMA_FEATURES_ALLOWED`]: a driver cannot
        /// make its device use a ring the kernel does not check (a packed
        /// ring's descriptor flags are the split ring's `next`). Returns `a1`
        /// = the bank's bits written. Any bank but 0 and 1: [`DMA_BAD_QUEUE`].
        Features = 3,
    }
}

/// [`DmaOp::Features`]: the feature bits a driver may accept. The
/// device-type bits (0..24 and 50..64, §6) and, of the transport bits
/// (24..50), only those whose split rings the kernel's checks cover:
/// `VIRTIO_F_NOTIFY_ON_EMPTY` (24), `VIRTIO_F_ANY_LAYOUT` (27),
/// `VIRTIO_F_INDIRECT_DESC` (28: the kernel refuses the flag in every
/// descriptor, so a device never follows a table), `VIRTIO_F_EVENT_IDX`
/// (29) and `VIRTIO_F_VERSION_1` (32). Not `VIRTIO_F_RING_PACKED` (34,
/// another ring layout), `VIRTIO_F_IN_ORDER` (35: a device may give back
/// several chains in one used entry, which the kernel's release would not
/// see), `VIRTIO_F_RING_RESET` (40), nor any bit defined later.
pub const DMA_FEATURES_ALLOWED: u64 =
    0xFFFC_0000_00FF_FFFF | 1 << 24 | 1 << 27 | 1 << 28 | 1 << 29 | 1 << 32;

/// [`DmaOp::Avail`]: write `virtq_avail.flags`.
pub const DMA_AVAIL_FLAGS: u32 = 0;
/// [`DmaOp::Avail`]: write `virtq_avail.used_event`.
pub const DMA_USED_EVENT: u32 = 1;
/// Bytes of ring region per queue: queue `q` lives at `q *` this.
pub const DMA_RING_STRIDE: usize = 8192;
/// Largest queue the kernel sets up: its legacy layout fits one
/// [`DMA_RING_STRIDE`] (descriptors and available ring below 4096, used
/// ring from 4096).
pub const DMA_MAX_QUEUE_SIZE: u16 = 128;
/// [`DmaOp::Post`]: a descriptor `addr` with this bit names a lease of the
/// call being served (zero-copy): lease index in bits 32..40, offset into
/// the lease in bits 0..32; the lender is the post's `a5`.
pub const DMA_LEASE: u64 = 1 << 63;
/// The lease is not lent to the caller now (the call was answered, or the
/// lender restarted), does not grant what the device would do (a device
/// write needs a writable lease), or the range runs past it.
pub const DMA_BAD_LEASE: u32 = 0xFFFF_FF06;
/// A lease of the peer is still posted to the device: a reply to it is
/// refused until the device gave the chain back or was reset. Or a post
/// would rewrite a descriptor the device still holds (of any chain: every
/// posted chain holds its descriptors until the device gives it back or
/// is reset), or give the device bytes of a lease it already has for
/// writing (or write bytes it already has).
pub const DMA_PINNED: u32 = 0xFFFF_FF07;
/// The longest chain one [`DmaOp::Post`] takes.
pub const DMA_MAX_CHAIN: usize = 8;
/// DMA refused: a buffer is not the driver's own RAM (it is kernel memory,
/// its text, its ring region, a device window, another task's memory, or
/// wraps the address space).
pub const DMA_BAD_BUFFER: u32 = 0xFFFF_FF01;
/// DMA refused: a flag the kernel does not allow (INDIRECT: indirect
/// tables are refused) or a chain whose `next` links do not match it.
pub const DMA_BAD_FLAGS: u32 = 0xFFFF_FF02;
/// DMA refused: no such queue in the driver's ring region, the queue is
/// not set up, a descriptor index or count out of range, or a chain whose
/// links visit a descriptor twice.
pub const DMA_BAD_QUEUE: u32 = 0xFFFF_FF03;
/// DMA refused: the driver holds no granted virtio device window.
pub const DMA_NO_DEVICE: u32 = 0xFFFF_FF04;
/// DMA refused: the device's queue is live (set up and not reset since),
/// or the device offers no such queue.
pub const DMA_QUEUE_BUSY: u32 = 0xFFFF_FF05;

code_enum! {
    /// The instruction probes of a bench kernel ([`Sysnum::BenchProbes`]): a
    /// counter per phase of a trap, in retired instructions, so a benchmark can
    /// say where a round trip's kernel time goes.
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    #[repr(u32)]
    pub enum Probe {
        /// Traps taken (a count, not instructions).
        Traps = 0,
        /// Trap entry and exit: the assembly that saves the trapped task's
        /// registers and restores the next task's, up to its `mret`.
        EntryExit = 1,
        /// Decoding the trap cause and the syscall number.
        Dispatch = 2,
        /// The syscall's own work except copying: argument and region checks,
        /// state changes, the scheduler's bookkeeping.
        Ipc = 3,
        /// Copying message and reply bytes between tasks.
        Copy = 4,
        /// Choosing the task to run next.
        Schedule = 5,
        /// Reprogramming memory protection (PMP) for it.
        Pmp = 6,
    }
}

/// Number of [`Probe`] counters.
pub const PROBES: usize = 7;

/// `recv`'s `a3` for an open receive (from any sender). Not a `TaskId`:
/// those are below [`TaskId::LIMIT`].
pub const RECV_OPEN: u32 = u32::MAX;

/// `send`'s `a6`: the operation in the high half, the lease count in the
/// low half. (`a0` holds the whole 26-bit `TaskId`, so the operation shares
/// a register with the small lease count.)
pub const fn send_op_leases(operation: u16, lease_count: usize) -> u32 {
    let count = if lease_count > 0xFFFF {
        0xFFFF
    } else {
        lease_count as u32
    };
    ((operation as u32) << 16) | count
}

/// Splits `send`'s `a6` into (operation, lease count).
pub const fn split_op_leases(a6: u32) -> (u16, usize) {
    ((a6 >> 16) as u16, (a6 & 0xFFFF) as usize)
}

/// Lease attribute: the receiver may read the lent memory.
pub const LEASE_READ: u32 = 1 << 0;
/// Lease attribute: the receiver may write the lent memory.
pub const LEASE_WRITE: u32 = 1 << 1;

/// `recv`'s `a5` for a message with leases: the first lease's attributes
/// ([`LEASE_READ`], [`LEASE_WRITE`]) in bits 30 and 31, its length in bytes
/// below, as the kernel checked them at delivery: what `borrow_info(sender,
/// 0)` would answer, without the syscall. 0 (ask `borrow_info`) for a
/// lease of no attributes or of 2^30 bytes or more.
pub const fn describe_lease(attributes: u32, len: u32) -> u32 {
    let attributes = attributes & (LEASE_READ | LEASE_WRITE);
    if len >> 30 != 0 || attributes == 0 {
        0
    } else {
        attributes << 30 | len
    }
}

/// The (attributes, length) a [`describe_lease`] word says, if any.
pub const fn described_lease(word: u32) -> Option<(u32, u32)> {
    if word == 0 {
        None
    } else {
        Some((word >> 30, word & ((1 << 30) - 1)))
    }
}

/// Where [`Sysnum::BorrowRead`] and [`Sysnum::BorrowWrite`] copy: lease
/// `index` of `lender`'s call, `offset` bytes in (their `a0`..`a2`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LeaseAt {
    /// The client whose call lent the lease.
    pub lender: TaskId,
    /// Which of the call's leases.
    pub index: usize,
    /// Bytes into the lease.
    pub offset: usize,
}

/// What `recv` returned: a message from a task, or notifications. The
/// one definition, for `userlib`'s syscall stubs and for `idol-runtime`'s
/// dispatch alike.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RecvMessage {
    /// The sending task; [`TaskId::KERNEL`] for notifications.
    pub sender: TaskId,
    /// The operation number, or the notification bits.
    pub operation: u32,
    /// The message length *as sent*: longer than the receive buffer if the
    /// kernel truncated it, which is how dispatch sees a message too long.
    pub message_len: usize,
    /// Bytes the sender can accept in the reply.
    pub response_capacity: usize,
    /// Number of leases the sender lent.
    pub lease_count: usize,
    /// The first lease as the kernel described it at delivery
    /// ([`describe_lease`]); 0 if it did not (then ask `borrow_info`).
    pub first_lease: u32,
}

impl RecvMessage {
    /// True if this is a notification rather than a message.
    pub fn is_notification(&self) -> bool {
        self.sender == TaskId::KERNEL
    }

    /// Attributes and length of lease `index`, if delivery described it
    /// (the first one only).
    pub fn described_lease(&self, index: usize) -> Option<(u32, u32)> {
        if index == 0 && self.lease_count > 0 {
            described_lease(self.first_lease)
        } else {
            None
        }
    }
}

/// One entry of the lease table a sender passes with `send`: a slice of the
/// sender's memory lent to the receiver for the duration of the call.
#[derive(Copy, Clone, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Lease {
    /// [`LEASE_READ`] and/or [`LEASE_WRITE`].
    pub attributes: u32,
    /// Address of the first byte, in the sender's address space.
    pub base: u32,
    /// Length in bytes.
    pub len: u32,
}

/// Notification bit the kernel posts to the supervisor when any task faults,
/// or an untrusted server refuses a call (see [`TaskStatus::rejections`]).
pub const SUPERVISOR_FAULT_BIT: u32 = 1 << 0;

/// The timer's frequency: QEMU `virt`'s CLINT `mtime` counts at 10 MHz.
pub const TICKS_PER_MS: u64 = 10_000;

/// The period of the kernel's CPU shares: a task with a CPU budget may run
/// for at most its share (app.toml `cpu-share`, a percentage) of every
/// period of this length, and is then held off the CPU until the period
/// ends ([`TaskState::Throttled`]).
pub const CPU_SHARE_PERIOD_MS: u32 = 10;

/// Most leases one `send` may carry.
pub const MAX_LEASES: usize = 8;

/// Text in a fixed-size, NUL-padded field (a task's name, a disk's serial):
/// the bytes up to the first NUL, or "?" if they are not UTF-8.
pub fn nul_padded_str(raw: &[u8]) -> &str {
    let len = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    core::str::from_utf8(&raw[..len]).unwrap_or("?")
}

#[cfg(test)]
mod tests;
