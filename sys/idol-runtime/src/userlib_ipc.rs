//! [`Ipc`] on the real syscalls (feature `userlib`, tasks on the target).

use crate::ipc::{Call, Ipc, LeaseAt, LeaseInfo, LeaseRef, RecvMessage};
use abi::{Lease, ReplyFaultReason, TaskId};
use core::mem::MaybeUninit;

/// The kernel, through `userlib`'s syscall stubs. Zero-sized: a client is
/// `Ping::new(UserlibIpc, id)`, a server passes `&UserlibIpc` to dispatch.
#[derive(Copy, Clone, Debug, Default)]
pub struct UserlibIpc;

impl Ipc for UserlibIpc {
    fn send(&self, call: Call<'_, '_>) -> (u32, usize) {
        // Not zeroed first: that was a memset of the whole table on every
        // call, for entries past the call's leases that nobody reads. Only
        // the entries written below reach the kernel (`count`).
        let mut table = [MaybeUninit::<Lease>::uninit(); abi::MAX_LEASES];
        // Generated stubs never pass more than MAX_LEASES (the IDL compiler
        // rejects such ops); more would be left out.
        let mut count = 0;
        for (slot, lease) in table.iter_mut().zip(call.leases.iter_mut()) {
            let attributes = lease.attributes();
            // Task addresses are 32-bit: `usize` is `u32` on the target.
            let (base, len) = match lease {
                LeaseRef::Read(s) => (s.as_ptr() as usize, s.len()),
                LeaseRef::Write(s) | LeaseRef::ReadWrite(s) => (s.as_mut_ptr() as usize, s.len()),
            };
            slot.write(Lease {
                attributes,
                base: base as u32,
                len: len as u32,
            });
            count += 1;
        }
        // SAFETY: the loop wrote entries 0..count in order, so they are
        // initialised `Lease`s (laid out alike in `MaybeUninit`), and
        // `count <= MAX_LEASES` (`zip` stops at the table's end). The slice
        // borrows `table`.
        let leases: &[Lease] = unsafe { core::slice::from_raw_parts(table.as_ptr().cast(), count) };
        userlib::sys_send(
            call.target,
            call.operation,
            call.outgoing,
            call.incoming,
            leases,
        )
    }

    fn recv(&self, buffer: &mut [u8], notification_mask: u32, from: Option<TaskId>) -> RecvMessage {
        userlib::sys_recv(buffer, notification_mask, from)
    }

    fn reply(&self, peer: TaskId, code: u32, message: &[u8]) {
        userlib::sys_reply(peer, code, message)
    }

    fn reply_recv(
        &self,
        peer: TaskId,
        code: u32,
        message: &[u8],
        buffer: &mut [u8],
        notification_mask: u32,
    ) -> RecvMessage {
        // A refused reply (the peer's lease is still on our device:
        // `DMA_PINNED`) is dropped, as a refused `sys_reply` is (see
        // `reply`), and the receive made all the same.
        userlib::sys_reply_then_recv(peer, code, message, buffer, notification_mask)
    }

    fn reply_fault(&self, peer: TaskId, reason: ReplyFaultReason) {
        userlib::sys_reply_fault(peer, reason)
    }

    fn borrow_read(&self, at: LeaseAt, dest: &mut [u8]) -> Result<usize, u32> {
        userlib::sys_borrow_read(at, dest)
    }

    fn borrow_write(&self, at: LeaseAt, src: &[u8]) -> Result<usize, u32> {
        userlib::sys_borrow_write(at, src)
    }

    fn borrow_info(&self, lender: TaskId, index: usize) -> Result<LeaseInfo, u32> {
        userlib::sys_borrow_info(lender, index).map(|i| LeaseInfo {
            attributes: i.attributes,
            len: i.len,
        })
    }

    fn refresh_task_id(&self, id: TaskId) -> TaskId {
        userlib::sys_refresh_task_id(id)
    }
}
