//! The IPC fast path: the two calls every request makes, done in a few
//! dozen instructions when their common case holds.
//!
//! - `send` of a short message to a task already waiting in `recv` for us:
//!   the message goes across and the target runs next, with no scheduler
//!   scan (it is more important than the caller, which was the most
//!   important runnable task). Leases are checked as the general path
//!   checks them (a driver's zero-copy call lends its buffer), and the
//!   first one is described to the receiver.
//! - `reply_recv` with a short reply to a caller still waiting on us (and,
//!   from a driver, with none of its leases still on the device), when
//!   no notification is pending for the mask and nobody is queued to send:
//!   the caller gets its reply, we block in `recv`, and the caller runs
//!   next straight away if it is now the one most important runnable task
//!   (else the scheduler chooses, visiting only runnable tasks).
//!
//! Each function checks every precondition *before* changing anything and
//! returns `false` if one fails; the general path in `ipc` then handles the
//! call with its full checks and precise errors. So the fast path never
//! decides an error, a fault or an unusual case: it only ever produces
//! exactly what the general path would, sooner. Host tests
//! (`tests::fastpath`) run each precondition's failure through the general
//! path and compare.
//!
//! It must never skip a check the general path makes (regions, slots,
//! priority, generation), and it reports every state change to the
//! scheduler (`System::note`), like everything else.

use abi::{TaskId, KERNEL_CODE_BASE};

use crate::ipc;
use crate::machine::Machine;
use crate::system::System;
use crate::task::{self, SchedState, Task, TaskState};
use crate::umem::{self, USlice};

/// Longest message (and reply) the fast path carries: a few registers'
/// worth, copied word by word without the general copy routine.
pub const FAST_MESSAGE: usize = 16;

/// `send` on the fast path. `true` if the call was completed here.
pub fn send<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> bool {
    let s = sys.tasks[caller].save();
    let (a0, msg_base, msg_len) = (s.arg(0), s.arg(1), s.arg(2));
    let (reply_base, reply_len) = (s.arg(3), s.arg(4));
    let (operation, lease_count) = abi::split_op_leases(s.arg(6) as u32);
    if lease_count > abi::MAX_LEASES || msg_len > FAST_MESSAGE {
        return false;
    }
    let target_id = TaskId::from_register(a0 as u32);
    let t = target_id.index();
    // The target must wait in `recv` for us. (A task cannot send to
    // itself: it is not more important than itself, so that `Err` is the
    // general path's.)
    let Some((me, target, my_id)) = parties(
        sys.tasks,
        caller,
        t,
        |s, me| matches!(s, SchedState::InRecv(from) if from.is_none_or(|f| f == me)),
    ) else {
        return false;
    };
    if !target.is_more_important_than(me)
        || target.generation() != target_id.generation()
        || !me.desc().has_slot(t)
    {
        return false;
    }
    // The same memory checks as the general path, plus the receiver's
    // buffer (checked when it blocked, but regions can shrink).
    let (Some(msg), Some(reply)) = (
        USlice::from_raw(msg_base, msg_len),
        USlice::<u8>::from_raw(reply_base, reply_len),
    ) else {
        return false;
    };
    let r = target.save();
    let Some(buf) = USlice::from_raw(r.arg(0), r.arg(1)) else {
        return false;
    };
    if umem::check_writable(me, &reply).is_err() {
        return false;
    }
    // Every lease inside memory we may lend that way, as `send` checks
    // (nothing to read for the usual call, which lends nothing).
    let mut first = 0;
    if lease_count > 0 {
        let Some(word) = lent(me, me.save().arg(5), lease_count) else {
            return false;
        };
        first = word as usize;
    }

    // The target is more important than the caller, which was the most
    // important runnable task: nobody else can come first.
    let hand_off = sys.sched.premise(caller);
    crate::probe!(sys.machine, Ipc);
    // The copy checks `msg` readable by us and `buf` writable by the
    // target, and changes nothing if either is not.
    if umem::safe_copy_short(me, &msg, target, &buf).is_err() {
        return false;
    }
    crate::probe!(sys.machine, Copy);
    let rs = target.save_mut();
    rs.set_ret(0, my_id.0 as usize);
    rs.set_ret(1, operation as usize);
    rs.set_ret(2, msg_len);
    rs.set_ret(3, reply_len);
    rs.set_ret(4, lease_count);
    if lease_count > 0 {
        rs.set_ret(5, first);
    }
    target.set_sched_of_healthy(SchedState::Runnable);
    // `target_id` names the target's current incarnation (checked above).
    me.set_sched_of_healthy(SchedState::InReply(target_id));
    // Each state change reported to the scheduler, as `System::note` would,
    // with the transitions known.
    sys.sched.now_runnable(t);
    sys.sched.now_blocked(sys.tasks, caller);
    if hand_off {
        sys.sched.hand_off(t);
    } else {
        sys.sched.track_woken(sys.tasks, t);
    }
    true
}

/// The first of the `count` (> 0) leases in `me`'s table at `base`,
/// described for the receiver, if the table is readable and every lease
/// names memory `me` may lend that way (as `ipc::send` checks); `None`
/// otherwise. Inline: the trap handler's frame saves every register
/// anyway, and out of line this saved five more of its own at every
/// lending call (the blk read through IPC and `raw_send_8b_4k_lease` 14
/// instructions each); the null round trip, which lends nothing, is the
/// same either way (measured: 830 both).
#[inline(always)]
fn lent(me: &Task, base: usize, count: usize) -> Option<u32> {
    let leases = USlice::<abi::Lease>::from_raw(base, count)?;
    let table = umem::try_read(me, &leases).ok()?;
    if !table.iter().all(|l| ipc::lease_is_valid(me, l)) {
        return None;
    }
    table
        .first()
        .map(|l| abi::describe_lease(l.attributes, l.len))
}

/// `reply_recv` on the fast path. `true` if the call was completed here.
pub fn reply_recv<M: Machine>(sys: &mut System<'_, M>, caller: usize) -> bool {
    let s = sys.tasks[caller].save();
    let (peer, code, msg_base, msg_len) = (s.arg(0), s.arg(1) as u32, s.arg(2), s.arg(3));
    let (buf_base, buf_len, mask) = (s.arg(4), s.arg(5), s.arg(6) as u32);
    if msg_len > FAST_MESSAGE || code >= KERNEL_CODE_BASE {
        return false;
    }
    // The receive must block: nobody queued to send (to anyone: cheaper
    // to ask, and the general path handles the rest).
    if sys.sched.anyone_sending() {
        return false;
    }
    let peer = TaskId::from_register(peer as u32);
    let p = peer.index();
    // The client must wait for our reply (a reply to oneself is the
    // general path's business).
    let Some((me, client, _)) = parties(sys.tasks, caller, p, |s, me| s == SchedState::InReply(me))
    else {
        return false;
    };
    // The receive must block: nothing pending for the mask.
    if client.id(p) != peer || me.notifications() & mask != 0 {
        return false;
    }
    let c = client.save();
    let (Some(msg), Some(reply_buf), Some(buf)) = (
        USlice::from_raw(msg_base, msg_len),
        USlice::from_raw(c.arg(3), c.arg(4)),
        USlice::<u8>::from_raw(buf_base, buf_len),
    ) else {
        return false;
    };
    // The client's other send arguments were checked when it sent; check
    // that they still decode, as the general path does before replying.
    let (_, lease_count) = abi::split_op_leases(c.arg(6) as u32);
    if msg_len > reply_buf.len()
        || lease_count > abi::MAX_LEASES
        || USlice::<u8>::from_raw(c.arg(1), c.arg(2)).is_none()
        || USlice::<abi::Lease>::from_raw(c.arg(5), lease_count).is_none()
        || umem::check_writable(me, &buf).is_err()
        // A lease may still be posted to our device: then the reply must
        // wait (`ipc::reply` refuses it; only a call that lent something
        // can be pinned). Asking releases the chains the device gave back,
        // as the general path's asking would: nothing a task sees changes.
        // A pin still held is the general path's to judge with the device.
        || (lease_count != 0 && crate::dma::holds_pin_of(me, p))
    {
        return false;
    }

    let hand_off = sys.sched.premise(caller);
    crate::probe!(sys.machine, Ipc);
    // The copy checks `msg` readable by us and `reply_buf` writable by the
    // client, and changes nothing if either is not.
    let Ok(copied) = umem::safe_copy_short(me, &msg, client, &reply_buf) else {
        return false;
    };
    crate::probe!(sys.machine, Copy);
    let client_priority = client.priority();
    let cs = client.save_mut();
    cs.set_ret(0, code as usize);
    cs.set_ret(1, copied);
    client.set_sched_of_healthy(SchedState::Runnable);
    me.count_reply();
    ipc::as_open_recv(me, buf_base, buf_len, mask);
    me.set_notification_mask(mask);
    me.set_sched_of_healthy(SchedState::InRecv(None));
    sys.sched.now_runnable(p);
    sys.sched.now_blocked(sys.tasks, caller);
    if hand_off && sys.sched.is_sole_top(sys.tasks, p, client_priority) {
        // We were the most important runnable task and now wait; the
        // client is the one most important runnable task left.
        sys.sched.hand_off(p);
    } else {
        sys.sched.track_woken(sys.tasks, p);
    }
    true
}

/// Both parties of a fast-path call at once: the caller, task `other`, and
/// the caller's id; `None` (the general path's business) if `other` is
/// out of range or the caller itself, or is not healthy in a scheduling
/// state `waiting` accepts (given the caller's id). The indices are
/// checked here, once, and neither task is looked up again.
#[inline(always)]
fn parties(
    tasks: &mut [Task],
    caller: usize,
    other: usize,
    waiting: impl FnOnce(SchedState, TaskId) -> bool,
) -> Option<(&mut Task, &mut Task, TaskId)> {
    let (me, them) = task::pair_mut(tasks, caller, other)?;
    let my_id = me.id(caller);
    match them.state() {
        TaskState::Healthy(s) if waiting(s, my_id) => Some((me, them, my_id)),
        _ => None,
    }
}
