//! A message is described by the blocked sender's *registers* until it is
//! delivered, and a receiver's buffer by the receiver's registers until a
//! message lands. Both can change while the task waits (a bit flipped by
//! fault injection, a corrupted register file), so delivery checks them
//! again and blames the task whose registers no longer hold: it is faulted
//! with the usage error a fresh call with those registers would earn, and
//! the other party carries on as if that task had died.
//!
//! Without the re-check a receiver is handed a message length with no
//! bytes behind it (its buffer still holding the previous client's
//! request, now reported as the new sender's), or waits for a sender whose
//! message will never decode while better senders queue behind it.

use abi::{FaultKind, Injection, Kipc, UsageError, LEASE_READ, MAX_LEASES};

use super::harness::*;
use crate::task::{SchedState, TaskState};

const OTHER: usize = 3;

/// `a1`: the message base of a `send`.
const A1: u32 = 11;
/// `a6`: the operation and lease count of a `send`.
const A6: u32 = 16;

/// sup, srv, and two clients of srv (cli more important than other).
fn four() -> Harness {
    Harness::four_and_server().0
}

/// The supervisor flips bit `bit` of register `reg` of task `t` (fault
/// injection, as the campaign does) and the flip is confirmed.
fn flip(h: &mut Harness, t: usize, reg: u32, bit: u32) {
    let before = h.task(t).save().reg(reg as usize);
    let msg: Vec<u8> = [
        t as u32,
        Injection::FlipRegisterBit as u32,
        (reg << 5) | bit,
    ]
    .iter()
    .flat_map(|w| w.to_le_bytes())
    .collect();
    let (code, _) = h.kipc_bytes(SUP, Kipc::Inject as u32, &msg);
    assert_eq!(code, abi::SUCCESS);
    assert_eq!(h.task(t).save().reg(reg as usize), before ^ (1 << bit));
}

/// The highest bit that is 1 in `v`: flipping it moves an address out of
/// the test arena, so out of every task's regions.
fn top_one(v: usize) -> u32 {
    usize::BITS - 1 - v.leading_zeros()
}

/// Asserts `t` was faulted with a usage fault `e` at the `ecall` it is
/// blocked in.
fn faulted_at_its_send(h: &Harness, t: usize, ecall: usize, e: UsageError) {
    h.assert_usage_fault(t, e);
    assert_eq!(h.fault(t).pc as usize, ecall, "{:?}", h.fault(t));
    assert_eq!(h.fault(t).kind(), FaultKind::SyscallUsage);
}

#[test]
fn a_message_pointer_changed_while_blocked_faults_the_sender_not_the_receiver() {
    let mut h = four();
    // The server's buffer holds the previous request: it must not be
    // reported as the next sender's message.
    h.write(SRV, RECV_BUF, b"OLD-REQUEST");
    let srv = h.id(SRV);
    h.set_pc(CLI, 0x100);
    h.send(CLI, srv, 7, b"new", 16, &[]);
    assert_eq!(h.sched(CLI), SchedState::InSend(srv));
    let msg = h.task(CLI).save().arg(1);
    flip(&mut h, CLI, A1, top_one(msg));

    h.recv(SRV, 16, 0);
    faulted_at_its_send(&h, CLI, 0x100, UsageError::InvalidSlice);
    assert_eq!(h.sched(SRV), SchedState::InRecv(None), "nothing delivered");
    assert_eq!(h.read(SRV, RECV_BUF, 11), b"OLD-REQUEST");
    // The supervisor hears of the fault, and the server still serves the
    // next client.
    assert_ne!(h.task(SUP).notifications() & abi::SUPERVISOR_FAULT_BIT, 0);
    h.send(OTHER, srv, 8, b"next", 16, &[]);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.received(SRV).sender, h.id(OTHER));
    assert_eq!(h.read(SRV, RECV_BUF, 4), b"next");
}

#[test]
fn a_broken_sender_does_not_hide_the_senders_queued_behind_it() {
    let mut h = four();
    let srv = h.id(SRV);
    h.set_pc(CLI, 0x200);
    h.send(CLI, srv, 1, b"first", 16, &[]);
    h.send(OTHER, srv, 2, b"second", 16, &[]);
    // The more important sender's lease count now exceeds the limit: its
    // registers no longer describe any message.
    let op = h.task(CLI).save().arg(6);
    assert_eq!(abi::split_op_leases(op as u32).1, 0);
    let big = abi::send_op_leases(1, MAX_LEASES + 1) as usize;
    h.sys.tasks[CLI].save_mut().set_reg(A6 as usize, big);

    h.recv(SRV, 16, 0);
    faulted_at_its_send(&h, CLI, 0x200, UsageError::TooManyLeases);
    // The other sender is delivered in the same recv.
    h.assert_delivered(SRV, OTHER, 2, 6, 16, b"second");
}

#[test]
fn a_lease_table_moved_while_blocked_faults_the_sender() {
    let mut h = four();
    let srv = h.id(SRV);
    let lent = h.client_lease(LEASE_READ, 0, 8);
    h.set_pc(CLI, 0x300);
    h.send(CLI, srv, 1, b"x", 16, &[lent]);
    // The table now points where the sender owns nothing.
    let table = h.task(CLI).save().arg(5);
    h.sys.tasks[CLI]
        .save_mut()
        .set_reg(15, table ^ (1 << top_one(table)));

    h.recv(SRV, 16, 0);
    faulted_at_its_send(&h, CLI, 0x300, UsageError::InvalidSlice);
    assert_eq!(h.sched(SRV), SchedState::InRecv(None));
}

#[test]
fn a_receive_buffer_changed_while_blocked_faults_the_receiver() {
    let mut h = four();
    h.set_pc(SRV, 0x400);
    h.recv(SRV, 16, 0);
    let buf = h.task(SRV).save().arg(0);
    flip(&mut h, SRV, 10, top_one(buf));

    let srv = h.id(SRV);
    h.send(CLI, srv, 1, b"hello", 16, &[]);
    // The server is to blame; its client learns at once that it died.
    h.assert_usage_fault(SRV, UsageError::InvalidSlice);
    assert_eq!(h.fault(SRV).pc, 0x400);
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!(
        h.ret(CLI, 0) as u32,
        abi::dead_code(h.task(SRV).generation())
    );
    assert!(matches!(h.task(CLI).state(), TaskState::Healthy(_)));
}

#[test]
fn registers_that_still_hold_deliver_as_sent() {
    // The re-check must not refuse what is valid: a flip that keeps the
    // message inside the sender's memory delivers the bytes now named.
    let mut h = four();
    h.write(CLI, MSG_OUT + 0x10, b"moved");
    let srv = h.id(SRV);
    h.send(CLI, srv, 1, b"start", 16, &[]);
    // MSG_OUT + 0x10 differs from MSG_OUT in bit 4 alone.
    assert_eq!(h.task(CLI).save().arg(1) & 0x10, 0);
    flip(&mut h, CLI, A1, 4);
    h.recv(SRV, 16, 0);
    h.assert_delivered(SRV, CLI, 1, 5, 16, b"moved");
}

#[test]
fn a_closed_receive_from_a_broken_sender_ends_with_dead() {
    let mut h = four();
    let srv = h.id(SRV);
    let cli = h.id(CLI);
    h.send(CLI, srv, 1, b"x", 16, &[]);
    let msg = h.task(CLI).save().arg(1);
    flip(&mut h, CLI, A1, top_one(msg));

    h.recv_from(SRV, 16, 0, cli);
    h.assert_usage_fault(CLI, UsageError::InvalidSlice);
    // The one task it waited for is dead: the wait ends at once.
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(
        h.ret(SRV, 0) as u32,
        abi::dead_code(h.task(CLI).generation())
    );
}

#[test]
fn a_supervisor_woken_by_the_fault_takes_nothing_else() {
    // The supervisor itself receives, fault bit in its mask, while a broken
    // sender and a good one queue for it: the fault wakes it with the bit,
    // and the good sender stays queued for its next receive.
    let mut h = Harness::new(&[("sup", 3), ("a", 4), ("b", 5)]);
    let sup = h.id(SUP);
    h.send(1, sup, 1, b"bad", 16, &[]);
    h.send(2, sup, 2, b"good", 16, &[]);
    let msg = h.task(1).save().arg(1);
    h.sys.tasks[1]
        .save_mut()
        .set_reg(A1 as usize, msg ^ (1 << top_one(msg)));

    h.recv(SUP, 16, abi::SUPERVISOR_FAULT_BIT);
    h.assert_usage_fault(1, UsageError::InvalidSlice);
    assert_eq!(h.sched(SUP), SchedState::Runnable);
    let m = h.received(SUP);
    assert_eq!(m.sender, abi::TaskId::KERNEL);
    assert_eq!(m.op as u32, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(h.sched(2), SchedState::InSend(sup), "taken too");
    assert_eq!(h.sys.machine.reboots, 0, "{}", h.console());

    h.recv(SUP, 16, abi::SUPERVISOR_FAULT_BIT);
    assert_eq!(h.received(SUP).sender, h.id(2));
    assert_eq!(h.read(SUP, RECV_BUF, 4), b"good");
}
