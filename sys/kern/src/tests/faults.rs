//! Faults and restarts: who is woken, what is recorded, the supervisor.

use abi::{FaultKind, Generation, Sysnum, TaskId, UsageError, SUPERVISOR_FAULT_BIT};

use super::harness::*;
use crate::syscalls::{self, Exception};
use crate::task::{SchedState, TaskState};

#[test]
fn server_fault_wakes_its_waiting_client_with_dead_at_once() {
    let mut h = Harness::three();
    h.recv(SUP, 0, SUPERVISOR_FAULT_BIT);
    h.recv(SRV, 16, 0);
    let srv = h.id(SRV);
    h.send(CLI, srv, 1, b"req", 16, &[]);
    assert_eq!(h.sched(CLI), SchedState::InReply(srv));

    let pc = h.mem[SRV].text + 0x124;
    h.set_pc(SRV, pc);
    let bad = foreign(16);
    syscalls::exception(&mut h.sys, SRV, Exception::Load(bad));

    // The client does not wait for the restart.
    h.assert_told_dead(CLI, Generation(1));
    assert_eq!(h.ret(CLI, 1), 0);
    // The server is stopped, on a new generation, with its fault recorded.
    assert_eq!(h.task(SRV).state(), TaskState::Faulted);
    assert_eq!(h.task(SRV).generation(), Generation(1));
    assert_eq!(h.id(SRV), TaskId::new(SRV as u16, Generation(1)));
    assert_eq!(h.task(SRV).fault_count(), 1);
    let f = h.fault(SRV);
    assert_eq!(f.kind(), FaultKind::LoadAccess);
    assert_eq!(f.address as usize, bad);
    assert_eq!(f.pc as usize, pc);
    // The supervisor, waiting for its fault bit, is woken with it.
    assert_eq!(h.sched(SUP), SchedState::Runnable);
    assert_eq!(h.received(SUP).sender, TaskId::KERNEL);
    assert_eq!(h.received(SUP).op as u32, SUPERVISOR_FAULT_BIT);
}

#[test]
fn server_fault_wakes_clients_still_in_send_too() {
    let (mut h, srv) = Harness::four_and_server();
    for t in [2, 3] {
        h.send(t, srv, 1, b"", 0, &[]);
    }
    syscalls::exception(&mut h.sys, SRV, Exception::Illegal(0x0000_0000));
    for t in [2, 3] {
        h.assert_told_dead(t, Generation(1));
    }
}

#[test]
fn client_fault_leaves_the_server_alone() {
    let (mut h, _) = Harness::three_in_call(16, 1, b"", 16);
    syscalls::exception(&mut h.sys, CLI, Exception::Store(0));
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.task(SRV).generation(), Generation(0));
    assert_eq!(h.fault(CLI).kind(), FaultKind::StoreAccess);
    assert_eq!(h.task(SUP).notifications(), SUPERVISOR_FAULT_BIT);
}

#[test]
fn restart_after_a_fault_starts_fresh_at_entry_on_the_same_generation() {
    let mut h = Harness::three();
    h.set_timer(SRV, Some(1_000), 1);
    let srv = h.id(SRV);
    h.send(CLI, srv, 1, b"", 0, &[]);
    h.set_pc(SRV, h.mem[SRV].text + 0x300);
    syscalls::exception(&mut h.sys, SRV, Exception::Misaligned(0x1001));
    assert_eq!(h.fault(SRV).kind(), FaultKind::Misaligned);
    assert_eq!(h.fault(SRV).address, 0x1001);
    assert_eq!(h.task(SRV).generation(), Generation(1));
    // A faulted task cannot be woken by a notification.
    let new = h.id(SRV);
    h.post(SUP, new, 1);
    assert_eq!(h.task(SRV).state(), TaskState::Faulted);

    h.restart(SRV);
    let t = h.task(SRV);
    assert!(t.is(SchedState::Runnable));
    assert_eq!(t.save().pc(), t.desc().entry);
    assert_eq!(t.save().sp(), t.desc().initial_sp);
    assert_eq!(t.save().arg(0), 0, "registers are reset");
    assert_eq!(t.generation(), Generation(1), "advanced once, at the fault");
    assert_eq!(t.notifications(), 0);
    assert_eq!(t.timer(), None);
    // The fault record survives for the supervisor to read.
    assert_eq!(t.last_fault().kind(), FaultKind::Misaligned);
    assert_eq!(t.fault_count(), 1);
}

#[test]
fn restart_of_a_healthy_task_advances_its_generation_and_wakes_its_callers() {
    let mut h = Harness::new(&[("sup", 0), ("srv", 1), ("a", 2), ("b", 3)]);
    h.recv(SRV, 16, 0);
    let srv = h.id(SRV);
    h.send(2, srv, 1, b"", 0, &[]); // received: InReply
    h.send(3, srv, 1, b"", 0, &[]); // queued: InSend
    assert_eq!(h.sched(2), SchedState::InReply(srv));
    assert_eq!(h.sched(3), SchedState::InSend(srv));

    h.restart(SRV);
    assert_eq!(h.task(SRV).generation(), Generation(1));
    assert_eq!(h.task(SRV).fault_count(), 0);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    for t in [2, 3] {
        h.assert_told_dead(t, Generation(1));
    }
    // The old incarnation's reply would go nowhere; the new one has no
    // caller waiting.
    h.recv(SRV, 16, 0);
    assert_eq!(h.sched(SRV), SchedState::InRecv(None));
}

#[test]
fn restart_of_a_never_started_task_keeps_generation_zero() {
    let mut h = Harness::three_server_stopped();
    assert_eq!(h.task(SRV).state(), TaskState::Stopped);
    h.restart(SRV);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.task(SRV).generation(), Generation(0));
}

#[test]
fn supervisor_fault_reboots_with_a_reason() {
    let mut h = Harness::three();
    h.set_pc(SUP, 0x8000_0040);
    syscalls::exception(&mut h.sys, SUP, Exception::Store(0xdead_beef));
    assert_eq!(h.sys.machine.reboots, 1);
    let out = h.console();
    assert!(
        out.contains("kernel: supervisor 'sup' faulted (store access fault, address 0xdeadbeef, pc 0x80000040)"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("rebooting"), "{out}");
    // Nobody else was touched.
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.sched(CLI), SchedState::Runnable);
}

#[test]
fn supervisor_syscall_misuse_reboots_too() {
    let mut h = Harness::three();
    h.syscall_n(SUP, 77, &[]);
    assert_eq!(h.sys.machine.reboots, 1);
    assert!(h.console().contains("syscall misuse"), "{}", h.console());
}

#[test]
fn bad_syscall_number_faults_the_caller_at_its_ecall() {
    let mut h = Harness::three();
    let ecall = h.mem[CLI].text + 0x58;
    h.set_pc(CLI, ecall);
    h.syscall_n(CLI, 15, &[]);
    h.assert_usage_fault(CLI, UsageError::BadSyscallNumber);
    assert_eq!(h.fault(CLI).pc as usize, ecall);
    assert_eq!(h.task(SUP).notifications(), SUPERVISOR_FAULT_BIT);
    assert_eq!(h.sys.machine.reboots, 0);
    // A huge number is no different.
    h.restart(CLI);
    h.syscall_n(CLI, usize::MAX, &[]);
    h.assert_usage_fault(CLI, UsageError::BadSyscallNumber);
}

/// A kernel built without `bench-probes` (every shipping and test kernel)
/// has no probe syscall: calling it is a bad number like any other.
#[cfg(not(feature = "bench-probes"))]
#[test]
fn the_bench_probe_syscall_does_not_exist_without_its_feature() {
    let mut h = Harness::three();
    let buf = h.addr(CLI, DATA);
    h.syscall(CLI, Sysnum::BenchProbes, &[0, buf, 64]);
    h.assert_usage_fault(CLI, UsageError::BadSyscallNumber);
    assert_eq!(h.read(CLI, DATA, 64), [0; 64]);
}

#[test]
fn successful_syscalls_resume_after_the_ecall() {
    let mut h = Harness::three();
    let ecall = h.mem[CLI].text + 0x58;
    h.set_pc(CLI, ecall);
    h.syscall(CLI, Sysnum::GetTimer, &[]);
    assert_eq!(h.task(CLI).save().pc(), ecall + 4);
}

#[test]
fn access_fault_with_sp_below_the_stack_is_a_stack_overflow() {
    let mut h = Harness::three();
    let base = h.mem[CLI].ram;
    h.sys.tasks[CLI].save_mut().set_sp(base - 16);
    syscalls::exception(&mut h.sys, CLI, Exception::Store(base - 20));
    let f = h.fault(CLI);
    assert_eq!(f.kind(), FaultKind::StackOverflow);
    assert_eq!(f.address as usize, base - 20);

    // With sp inside the stack, the same access is a plain access fault.
    h.restart(CLI);
    h.sys.tasks[CLI].save_mut().set_sp(base + 8);
    syscalls::exception(&mut h.sys, CLI, Exception::Load(base - 20));
    let f = h.fault(CLI);
    assert_eq!(f.kind(), FaultKind::LoadAccess);
    assert_eq!(f.address as usize, base - 20);
    // And exactly at the stack base is not below it.
    h.restart(CLI);
    h.sys.tasks[CLI].save_mut().set_sp(base);
    syscalls::exception(&mut h.sys, CLI, Exception::Fetch(0x10));
    assert_eq!(h.fault(CLI).kind(), FaultKind::FetchAccess);
}

#[test]
fn other_exceptions_are_recorded_with_their_details() {
    let mut h = Harness::three();
    h.set_pc(CLI, 0x1234);
    syscalls::exception(&mut h.sys, CLI, Exception::Illegal(0xFFFF_FFFF));
    let f = h.fault(CLI);
    assert_eq!(
        (f.kind(), f.address, f.pc, f.detail),
        (FaultKind::IllegalInstruction, 0, 0x1234, 0xFFFF_FFFF)
    );
    h.restart(CLI);
    syscalls::exception(&mut h.sys, CLI, Exception::Breakpoint);
    assert_eq!(h.fault(CLI).kind(), FaultKind::Breakpoint);
    assert_eq!(h.task(CLI).fault_count(), 2);
    assert_eq!(h.task(CLI).generation(), Generation(2));
}

#[test]
fn a_second_fault_of_a_faulted_task_changes_nothing() {
    let mut h = Harness::three();
    syscalls::exception(&mut h.sys, CLI, Exception::Illegal(1));
    crate::faults::fault_task(
        &mut h.sys,
        CLI,
        abi::FaultRecord {
            kind: FaultKind::Panic as u32,
            ..Default::default()
        },
    );
    assert_eq!(h.fault(CLI).kind(), FaultKind::IllegalInstruction);
    assert_eq!(h.task(CLI).generation(), Generation(1));
    assert_eq!(h.task(CLI).fault_count(), 1);
}

#[test]
fn panic_logs_the_message_and_faults_the_task() {
    let mut h = Harness::three();
    let ecall = h.mem[CLI].text + 0x70;
    h.set_pc(CLI, ecall);
    let msg = b"index out of bounds\nat main.rs:3";
    h.write(CLI, MSG_OUT, msg);
    let ptr = h.addr(CLI, MSG_OUT);
    h.syscall(CLI, Sysnum::Panic, &[ptr, msg.len()]);
    assert_eq!(h.task(CLI).state(), TaskState::Faulted);
    let f = h.fault(CLI);
    assert_eq!(f.kind(), FaultKind::Panic);
    assert_eq!(f.pc as usize, ecall);
    assert_eq!(
        h.console(),
        "[   0.000000] kernel: task cli panicked:\n\
         [   0.000000] cli: index out of bounds\n\
         [   0.000000] cli: at main.rs:3\n"
    );
}

#[test]
fn panic_with_a_bad_message_pointer_still_faults_with_panic() {
    let mut h = Harness::three();
    let other = foreign(64);
    h.syscall(CLI, Sysnum::Panic, &[other, 16]);
    assert_eq!(h.fault(CLI).kind(), FaultKind::Panic);
    assert!(h.console().contains("task cli panicked"));
}
