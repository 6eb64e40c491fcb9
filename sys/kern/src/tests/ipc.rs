//! send / recv / reply: delivery, payload copies, refusals, bad pointers.

use abi::{
    dead_code, dead_generation, Generation, Sysnum, TaskId, UsageError, REFUSED_NOT_IN_SLOTS,
    REFUSED_NO_SUCH_TASK, REFUSED_PRIORITY,
};

use super::harness::*;
use crate::syscalls::{self, Exception};
use crate::task::{SchedState, TaskState};

#[test]
fn ping_pong_copies_payload_both_ways() {
    let mut h = Harness::three();
    h.recv(SUP, 0, 1);
    h.recv(SRV, 64, 0);
    assert_eq!(h.sched(SRV), SchedState::InRecv(None));

    let srv = h.id(SRV);
    h.send(CLI, srv, 7, b"hello", 32, &[]);
    h.assert_delivered(SRV, CLI, 7, 5, 32, b"hello\0");
    // The server runs next; the client waits.
    assert_eq!(syscalls::next_task(&mut h.sys, CLI), Some(SRV));

    let cli = h.id(CLI);
    h.reply(SRV, cli, 42, b"world!");
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.ret(CLI, 0), 42);
    assert_eq!(h.ret(CLI, 1), 6);
    assert_eq!(h.read(CLI, REPLY_BUF, 7), b"world!\0");
}

#[test]
fn send_blocks_until_the_server_receives() {
    let (mut h, srv) = Harness::three_and_server();
    h.send(CLI, srv, 3, b"early", 8, &[]);
    assert_eq!(h.sched(CLI), SchedState::InSend(srv));
    assert_eq!(h.read(SRV, RECV_BUF, 5), [0; 5]);

    h.recv(SRV, 64, 0);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.sched(CLI), SchedState::InReply(srv));
    let m = h.received(SRV);
    assert_eq!((m.sender, m.op, m.len, m.reply_cap), (h.id(CLI), 3, 5, 8));
    assert_eq!(h.read(SRV, RECV_BUF, 5), b"early");
}

#[test]
fn long_message_is_truncated_to_the_buffer_and_full_length_reported() {
    let mut h = Harness::three();
    h.write(SRV, RECV_BUF, &[0xEE; 16]);
    h.recv(SRV, 4, 0);
    let srv = h.id(SRV);
    h.send(CLI, srv, 1, b"0123456789", 0, &[]);
    assert_eq!(h.received(SRV).len, 10);
    // Exactly four bytes landed; the fifth is untouched.
    assert_eq!(h.read(SRV, RECV_BUF, 6), b"0123\xEE\xEE");
}

#[test]
fn empty_messages_and_replies_work() {
    let (mut h, _) = Harness::three_in_call(0, 9, b"", 0);
    assert_eq!(h.received(SRV).len, 0);
    assert_eq!(h.received(SRV).op, 9);
    let cli = h.id(CLI);
    h.reply(SRV, cli, 0, b"");
    assert_eq!((h.ret(CLI, 0), h.ret(CLI, 1)), (0, 0));
    assert_eq!(h.sched(CLI), SchedState::Runnable);
}

#[test]
fn open_recv_takes_the_most_important_waiting_sender() {
    // Task 2 is more important than task 3.
    let (mut h, srv) = Harness::four_and_server();
    // The less important one sends first; table order must not decide
    // either, so it is the later entry.
    h.send(3, srv, 30, b"lo", 0, &[]);
    h.send(2, srv, 20, b"hi", 0, &[]);
    h.recv(SRV, 16, 0);
    assert_eq!(h.received(SRV).sender, h.id(2));
    assert_eq!(h.read(SRV, RECV_BUF, 2), b"hi");
    assert_eq!(h.sched(3), SchedState::InSend(srv));
    let hi = h.id(2);
    h.reply(SRV, hi, 0, b"");
    h.recv(SRV, 16, 0);
    assert_eq!(h.received(SRV).sender, h.id(3));
    assert_eq!(h.received(SRV).op, 30);
}

#[test]
fn closed_recv_takes_only_the_named_sender() {
    let mut h = Harness::new(&[("sup", 0), ("srv", 1), ("a", 2), ("b", 3)]);
    let srv = h.id(SRV);
    let (a, b) = (h.id(2), h.id(3));
    h.send(2, srv, 1, b"from a", 0, &[]);
    // Closed on b: a (more important, already waiting) is not taken.
    h.recv_from(SRV, 16, 0, b);
    assert_eq!(h.sched(SRV), SchedState::InRecv(Some(b)));
    assert_eq!(h.sched(2), SchedState::InSend(srv));
    // b's send lands at once.
    h.send(3, srv, 2, b"from b", 0, &[]);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.received(SRV).sender, b);
    assert_eq!(h.read(SRV, RECV_BUF, 6), b"from b");
    // Closed on a, who is already waiting: taken at once.
    h.recv_from(SRV, 16, 0, a);
    assert_eq!(h.received(SRV).sender, a);
    assert_eq!(h.read(SRV, RECV_BUF, 6), b"from a");
}

/// A driver receiving from chosen callers only could answer them and
/// leave another queued for good: the supervisor's watchdog sees callers
/// it received (held) and replies (stuck), and such a driver keeps
/// replying, to the others. So an untrusted server takes its callers in
/// the kernel's order: a closed receive from a task is refused, one from
/// the kernel (notifications only) is not.
#[test]
fn an_untrusted_server_cannot_pick_whom_it_receives_from() {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("drv", 1)
        .untrusted()
        .task("victim", 2)
        .task("other", 3)
        .build();
    let drv = h.id(SRV);
    let (victim, other) = (h.id(2), h.id(3));
    h.send(2, drv, 1, b"victim", 0, &[]);
    h.send(3, drv, 2, b"other", 0, &[]);
    // Closed on the less important caller, as a driver starving the
    // victim would: refused, nothing received, the victim still queued.
    h.recv_from(SRV, 16, 0, other);
    assert_eq!(h.ret(SRV, 0), abi::REFUSED_CLOSED_RECV as usize);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.sched(2), SchedState::InSend(drv));
    assert_eq!(h.sched(3), SchedState::InSend(drv));
    assert!(h.task(SRV).is_healthy(), "refused, not faulted");
    // Its open receive takes the most important waiting caller.
    h.recv(SRV, 16, 0);
    assert_eq!(h.received(SRV).sender, victim);
    // Waiting for notifications alone is still its own business.
    h.reply(SRV, victim, 0, b"");
    h.recv_from(SRV, 16, 0b1, TaskId::KERNEL);
    assert_eq!(h.sched(SRV), SchedState::InRecv(Some(TaskId::KERNEL)));
    assert_eq!(h.sched(3), SchedState::InSend(drv));
}

/// Callers of one priority are taken in turn. Taken lowest index first,
/// a driver that answers a busy caller and sleeps a moment before its next
/// `recv` (its own timer: notifications alone, which it may wait for) had
/// that caller queued again by then, and took it again: another caller of
/// the same priority, queued all along, was never received — starved by a
/// driver that never picked whom it receives from, unseen by the
/// supervisor's watchdog (which sees calls received and replies).
#[test]
fn callers_of_one_priority_are_taken_in_turn() {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("drv", 1)
        .untrusted()
        .task("busy", 3)
        .task("victim", 3)
        .task("third", 3)
        .build();
    let drv = h.id(SRV);
    for t in 2..5 {
        h.send(t, drv, 1, b"call", 0, &[]);
    }
    let mut served = Vec::new();
    for _ in 0..6 {
        h.recv(SRV, 16, 0);
        let caller = h.received(SRV).sender;
        served.push(caller.index());
        h.reply(SRV, caller, 0, b"");
        // The driver sleeps before its next `recv`; its caller calls again.
        h.send(caller.index(), drv, 1, b"again", 0, &[]);
    }
    assert_eq!(served, [2, 3, 4, 2, 3, 4], "taken in turn");
    // A more important caller still comes first.
    let mut h = Harness::new(&[("sup", 0), ("srv", 1), ("a", 3), ("b", 3), ("vip", 2)]);
    let srv = h.id(SRV);
    h.send(2, srv, 1, b"", 0, &[]);
    h.recv(SRV, 16, 0);
    let a = h.id(2);
    h.reply(SRV, a, 0, b"");
    for t in [2, 3, 4] {
        h.send(t, srv, 1, b"", 0, &[]);
    }
    h.recv(SRV, 16, 0);
    assert_eq!(h.received(SRV).sender, h.id(4), "the more important first");
}

#[test]
fn closed_recv_still_takes_notifications() {
    let mut h = Harness::three();
    let cli = h.id(CLI);
    h.recv_from(SRV, 16, 0b10, cli);
    let srv = h.id(SRV);
    assert_eq!(h.post(CLI, srv, 0b10), abi::SUCCESS);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.received(SRV).sender, TaskId::KERNEL);
    assert_eq!(h.received(SRV).op, 0b10);
}

#[test]
fn closed_recv_on_a_dead_task_does_not_hang() {
    // Case 1: the named sender dies while the receiver waits on it.
    let mut h = Harness::three();
    let cli = h.id(CLI);
    h.recv_from(SRV, 16, 0, cli);
    assert_eq!(h.sched(SRV), SchedState::InRecv(Some(cli)));
    syscalls::exception(&mut h.sys, CLI, Exception::Illegal(0));
    assert_eq!(
        h.sched(SRV),
        SchedState::Runnable,
        "receiver still blocked on a dead sender"
    );
    assert_eq!(h.ret(SRV, 0) as u32, dead_code(Generation(1)));

    // Case 2: the named sender is already stale when recv is called.
    let mut h = Harness::three();
    let old = h.id(CLI);
    syscalls::exception(&mut h.sys, CLI, Exception::Illegal(0));
    h.recv_from(SRV, 16, 0, old);
    assert_eq!(
        h.sched(SRV),
        SchedState::Runnable,
        "receiver blocked on a stale id"
    );
    assert_eq!(h.ret(SRV, 0) as u32, dead_code(Generation(1)));
}

#[test]
fn send_to_a_less_or_equally_important_task_is_refused() {
    let mut h = Harness::new(&[("sup", 0), ("srv", 1), ("cli", 2), ("peer", 2)]);
    let (cli, peer) = (h.id(CLI), h.id(3));
    h.recv(CLI, 16, 0);
    h.recv(3, 16, 0);
    h.send(SRV, cli, 1, b"down", 0, &[]);
    assert_eq!(h.ret(SRV, 0) as u32, REFUSED_PRIORITY);
    assert_eq!(h.ret(SRV, 1), 0);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    // Nothing was delivered to the waiting receiver.
    assert_eq!(h.sched(CLI), SchedState::InRecv(None));
    assert_eq!(h.read(CLI, RECV_BUF, 4), [0; 4]);

    h.restart(CLI);
    h.send(CLI, peer, 1, b"side", 0, &[]);
    assert_eq!(h.ret(CLI, 0) as u32, REFUSED_PRIORITY);
    assert_eq!(h.sched(3), SchedState::InRecv(None));

    // Nor to oneself.
    let me = h.id(CLI);
    h.send(CLI, me, 1, b"", 0, &[]);
    h.assert_answered(CLI, REFUSED_PRIORITY);
}

#[test]
fn send_outside_the_task_slots_is_refused() {
    let mut h = Builder::three().slots(&[0]).build();
    h.recv(SRV, 16, 0);
    let srv = h.id(SRV);
    h.send(CLI, srv, 1, b"hi", 0, &[]);
    h.assert_answered(CLI, REFUSED_NOT_IN_SLOTS);
    assert_eq!(h.sched(SRV), SchedState::InRecv(None));
    // The slot it does have works.
    h.recv(SUP, 16, 0);
    let sup = h.id(SUP);
    h.send(CLI, sup, 1, b"hi", 0, &[]);
    assert_eq!(h.sched(CLI), SchedState::InReply(sup));
}

#[test]
fn send_to_no_such_task_is_refused() {
    let mut h = Harness::three();
    h.send(CLI, TaskId(3), 1, b"", 0, &[]);
    assert_eq!(h.ret(CLI, 0) as u32, REFUSED_NO_SUCH_TASK);
    h.send(CLI, TaskId::KERNEL, 1, b"", 0, &[]);
    h.assert_answered(CLI, REFUSED_NO_SUCH_TASK);
}

#[test]
fn send_to_a_stale_generation_gets_dead_with_the_current_one() {
    let mut h = Harness::three();
    let old = h.id(SRV);
    syscalls::exception(&mut h.sys, SRV, Exception::Illegal(0));
    // Faulted, not yet restarted: the current id is also dead.
    let now = TaskId::new(SRV as u16, Generation(1));
    assert_eq!(h.id(SRV), now);
    h.send(CLI, now, 1, b"", 0, &[]);
    h.assert_told_dead(CLI, Generation(1));

    h.restart(SRV);
    h.recv(SRV, 16, 0);
    h.send(CLI, old, 1, b"", 0, &[]);
    let code = h.ret(CLI, 0) as u32;
    assert_eq!(dead_generation(code), Some(Generation(1)));
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!(h.sched(SRV), SchedState::InRecv(None));
    // With the refreshed id the call goes through.
    h.syscall(CLI, Sysnum::RefreshTaskId, &[old.0 as usize]);
    let fresh = TaskId(h.ret(CLI, 0) as u32);
    assert_eq!(fresh, now);
    h.send(CLI, fresh, 1, b"", 0, &[]);
    assert_eq!(h.sched(CLI), SchedState::InReply(fresh));
}

#[test]
fn send_to_a_stopped_task_is_refused_as_stopped() {
    let mut h = Harness::three_server_stopped();
    let srv = h.id(SRV);
    h.send(CLI, srv, 1, b"", 0, &[]);
    assert_eq!(h.ret(CLI, 0) as u32, abi::SERVER_STOPPED);
    assert_eq!(h.sched(CLI), SchedState::Runnable);
}

#[test]
fn message_outside_the_senders_regions_faults_it() {
    let (mut h, srv) = Harness::three_receiving(16);
    let target = srv.0 as usize; // operation 0, no leases (a6 = 0)
    let other = foreign(0x100);
    // Memory nobody gave it.
    h.set_pc(CLI, h.mem[CLI].text + 0x20);
    h.syscall(CLI, Sysnum::Send, &[target, other, 8, 0, 0, 0, 0]);
    h.assert_usage_fault(CLI, UsageError::InvalidSlice);
    assert_eq!(h.fault(CLI).pc as usize, h.mem[CLI].text + 0x20);
    // The receiver never saw anything.
    assert_eq!(h.sched(SRV), SchedState::InRecv(None));
    assert_eq!(h.ret(SRV, 0), h.addr(SRV, RECV_BUF));
}

#[test]
fn message_reaching_past_the_region_end_faults_the_sender() {
    let (mut h, srv) = Harness::three_and_server();
    let target = srv.0 as usize; // operation 0, no leases (a6 = 0)
    let end = h.mem[CLI].ram + RAM_SIZE;
    h.syscall(CLI, Sysnum::Send, &[target, end - 4, 5, 0, 0, 0, 0]);
    h.assert_usage_fault(CLI, UsageError::InvalidSlice);
    // Exactly to the end is fine.
    h.restart(CLI);
    h.syscall(CLI, Sysnum::Send, &[target, end - 4, 4, 0, 0, 0, 0]);
    assert_eq!(h.sched(CLI), SchedState::InSend(srv));
}

#[test]
fn message_slice_that_wraps_the_address_space_faults_the_sender() {
    let (mut h, srv) = Harness::three_and_server();
    let target = srv.0 as usize; // operation 0, no leases (a6 = 0)
    h.syscall(CLI, Sysnum::Send, &[target, usize::MAX - 3, 16, 0, 0, 0, 0]);
    h.assert_usage_fault(CLI, UsageError::InvalidSlice);
    // A wrapping length from inside its own RAM is no better.
    h.restart(CLI);
    let ram = h.addr(CLI, MSG_OUT);
    h.syscall(CLI, Sysnum::Send, &[target, ram, usize::MAX, 0, 0, 0, 0]);
    h.assert_usage_fault(CLI, UsageError::InvalidSlice);
}

#[test]
fn reply_buffer_must_be_writable_by_the_sender() {
    let (mut h, srv) = Harness::three_and_server();
    let target = srv.0 as usize; // operation 0, no leases (a6 = 0)
                                 // Its own text is readable (a message may come from there) but not
                                 // writable (a reply may not land there).
    let text = h.mem[CLI].text;
    h.syscall(CLI, Sysnum::Send, &[target, text, 16, 0, 0, 0, 0]);
    assert_eq!(h.sched(CLI), SchedState::InSend(srv));
    h.restart(CLI);
    h.syscall(CLI, Sysnum::Send, &[target, 0, 0, text, 16, 0, 0]);
    h.assert_usage_fault(CLI, UsageError::InvalidSlice);
}

#[test]
fn device_windows_are_not_message_memory() {
    let mut h = Builder::three().device().build();
    let srv = h.id(SRV);
    let target = srv.0 as usize; // operation 0, no leases (a6 = 0)
    let mmio = h.mem[CLI].device.unwrap();
    h.syscall(CLI, Sysnum::Send, &[target, mmio, 4, 0, 0, 0, 0]);
    h.assert_usage_fault(CLI, UsageError::InvalidSlice);
}

#[test]
fn recv_into_memory_the_receiver_does_not_own_faults_it() {
    let mut h = Harness::three();
    let other = h.addr(CLI, RECV_BUF);
    h.syscall(
        SRV,
        Sysnum::Recv,
        &[other, 16, 0, TaskId::KERNEL.0 as usize],
    );
    h.assert_usage_fault(SRV, UsageError::InvalidSlice);
    // Into its own text neither.
    let mut h = Harness::three();
    let text = h.mem[SRV].text;
    h.syscall(SRV, Sysnum::Recv, &[text, 16, 0, TaskId::KERNEL.0 as usize]);
    h.assert_usage_fault(SRV, UsageError::InvalidSlice);
}

#[test]
fn reply_with_a_kernel_reserved_code_faults_the_server() {
    let (mut h, _) = Harness::three_in_call(16, 1, b"", 16);
    let cli = h.id(CLI);
    h.set_pc(SRV, h.mem[SRV].text + 0x80);
    h.reply(SRV, cli, abi::KERNEL_CODE_BASE, b"");
    h.assert_usage_fault(SRV, UsageError::ReservedResponseCode);
    assert_eq!(h.fault(SRV).pc as usize, h.mem[SRV].text + 0x80);
    // The client does not get the forged code: it learns the server died.
    h.assert_told_dead(CLI, Generation(1));
}

#[test]
fn reply_bigger_than_the_callers_buffer_faults_the_server() {
    let (mut h, srv) = Harness::three_receiving(16);
    h.write(CLI, REPLY_BUF, &[0xAA; 8]);
    h.send(CLI, srv, 1, b"", 4, &[]);
    let cli = h.id(CLI);
    h.reply(SRV, cli, 0, b"12345");
    h.assert_usage_fault(SRV, UsageError::ReplyTooBig);
    assert_eq!(h.read(CLI, REPLY_BUF, 8), [0xAA; 8]);
    h.assert_told_dead(CLI, Generation(1));
}

#[test]
fn reply_to_a_task_no_longer_waiting_is_ignored() {
    let (mut h, _) = Harness::three_in_call(16, 1, b"", 16);
    let old = h.id(CLI);
    // The client dies and is restarted before the reply.
    syscalls::exception(&mut h.sys, CLI, Exception::Illegal(0));
    h.restart(CLI);
    let pc = h.task(CLI).save().pc();
    h.reply(SRV, old, 5, b"late");
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!(h.ret(CLI, 0), 0);
    assert_eq!(h.read(CLI, REPLY_BUF, 4), [0; 4]);
    assert_eq!(h.task(CLI).save().pc(), pc);
    // Nor does a reply to a runnable task, or to no task at all, do anything.
    let fresh = h.id(CLI);
    h.reply(SRV, fresh, 5, b"late");
    h.reply(SRV, TaskId::KERNEL, 5, b"late");
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.ret(CLI, 0), 0);
}

#[test]
fn reply_to_a_task_waiting_on_another_server_is_ignored() {
    let mut h = Harness::new(&[("sup", 0), ("srv", 1), ("other", 1), ("cli", 3)]);
    h.recv(2, 16, 0);
    let other = h.id(2);
    h.send(3, other, 1, b"", 16, &[]);
    assert_eq!(h.sched(3), SchedState::InReply(other));
    let cli = h.id(3);
    h.reply(SRV, cli, 7, b"hijack");
    assert_eq!(h.sched(3), SchedState::InReply(other));
    assert_eq!(h.read(3, REPLY_BUF, 6), [0; 6]);
}

#[test]
fn reply_fault_faults_the_client_with_the_servers_reason() {
    let (mut h, srv) = Harness::three_receiving(16);
    let send_pc = h.mem[CLI].text + 0x44;
    h.set_pc(CLI, send_pc);
    h.send(CLI, srv, 1, b"garbage", 16, &[]);
    let cli = h.id(CLI);
    h.reply_fault(SRV, cli, abi::ReplyFaultReason::BadLeases as usize);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.task(CLI).state(), TaskState::Faulted);
    let f = h.fault(CLI);
    assert_eq!(f.kind(), abi::FaultKind::FromServer);
    assert_eq!(
        f.detail,
        (SRV as u32) << 16 | abi::ReplyFaultReason::BadLeases as u32
    );
    assert_eq!(f.pc as usize, send_pc, "the pc of the client's send ecall");
    assert_eq!(h.task(SUP).notifications(), abi::SUPERVISOR_FAULT_BIT);
}

#[test]
fn reply_fault_with_an_unknown_reason_or_to_a_non_waiting_task() {
    let mut h = Harness::three();
    // Not waiting on us: nothing happens to anyone.
    let cli = h.id(CLI);
    h.reply_fault(SRV, cli, 0);
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!(h.sched(SRV), SchedState::Runnable);

    h.recv(SRV, 16, 0);
    let srv = h.id(SRV);
    h.send(CLI, srv, 1, b"", 16, &[]);
    h.reply_fault(SRV, cli, 999);
    let f = h.fault(CLI);
    assert_eq!(f.kind(), abi::FaultKind::FromServer);
    assert_eq!(
        f.detail & 0xFFFF,
        abi::ReplyFaultReason::BadMessageContents as u32
    );
}

#[test]
fn reply_fault_from_an_untrusted_server_is_an_error_code_not_a_fault() {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("drv", 1)
        .untrusted()
        .task("cli", 2)
        .build();
    h.recv(SRV, 16, 0);
    let srv = h.id(SRV);
    h.send(CLI, srv, 1, b"fine", 16, &[]);
    let cli = h.id(CLI);
    h.reply_fault(SRV, cli, abi::ReplyFaultReason::BadLeases as usize);
    // The client carries on with the verdict as a code; nobody faulted, the
    // supervisor is not disturbed, and the client's id is unchanged.
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!(h.id(CLI), cli);
    assert_eq!(h.task(CLI).fault_count(), 0);
    assert_eq!(
        h.ret(CLI, 0) as u32,
        abi::rejected_code(abi::ReplyFaultReason::BadLeases)
    );
    assert_eq!(h.ret(CLI, 1), 0, "no reply bytes");
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.task(SRV).replies(), 1, "a verdict counts as an answer");
    // The supervisor is told, to judge the server.
    assert_eq!(h.task(SRV).rejections(), 1);
    assert_eq!(h.task(SUP).notifications(), abi::SUPERVISOR_FAULT_BIT);

    // An unknown reason is still a plain rejection, and a verdict on a task
    // that is not waiting on us touches nobody.
    h.recv(SRV, 16, 0);
    h.send(CLI, srv, 1, b"", 16, &[]);
    h.reply_fault(SRV, cli, 999);
    assert_eq!(
        abi::rejected_reason(h.ret(CLI, 0) as u32),
        Some(abi::ReplyFaultReason::BadMessageContents)
    );
    assert_eq!(h.task(SRV).rejections(), 2, "each verdict is counted");
    h.reply_fault(SRV, cli, 0);
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!(h.task(CLI).fault_count(), 0);
    assert_eq!(
        h.task(SRV).rejections(),
        2,
        "one that reached nobody is not"
    );
}

/// The supervisor judges an untrusted server by the calls it refuses, and
/// reads them in each client's own record: the call's shape as the server
/// was told of it, which one client cannot overwrite for another and
/// which restarts of either side keep.
#[test]
fn a_refused_call_is_recorded_in_the_clients_own_record() {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("drv", 1)
        .untrusted()
        .task("cli", 2)
        .task("other", 3)
        .task("driver", 4)
        .dma()
        .build();
    let (other, driver) = (3, 4);
    let srv = h.id(SRV);
    let refuse = |h: &mut Harness, client: usize, op: u16, msg: &[u8], leases: &[abi::Lease]| {
        h.recv(SRV, 16, 0);
        h.send(client, srv, op, msg, 24, leases);
        let id = h.id(client);
        h.reply_fault(SRV, id, abi::ReplyFaultReason::BadLeases as usize);
        assert_eq!(h.sched(client), SchedState::Runnable);
    };
    let data = h.addr(CLI, 64);
    refuse(
        &mut h,
        CLI,
        2,
        &[7; 8],
        &[lease(abi::LEASE_WRITE, data, 512)],
    );
    let call = h.task(CLI).rejected_call();
    assert_eq!(
        call,
        abi::RejectedCall {
            count: 1,
            server: srv.0,
            operation: 2,
            message_len: 8,
            response_capacity: 24,
            lease_count: 1,
            first_lease: abi::describe_lease(abi::LEASE_WRITE, 512),
            lease_vouched: 1,
            reason: abi::ReplyFaultReason::BadLeases as u32,
            message_vouched: 1,
            message: recorded(&[7; 8]),
        }
    );
    assert_eq!(h.task(SRV).rejections(), 1);

    // Another client's garbage is its own record's.
    refuse(&mut h, other, 9, b"junk", &[]);
    let theirs = h.task(other).rejected_call();
    assert_eq!((theirs.operation, theirs.count), (9, 1));
    assert_eq!((theirs.lease_count, theirs.first_lease), (0, 0));
    assert_eq!(theirs.lease_vouched, 1, "no lease: nothing to doubt");
    assert_eq!(
        (theirs.message_vouched, theirs.message),
        (1, recorded(b"junk"))
    );
    assert_eq!(
        h.task(CLI).rejected_call(),
        call,
        "untouched by another client"
    );
    assert_eq!(h.task(SRV).rejections(), 2);

    // A writable lease over the lease table: the server (or its device)
    // may have rewritten the table in serving the call. Read-only is fine.
    let table = h.addr(CLI, LEASE_TABLE);
    let vouched = |h: &mut Harness, attributes| {
        refuse(h, CLI, 2, &[7; 8], &[lease(attributes, table, 16)]);
        h.task(CLI).rejected_call().lease_vouched
    };
    assert_eq!(vouched(&mut h, abi::LEASE_WRITE), 0);
    assert_eq!(vouched(&mut h, abi::LEASE_READ), 1);
    // Likewise a writable lease over the message: what the record would
    // hold is what the server wrote, not what it refused. A lease ending
    // just before the message, or starting just after it, is no doubt.
    let message = h.addr(CLI, MSG_OUT);
    let message_vouched = |h: &mut Harness, attributes, base, len| {
        refuse(h, CLI, 2, &[7; 8], &[lease(attributes, base, len)]);
        let call = h.task(CLI).rejected_call();
        (call.message_vouched, call.message)
    };
    let none = (0, [0; abi::REJECTED_MESSAGE_BYTES]);
    let sent = (1, recorded(&[7; 8]));
    assert_eq!(message_vouched(&mut h, abi::LEASE_WRITE, message, 8), none);
    assert_eq!(
        message_vouched(&mut h, abi::LEASE_WRITE, message + 7, 1),
        none
    );
    assert_eq!(
        message_vouched(&mut h, abi::LEASE_WRITE, message - 4, 5),
        none
    );
    assert_eq!(
        message_vouched(&mut h, abi::LEASE_WRITE, message - 4, 4),
        sent
    );
    assert_eq!(
        message_vouched(&mut h, abi::LEASE_WRITE, message + 8, 4),
        sent
    );
    assert_eq!(message_vouched(&mut h, abi::LEASE_READ, message, 8), sent);
    // A message longer than the record holds is not recorded; one that
    // just fits is.
    refuse(&mut h, CLI, 2, &[3; abi::REJECTED_MESSAGE_BYTES + 1], &[]);
    let long = h.task(CLI).rejected_call();
    assert_eq!(
        (long.message_len, long.message_vouched, long.message),
        (abi::REJECTED_MESSAGE_BYTES as u32 + 1, 0, none.1)
    );
    refuse(&mut h, CLI, 2, &[3; abi::REJECTED_MESSAGE_BYTES], &[]);
    let full = h.task(CLI).rejected_call();
    assert_eq!(
        (full.message_vouched, full.message),
        (1, [3; abi::REJECTED_MESSAGE_BYTES])
    );
    // A call of two leases: only the first is recorded, and not vouched
    // for (the judge decides nothing by it).
    let two = [
        lease(abi::LEASE_WRITE, data, 512),
        lease(abi::LEASE_READ, data, 8),
    ];
    refuse(&mut h, CLI, 2, &[7; 8], &two);
    let call2 = h.task(CLI).rejected_call();
    assert_eq!(
        (
            call2.lease_count,
            call2.lease_vouched,
            call2.message_vouched
        ),
        (2, 0, 0)
    );
    assert_eq!(
        call2.first_lease,
        abi::describe_lease(abi::LEASE_WRITE, 512)
    );

    // Restarts keep the records (the supervisor may not have read them).
    let last = h.task(CLI).rejected_call();
    assert_eq!(last.count, 12);
    h.restart(SRV);
    h.restart(CLI);
    assert_eq!(h.task(CLI).rejected_call(), last);
    assert_eq!(
        h.task(SRV).rejections(),
        0,
        "the count is the incarnation's"
    );

    // A client driving a device could have its device rewrite its lease
    // table after delivery: its lease is recorded, not vouched for.
    let srv = h.id(SRV);
    let buf = h.addr(driver, 64);
    h.recv(SRV, 16, 0);
    h.send(
        driver,
        srv,
        2,
        &[7; 8],
        24,
        &[lease(abi::LEASE_WRITE, buf, 512)],
    );
    let id = h.id(driver);
    h.reply_fault(SRV, id, abi::ReplyFaultReason::BadLeases as usize);
    let call = h.task(driver).rejected_call();
    assert_eq!(
        (
            call.count,
            call.lease_count,
            call.lease_vouched,
            call.message_vouched
        ),
        (1, 1, 0, 0)
    );
}

/// `bytes` as a refused-call record holds them: zero after.
fn recorded(bytes: &[u8]) -> [u8; abi::REJECTED_MESSAGE_BYTES] {
    let mut message = [0; abi::REJECTED_MESSAGE_BYTES];
    message[..bytes.len()].copy_from_slice(bytes);
    message
}

#[test]
fn a_sender_that_faults_while_waiting_is_never_delivered() {
    let (mut h, srv) = Harness::three_and_server();
    h.send(CLI, srv, 1, b"ghost", 0, &[]);
    // The supervisor injects a fault into the blocked client.
    let (code, _) = h.kipc(SUP, abi::Kipc::FaultTask as u32, Some(CLI as u32));
    assert_eq!(code, abi::SUCCESS);
    h.recv(SRV, 16, 0);
    assert_eq!(h.sched(SRV), SchedState::InRecv(None));
    assert_eq!(h.read(SRV, RECV_BUF, 5), [0; 5]);
}

#[test]
fn recv_naming_the_kernel_takes_notifications_only() {
    let mut h = Harness::three();
    // What sys_recv_notification(0b1) does: empty buffer, from = KERNEL.
    h.recv_from(SRV, 0, 0b1, TaskId::KERNEL);
    let srv = h.id(SRV);
    h.send(CLI, srv, 0b1, b"req", 16, &[]);
    assert_eq!(
        h.sched(SRV),
        SchedState::InRecv(Some(TaskId::KERNEL)),
        "a notification-only wait took a message (op 1 reads as bit 0b1)"
    );
    assert_eq!(h.sched(CLI), SchedState::InSend(srv));
}
