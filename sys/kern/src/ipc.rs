//! Synchronous IPC: `send`, `recv`, `reply`.
//!
//! A message is described by the *sender's saved registers* for as long as
//! the sender waits (`InSend` then `InReply`): the kernel keeps no copy and
//! re-validates the pointers whenever it touches them, against the tasks'
//! current regions. The states move as:
//!
//! ```text
//! sender:   Runnable --send--> InSend(t) --t receives--> InReply(t) --t replies--> Runnable
//! receiver: Runnable --recv--> InRecv ----a send lands--> Runnable
//! ```
//!
//! and a fault of either party wakes the other with a DEAD code (see
//! `faults`). Messages flow only towards more important tasks, so chains of
//! blocked senders can never form a cycle.

use abi::{
    dead_code, Lease, TaskId, UsageError, KERNEL_CODE_BASE, LEASE_READ, LEASE_WRITE, MAX_LEASES,
    RECV_OPEN, REFUSED_CLOSED_RECV, REFUSED_NOT_IN_SLOTS, REFUSED_NO_SUCH_TASK, REFUSED_PRIORITY,
    SERVER_STOPPED,
};

use crate::descs::{REGION_DMA_RING, REGION_READ, REGION_WRITE};
use crate::err::UserError;
use crate::faults;
use crate::machine::Machine;
use crate::system::System;
use crate::task::{SchedState, Task, TaskState};
use crate::umem::{self, BadSlice, InteractFault, USlice};

/// The `send` register arguments, decoded.
struct SendArgs {
    target: TaskId,
    operation: u16,
    message: USlice,
    reply: USlice,
    leases: USlice<Lease>,
}

/// Out of line for the general send path and deliveries, which keeps them
/// (and the registers they need) out of the trap handler's frame; the
/// fast path (`fastpath`) reads the registers itself.
#[inline(never)]
fn send_args(task: &Task) -> Result<SendArgs, UsageError> {
    let s = task.save();
    let (operation, lease_count) = abi::split_op_leases(s.arg(6) as u32);
    if lease_count > MAX_LEASES {
        return Err(UsageError::TooManyLeases);
    }
    Ok(SendArgs {
        target: TaskId::from_register(s.arg(0) as u32),
        operation,
        message: USlice::from_raw(s.arg(1), s.arg(2)).ok_or(UsageError::InvalidSlice)?,
        reply: USlice::from_raw(s.arg(3), s.arg(4)).ok_or(UsageError::InvalidSlice)?,
        // A table of `Lease`s, so aligned for one, as Hubris requires.
        leases: USlice::from_raw(s.arg(5), lease_count).ok_or(UsageError::InvalidSlice)?,
    })
}

/// Reads lease `index` of a sender blocked in a call; `None` if there is no
/// such lease or it is no longer readable. Only that lease is read (and
/// its memory checked): a driver's `post` and a server's borrow ask for
/// one, and the whole table was checked when the call was sent.
pub fn lease(task: &Task, index: usize) -> Option<Lease> {
    let s = task.save();
    let (_, count) = abi::split_op_leases(s.arg(6) as u32);
    if count > MAX_LEASES {
        return None;
    }
    let one = USlice::<Lease>::from_raw(s.arg(5), count)?.subslice(index, 1)?;
    umem::try_read(task, &one).ok()?.first().copied()
}

/// The call `task` is blocked in, as `reply_fault` records it when the
/// untrusted server `server` refuses it for `reason` (`count` left 0):
/// what the server was told of it at delivery, from the caller's
/// registers, which do not change while it waits, its first lease and its
/// message bytes.
///
/// The kernel vouches for the first lease and for the message — the
/// supervisor may then hold the server to them — only if nothing but the
/// blocked caller itself could have changed them since delivery. The
/// lease table and the message are the caller's memory, read again here,
/// and that memory can change under a blocked caller in two ways, both of
/// which lose the vouching:
///
/// - the caller drives a device (it has a ring region), which could write
///   it;
/// - a writable lease of the call covers it, so that the server (or its
///   device, with a zero-copy lease) wrote it in serving the call: a later
///   borrow may have failed on a table it wrote, and a message it wrote is
///   not the one it refused. (Only a call of at most one lease is vouched
///   for at all: the supervisor's judge decides nothing by the first lease
///   of a call that should have more, so no other is read.)
///
/// A message longer than [`abi::REJECTED_MESSAGE_BYTES`] is not recorded.
///
/// (The lent memory stays the caller's RAM for the whole call: a lease is
/// never a device window that could be revoked, `lease_is_valid`.)
pub fn refused_call(task: &Task, server: TaskId, reason: u32) -> abi::RejectedCall {
    let s = task.save();
    let (operation, lease_count) = abi::split_op_leases(s.arg(6) as u32);
    let first = lease(task, 0);
    let drives_device = task
        .regions()
        .iter()
        .any(|r| r.attributes & REGION_DMA_RING != 0);
    let untouched =
        |base: usize, len: usize| !drives_device && unwritten(first, lease_count, base, len);
    let (message_base, message_len) = (s.arg(1), s.arg(2));
    let mut message = [0; abi::REJECTED_MESSAGE_BYTES];
    let sent = USlice::<u8>::from_raw(message_base, message_len)
        .filter(|_| message_len <= message.len() && untouched(message_base, message_len))
        .and_then(|m| umem::try_read(task, &m).ok());
    for (to, from) in message.iter_mut().zip(sent.unwrap_or_default()) {
        *to = *from;
    }
    abi::RejectedCall {
        count: 0,
        server: server.0,
        reason,
        operation: u32::from(operation),
        message_len: message_len as u32,
        response_capacity: s.arg(4) as u32,
        lease_count: lease_count as u32,
        first_lease: first.map_or(0, |l| abi::describe_lease(l.attributes, l.len)),
        lease_vouched: u32::from(untouched(s.arg(5), core::mem::size_of::<Lease>())),
        message_vouched: u32::from(sent.is_some()),
        message,
    }
}

/// Whether the server of a call of `lease_count` leases, the first of them
/// `first`, cannot have written the `len` bytes at `base` through them: no
/// writable lease covers them. Only a call of at most one lease (read, so
/// `Some`, if it has one) can say so.
#[inline(never)]
fn unwritten(first: Option<Lease>, lease_count: usize, base: usize, len: usize) -> bool {
    match first {
        _ if lease_count > 1 => false,
        None => lease_count == 0,
        Some(l) => {
            let lent = l.base as usize;
            l.attributes & LEASE_WRITE == 0
                || lent >= base.saturating_add(len)
                || base >= lent.saturating_add(l.len as usize)
        }
    }
}

/// Whether a lease names memory its sender may access in the way it lends.
pub fn lease_is_valid(task: &Task, l: &Lease) -> bool {
    let Some(slice) = USlice::<u8>::from_raw(l.base as usize, l.len as usize) else {
        return false;
    };
    // One look at the regions for both accesses (a lease lies inside one
    // region, which grants what it lends). A lease lending nothing names
    // nothing to check.
    let needed = if l.attributes & LEASE_READ != 0 {
        REGION_READ
    } else {
        0
    } | if l.attributes & LEASE_WRITE != 0 {
        REGION_WRITE
    } else {
        0
    };
    needed == 0 || umem::check_access(task, &slice, needed).is_ok()
}

/// Everything a sender names in its own memory: the message readable, the
/// reply buffer writable, the lease table readable and every lease inside
/// memory the sender may lend that way. The sender's own pointers are its
/// own business: any lie faults it, at `send` and again at delivery.
fn check_sender_memory(me: &Task, args: &SendArgs) -> Result<(), UserError> {
    umem::check_readable(me, &args.message)?;
    umem::check_writable(me, &args.reply)?;
    umem::check_readable(me, &args.leases)?;
    for i in 0..args.leases.len() {
        match lease(me, i) {
            Some(l) if lease_is_valid(me, &l) => {}
            _ => return Err(UsageError::LeaseOutOfBounds.into()),
        }
    }
    Ok(())
}

/// `send`: checks everything the sender named, then delivers at once if the
/// target is waiting, else blocks the sender.
pub fn send<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    let args = send_args(&sys.tasks[caller])?;
    check_sender_memory(&sys.tasks[caller], &args)?;

    let target = args.target.index();
    if target >= sys.tasks.len() {
        return Err(UserError::Recoverable(REFUSED_NO_SUCH_TASK));
    }
    if !sys.tasks[target].is_more_important_than(&sys.tasks[caller]) {
        return Err(UserError::Recoverable(REFUSED_PRIORITY));
    }
    if !sys.tasks[caller].desc().has_slot(target) {
        return Err(UserError::Recoverable(REFUSED_NOT_IN_SLOTS));
    }
    let t = &sys.tasks[target];
    // A stale id, or a target that is not alive, gets DEAD at once: a caller
    // must never wait on an incarnation that cannot answer. A target that is
    // stopped, with no restart coming, says so instead.
    if t.generation() != args.target.generation() || !t.is_healthy() {
        if t.state() == TaskState::Stopped {
            return Err(UserError::Recoverable(SERVER_STOPPED));
        }
        return Err(UserError::Recoverable(dead_code(t.generation())));
    }
    let target_id = t.id(target);
    sys.tasks[caller].set_sched(SchedState::InSend(target_id));

    // The fast path: the target already waits in `recv` for us, so the
    // message goes straight across (with the arguments just checked) and
    // the scheduler hands the CPU to the target without a scan (see
    // `sched`). A target that is busy, or waits for someone else, leaves
    // us queued in `InSend` for its next `recv`.
    let caller_id = sys.tasks[caller].id(caller);
    let waiting = matches!(
        sys.tasks[target].state(),
        TaskState::Healthy(SchedState::InRecv(from)) if from.is_none_or(|f| f == caller_id)
    );
    if waiting {
        // Our side was checked above; a receiver whose buffer is no longer
        // its own is faulted, which wakes us with DEAD.
        deliver_checked(sys, caller, target, &args);
    } else {
        sys.note(caller);
    }
    Ok(())
}

/// Copies the message of a sender blocked in `send` into a receiver in
/// `recv`, and makes the receiver runnable with the message registers set.
///
/// The sender's registers were checked when it sent, but they may have
/// changed since: they are checked again, all of them, and a sender whose
/// registers no longer describe a message it could send is faulted
/// instead (`false`; the receiver is untouched and may take another).
fn deliver<M: Machine>(sys: &mut System<'_, M>, sender: usize, receiver: usize) -> bool {
    let checked = send_args(&sys.tasks[sender])
        .map_err(UserError::from)
        .and_then(|args| check_sender_memory(&sys.tasks[sender], &args).map(|()| args));
    match checked.map_err(UserError::to_fault) {
        Ok(args) => deliver_checked(sys, sender, receiver, &args),
        Err(Err(record)) => {
            faults::fault_blocked(sys, sender, record);
            false
        }
        // The checks only ever blame the sender.
        Err(Ok(_)) => false,
    }
}

/// [`deliver`] with the sender's arguments already checked; `true` if the
/// message was delivered. The copy checks both sides again and names the
/// one that lied: a receiver whose buffer registers changed (or whose
/// regions shrank) while it waited is faulted, which wakes the sender with
/// DEAD; a sender likewise, and the receiver stays waiting.
fn deliver_checked<M: Machine>(
    sys: &mut System<'_, M>,
    sender: usize,
    receiver: usize,
    args: &SendArgs,
) -> bool {
    let r = sys.tasks[receiver].save();
    let (base, len) = (r.arg(0), r.arg(1));
    // The receiver learns the length as sent; if its buffer is smaller it
    // gets a prefix (as in Hubris: truncation is not a lie).
    crate::probe!(sys.machine, Ipc);
    let (s, r) = (&sys.tasks[sender], &sys.tasks[receiver]);
    let copied = match USlice::from_raw(base, len) {
        Some(buf) => umem::safe_copy(s, &args.message, r, &buf).map(|_| ()),
        None => Err(InteractFault {
            src: None,
            dst: Some(BadSlice { base }),
        }),
    };
    crate::probe!(sys.machine, Copy);
    if let Err(f) = copied {
        faults::apply_interact(sys, sender, receiver, f);
        return false;
    }
    let sender_id = sys.tasks[sender].id(sender);
    let receiver_id = sys.tasks[receiver].id(receiver);
    let rs = sys.tasks[receiver].save_mut();
    rs.set_ret(0, sender_id.0 as usize);
    rs.set_ret(1, args.operation as usize);
    rs.set_ret(2, args.message.len());
    rs.set_ret(3, args.reply.len());
    rs.set_ret(4, args.leases.len());
    // The first lease as checked above, so that the receiver need not ask
    // (`borrow_info`): a server's typical call lends one buffer.
    if let Some(l) = lease(&sys.tasks[sender], 0) {
        let word = abi::describe_lease(l.attributes, l.len);
        sys.tasks[receiver].save_mut().set_ret(5, word as usize);
    }
    let payer = crate::budget::payer(sys, sender);
    sys.tasks[receiver].set_serving(payer);
    sys.tasks[receiver].set_sched(SchedState::Runnable);
    sys.tasks[sender].set_sched(SchedState::InReply(receiver_id));
    sys.note(receiver);
    sys.note(sender);
    true
}

/// Sets the registers of a `recv` that returns a notification.
fn return_notification(task: &mut Task, bits: u32) {
    // Its own work now, not a caller's (see `budget`, "Server time").
    task.set_serving(crate::sched::MaybeTask::NONE);
    let s = task.save_mut();
    s.set_ret(0, TaskId::KERNEL.0 as usize);
    s.set_ret(1, bits as usize);
    s.set_ret(2, 0);
    s.set_ret(3, 0);
    s.set_ret(4, 0);
}

/// Wakes a task blocked in `recv` if a notification it waits for is pending.
pub fn wake_for_notifications(task: &mut Task) {
    if let TaskState::Healthy(SchedState::InRecv(_)) = task.state() {
        let bits = task.take_notifications(task.notification_mask());
        if bits != 0 {
            return_notification(task, bits);
            task.set_sched(SchedState::Runnable);
        }
    }
}

/// `recv`: a pending notification first, then the most important waiting
/// sender, else block.
///
/// `a0`/`a1` = the buffer, `a2` = the notification mask, `a3` = whom from
/// (`RECV_OPEN`: anyone).
pub fn recv<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    let (base, len, mask, from) = (s.arg(0), s.arg(1), s.arg(2) as u32, s.arg(3) as u32);
    let buf = USlice::<u8>::from_raw(base, len).ok_or(UsageError::InvalidSlice)?;
    umem::check_writable(&sys.tasks[caller], &buf)?;
    let only = (from != RECV_OPEN).then_some(TaskId::from_register(from));
    // Waiting on one task that cannot send (dead, stale, nonexistent) would
    // be waiting forever: say so at once. Waiting on the kernel is how a
    // task waits for notifications only.
    if let Some(o) = only.filter(|&o| o != TaskId::KERNEL) {
        // An untrusted server (a driver) takes its callers in our order:
        // receiving from chosen ones only, it could answer them and leave
        // another queued for good, unseen by the supervisor's watchdog
        // (which sees calls received, and replies).
        if !sys.tasks[caller].desc().trusted {
            return Err(UserError::Recoverable(REFUSED_CLOSED_RECV));
        }
        let i = o.index();
        if i >= sys.tasks.len() {
            return Err(UserError::Recoverable(REFUSED_NO_SUCH_TASK));
        }
        if sys.tasks[i].id(i) != o || !sys.tasks[i].is_healthy() {
            return Err(UserError::Recoverable(dead_code(sys.tasks[i].generation())));
        }
    }

    let bits = sys.tasks[caller].take_notifications(mask);
    if bits != 0 {
        return_notification(&mut sys.tasks[caller], bits);
        if sys.tasks[caller].take_interrupted(bits) {
            // Its device interrupted since it last re-armed the
            // interrupt: work, as a call found waiting is (see `budget`,
            // "Interrupts").
            crate::budget::work_arrived(sys, caller);
        }
        return Ok(());
    }

    // Only tasks blocked in `send` can be waiting for us, and the
    // scheduler keeps a set of them: no walk over the whole table. A sender
    // that fails the re-check at delivery is faulted (so no longer in
    // `send`) and the next one is tried.
    //
    // The most important sender first; of equally important ones, the
    // first after the one we took last, in table order (`rank`: its
    // distance after it, wrapping). Taken lowest index first, a driver
    // that answered a busy caller and slept a moment before its next
    // `recv` found that caller queued again, and took it again: another
    // of the same priority, queued all along, was starved by a driver
    // that never named whom it receives from.
    let me = sys.tasks[caller].id(caller);
    let after = sys.tasks[caller].last_sender();
    let rank = |i: usize| i.wrapping_sub(after).wrapping_sub(1);
    sys.tasks[caller].set_notification_mask(mask);
    sys.tasks[caller].set_sched(SchedState::InRecv(only));
    // Faulting a sender can itself end the wait: a closed receive from it
    // completes with DEAD, a supervisor is woken by the fault bit.
    while sys.tasks[caller].is(SchedState::InRecv(only)) {
        let mut best: Option<usize> = None;
        let tasks = &*sys.tasks;
        sys.sched.sending().for_each_in(0, tasks.len(), |i| {
            let t = &tasks[i];
            let candidate = matches!(t.state(), TaskState::Healthy(SchedState::InSend(to)) if to == me)
                && only.is_none_or(|o| t.id(i) == o);
            let better = |b: usize| {
                t.is_more_important_than(&tasks[b])
                    || (!tasks[b].is_more_important_than(t) && rank(i) < rank(b))
            };
            if candidate && best.is_none_or(better) {
                best = Some(i);
            }
        });
        match best {
            Some(sender) if deliver(sys, sender, caller) => {
                sys.tasks[caller].set_last_sender(sender);
                break;
            }
            Some(_) => {}
            None => break,
        }
    }
    if sys.tasks[caller].is_runnable() {
        // A call was waiting: the work it waited for (see `budget`).
        crate::budget::work_arrived(sys, caller);
    }
    sys.note(caller);
    Ok(())
}

/// `reply_recv`: [`reply`] with `a0..a3`, then an open [`recv`] with
/// `a4..a6`. If the reply faults the caller, nothing is received.
pub fn reply_recv<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    let (base, len, mask) = (s.arg(4), s.arg(5), s.arg(6) as u32);
    reply(sys, caller)?;
    // The receive reads its arguments where `recv` finds them.
    as_open_recv(&mut sys.tasks[caller], base, len, mask);
    recv(sys, caller)
}

/// Rewrites a `reply_recv` caller's argument registers into those of the
/// open `recv` it turns into, so that while it waits it looks exactly like
/// a task blocked in `recv` (a later sender finds the buffer in `a0`/`a1`).
pub fn as_open_recv(task: &mut Task, base: usize, len: usize, mask: u32) {
    let s = task.save_mut();
    s.set_ret(0, base);
    s.set_ret(1, len);
    s.set_ret(2, mask as usize);
    s.set_ret(3, RECV_OPEN as usize);
}

/// `reply`: completes the peer's `send` if the peer is still waiting on us.
/// A peer that died or was restarted meanwhile is silently skipped: the
/// server is not to blame and must not be hurt by it.
///
/// `a0` = the peer, `a1` = the response code, `a2`/`a3` = the message.
pub fn reply<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> Result<(), UserError> {
    let s = sys.tasks[caller].save();
    let (peer, code) = (TaskId::from_register(s.arg(0) as u32), s.arg(1) as u32);
    let (base, len) = (s.arg(2), s.arg(3));
    // A lease of the peer is still posted to our device: it may not run on
    // (and find its buffer changing) until the device is done with it. (An
    // index beyond the table holds no pin; a reply to it is dropped below.)
    if crate::dma::pins(sys, caller, peer.index()) {
        return Err(UserError::Recoverable(abi::DMA_PINNED));
    }
    let msg = USlice::from_raw(base, len).ok_or(UsageError::InvalidSlice)?;
    let msg = umem::try_read(&sys.tasks[caller], &msg)?;
    if code >= KERNEL_CODE_BASE {
        return Err(UsageError::ReservedResponseCode.into());
    }
    let p = peer.index();
    let me = sys.tasks[caller].id(caller);
    if p >= sys.tasks.len()
        || !matches!(sys.tasks[p].state(), TaskState::Healthy(SchedState::InReply(t)) if t == me)
        || sys.tasks[p].id(p) != peer
    {
        return Ok(());
    }
    // The peer's registers decoded when it sent; if they no longer do
    // (changed while it waited), it is faulted as at delivery, rather than
    // left waiting for a reply that can never land.
    let args = match send_args(&sys.tasks[p]) {
        Ok(args) => args,
        Err(e) => {
            faults::fault_blocked(sys, p, crate::err::usage_fault(e));
            return Ok(());
        }
    };
    if msg.len() > args.reply.len() {
        return Err(UsageError::ReplyTooBig.into());
    }
    crate::probe!(sys.machine, Ipc);
    let copied = umem::write_bytes(&sys.tasks[p], &args.reply, msg);
    crate::probe!(sys.machine, Copy);
    let copied = match copied {
        Ok(n) => n,
        // Our message is ours (checked above), so it is the peer's reply
        // buffer that lied (a revoked grant): the peer is faulted, not told
        // that an empty reply arrived.
        Err(bad) => {
            faults::fault_blocked(sys, p, bad.record());
            return Ok(());
        }
    };
    let ps = sys.tasks[p].save_mut();
    ps.set_ret(0, code as usize);
    ps.set_ret(1, copied);
    sys.tasks[p].set_sched(SchedState::Runnable);
    sys.note(p);
    sys.tasks[caller].count_reply();
    Ok(())
}

/// Completes a task blocked on a peer (in send, awaiting a reply, or in a
/// receive from that peer only) with `code` in `a0`; used for DEAD codes
/// when the peer's incarnation ends.
pub fn complete_with_code(task: &mut Task, code: u32) {
    let s = task.save_mut();
    s.set_ret(0, code as usize);
    s.set_ret(1, 0);
    task.set_sched(SchedState::Runnable);
}
