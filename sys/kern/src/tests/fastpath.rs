//! The IPC fast path (`fastpath`): each precondition, what happens when it
//! fails (the general path handles the call, with the same result as
//! before the fast path existed), and the scheduler's hand-off.
//!
//! `fastpath::send` / `fastpath::reply_recv` are called directly to see
//! whether the fast path took a call; the full syscall then shows the
//! result. Every `next_task` and `after_trap` also checks, inside the
//! scheduler, that its choice is the one `sched::select` makes.

use abi::{dead_code, Sysnum, TaskId, LEASE_READ};

use super::harness::*;
use crate::task::{SchedState, TaskState};
use crate::{fastpath, faults, ipc, notify, sched, syscalls};

/// The usual three, with the supervisor and the server blocked in `recv`
/// and the client chosen to run: the fast path's premise holds for it.
/// (The light path's tests start from here too.)
pub(super) fn ready_for_a_call() -> Harness {
    let mut h = Harness::three();
    h.recv(SUP, 0, 1);
    h.recv(SRV, 64, 0);
    assert_eq!(syscalls::next_task(&mut h.sys, SRV), Some(CLI));
    h
}

/// Runs the scheduler the way the trap handler does after a trap by `t`,
/// and checks the answer against the reference `sched::select`.
fn after_trap(h: &mut Harness, t: usize) -> Option<usize> {
    let want = sched::select(h.sys.tasks, h.sys.sched.cursors());
    let next = syscalls::after_trap(&mut h.sys, t);
    assert_eq!(next, want, "after a trap by {t}");
    next
}

/// A `reply_recv` by the server (to `to`, with `code` and `msg`, then a
/// 64-byte receive with `mask`) that the fast path must decline — `why`
/// says what it would get wrong — done by the general path instead.
fn declined_reply_recv(h: &mut Harness, to: TaskId, code: u32, msg: &[u8], mask: u32, why: &str) {
    h.stage_reply_recv(SRV, to, code, msg, 64, mask);
    assert!(!fastpath::reply_recv(&mut h.sys, SRV), "{why}");
    h.reply_recv(SRV, to, code, msg, 64, mask);
}

#[test]
fn send_to_a_waiting_receiver_is_delivered_and_hands_off() {
    let mut h = ready_for_a_call();
    let srv = h.id(SRV);
    h.stage_send(CLI, srv, 7, b"hi!", 8, &[]);
    assert!(fastpath::send(&mut h.sys, CLI), "fast path declined");
    h.assert_delivered(SRV, CLI, 7, 3, 8, b"hi!\0");
    // The hand-off: the server runs next without a scan.
    assert_eq!(after_trap(&mut h, CLI), Some(SRV));
}

#[test]
fn full_send_syscall_uses_the_fast_path_and_the_result_is_the_same() {
    let mut h = ready_for_a_call();
    let srv = h.id(SRV);
    h.send(
        CLI,
        srv,
        9,
        &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
        4,
        &[],
    );
    assert_eq!(h.sched(CLI), SchedState::InReply(srv));
    assert_eq!(h.received(SRV).len, 16);
    assert_eq!(
        h.read(SRV, RECV_BUF, 17)[..16],
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    );
    assert_eq!(h.read(SRV, RECV_BUF, 17)[16], 0);
    assert_eq!(after_trap(&mut h, CLI), Some(SRV));
}

#[test]
fn a_receive_buffer_shorter_than_the_message_gets_a_prefix() {
    let mut h = Harness::three();
    h.recv(SUP, 0, 1);
    h.recv(SRV, 2, 0);
    let srv = h.id(SRV);
    h.stage_send(CLI, srv, 1, b"abcd", 0, &[]);
    assert!(fastpath::send(&mut h.sys, CLI));
    assert_eq!(h.received(SRV).len, 4, "the length as sent");
    assert_eq!(h.read(SRV, RECV_BUF, 3), b"ab\0");
}

/// The premise: a sender that is not the task the scheduler chose (here a
/// more important task is runnable) gets its message delivered, but the
/// fast path must not hand the CPU to the receiver: the scheduler chooses,
/// and the more important task runs.
#[test]
fn sender_less_important_than_the_running_task_does_not_hand_off() {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("mid", 1)
        .task("srv", 2)
        .task("cli", 3)
        .build();
    h.recv(SUP, 0, 1);
    h.recv(2, 64, 0);
    // The scheduler chose `mid`; `cli` is runnable but not running.
    assert_eq!(syscalls::next_task(&mut h.sys, 0), Some(1));
    let srv = h.id(2);
    h.send(3, srv, 1, b"x", 0, &[]);
    assert_eq!(h.sched(3), SchedState::InReply(srv), "still delivered");
    assert_eq!(h.sched(2), SchedState::Runnable);
    // Not the receiver: `mid` is more important than it.
    assert_eq!(after_trap(&mut h, 3), Some(1));
}

/// The same with the premise intact but a woken task in the way: the
/// client, chosen to run, sends; the receiver runs even though a task of
/// the client's own priority is runnable (the receiver is more important).
#[test]
fn hand_off_skips_equal_priority_tasks_left_runnable() {
    let mut h = Builder::three().task("peer", 2).build();
    h.recv(SUP, 0, 1);
    h.recv(SRV, 64, 0);
    assert_eq!(syscalls::next_task(&mut h.sys, 0), Some(2));
    let srv = h.id(SRV);
    h.send(2, srv, 1, b"", 0, &[]);
    assert_eq!(after_trap(&mut h, 2), Some(SRV));
}

/// A notification pending outside the receiver's mask does not end its
/// `recv`: the fast path delivers the message and leaves the notification
/// pending, for a later `recv` whose mask takes it.
#[test]
fn send_leaves_a_notification_outside_the_receivers_mask_pending() {
    let mut h = ready_for_a_call();
    // The server waits with mask 0 (see `ready_for_a_call`); bit 0b10 is
    // posted while it waits, outside the mask.
    notify::post_bits(&mut h.sys, SRV, 0b10);
    assert_eq!(
        h.sched(SRV),
        SchedState::InRecv(None),
        "woken by a masked bit"
    );
    let srv = h.id(SRV);
    h.stage_send(CLI, srv, 3, b"m", 0, &[]);
    assert!(
        fastpath::send(&mut h.sys, CLI),
        "fast path declined a receiver with a masked notification"
    );
    assert_eq!(h.received(SRV).sender, h.id(CLI));
    assert_eq!(h.read(SRV, RECV_BUF, 1), b"m");
    assert_eq!(
        h.task(SRV).notifications(),
        0b10,
        "the notification was lost"
    );
    assert_eq!(after_trap(&mut h, CLI), Some(SRV));
}

#[test]
fn receiver_waiting_for_someone_else_does_not_take_the_message() {
    let mut h = Harness::three();
    h.recv(SUP, 0, 1);
    let sup = h.id(SUP);
    h.recv_from(SRV, 64, 0, sup);
    assert_eq!(syscalls::next_task(&mut h.sys, SRV), Some(CLI));
    let srv = h.id(SRV);
    h.stage_send(CLI, srv, 1, b"x", 0, &[]);
    assert!(
        !fastpath::send(&mut h.sys, CLI),
        "fast path took a closed receive"
    );
    // The general path queues the sender, as before.
    h.send(CLI, srv, 1, b"x", 0, &[]);
    assert_eq!(h.sched(CLI), SchedState::InSend(srv));
    assert_eq!(h.sched(SRV), SchedState::InRecv(Some(sup)));
    assert_eq!(h.read(SRV, RECV_BUF, 1), [0]);
    // Nobody can run but... nobody: everyone waits.
    assert_eq!(after_trap(&mut h, CLI), None);
}

/// A call lending buffers (a driver's zero-copy read) goes the fast way,
/// and the receiver learns exactly what the general path tells it: the
/// lease count and the first lease described in `a5`.
#[test]
fn a_send_with_leases_takes_the_fast_path_and_describes_the_first() {
    let mut seen = Vec::new();
    for fast_path in [false, true] {
        let h = &mut ready_for_a_call();
        let srv = h.id(SRV);
        h.write(CLI, DATA, b"lent");
        let leases = [
            h.client_lease(LEASE_READ | abi::LEASE_WRITE, 0, 4),
            h.client_lease(LEASE_READ, 1, 2),
        ];
        h.stage_send(CLI, srv, 2, b"op", 8, &leases);
        if fast_path {
            assert!(fastpath::send(&mut h.sys, CLI), "fast path declined leases");
        } else {
            assert!(ipc::send(&mut h.sys, CLI).is_ok());
        }
        // What the receiver was told, and where both stand.
        seen.push((
            (0..6).map(|r| h.ret(SRV, r)).collect::<Vec<_>>(),
            h.sched(CLI),
            h.sched(SRV),
        ));
        assert_eq!(h.received(SRV).leases, 2);
        let first = abi::describe_lease(LEASE_READ | abi::LEASE_WRITE, 4);
        assert_eq!(h.ret(SRV, 5), first as usize);
        let cli = h.id(CLI);
        assert_eq!(h.borrow_read(SRV, cli, 1, 0, 0, 2), (abi::SUCCESS, 2));
        assert_eq!(h.read(SRV, DATA, 2), b"en");
        assert_eq!(after_trap(h, CLI), Some(SRV));
    }
    assert_eq!(seen[0], seen[1], "general and fast path differ");
}

/// The most leases a call may carry still go the fast way.
#[test]
fn a_send_with_the_most_leases_takes_the_fast_path() {
    let mut h = ready_for_a_call();
    let srv = h.id(SRV);
    let leases = vec![h.client_lease(LEASE_READ, 0, 1); abi::MAX_LEASES];
    h.stage_send(CLI, srv, 2, b"", 0, &leases);
    assert!(
        fastpath::send(&mut h.sys, CLI),
        "fast path declined MAX_LEASES"
    );
    assert_eq!(h.received(SRV).leases, abi::MAX_LEASES);
}

/// A lease the caller may not lend that way, or too many, are the general
/// path's to refuse: the fast path declines and the caller is faulted.
#[test]
fn a_send_with_a_bad_lease_declines_the_fast_path_and_faults() {
    type Leases = fn(&Harness) -> Vec<abi::Lease>;
    let cases: [(&str, Leases, abi::UsageError); 3] = [
        (
            "a lease beyond the caller's memory",
            |h| vec![h.client_lease(LEASE_READ, 0, 1 << 20)],
            abi::UsageError::LeaseOutOfBounds,
        ),
        (
            "a writable lease of read-only memory",
            |h| {
                vec![abi::Lease {
                    attributes: abi::LEASE_WRITE,
                    base: h.mem[CLI].text as u32,
                    len: 4,
                }]
            },
            abi::UsageError::LeaseOutOfBounds,
        ),
        (
            "one lease more than a call may carry",
            |h| vec![h.client_lease(LEASE_READ, 0, 1); abi::MAX_LEASES + 1],
            abi::UsageError::TooManyLeases,
        ),
    ];
    for (what, leases, error) in cases {
        let mut h = ready_for_a_call();
        let srv = h.id(SRV);
        let leases = leases(&h);
        h.stage_send(CLI, srv, 2, b"", 0, &leases);
        assert!(!fastpath::send(&mut h.sys, CLI), "fast path took {what}");
        h.send(CLI, srv, 2, b"", 0, &leases);
        h.assert_usage_fault(CLI, error);
        assert_eq!(h.sched(SRV), SchedState::InRecv(None), "{what}");
    }
}

/// A call that lent the server something is answered on the fast path
/// all the same when the server drives no device (no lease can be on one).
#[test]
fn a_reply_to_a_call_with_leases_takes_the_fast_path() {
    let mut h = ready_for_a_call();
    let srv = h.id(SRV);
    let lease = h.client_lease(LEASE_READ, 0, 4);
    h.send(CLI, srv, 2, b"", 8, &[lease]);
    assert_eq!(after_trap(&mut h, CLI), Some(SRV));
    let cli = h.id(CLI);
    h.stage_reply_recv(SRV, cli, 0, b"done", 64, 0);
    assert!(fastpath::reply_recv(&mut h.sys, SRV), "fast path declined");
    assert_eq!(h.ret(CLI, 1), 4);
    assert_eq!(h.read(CLI, REPLY_BUF, 4), b"done");
}

/// The most leases a call may carry do not keep its reply off the fast
/// path either.
#[test]
fn a_reply_to_a_call_with_the_most_leases_takes_the_fast_path() {
    let mut h = ready_for_a_call();
    let srv = h.id(SRV);
    let leases = vec![h.client_lease(LEASE_READ, 0, 1); abi::MAX_LEASES];
    h.send(CLI, srv, 2, b"", 8, &leases);
    assert_eq!(h.received(SRV).leases, abi::MAX_LEASES);
    assert_eq!(after_trap(&mut h, CLI), Some(SRV));
    let cli = h.id(CLI);
    h.stage_reply_recv(SRV, cli, 0, b"ok", 64, 0);
    assert!(fastpath::reply_recv(&mut h.sys, SRV), "fast path declined");
    assert_eq!(h.read(CLI, REPLY_BUF, 2), b"ok");
}

#[test]
fn a_long_message_takes_the_general_copy() {
    let mut h = ready_for_a_call();
    let srv = h.id(SRV);
    let msg: Vec<u8> = (1..=fastpath::FAST_MESSAGE as u8 + 1).collect();
    h.stage_send(CLI, srv, 2, &msg, 0, &[]);
    assert!(
        !fastpath::send(&mut h.sys, CLI),
        "fast path took a long message"
    );
    h.send(CLI, srv, 2, &msg, 0, &[]);
    assert_eq!(h.read(SRV, RECV_BUF, msg.len()), msg);
}

#[test]
fn a_message_and_a_reply_of_exactly_the_limit_take_the_fast_path() {
    // FAST_MESSAGE is the longest the fast path carries, not one past it.
    let mut h = ready_for_a_call();
    let srv = h.id(SRV);
    let msg: Vec<u8> = (1..=fastpath::FAST_MESSAGE as u8).collect();
    h.stage_send(CLI, srv, 2, &msg, fastpath::FAST_MESSAGE, &[]);
    assert!(fastpath::send(&mut h.sys, CLI), "fast path declined");
    assert_eq!(h.read(SRV, RECV_BUF, msg.len()), msg);
    assert_eq!(after_trap(&mut h, CLI), Some(SRV));

    let cli = h.id(CLI);
    let reply: Vec<u8> = msg.iter().rev().copied().collect();
    h.stage_reply_recv(SRV, cli, 0, &reply, 64, 0);
    assert!(fastpath::reply_recv(&mut h.sys, SRV), "fast path declined");
    assert_eq!(h.ret(CLI, 1), reply.len());
    assert_eq!(h.read(CLI, REPLY_BUF, reply.len()), reply);
}

#[test]
fn a_stale_generation_takes_the_general_path_and_gets_dead() {
    let mut h = Harness::three();
    let stale = h.id(SRV);
    h.restart(SRV);
    h.recv(SUP, 0, 1);
    h.recv(SRV, 64, 0);
    assert_eq!(syscalls::next_task(&mut h.sys, 0), Some(CLI));
    h.stage_send(CLI, stale, 1, b"x", 0, &[]);
    assert!(
        !fastpath::send(&mut h.sys, CLI),
        "fast path took a stale id"
    );
    h.send(CLI, stale, 1, b"x", 0, &[]);
    assert_eq!(h.ret(CLI, 0) as u32, dead_code(h.task(SRV).generation()));
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!(h.sched(SRV), SchedState::InRecv(None), "not delivered");
    assert_eq!(after_trap(&mut h, CLI), Some(CLI));
}

#[test]
fn refusals_are_left_to_the_general_path() {
    // A target outside the caller's slots, and a less important target.
    let mut h = Builder::three().slots(&[0]).task("low", 3).build();
    h.recv(SUP, 0, 1);
    h.recv(SRV, 64, 0);
    h.recv(3, 64, 0);
    let srv = h.id(SRV);
    h.stage_send(CLI, srv, 1, b"", 0, &[]);
    assert!(!fastpath::send(&mut h.sys, CLI));
    h.send(CLI, srv, 1, b"", 0, &[]);
    assert_eq!(h.ret(CLI, 0) as u32, abi::REFUSED_NOT_IN_SLOTS);
    let low = h.id(3);
    h.stage_send(CLI, low, 1, b"", 0, &[]);
    assert!(!fastpath::send(&mut h.sys, CLI));
    h.send(CLI, low, 1, b"", 0, &[]);
    assert_eq!(h.ret(CLI, 0) as u32, abi::REFUSED_PRIORITY);
    assert_eq!(h.sched(3), SchedState::InRecv(None), "nothing delivered");
}

/// A server that answered with `reply_recv` and waits is found by the next
/// sender exactly like one waiting in `recv`: its buffer gets the bytes,
/// on the fast path and on the general one (leases).
#[test]
fn a_server_waiting_after_reply_recv_receives_like_after_recv() {
    let (mut h, cli) = in_a_call();
    h.reply_recv(SRV, cli, 0, b"", 64, 0);
    assert_eq!(after_trap(&mut h, SRV), Some(CLI));
    let srv = h.id(SRV);
    h.send(CLI, srv, 2, b"again", 8, &[]);
    assert_eq!(h.read(SRV, RECV_BUF, 5), b"again");
    assert_eq!(after_trap(&mut h, CLI), Some(SRV));
    h.reply_recv(SRV, cli, 0, b"", 64, 0);
    assert_eq!(after_trap(&mut h, SRV), Some(CLI));
    h.write(CLI, DATA, b"L");
    let lease = h.client_lease(LEASE_READ, 0, 1);
    h.send(CLI, srv, 3, b"leased", 8, &[lease]);
    assert_eq!(h.read(SRV, RECV_BUF, 6), b"leased");
    assert_eq!(h.received(SRV).leases, 1);
}

/// The client calls, the server answers with `reply_recv`: the client gets
/// the reply, the server waits again, and the client runs next.
fn call(h: &mut Harness) {
    let srv = h.id(SRV);
    h.send(CLI, srv, 3, b"q", 16, &[]);
    assert_eq!(after_trap(h, CLI), Some(SRV));
}

/// [`ready_for_a_call`] and [`call`]: the server runs with the client's
/// call; returns the harness and the client's id.
fn in_a_call() -> (Harness, TaskId) {
    let mut h = ready_for_a_call();
    call(&mut h);
    let cli = h.id(CLI);
    (h, cli)
}

#[test]
fn reply_recv_replies_waits_and_hands_back() {
    let (mut h, cli) = in_a_call();
    h.stage_reply_recv(SRV, cli, 5, b"ok", 64, 0);
    assert!(fastpath::reply_recv(&mut h.sys, SRV), "fast path declined");
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!((h.ret(CLI, 0), h.ret(CLI, 1)), (5, 2));
    assert_eq!(h.read(CLI, REPLY_BUF, 3), b"ok\0");
    assert_eq!(h.sched(SRV), SchedState::InRecv(None));
    assert_eq!(h.task(SRV).replies(), 1);
    assert_eq!(after_trap(&mut h, SRV), Some(CLI));
    // And again through the syscall, as a loop would.
    call(&mut h);
    h.reply_recv(SRV, cli, 6, b"", 64, 0);
    assert_eq!(h.ret(CLI, 0), 6);
    assert_eq!(after_trap(&mut h, SRV), Some(CLI));
}

#[test]
fn reply_recv_with_a_pending_notification_falls_back_and_returns_it() {
    let mut h = ready_for_a_call();
    call(&mut h);
    notify::post_bits(&mut h.sys, SRV, 0b100);
    let cli = h.id(CLI);
    declined_reply_recv(&mut h, cli, 0, b"", 0b100, "fast path hid a notification");
    // The reply went out, and the receive returned the notification.
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    let m = h.received(SRV);
    assert_eq!((m.sender, m.op), (TaskId::KERNEL, 0b100));
    // The server is more important: it runs on.
    assert_eq!(after_trap(&mut h, SRV), Some(SRV));
}

#[test]
fn reply_recv_with_a_queued_sender_falls_back_and_takes_its_message() {
    let mut h = Builder::three().task("other", 3).build();
    h.recv(SUP, 0, 1);
    h.recv(SRV, 64, 0);
    let srv = h.id(SRV);
    h.send(CLI, srv, 5, b"first", 16, &[]);
    assert_eq!(h.sched(CLI), SchedState::InReply(srv));
    // The server is busy: `other` queues.
    h.send(3, srv, 6, b"late", 0, &[]);
    assert_eq!(h.sched(3), SchedState::InSend(srv));
    let cli = h.id(CLI);
    declined_reply_recv(&mut h, cli, 0, b"", 0, "fast path skipped a queued sender");
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    let m = h.received(SRV);
    assert_eq!((m.sender, m.op, m.len), (h.id(3), 6, 4));
    assert_eq!(h.read(SRV, RECV_BUF, 4), b"late");
    assert_eq!(h.sched(3), SchedState::InReply(srv));
}

#[test]
fn reply_recv_to_a_caller_that_died_falls_back_and_still_waits() {
    let (mut h, cli) = in_a_call();
    assert!(faults::restart_task(&mut h.sys, CLI));
    declined_reply_recv(&mut h, cli, 0, b"", 0, "fast path took it");
    assert_eq!(h.task(SRV).replies(), 0, "no reply to a dead incarnation");
    assert_eq!(h.sched(SRV), SchedState::InRecv(None));
}

#[test]
fn reply_recv_bad_reply_faults_before_receiving() {
    let (mut h, cli) = in_a_call();
    // A reply longer than the client's 16-byte buffer.
    let long = [7u8; 17];
    declined_reply_recv(&mut h, cli, 0, &long, 0, "fast path took it");
    h.assert_usage_fault(SRV, abi::UsageError::ReplyTooBig);
}

#[test]
fn reply_recv_with_a_kernel_code_faults_the_server_however_short() {
    let (mut h, cli) = in_a_call();
    h.stage_reply_recv(SRV, cli, abi::KERNEL_CODE_BASE, b"x", 64, 0);
    assert!(!fastpath::reply_recv(&mut h.sys, SRV), "fast path took it");
    assert_eq!(h.sched(CLI), SchedState::InReply(h.id(SRV)));
    h.reply_recv(SRV, cli, abi::KERNEL_CODE_BASE, b"x", 64, 0);
    h.assert_usage_fault(SRV, abi::UsageError::ReservedResponseCode);
    // The client learns its server died; no kernel code reached it as a
    // reply.
    assert_eq!(h.ret(CLI, 0) as u32, dead_code(h.task(SRV).generation()));
}

/// The hand-back decision reads the per-priority level bits: with the
/// server and client in different level words (priorities 40 and 200) the
/// client is still known to be the one most important runnable task, so it
/// runs without a scan; with a fourth task as important as the client
/// there is a tie to break, so no hand-back: the full choice decides.
#[test]
fn reply_recv_hands_back_across_priority_words() {
    // What the quick choice is after a fast reply_recv, the fourth task
    // at `fourth` priority.
    let quick_after_reply = |fourth: u8| {
        let mut h = Builder::default()
            .task("sup", 0)
            .task("srv", 40)
            .task("cli", 200)
            .task("fourth", fourth)
            .build();
        h.recv(SUP, 0, 1);
        h.recv(SRV, 64, 0);
        assert_eq!(syscalls::next_task(&mut h.sys, SRV), Some(CLI));
        call(&mut h);
        let cli = h.id(CLI);
        h.stage_reply_recv(SRV, cli, 5, b"ok", 64, 0);
        assert!(fastpath::reply_recv(&mut h.sys, SRV), "fast path declined");
        h.sys.sched.quick(h.sys.tasks, SRV)
    };
    assert_eq!(quick_after_reply(255), Some(CLI), "no hand-back: a scan");
    assert_eq!(quick_after_reply(200), None, "a tie was handed back");
}

/// No hand-off when another runnable task is more important than the
/// client (here one woken by an interrupt during the server's work).
#[test]
fn reply_recv_hands_back_only_to_the_most_important_runnable_task() {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("srv", 1)
        .task("mid", 2)
        .task("cli", 3)
        .irq(9, 2, 1)
        .build();
    h.recv(SUP, 0, 1);
    h.recv(SRV, 64, 0);
    h.recv(2, 0, 1);
    assert_eq!(syscalls::next_task(&mut h.sys, 0), Some(3));
    let srv = h.id(SRV);
    h.send(3, srv, 1, b"", 0, &[]);
    assert_eq!(after_trap(&mut h, 3), Some(SRV));
    // An interrupt while the server works wakes `mid`.
    notify::interrupt(&mut h.sys, 9);
    assert_eq!(after_trap(&mut h, SRV), Some(SRV));
    let cli = h.id(3);
    h.reply_recv(SRV, cli, 0, b"", 64, 0);
    assert_eq!(after_trap(&mut h, SRV), Some(2), "mid, not the client");
}

/// Random calls where, as on the machine, only the task the scheduler
/// chose makes syscalls and every trap is followed by the choice the trap
/// handler makes: the quick choices and hand-offs must always agree with
/// `sched::select` (checked inside `after_trap`), and the bitmaps with the
/// task table (checked after every syscall).
#[test]
fn scheduled_random_ipc_agrees_with_the_reference_scheduler() {
    let mut rand = xorshift(0x1234_5678_9abc_def0);
    let mut fast_sends = 0;
    let mut replies = 0;
    for _ in 0..40 {
        let mut h = Builder::default()
            .task("sup", 0)
            .task("a", 1)
            .task("b", 2)
            .task("c", 2)
            .task("d", 3)
            .task("idle", 9)
            .irq(5, 2, 1)
            .build();
        let n = h.sys.tasks.len();
        let mut current = syscalls::next_task(&mut h.sys, 0).unwrap();
        let mut caller: Vec<Option<TaskId>> = vec![None; n];
        for _ in 0..400 {
            let t = current;
            let server = t <= 1;
            // A server that just received a call remembers the caller.
            let a0 = h.ret(t, 0);
            let s = TaskId(a0 as u32);
            if caller[t].is_none()
                && a0 < TaskId::LIMIT as usize
                && s != TaskId::KERNEL
                && s.index() < n
                && h.id(s.index()) == s
                && h.task(s.index()).is(SchedState::InReply(h.id(t)))
            {
                caller[t] = Some(s);
            }
            match rand(12) {
                0 if t != 0 => {
                    // An interrupt arrives while `t` runs.
                    notify::interrupt(&mut h.sys, 5);
                }
                _ if caller[t].is_some() && rand(4) != 0 => {
                    let peer = caller[t].take().unwrap();
                    let reply = vec![0x5a; rand(17)];
                    if rand(5) == 0 {
                        h.reply(t, peer, 0, &reply);
                    } else {
                        h.reply_recv(t, peer, 0, &reply, 64, rand(3) as u32);
                    }
                    replies += h.task(peer.index()).is_runnable() as usize;
                }
                _ if server => h.recv(t, 64, rand(3) as u32),
                1..=8 if t != n - 1 => {
                    let target = rand(2);
                    let id = h.id(target);
                    let len = rand(20);
                    if fastpath_would_send(&h, t, target, len) {
                        fast_sends += 1;
                    }
                    h.send(t, id, 1, &vec![0xa5; len], 16, &[]);
                }
                _ => h.syscall(t, Sysnum::RefreshTaskId, &[0]),
            }
            // The idle task never blocks, so something can always run.
            current = after_trap(&mut h, t).expect("idle is always runnable");
        }
    }
    assert!(
        fast_sends > 200 && replies > 200,
        "too little coverage: {fast_sends} {replies}"
    );
}

/// Whether a send from `t` to `target` meets the fast path's conditions
/// that the random test controls (a waiting target, a short message).
fn fastpath_would_send(h: &Harness, t: usize, target: usize, len: usize) -> bool {
    let me = h.id(t);
    len <= fastpath::FAST_MESSAGE
        && matches!(
            h.task(target).state(),
            TaskState::Healthy(SchedState::InRecv(from)) if from.is_none_or(|f| f == me)
        )
}

/// One way a `reply_recv` can fail a fast-path precondition after a call
/// was received, and what the general path then does.
struct Breach {
    what: &'static str,
    /// Changes the world (or the server's arguments) after the call.
    apply: fn(&mut Harness) -> ReplyArgs,
    /// Checks the outcome of the full syscall.
    outcome: fn(&Harness),
}

/// The server's `reply_recv` arguments: peer, reply bytes (written at
/// `REPLY_OUT`, or named at `reply_at` without being written), and the
/// receive buffer (base, length).
struct ReplyArgs {
    peer: TaskId,
    reply: &'static [u8],
    reply_at: Option<usize>,
    buf: (usize, usize),
}

fn usual(h: &Harness) -> ReplyArgs {
    ReplyArgs {
        peer: h.id(CLI),
        reply: b"ok",
        reply_at: None,
        buf: (h.addr(SRV, RECV_BUF), 64),
    }
}

fn server_faulted(h: &Harness, e: abi::UsageError) {
    h.assert_usage_fault(SRV, e);
    // Its client learns at once.
    assert_eq!(h.ret(CLI, 0) as u32, dead_code(h.task(SRV).generation()));
}

fn client_faulted(h: &Harness, e: abi::UsageError) {
    h.assert_usage_fault(CLI, e);
    assert_eq!(h.task(SRV).replies(), 0);
    assert_eq!(h.sched(SRV), SchedState::InRecv(None));
}

#[test]
fn each_reply_recv_precondition_declines_the_fast_path() {
    let breaches = [
        Breach {
            what: "a reply longer than the client's buffer (4 bytes)",
            apply: |h| ReplyArgs {
                reply: b"12345",
                ..usual(h)
            },
            outcome: |h| server_faulted(h, abi::UsageError::ReplyTooBig),
        },
        Breach {
            what: "a reply from memory the server does not own",
            apply: |h| ReplyArgs {
                reply_at: Some(foreign(16)),
                ..usual(h)
            },
            outcome: |h| server_faulted(h, abi::UsageError::InvalidSlice),
        },
        Breach {
            what: "a receive buffer the server does not own",
            apply: |h| ReplyArgs {
                buf: (foreign(64), 64),
                ..usual(h)
            },
            outcome: |h| {
                // The reply lands first; then the receive faults the server.
                assert_eq!(h.ret(CLI, 1), 2);
                assert_eq!(h.read(CLI, REPLY_BUF, 2), b"ok");
                h.assert_usage_fault(SRV, abi::UsageError::InvalidSlice);
            },
        },
        Breach {
            what: "a client that is alive but not waiting on the server",
            apply: |h| {
                let cli = h.id(CLI);
                // The client's reply came (from elsewhere: the test), so it
                // runs; the server's late reply must not reach it.
                h.sys.tasks[CLI].set_sched(SchedState::Runnable);
                h.sys.note(CLI);
                ReplyArgs {
                    peer: cli,
                    ..usual(h)
                }
            },
            outcome: |h| {
                assert_eq!(h.sched(CLI), SchedState::Runnable);
                assert_ne!(h.read(CLI, REPLY_BUF, 2), b"ok");
                assert_eq!(h.task(SRV).replies(), 0);
                assert_eq!(h.sched(SRV), SchedState::InRecv(None));
            },
        },
        Breach {
            what: "a client whose lease count register changed while it waited",
            apply: |h| {
                let big = abi::send_op_leases(3, abi::MAX_LEASES + 1) as usize;
                h.sys.tasks[CLI].save_mut().set_reg(16, big);
                usual(h)
            },
            outcome: |h| client_faulted(h, abi::UsageError::TooManyLeases),
        },
        Breach {
            what: "a client whose message registers no longer make a slice",
            apply: |h| {
                h.sys.tasks[CLI].save_mut().set_reg(12, usize::MAX);
                usual(h)
            },
            outcome: |h| client_faulted(h, abi::UsageError::InvalidSlice),
        },
        Breach {
            what: "a client whose lease table registers no longer make a slice",
            apply: |h| {
                let one = abi::send_op_leases(3, 1) as usize;
                h.sys.tasks[CLI].save_mut().set_reg(16, one);
                h.sys.tasks[CLI].save_mut().set_reg(15, usize::MAX - 4);
                usual(h)
            },
            outcome: |h| client_faulted(h, abi::UsageError::InvalidSlice),
        },
        Breach {
            what: "a client whose reply buffer is no longer its own",
            apply: |h| {
                h.sys.tasks[CLI].save_mut().set_reg(13, foreign(16));
                usual(h)
            },
            outcome: |h| client_faulted(h, abi::UsageError::InvalidSlice),
        },
    ];
    for b in breaches {
        let mut h = ready_for_a_call();
        let srv = h.id(SRV);
        h.send(CLI, srv, 3, b"q", 4, &[]);
        assert_eq!(after_trap(&mut h, CLI), Some(SRV));
        let a = (b.apply)(&mut h);
        let stage = |h: &mut Harness| {
            h.write(SRV, REPLY_OUT, a.reply);
            let args = [
                a.peer.0 as usize,
                0,
                a.reply_at.unwrap_or(h.addr(SRV, REPLY_OUT)),
                a.reply.len(),
                a.buf.0,
                a.buf.1,
                0,
            ];
            h.stage(SRV, Sysnum::ReplyRecv as usize, &args);
        };
        stage(&mut h);
        assert!(
            !fastpath::reply_recv(&mut h.sys, SRV),
            "the fast path took {}",
            b.what
        );
        stage(&mut h);
        syscalls::syscall(&mut h.sys, SRV);
        h.sys.sched.assert_consistent(h.sys.tasks);
        (b.outcome)(&h);
    }
}

#[test]
fn reply_recv_with_a_mask_and_nothing_pending_stays_fast() {
    // Only a pending notification the mask selects sends the call to the
    // general path; a mask alone, or bits pending outside it, do not.
    let mut h = ready_for_a_call();
    call(&mut h);
    crate::notify::post_bits(&mut h.sys, SRV, 0b100);
    let cli = h.id(CLI);
    h.stage_reply_recv(SRV, cli, 0, b"ok", 64, 0b011);
    assert!(fastpath::reply_recv(&mut h.sys, SRV), "fast path declined");
    assert_eq!(h.sched(SRV), SchedState::InRecv(None));
    assert_eq!(h.task(SRV).notifications(), 0b100);
    assert_eq!(h.sched(CLI), SchedState::Runnable);
}

#[test]
fn reply_recv_to_an_earlier_incarnation_never_reaches_the_new_one() {
    // The client is restarted and calls again: it waits on the server once
    // more, but a reply addressed to its old id is not for it.
    let mut h = ready_for_a_call();
    call(&mut h);
    let old = h.id(CLI);
    assert!(faults::restart_task(&mut h.sys, CLI));
    let srv = h.id(SRV);
    h.reply_recv(SRV, old, 0, b"", 64, 0);
    h.send(CLI, srv, 4, b"again", 16, &[]);
    assert_eq!(h.sched(CLI), SchedState::InReply(srv));
    declined_reply_recv(&mut h, old, 9, b"stale", 0, "fast path took it");
    assert_eq!(h.sched(CLI), SchedState::InReply(srv));
    assert_ne!(h.read(CLI, REPLY_BUF, 5), b"stale");
}

#[test]
fn a_hand_off_loads_the_next_tasks_protection_and_a_resume_keeps_it() {
    // The quick choice skips the scan, never the memory protection: the
    // task handed the CPU runs with its own regions loaded.
    let mut h = ready_for_a_call();
    assert_eq!(
        h.sys.machine.protected.last().unwrap().as_slice(),
        h.task(CLI).regions()
    );
    let loads = h.sys.machine.protected.len();
    // A syscall that returns to the caller reloads nothing.
    h.syscall(CLI, Sysnum::GetTimer, &[]);
    assert_eq!(after_trap(&mut h, CLI), Some(CLI));
    assert_eq!(h.sys.machine.protected.len(), loads);
    // A fast send hands the CPU to the server: its regions are loaded.
    let srv = h.id(SRV);
    h.send(CLI, srv, 1, b"x", 8, &[]);
    assert_eq!(after_trap(&mut h, CLI), Some(SRV));
    assert_eq!(h.sys.machine.protected.len(), loads + 1);
    assert_eq!(
        h.sys.machine.protected.last().unwrap().as_slice(),
        h.task(SRV).regions()
    );
    // And the fast reply hands it back, with the client's regions.
    let cli = h.id(CLI);
    h.reply_recv(SRV, cli, 0, b"", 64, 0);
    assert_eq!(after_trap(&mut h, SRV), Some(CLI));
    assert_eq!(
        h.sys.machine.protected.last().unwrap().as_slice(),
        h.task(CLI).regions()
    );
}
