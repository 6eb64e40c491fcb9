//! The syscalls generated code uses, as a trait.

use abi::{ReplyFaultReason, TaskId};

use crate::lease::{LeaseDirection, Read, ReadWrite, Write};

/// A lease as a client lends it: a slice of its own memory and the direction
/// the server may use it in.
///
/// Generated stubs build these from the typed slices a caller passes; the
/// implementation of [`Ipc::send`] turns them into `abi::Lease` records (a
/// task's addresses are 32-bit) or, in the mock, into copies.
#[derive(Debug)]
pub enum LeaseRef<'a> {
    /// The server may only read.
    Read(&'a [u8]),
    /// The server may only write.
    Write(&'a mut [u8]),
    /// The server may read and write.
    ReadWrite(&'a mut [u8]),
}

impl LeaseRef<'_> {
    /// The `abi::LEASE_*` attribute bits of this lease: those of its
    /// direction's type.
    pub fn attributes(&self) -> u32 {
        match self {
            LeaseRef::Read(_) => Read::ATTRIBUTES,
            LeaseRef::Write(_) => Write::ATTRIBUTES,
            LeaseRef::ReadWrite(_) => ReadWrite::ATTRIBUTES,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        match self {
            LeaseRef::Read(s) => s.len(),
            LeaseRef::Write(s) | LeaseRef::ReadWrite(s) => s.len(),
        }
    }

    /// Whether the lease lends no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub use abi::{LeaseAt, RecvMessage};

/// What `borrow_info` says about one lease.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LeaseInfo {
    /// `abi::LEASE_READ` and/or `abi::LEASE_WRITE`.
    pub attributes: u32,
    /// Length in bytes.
    pub len: usize,
}

/// One call as a client sends it: the message `outgoing` as `operation` to
/// `target`, lending `leases`, the reply to land in `incoming`.
#[derive(Debug)]
pub struct Call<'a, 'l> {
    /// The server.
    pub target: TaskId,
    /// The operation number.
    pub operation: u16,
    /// The message.
    pub outgoing: &'a [u8],
    /// Where the reply goes (truncated to fit).
    pub incoming: &'a mut [u8],
    /// What the server may borrow while it serves the call.
    pub leases: &'a mut [LeaseRef<'l>],
}

/// The syscalls generated clients and servers make, with the semantics of
/// the Vireo kernel (see `sys/abi`).
///
/// Every method takes `&self` and none is generic, so `&dyn Ipc` works: the
/// server side passes `&dyn Ipc` around to keep generated signatures free of
/// type parameters.
pub trait Ipc {
    /// Sends `call`, blocks for the reply and returns (response code, reply
    /// length). A DEAD code (`abi::dead_generation(code).is_some()`) means
    /// the target died before or during the call.
    fn send(&self, call: Call<'_, '_>) -> (u32, usize);

    /// Waits for a message (copied into `buffer`, truncated if longer) or for
    /// one of the notification bits in `notification_mask`; only from `from`
    /// if given.
    fn recv(&self, buffer: &mut [u8], notification_mask: u32, from: Option<TaskId>) -> RecvMessage;

    /// Answers the call `peer` is blocked in.
    fn reply(&self, peer: TaskId, code: u32, message: &[u8]);

    /// Answers `peer` (as [`reply`](Self::reply)), then waits for a message
    /// from anyone or a notification in `notification_mask` (as
    /// [`recv`](Self::recv) with no `from`). The kernel does both in one
    /// call; the default makes the two.
    fn reply_recv(
        &self,
        peer: TaskId,
        code: u32,
        message: &[u8],
        buffer: &mut [u8],
        notification_mask: u32,
    ) -> RecvMessage {
        self.reply(peer, code, message);
        self.recv(buffer, notification_mask, None)
    }

    /// Sends whatever this `Ipc` has held back (a reply waiting for the next
    /// receive, see [`HeldReply`](crate::HeldReply)); nothing by default.
    /// A server calls it before it may stop (a deliberate panic), so that
    /// every caller it answered is really answered.
    fn flush(&self) {}

    /// Refuses the call `peer` is blocked in: the kernel faults `peer` with
    /// `reason` if this server is trusted (app.toml), else completes `peer`'s
    /// send with `abi::rejected_code(reason)`.
    fn reply_fault(&self, peer: TaskId, reason: ReplyFaultReason);

    /// Copies from the lease at `at` into `dest`. Returns the bytes copied
    /// or an `abi::BORROW_*` code.
    fn borrow_read(&self, at: LeaseAt, dest: &mut [u8]) -> Result<usize, u32>;

    /// Copies `src` into the lease at `at`. Returns the bytes copied or an
    /// `abi::BORROW_*` code.
    fn borrow_write(&self, at: LeaseAt, src: &[u8]) -> Result<usize, u32>;

    /// Attributes and length of lease `index` of `lender`'s call.
    fn borrow_info(&self, lender: TaskId, index: usize) -> Result<LeaseInfo, u32>;

    /// `id`'s task index at the generation it is on now.
    fn refresh_task_id(&self, id: TaskId) -> TaskId;
}

// Forwarding only: inlined, so that a `RecvMessage` is built where the
// caller keeps it rather than copied out of each layer.
impl<T: Ipc + ?Sized> Ipc for &T {
    #[inline]
    fn send(&self, call: Call<'_, '_>) -> (u32, usize) {
        (**self).send(call)
    }

    #[inline]
    fn recv(&self, buffer: &mut [u8], notification_mask: u32, from: Option<TaskId>) -> RecvMessage {
        (**self).recv(buffer, notification_mask, from)
    }

    fn reply(&self, peer: TaskId, code: u32, message: &[u8]) {
        (**self).reply(peer, code, message)
    }

    fn reply_recv(
        &self,
        peer: TaskId,
        code: u32,
        message: &[u8],
        buffer: &mut [u8],
        notification_mask: u32,
    ) -> RecvMessage {
        (**self).reply_recv(peer, code, message, buffer, notification_mask)
    }

    fn flush(&self) {
        (**self).flush()
    }

    fn reply_fault(&self, peer: TaskId, reason: ReplyFaultReason) {
        (**self).reply_fault(peer, reason)
    }

    fn borrow_read(&self, at: LeaseAt, dest: &mut [u8]) -> Result<usize, u32> {
        (**self).borrow_read(at, dest)
    }

    fn borrow_write(&self, at: LeaseAt, src: &[u8]) -> Result<usize, u32> {
        (**self).borrow_write(at, src)
    }

    fn borrow_info(&self, lender: TaskId, index: usize) -> Result<LeaseInfo, u32> {
        (**self).borrow_info(lender, index)
    }

    fn refresh_task_id(&self, id: TaskId) -> TaskId {
        (**self).refresh_task_id(id)
    }
}
