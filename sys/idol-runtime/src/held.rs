//! [`HeldReply`]: a server's reply goes out with its next receive.
//!
//! A server loop answers a call and then waits for the next one: `reply`
//! then `recv`, two kernel entries per request, where the kernel's
//! `reply_recv` does both in one. A server that answers from deep inside
//! its handlers (a driver answering deferred calls as its device completes
//! them) cannot easily pass its answer to the loop's receive; this wrapper
//! does it for it. It holds at most one reply and sends it:
//!
//! - with the next open receive, as one `reply_recv`;
//! - on its own, first, before anything else the server does through it —
//!   a send (to the bus, say), a second reply, a `reply_fault`, a lease
//!   borrow, a receive from one sender only (`reply_recv` receives from
//!   anyone) — so that what the server does keeps its order as seen by
//!   every other task;
//! - on [`Ipc::flush`], which a server calls before it may stop on purpose
//!   (a panic would lose a held reply: the caller would see the server die
//!   instead of its answer).
//!
//! A reply longer than [`HELD_REPLY_MAX`] bytes is not held: it is sent at
//! once, after the held one.
//!
//! The caller answered last waits a little longer for its answer — until
//! the server's next receive instead of its reply — which is the point:
//! the server, more important than its clients, was going to run on until
//! that receive anyway. Should the server fault in between (not on
//! purpose), the held answer is lost and the caller sees it die, as if it
//! had faulted just before replying.

use core::cell::{Cell, RefCell};

use abi::{ReplyFaultReason, TaskId};

use crate::ipc::{Call, Ipc, LeaseAt, LeaseInfo, RecvMessage};

/// The longest reply [`HeldReply`] holds back; longer ones go at once.
pub const HELD_REPLY_MAX: usize = 64;

/// An [`Ipc`] that holds a server's last reply back until its next
/// receive and sends both in one `reply_recv` (see the module
/// documentation for when else it sends it).
///
/// Use it by reference (`&HeldReply<_>` is an `Ipc` and `Copy`), the same
/// one for everything the server sends, so that a send flushes the reply.
pub struct HeldReply<I: Ipc> {
    inner: I,
    /// The caller of the held reply, if one is held.
    peer: Cell<Option<TaskId>>,
    code: Cell<u32>,
    len: Cell<usize>,
    /// The held reply's bytes (the first `len`), written and read in
    /// place: a `Cell` of the array copied all 64 bytes in and out (and
    /// zeroed a stack copy) for a four-byte answer. Borrowed only inside
    /// `reply` and `with_held`, which never call each other.
    bytes: RefCell<[u8; HELD_REPLY_MAX]>,
}

impl<I: Ipc> HeldReply<I> {
    /// Holds replies made through `inner` back until its next receive.
    pub const fn new(inner: I) -> Self {
        HeldReply {
            inner,
            peer: Cell::new(None),
            code: Cell::new(0),
            len: Cell::new(0),
            bytes: RefCell::new([0; HELD_REPLY_MAX]),
        }
    }

    /// The wrapped `Ipc`.
    pub fn inner(&self) -> &I {
        &self.inner
    }

    /// Whether a reply is held.
    pub fn holds(&self) -> bool {
        self.peer.get().is_some()
    }

    /// Sends the held reply on its own, if one is held. The check is
    /// inlined: most calls find nothing held.
    #[inline]
    fn flush_held(&self) {
        if let Some(peer) = self.peer.take() {
            self.send_held(peer);
        }
    }

    /// Sends the reply held for `peer` (just taken out of `peer`).
    #[inline(never)]
    fn send_held(&self, peer: TaskId) {
        self.with_held(|code, message| self.inner.reply(peer, code, message));
    }

    /// Calls `f` with the held reply's code and bytes.
    #[inline(always)]
    fn with_held<R>(&self, f: impl FnOnce(u32, &[u8]) -> R) -> R {
        let (code, len) = (self.code.get(), self.len.get());
        if len == 0 {
            return f(code, &[]);
        }
        let bytes = self.bytes.borrow();
        f(code, bytes.get(..len).unwrap_or(&[]))
    }
}

impl<I: Ipc> Ipc for HeldReply<I> {
    fn send(&self, call: Call<'_, '_>) -> (u32, usize) {
        self.flush_held();
        self.inner.send(call)
    }

    fn recv(&self, buffer: &mut [u8], notification_mask: u32, from: Option<TaskId>) -> RecvMessage {
        // The kernel's `reply_recv` receives from anyone only.
        if from.is_some() {
            self.flush_held();
        } else if let Some(peer) = self.peer.take() {
            return self.with_held(|code, message| {
                self.inner
                    .reply_recv(peer, code, message, buffer, notification_mask)
            });
        }
        self.inner.recv(buffer, notification_mask, from)
    }

    fn reply(&self, peer: TaskId, code: u32, message: &[u8]) {
        self.flush_held();
        if message.len() > HELD_REPLY_MAX {
            self.inner.reply(peer, code, message);
            return;
        }
        if !message.is_empty() {
            if let Some(held) = self.bytes.borrow_mut().get_mut(..message.len()) {
                held.copy_from_slice(message);
            }
        }
        self.code.set(code);
        self.len.set(message.len());
        self.peer.set(Some(peer));
    }

    fn reply_recv(
        &self,
        peer: TaskId,
        code: u32,
        message: &[u8],
        buffer: &mut [u8],
        notification_mask: u32,
    ) -> RecvMessage {
        self.flush_held();
        self.inner
            .reply_recv(peer, code, message, buffer, notification_mask)
    }

    fn flush(&self) {
        self.flush_held();
    }

    fn reply_fault(&self, peer: TaskId, reason: ReplyFaultReason) {
        self.flush_held();
        self.inner.reply_fault(peer, reason)
    }

    fn borrow_read(&self, at: LeaseAt, dest: &mut [u8]) -> Result<usize, u32> {
        self.flush_held();
        self.inner.borrow_read(at, dest)
    }

    fn borrow_write(&self, at: LeaseAt, src: &[u8]) -> Result<usize, u32> {
        self.flush_held();
        self.inner.borrow_write(at, src)
    }

    fn borrow_info(&self, lender: TaskId, index: usize) -> Result<LeaseInfo, u32> {
        self.flush_held();
        self.inner.borrow_info(lender, index)
    }

    fn refresh_task_id(&self, id: TaskId) -> TaskId {
        // Asks the kernel; sends nothing to anyone.
        self.inner.refresh_task_id(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::LeaseRef;
    use abi::Generation;
    use std::cell::RefCell;
    use std::vec;
    use std::vec::Vec;

    const A: TaskId = TaskId::new(1, Generation(0));
    const B: TaskId = TaskId::new(2, Generation(0));
    const BUS: TaskId = TaskId::new(3, Generation(0));

    /// What reached the kernel, in order.
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Sys {
        Send(TaskId),
        Recv(Option<TaskId>),
        Reply(TaskId, u32, Vec<u8>),
        ReplyRecv(TaskId, u32, Vec<u8>),
        ReplyFault(TaskId),
        Borrow,
        Refresh,
    }

    /// A kernel that records every call (and receives a notification).
    #[derive(Default)]
    struct Recorder(RefCell<Vec<Sys>>);

    impl Recorder {
        fn log(&self, s: Sys) {
            self.0.borrow_mut().push(s);
        }
        fn calls(&self) -> Vec<Sys> {
            self.0.borrow_mut().drain(..).collect()
        }
    }

    fn notification() -> RecvMessage {
        RecvMessage {
            sender: TaskId::KERNEL,
            operation: 1,
            message_len: 0,
            response_capacity: 0,
            lease_count: 0,
            first_lease: 0,
        }
    }

    impl Ipc for Recorder {
        fn send(&self, call: Call<'_, '_>) -> (u32, usize) {
            self.log(Sys::Send(call.target));
            (0, 0)
        }
        fn recv(&self, _: &mut [u8], _: u32, from: Option<TaskId>) -> RecvMessage {
            self.log(Sys::Recv(from));
            notification()
        }
        fn reply(&self, peer: TaskId, code: u32, message: &[u8]) {
            self.log(Sys::Reply(peer, code, message.to_vec()));
        }
        fn reply_recv(
            &self,
            peer: TaskId,
            code: u32,
            message: &[u8],
            _: &mut [u8],
            _: u32,
        ) -> RecvMessage {
            self.log(Sys::ReplyRecv(peer, code, message.to_vec()));
            notification()
        }
        fn reply_fault(&self, peer: TaskId, _: ReplyFaultReason) {
            self.log(Sys::ReplyFault(peer));
        }
        fn borrow_read(&self, _: LeaseAt, _: &mut [u8]) -> Result<usize, u32> {
            self.log(Sys::Borrow);
            Ok(0)
        }
        fn borrow_write(&self, _: LeaseAt, _: &[u8]) -> Result<usize, u32> {
            self.log(Sys::Borrow);
            Ok(0)
        }
        fn borrow_info(&self, _: TaskId, _: usize) -> Result<LeaseInfo, u32> {
            self.log(Sys::Borrow);
            Err(0)
        }
        fn refresh_task_id(&self, id: TaskId) -> TaskId {
            self.log(Sys::Refresh);
            id
        }
    }

    fn held() -> HeldReply<Recorder> {
        HeldReply::new(Recorder::default())
    }

    fn at() -> LeaseAt {
        LeaseAt {
            lender: A,
            index: 0,
            offset: 0,
        }
    }

    #[test]
    fn a_reply_goes_out_with_the_next_open_receive() {
        let ipc = held();
        ipc.reply(A, 7, b"ok");
        assert!(ipc.holds());
        assert_eq!(ipc.inner().calls(), [], "nothing sent yet");
        ipc.recv(&mut [0; 4], 1, None);
        assert_eq!(ipc.inner().calls(), [Sys::ReplyRecv(A, 7, b"ok".to_vec())]);
        assert!(!ipc.holds());
        // Nothing held: a plain receive.
        ipc.recv(&mut [0; 4], 1, None);
        assert_eq!(ipc.inner().calls(), [Sys::Recv(None)]);
    }

    #[test]
    fn an_empty_reply_is_held_too() {
        let ipc = held();
        ipc.reply(A, 0, &[]);
        ipc.recv(&mut [], 1, None);
        assert_eq!(ipc.inner().calls(), [Sys::ReplyRecv(A, 0, vec![])]);
    }

    #[test]
    fn any_other_call_sends_the_held_reply_first() {
        // Each op, and what it makes reach the kernel after the reply.
        type Op = fn(&HeldReply<Recorder>) -> Option<Sys>;
        let ops: [Op; 8] = [
            |ipc| {
                ipc.send(Call {
                    target: BUS,
                    operation: 0,
                    outgoing: &[],
                    incoming: &mut [],
                    leases: &mut [] as &mut [LeaseRef<'_>],
                });
                Some(Sys::Send(BUS))
            },
            |ipc| {
                ipc.reply_fault(B, ReplyFaultReason::BadLeases);
                Some(Sys::ReplyFault(B))
            },
            |ipc| {
                let _ = ipc.borrow_read(at(), &mut [0; 1]);
                Some(Sys::Borrow)
            },
            |ipc| {
                let _ = ipc.borrow_write(at(), &[0; 1]);
                Some(Sys::Borrow)
            },
            |ipc| {
                let _ = ipc.borrow_info(A, 0);
                Some(Sys::Borrow)
            },
            // `reply_recv` receives from anyone only: a receive from one
            // sender is a reply, then that receive.
            |ipc| {
                ipc.recv(&mut [], 1, Some(TaskId::KERNEL));
                Some(Sys::Recv(Some(TaskId::KERNEL)))
            },
            |ipc| {
                ipc.reply_recv(B, 3, b"b", &mut [], 1);
                Some(Sys::ReplyRecv(B, 3, b"b".to_vec()))
            },
            // Flushing twice sends the reply once.
            |ipc| {
                ipc.flush();
                ipc.flush();
                None
            },
        ];
        for (i, op) in ops.iter().enumerate() {
            let ipc = held();
            ipc.reply(A, 5, b"held");
            let mut want = vec![Sys::Reply(A, 5, b"held".to_vec())];
            want.extend(op(&ipc));
            assert_eq!(ipc.inner().calls(), want, "op {i}");
            assert!(!ipc.holds(), "op {i}");
        }
    }

    #[test]
    fn a_second_reply_sends_the_first_and_is_held() {
        let ipc = held();
        ipc.reply(A, 1, b"a");
        ipc.reply(B, 2, b"b");
        assert_eq!(ipc.inner().calls(), [Sys::Reply(A, 1, b"a".to_vec())]);
        ipc.recv(&mut [], 1, None);
        assert_eq!(ipc.inner().calls(), [Sys::ReplyRecv(B, 2, b"b".to_vec())]);
    }

    #[test]
    fn a_reply_too_long_to_hold_goes_at_once_after_the_held_one() {
        let ipc = held();
        let long = [9u8; HELD_REPLY_MAX + 1];
        let longest = [8u8; HELD_REPLY_MAX];
        ipc.reply(A, 1, &longest);
        ipc.reply(B, 2, &long);
        assert_eq!(
            ipc.inner().calls(),
            [
                Sys::Reply(A, 1, longest.to_vec()),
                Sys::Reply(B, 2, long.to_vec())
            ]
        );
        assert!(!ipc.holds());
    }

    #[test]
    fn refreshing_an_id_sends_nothing() {
        let ipc = held();
        ipc.reply(A, 1, &[]);
        ipc.refresh_task_id(B);
        assert_eq!(ipc.inner().calls(), [Sys::Refresh]);
        assert!(ipc.holds());
    }

    #[test]
    fn the_default_reply_recv_replies_then_receives() {
        // The mock kernel has no `reply_recv` of its own: the trait's
        // default makes the two calls, in that order.
        use crate::mock::{MockKernel, Outcome};
        let kernel = MockKernel::new(TaskId::new(9, Generation(0)));
        kernel.queue_message(A, 1, &[], 0, vec![]);
        let m = kernel.recv(&mut [], 0, None);
        assert_eq!(m.sender, A);
        kernel.queue_message(B, 2, &[], 0, vec![]);
        let ipc = HeldReply::new(&kernel);
        ipc.reply(A, 4, b"x");
        assert_eq!(kernel.waiting(), [A], "held");
        let m = ipc.recv(&mut [], 0, None);
        assert_eq!(m.sender, B);
        assert_eq!(
            kernel.take_answer(A).map(|d| d.outcome),
            Some(Some(Outcome::reply(4, b"x")))
        );
    }
}
