//! Kernel IPC: supervisor only, task status, restart, fault injection.

use abi::{
    FaultKind, FaultRecord, Generation, InjectEvidence, Kipc, Sysnum, TaskState, TaskStatus,
    REFUSED_NOT_SUPERVISOR, SUCCESS,
};
use zerocopy::FromBytes;

use super::harness::*;
use crate::kipc::{KIPC_BAD_MESSAGE, KIPC_BAD_OPERATION, KIPC_NO_SUCH_TASK};
use crate::syscalls::{self, Exception};
use crate::task::SchedState;

fn status(h: &mut Harness, t: usize) -> TaskStatus {
    let (code, bytes) = h.kipc(SUP, Kipc::TaskStatus as u32, Some(t as u32));
    assert_eq!(code, SUCCESS);
    assert_eq!(bytes.len(), core::mem::size_of::<TaskStatus>());
    TaskStatus::read_from_bytes(&bytes).unwrap()
}

#[test]
fn kipc_from_a_non_supervisor_is_refused() {
    let mut h = Harness::three();
    syscalls::exception(&mut h.sys, SRV, Exception::Breakpoint);
    let (code, bytes) = h.kipc(CLI, Kipc::RestartTask as u32, Some(SRV as u32));
    assert_eq!(code, REFUSED_NOT_SUPERVISOR);
    assert!(bytes.is_empty());
    assert_eq!(h.task(SRV).state(), crate::task::TaskState::Faulted);
    let (code, _) = h.kipc(CLI, Kipc::FaultTask as u32, Some(SUP as u32));
    assert_eq!(code, REFUSED_NOT_SUPERVISOR);
    assert!(h.task(SUP).is_healthy());
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!(h.sys.machine.reboots, 0);
}

#[test]
fn a_queued_call_is_in_send_and_a_received_one_awaits_the_reply() {
    let mut h = Harness::three();
    let srv = h.id(SRV);
    h.send(CLI, srv, 1, b"", 0, &[]);
    let st = status(&mut h, CLI);
    assert_eq!(
        (TaskState::from_u32(st.state), st.calling),
        (Some(TaskState::InSend), SRV as u32),
        "queued: the server is not in recv"
    );
    h.recv(SRV, 16, 0);
    let st = status(&mut h, CLI);
    assert_eq!(
        (TaskState::from_u32(st.state), st.calling),
        (Some(TaskState::InReply), SRV as u32),
        "received"
    );
}

#[test]
fn task_status_reports_state_generation_and_last_fault() {
    let mut h = Harness::new(&[("sup", 0), ("a-rather-long-task-name", 1), ("cli", 2)]);
    let st = status(&mut h, CLI);
    assert_eq!(TaskState::from_u32(st.state), Some(TaskState::Runnable));
    assert_eq!((st.generation, st.priority, st.fault_count), (0, 2, 0));
    assert_eq!(st.last_fault, FaultRecord::default());
    assert_eq!(&st.name, b"cli\0\0\0\0\0\0\0\0\0\0\0\0\0");

    h.recv(SRV, 16, 0);
    let st = status(&mut h, SRV);
    assert_eq!(TaskState::from_u32(st.state), Some(TaskState::InRecv));
    assert_eq!(&st.name, b"a-rather-long-ta", "truncated to 16 bytes");

    let srv = h.id(SRV);
    h.send(CLI, srv, 1, b"", 0, &[]);
    let st = status(&mut h, CLI);
    // Received at once (the server waited in `recv`): awaiting the reply.
    assert_eq!(TaskState::from_u32(st.state), Some(TaskState::InReply));
    assert_eq!(st.calling, SRV as u32);

    h.set_pc(SRV, 0x2000_0010);
    syscalls::exception(&mut h.sys, SRV, Exception::Load(0x1000_0000));
    let st = status(&mut h, SRV);
    assert_eq!(TaskState::from_u32(st.state), Some(TaskState::Faulted));
    assert_eq!((st.generation, st.priority, st.fault_count), (1, 1, 1));
    assert_eq!(
        st.last_fault,
        FaultRecord {
            kind: FaultKind::LoadAccess as u32,
            address: 0x1000_0000,
            pc: 0x2000_0010,
            detail: 0,
        }
    );
}

#[test]
fn task_status_of_a_stopped_task() {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("lazy", 1)
        .stopped()
        .build();
    let st = status(&mut h, 1);
    assert_eq!(TaskState::from_u32(st.state), Some(TaskState::Stopped));
}

#[test]
fn a_call_to_a_task_that_never_started_is_refused_as_stopped() {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("lazy", 1)
        .stopped()
        .task("cli", 2)
        .build();
    let lazy = h.id(1);
    h.send(2, lazy, 1, b"", 0, &[]);
    assert_eq!(h.ret(2, 0) as u32, abi::SERVER_STOPPED);
    assert_eq!(h.sched(2), SchedState::Runnable);
}

#[test]
fn a_faulted_task_left_stopped_refuses_calls_until_restarted() {
    let mut h = Harness::three();
    let old = h.id(SRV);
    syscalls::exception(&mut h.sys, SRV, Exception::Breakpoint);
    let now = h.id(SRV);
    // Awaiting its restart: DEAD, with the generation to come.
    h.send(CLI, now, 1, b"", 0, &[]);
    assert_eq!(h.ret(CLI, 0) as u32, abi::dead_code(Generation(1)));
    let (code, _) = h.kipc(SUP, Kipc::StopTask as u32, Some(SRV as u32));
    assert_eq!(code, SUCCESS);
    assert_eq!(
        TaskState::from_u32(status(&mut h, SRV).state),
        Some(TaskState::Stopped)
    );
    // Left stopped: refused as such, by the current id or a stale one.
    for id in [now, old] {
        h.send(CLI, id, 1, b"", 0, &[]);
        assert_eq!(h.ret(CLI, 0) as u32, abi::SERVER_STOPPED, "{id:?}");
    }
    // A restart brings it back with the generation its clients were told.
    let (code, _) = h.kipc(SUP, Kipc::RestartTask as u32, Some(SRV as u32));
    assert_eq!(code, SUCCESS);
    assert_eq!(h.id(SRV), now);
    h.recv(SRV, 16, 0);
    h.send(CLI, now, 1, b"", 0, &[]);
    assert_eq!(h.sched(CLI), SchedState::InReply(now));
}

#[test]
fn only_a_faulted_task_can_be_left_stopped() {
    let mut h = Harness::three();
    let (code, _) = h.kipc(SUP, Kipc::StopTask as u32, Some(SRV as u32));
    assert_eq!(code, crate::kipc::KIPC_TASK_ALIVE);
    assert!(h.task(SRV).is_healthy());
    let (code, _) = h.kipc(SUP, Kipc::StopTask as u32, Some(99));
    assert_eq!(code, KIPC_NO_SUCH_TASK);
    let (code, _) = h.kipc(CLI, Kipc::StopTask as u32, Some(SRV as u32));
    assert_eq!(code, REFUSED_NOT_SUPERVISOR);
}

#[test]
fn fault_task_injects_a_fault() {
    let (mut h, _) = Harness::three_in_call(16, 1, b"", 0);
    h.set_pc(SRV, 0x4444);
    let (code, _) = h.kipc(SUP, Kipc::FaultTask as u32, Some(SRV as u32));
    assert_eq!(code, SUCCESS);
    let f = h.fault(SRV);
    assert_eq!(f.kind(), FaultKind::Injected);
    assert_eq!(f.pc, 0x4444);
    assert_eq!(f.detail, SUP as u32);
    assert_eq!(h.task(SRV).generation(), Generation(1));
    // Like any fault: the client is released, the supervisor told.
    assert_eq!(h.ret(CLI, 0) as u32, abi::dead_code(Generation(1)));
    assert_eq!(h.task(SUP).notifications(), abi::SUPERVISOR_FAULT_BIT);
}

#[test]
fn kipc_argument_errors_are_codes_not_faults() {
    let mut h = Harness::three();
    let cases = [
        (Kipc::TaskStatus as u32, Some(3), KIPC_NO_SUCH_TASK),
        (Kipc::RestartTask as u32, Some(u32::MAX), KIPC_NO_SUCH_TASK),
        (
            Kipc::RestartTask as u32,
            Some(SUP as u32),
            KIPC_NO_SUCH_TASK,
        ),
        (Kipc::FaultTask as u32, Some(SUP as u32), KIPC_NO_SUCH_TASK),
        (Kipc::TaskStatus as u32, None, KIPC_BAD_MESSAGE),
        (Kipc::Shutdown as u32, None, KIPC_BAD_MESSAGE),
        (99, Some(1), KIPC_BAD_OPERATION),
    ];
    for (op, arg, want) in cases {
        let (code, bytes) = h.kipc(SUP, op, arg);
        assert_eq!((code, bytes.len()), (want, 0), "op {op} arg {arg:?}");
        assert_eq!(h.sched(SUP), SchedState::Runnable);
    }
    assert_eq!(h.sys.machine.shutdown, None);
    assert_eq!(h.sys.machine.reboots, 0);
}

#[test]
fn kipc_task_count_and_shutdown() {
    let mut h = Harness::three();
    let (code, bytes) = h.kipc(SUP, Kipc::TaskCount as u32, None);
    assert_eq!(code, SUCCESS);
    assert_eq!(bytes, 3u32.to_le_bytes());
    let (code, _) = h.kipc(SUP, Kipc::Shutdown as u32, Some(7));
    assert_eq!(code, SUCCESS);
    assert_eq!(h.sys.machine.shutdown, Some(7));
}

#[test]
fn kipc_with_a_reply_buffer_the_supervisor_does_not_own_faults_it() {
    let mut h = Harness::three();
    let other = h.addr(CLI, REPLY_BUF);
    h.write(SUP, MSG_OUT, &(SRV as u32).to_le_bytes());
    let msg = h.addr(SUP, MSG_OUT);
    h.syscall(
        SUP,
        Sysnum::Kipc,
        &[Kipc::TaskStatus as usize, msg, 4, other, 48],
    );
    // The supervisor faulting means a reboot, and nothing was written.
    assert_eq!(h.sys.machine.reboots, 1);
    assert_eq!(h.read(CLI, REPLY_BUF, 48), [0; 48]);
    assert!(h.console().contains("syscall misuse"), "{}", h.console());
}

#[test]
fn task_status_into_a_short_buffer_is_truncated() {
    let mut h = Harness::three();
    h.write(SUP, MSG_OUT, &(CLI as u32).to_le_bytes());
    h.write(SUP, REPLY_BUF, &[0xEE; 16]);
    let (msg, reply) = (h.addr(SUP, MSG_OUT), h.addr(SUP, REPLY_BUF));
    h.syscall(
        SUP,
        Sysnum::Kipc,
        &[Kipc::TaskStatus as usize, msg, 4, reply, 8],
    );
    assert_eq!((h.ret(SUP, 0) as u32, h.ret(SUP, 1)), (SUCCESS, 8));
    let bytes = h.read(SUP, REPLY_BUF, 9);
    assert_eq!(&bytes[..4], &(TaskState::Runnable as u32).to_le_bytes());
    assert_eq!(&bytes[4..8], &0u32.to_le_bytes());
    assert_eq!(bytes[8], 0xEE);
}

/// The region the mock machine grants for device slot `slot`.
fn window(slot: usize) -> crate::descs::RegionDesc {
    crate::descs::RegionDesc {
        base: 0x7000_0000 + slot * 0x1000,
        size: 0x1000,
        attributes: crate::descs::REGION_READ
            | crate::descs::REGION_WRITE
            | crate::descs::REGION_DEVICE,
    }
}

#[test]
fn grant_device_adds_the_window_and_routes_its_irq() {
    let mut h = Harness::three();
    let code = h.grant(SUP, SRV, 1, 0b100);
    assert_eq!(code, SUCCESS);
    assert!(h.task(SRV).regions().contains(&window(1)));
    assert_eq!(h.sys.machine.irq_calls.last(), Some(&(41, true)));
    // The slot's interrupt now reaches the driver's bit, masked after delivery.
    h.recv(SRV, 0, 0b100);
    crate::notify::interrupt(&mut h.sys, 41);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.ret(SRV, 1), 0b100);
    assert_eq!(h.sys.machine.irq_calls.last(), Some(&(41, false)));
    // ...and irq_control re-enables it for the driver.
    h.syscall(SRV, Sysnum::IrqControl, &[0b100, 1]);
    assert_eq!(h.sys.machine.irq_calls.last(), Some(&(41, true)));
}

#[test]
fn a_slot_is_granted_once_and_bad_slots_are_refused() {
    let mut h = Harness::three();
    assert_eq!(h.grant(SUP, SRV, 0, 1), SUCCESS);
    let bad = crate::kipc::KIPC_BAD_GRANT;
    assert_eq!(h.grant(SUP, CLI, 0, 1), bad);
    assert_eq!(h.grant(SUP, SRV, 0, 1), bad);
    assert_eq!(h.grant(SUP, SRV, 9, 1), bad);
    assert_eq!(
        h.kipc_words(SUP, Kipc::GrantDevice, &[SRV as u32, 1]),
        KIPC_BAD_MESSAGE
    );
    assert!(!h.task(CLI).regions().contains(&window(0)));
    // Only the supervisor may grant.
    assert_eq!(h.grant(CLI, CLI, 1, 1), REFUSED_NOT_SUPERVISOR);
}

#[test]
fn revoke_takes_back_window_and_route() {
    let mut h = Harness::three();
    assert_eq!(h.grant(SUP, SRV, 1, 0b10), SUCCESS);
    assert_eq!(h.revoke(SUP, SRV, 1), SUCCESS);
    assert!(!h.task(SRV).regions().contains(&window(1)));
    assert_eq!(h.sys.machine.irq_calls.last(), Some(&(41, false)));
    h.recv(SRV, 0, 0b10);
    crate::notify::interrupt(&mut h.sys, 41);
    assert_eq!(
        h.sched(SRV),
        SchedState::InRecv(None),
        "a revoked IRQ still reached the task"
    );
    // The slot is free for another driver.
    assert_eq!(h.grant(SUP, CLI, 1, 1), SUCCESS);
}

#[test]
fn a_restart_drops_the_tasks_grants() {
    let mut h = Harness::three();
    assert_eq!(h.grant(SUP, SRV, 0, 1), SUCCESS);
    syscalls::exception(&mut h.sys, SRV, Exception::Illegal(0));
    h.restart(SRV);
    assert!(!h.task(SRV).regions().contains(&window(0)));
    assert!(h.sys.device_irqs.iter().all(|r| r.is_none()));
    assert_eq!(h.grant(SUP, CLI, 0, 1), SUCCESS);
}

#[test]
fn message_copies_never_touch_a_granted_window() {
    let mut h = Harness::three();
    assert_eq!(h.grant(SUP, SRV, 0, 1), SUCCESS);
    // The window is the server's now, but the kernel still refuses to use
    // device memory as a message buffer: the server faults.
    let w = window(0).base;
    h.syscall(SRV, Sysnum::Recv, &[w, 16, 0, abi::RECV_OPEN as usize]);
    assert_eq!(h.task(SRV).state(), crate::task::TaskState::Faulted);
}

#[test]
fn task_status_counts_syscalls_per_incarnation() {
    let mut h = Harness::three();
    let status = |h: &mut Harness| {
        let (code, bytes) = h.kipc(SUP, Kipc::TaskStatus as u32, Some(CLI as u32));
        assert_eq!(code, SUCCESS);
        TaskStatus::read_from_bytes(&bytes[..core::mem::size_of::<TaskStatus>()]).unwrap()
    };
    assert_eq!(status(&mut h).syscalls, 0);
    h.syscall(CLI, Sysnum::GetTimer, &[]);
    h.syscall(CLI, Sysnum::GetTimer, &[]);
    assert_eq!(status(&mut h).syscalls, 2);
    // A new incarnation starts counting afresh.
    h.restart(CLI);
    assert_eq!(status(&mut h).syscalls, 0);
}

fn inject(h: &mut Harness, task: usize, kind: u32, arg: u32) -> (u32, InjectEvidence) {
    let mut msg = [0u8; 12];
    for (i, w) in [task as u32, kind, arg].iter().enumerate() {
        msg[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    let (code, bytes) = h.kipc_bytes(SUP, Kipc::Inject as u32, &msg);
    let evidence = InjectEvidence::read_from_prefix(&bytes)
        .map(|(e, _)| e)
        .unwrap_or_default();
    (code, evidence)
}

#[test]
fn inject_flips_a_register_bit_or_jumps() {
    let mut h = Harness::three();
    let sp = h.task(CLI).save().sp();
    let (code, ev) = inject(&mut h, CLI, 0, (2 << 5) | 4);
    assert_eq!(code, SUCCESS);
    assert_eq!(h.task(CLI).save().sp(), sp ^ (1 << 4));
    // The reply is the evidence: register 2 (sp) before and after.
    assert_eq!(
        ev,
        InjectEvidence {
            location: 2,
            before: sp as u32,
            after: (sp ^ (1 << 4)) as u32
        }
    );
    let pc = h.task(CLI).save().pc();
    let (code, ev) = inject(&mut h, CLI, 2, 0x1234);
    assert_eq!(code, SUCCESS);
    assert_eq!(h.task(CLI).save().pc(), 0x1234);
    assert_eq!((ev.before, ev.after), (pc as u32, 0x1234));
    // The task is not faulted by the injection itself.
    assert_eq!(h.sched(CLI), SchedState::Runnable);
}

#[test]
fn inject_flips_a_bit_of_task_ram_only() {
    let mut h = Harness::three();
    h.write(CLI, DATA, &[0u8; 4]);
    let word = (DATA / 4) as u32;
    let (code, ev) = inject(&mut h, CLI, 1, (word << 5) | 9);
    assert_eq!(code, SUCCESS);
    assert_eq!(h.read(CLI, DATA, 4), (1u32 << 9).to_le_bytes());
    assert_eq!(
        ev,
        InjectEvidence {
            location: h.addr(CLI, DATA) as u32,
            before: 0,
            after: 1 << 9
        }
    );
    // Offsets wrap inside the RAM region: never outside it.
    let huge = u32::MAX >> 5;
    let (code, ev) = inject(&mut h, CLI, 1, (huge << 5) | 1);
    assert_eq!(code, SUCCESS);
    let ram = h.task(CLI).desc().regions[1];
    assert!((ram.base..ram.base + ram.size).contains(&(ev.location as usize)));
    assert_eq!(ev.before ^ ev.after, 1 << 1);
}

#[test]
fn inject_refuses_bad_requests() {
    let mut h = Harness::three();
    let mut inject = |t: usize, words: &[u32]| h.kipc_words(t, Kipc::Inject, words);
    assert_eq!(inject(SUP, &[CLI as u32, 9, 0]), KIPC_BAD_MESSAGE);
    assert_eq!(inject(SUP, &[SUP as u32, 0, 0]), KIPC_BAD_OPERATION);
    assert_eq!(inject(SUP, &[99, 0, 0]), KIPC_NO_SUCH_TASK);
    assert_eq!(inject(CLI, &[SRV as u32, 0, 0]), REFUSED_NOT_SUPERVISOR);
}

#[test]
fn task_status_reports_replies_and_whom_a_task_is_calling() {
    let mut h = Harness::three();
    let status = |h: &mut Harness, t: usize| {
        let (code, bytes) = h.kipc(SUP, Kipc::TaskStatus as u32, Some(t as u32));
        assert_eq!(code, SUCCESS);
        TaskStatus::read_from_bytes(&bytes[..core::mem::size_of::<TaskStatus>()]).unwrap()
    };
    assert_eq!(status(&mut h, CLI).calling, u32::MAX);
    h.recv(SRV, 16, 0);
    let srv = h.id(SRV);
    h.send(CLI, srv, 1, b"x", 16, &[]);
    assert_eq!(status(&mut h, CLI).calling, SRV as u32);
    assert_eq!(status(&mut h, SRV).replies, 0);
    let cli = h.id(CLI);
    h.reply(SRV, cli, 0, b"y");
    assert_eq!(status(&mut h, SRV).replies, 1);
    assert_eq!(status(&mut h, CLI).calling, u32::MAX);
    // A reply to nobody waiting is not progress.
    h.reply(SRV, cli, 0, b"y");
    assert_eq!(status(&mut h, SRV).replies, 1);
}

#[test]
fn an_id_from_65_restarts_ago_is_still_dead() {
    // With a 6-bit generation the 64th restart brought generation 0 back,
    // and a send to the first incarnation's id reached the new one.
    let mut h = Harness::three();
    let first = h.id(SRV);
    for n in 1..=65u16 {
        if n % 2 == 0 {
            syscalls::exception(&mut h.sys, SRV, Exception::Breakpoint);
        }
        let (code, _) = h.kipc(SUP, Kipc::RestartTask as u32, Some(SRV as u32));
        assert_eq!(code, SUCCESS);
        assert_eq!(h.task(SRV).generation(), Generation(n));
    }
    h.recv(SRV, 16, 0);
    h.send(CLI, first, 1, b"", 0, &[]);
    h.assert_told_dead(CLI, Generation(65));
    assert_eq!(h.sched(SRV), SchedState::InRecv(None), "nothing delivered");
    // The id the DEAD code points to does reach the server.
    h.send(CLI, h.id(SRV), 1, b"", 0, &[]);
    assert_eq!(h.sched(CLI), SchedState::InReply(h.id(SRV)));
}

#[test]
fn grant_never_doubles_a_static_route() {
    // IRQ 40 (slot 0) is routed statically to CLI's bit 0 by app.toml.
    let mut h = Builder::three().irq(40, CLI as u16, 0b1).build();
    let bad = crate::kipc::KIPC_BAD_GRANT;
    assert_eq!(
        h.grant(SUP, SRV, 0, 0b10),
        bad,
        "slot 0's IRQ already belongs to cli"
    );
    assert!(!h.task(SRV).regions().contains(&window(0)));
    assert!(h.sys.device_irqs.iter().all(|r| r.is_none()));
    // A grant may not reuse a bit that already carries one of its IRQs,
    // nor route to no bit at all.
    assert_eq!(h.grant(SUP, CLI, 1, 0b1), bad);
    assert_eq!(h.grant(SUP, CLI, 1, 0), bad);
    assert_eq!(h.grant(SUP, CLI, 1, 0b10), SUCCESS);
}

#[test]
fn revoke_never_disables_an_irq_the_task_does_not_own() {
    let mut h = Harness::three();
    assert_eq!(h.grant(SUP, SRV, 1, 0b10), SUCCESS);
    let calls = h.sys.machine.irq_calls.len();
    // Revoking slot 1 from CLI, which does not hold it, is refused and
    // leaves SRV's interrupt enabled and routed.
    assert_eq!(h.revoke(SUP, CLI, 1), crate::kipc::KIPC_BAD_GRANT);
    assert_eq!(h.sys.machine.irq_calls.len(), calls, "an IRQ was touched");
    assert!(h.task(SRV).regions().contains(&window(1)));
    h.recv(SRV, 0, 0b10);
    crate::notify::interrupt(&mut h.sys, 41);
    assert_eq!(h.sched(SRV), SchedState::Runnable, "SRV lost its IRQ");
}

#[test]
fn revoke_of_a_static_route_is_refused() {
    let mut h = Builder::three().irq(40, CLI as u16, 0b1).build();
    assert_eq!(h.revoke(SUP, CLI, 0), crate::kipc::KIPC_BAD_GRANT);
    assert!(
        !h.sys.machine.irq_calls.contains(&(40, false)),
        "a static route was disabled"
    );
}

#[test]
fn kernel_stack_overflow_injection_reaches_the_machine_only() {
    let mut h = Harness::three();
    let before = h.task(CLI).save().clone().pc();
    assert_eq!(
        h.kipc_words(
            SUP,
            Kipc::Inject,
            &[CLI as u32, abi::Injection::KernelStackOverflow as u32, 0]
        ),
        SUCCESS
    );
    assert_eq!(h.sys.machine.stack_overflows, 1);
    // No task was touched: the target is only the request's formality.
    assert_eq!(h.task(CLI).save().pc(), before);
    assert!(h.task(CLI).is_healthy());
}

#[test]
fn a_shipping_kernel_has_no_test_only_kipcs() {
    let mut h = Harness::three();
    h.sys.test_control = false;
    let (code, _) = h.kipc(SUP, Kipc::FaultTask as u32, Some(SRV as u32));
    assert_eq!(code, KIPC_BAD_OPERATION);
    assert!(
        h.task(SRV).is_healthy(),
        "a test-only fault reached the task"
    );
    assert_eq!(h.task(SRV).fault_count(), 0);
    let (code, _) = h.kipc(SUP, Kipc::Shutdown as u32, Some(0));
    assert_eq!(code, KIPC_BAD_OPERATION);
    assert_eq!(h.sys.machine.shutdown, None, "the machine was stopped");
    let pc = h.task(CLI).save().pc();
    assert_eq!(
        h.kipc_words(SUP, Kipc::Inject, &[CLI as u32, 2, 0x1234]),
        KIPC_BAD_OPERATION
    );
    assert_eq!(h.task(CLI).save().pc(), pc);
    // Even a test kernel without fault injection refuses Inject.
    h.sys.test_control = true;
    h.sys.fault_injection = false;
    assert_eq!(
        h.kipc_words(SUP, Kipc::Inject, &[CLI as u32, 2, 0x1234]),
        KIPC_BAD_OPERATION
    );
    assert_eq!(h.task(CLI).save().pc(), pc);
    // The everyday kipcs are there either way.
    let (code, _) = h.kipc(SUP, Kipc::RestartTask as u32, Some(SRV as u32));
    assert_eq!(code, SUCCESS);
}

#[test]
fn inject_clears_a_bit_that_is_one() {
    // A flip is an exclusive or: a bit that is 1 becomes 0 (in a register
    // and in RAM), and the evidence says so.
    let mut h = Harness::three();
    let sp = h.task(CLI).save().sp();
    let top = usize::BITS - 1 - sp.leading_zeros();
    let (code, ev) = inject(&mut h, CLI, 0, (2 << 5) | top);
    assert_eq!(code, SUCCESS);
    assert_eq!(h.task(CLI).save().sp(), sp & !(1 << top));
    assert_eq!(
        (ev.before, ev.after),
        (sp as u32, (sp & !(1 << top)) as u32)
    );

    h.write(CLI, DATA, &0xFFFF_FFFFu32.to_le_bytes());
    let word = (DATA / 4) as u32;
    let (code, ev) = inject(&mut h, CLI, 1, (word << 5) | 31);
    assert_eq!(code, SUCCESS);
    assert_eq!(h.read(CLI, DATA, 4), 0x7FFF_FFFFu32.to_le_bytes());
    assert_eq!((ev.before, ev.after), (0xFFFF_FFFF, 0x7FFF_FFFF));
}

#[test]
fn a_granted_irq_and_static_routes_each_reach_only_their_own_task() {
    // IRQ 5 is routed statically to CLI's bit 0; slot 1 (IRQ 41) is granted
    // to SRV's bit 1 beside it.
    let mut h = Builder::three().irq(5, CLI as u16, 0b1).build();
    assert_eq!(h.grant(SUP, SRV, 1, 0b10), SUCCESS);
    // CLI's static bit is taken; a grant to CLI must use another one.
    assert_eq!(h.grant(SUP, CLI, 0, 0b1), crate::kipc::KIPC_BAD_GRANT);
    assert_eq!(h.grant(SUP, CLI, 0, 0b100), SUCCESS);
    assert_eq!(crate::notify::irq_bits(&h.sys, CLI), 0b101);
    assert_eq!(crate::notify::irq_bits(&h.sys, SRV), 0b10);
    // Those bits are the kernel's: nobody may post them.
    let cli = h.id(CLI);
    assert_eq!(h.post(SUP, cli, 0b1), abi::REFUSED_POST_BITS);
    assert_eq!(h.post(SUP, cli, 0b100), abi::REFUSED_POST_BITS);

    h.recv(SRV, 0, 0b10);
    h.recv(CLI, 0, 0b101);
    crate::notify::interrupt(&mut h.sys, 41);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.ret(SRV, 1), 0b10);
    assert_eq!(h.sched(CLI), SchedState::InRecv(None), "41 reached cli");
    crate::notify::interrupt(&mut h.sys, 5);
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!(h.ret(CLI, 1), 0b1);
    assert_eq!(h.task(SRV).notifications(), 0, "5 reached srv");
    crate::notify::interrupt(&mut h.sys, 40);
    assert_eq!(h.task(CLI).notifications(), 0b100);

    // irq_control unmasks each task's own sources only.
    h.sys.machine.irq_calls.clear();
    h.syscall(CLI, Sysnum::IrqControl, &[0b101, 1]);
    let mut calls = h.sys.machine.irq_calls.clone();
    calls.sort();
    assert_eq!(calls, [(5, true), (40, true)]);
    h.sys.machine.irq_calls.clear();
    h.syscall(SRV, Sysnum::IrqControl, &[0b1, 1]);
    assert_eq!(h.task(SRV).state(), crate::task::TaskState::Faulted);
    assert!(h.sys.machine.irq_calls.is_empty(), "srv touched cli's IRQ");

    // Revoking CLI's grant leaves its static route working.
    assert_eq!(h.revoke(SUP, CLI, 0), SUCCESS);
    assert_eq!(crate::notify::irq_bits(&h.sys, CLI), 0b1);
    h.recv(CLI, 0, 0b1);
    assert_eq!(h.sched(CLI), SchedState::InRecv(None));
    crate::notify::interrupt(&mut h.sys, 5);
    assert_eq!(h.ret(CLI, 1), 0b1);
}

#[test]
fn the_supervisor_revoking_its_own_slot_loses_the_window_at_once() {
    // The supervisor is the running task: its protection is the one loaded,
    // so a grant to itself or a revoke of its own slot must reload it
    // before it runs again.
    let mut h = Harness::three();
    assert_eq!(syscalls::next_task(&mut h.sys, SUP), Some(SUP));
    let fixed = h.task(SUP).regions().to_vec();
    assert_eq!(h.sys.machine.protected.last().unwrap(), &fixed);

    assert_eq!(h.grant(SUP, SUP, 0, 0b100), SUCCESS);
    assert_eq!(syscalls::next_task(&mut h.sys, SUP), Some(SUP));
    let granted = h.sys.machine.protected.last().unwrap().clone();
    assert!(
        granted.contains(&window(0)),
        "grant not loaded: {granted:?}"
    );

    assert_eq!(h.revoke(SUP, SUP, 0), SUCCESS);
    assert_eq!(syscalls::next_task(&mut h.sys, SUP), Some(SUP));
    assert_eq!(
        h.sys.machine.protected.last().unwrap(),
        &fixed,
        "the revoked window is still loaded"
    );
    assert_eq!(h.sys.machine.irq_calls.last(), Some(&(40, false)));
    // Revoking it again holds nothing: refused, nothing reloaded.
    let loads = h.sys.machine.protected.len();
    assert_eq!(h.revoke(SUP, SUP, 0), crate::kipc::KIPC_BAD_GRANT);
    assert_eq!(syscalls::next_task(&mut h.sys, SUP), Some(SUP));
    assert_eq!(h.sys.machine.protected.len(), loads);
}

#[test]
fn revoke_with_a_short_message_is_refused() {
    let mut h = Harness::three();
    assert_eq!(h.grant(SUP, SRV, 0, 0b1), SUCCESS);
    assert_eq!(
        h.kipc_words(SUP, Kipc::RevokeDevice, &[SRV as u32]),
        KIPC_BAD_MESSAGE
    );
    assert!(h.task(SRV).regions().contains(&window(0)));
    assert_eq!(
        h.kipc_words(SUP, Kipc::Inject, &[CLI as u32, 0]),
        KIPC_BAD_MESSAGE
    );
}

#[test]
fn a_grant_to_a_task_with_no_free_region_routes_nothing() {
    let mut h = Harness::three();
    let full = crate::descs::MAX_TASK_REGIONS - h.task(SRV).regions().len();
    for n in 0..full {
        assert!(h.sys.tasks[SRV].add_region(crate::descs::RegionDesc {
            base: 0x1000_0000 + n * 0x1000,
            size: 0x1000,
            attributes: crate::descs::REGION_READ,
        }));
    }
    let calls = h.sys.machine.irq_calls.len();
    assert_eq!(h.grant(SUP, SRV, 0, 0b1), crate::kipc::KIPC_BAD_GRANT);
    assert!(h.sys.device_irqs.iter().all(|r| r.is_none()));
    assert_eq!(h.sys.machine.irq_calls.len(), calls, "an IRQ was enabled");
    assert!(!h.task(SRV).regions().contains(&window(0)));
    // The slot is still free for a task with room.
    assert_eq!(h.grant(SUP, CLI, 0, 0b1), SUCCESS);
}

#[test]
fn revoking_one_of_two_grants_keeps_the_other_routed() {
    let mut h = Harness::three();
    for (slot, bits) in [(0, 0b10), (1, 0b100)] {
        assert_eq!(h.grant(SUP, CLI, slot, bits), SUCCESS);
    }
    assert_eq!(
        h.kipc_words(SUP, Kipc::RevokeDevice, &[CLI as u32, 0]),
        SUCCESS
    );
    assert_eq!(h.sys.machine.irq_calls.last(), Some(&(40, false)));
    assert!(!h.task(CLI).regions().contains(&window(0)));
    assert!(h.task(CLI).regions().contains(&window(1)));
    assert_eq!(crate::notify::irq_bits(&h.sys, CLI), 0b100);
    h.recv(CLI, 0, 0b110);
    crate::notify::interrupt(&mut h.sys, 41);
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!(h.ret(CLI, 1), 0b100);
}

#[test]
fn inject_fingerprint_reads_task_ram_and_changes_nothing() {
    let mut h = Harness::three();
    let ram = h.task(CLI).desc().regions[1];
    let (code, first) = inject(&mut h, CLI, 6, 0);
    assert_eq!(code, SUCCESS);
    assert_eq!(
        (first.location, first.after),
        (ram.base as u32, ram.size as u32)
    );
    // Reading changed nothing: the same fingerprint again.
    assert_eq!(inject(&mut h, CLI, 6, 0), (SUCCESS, first));
    // One changed byte anywhere in the region changes it.
    let was = h.read(CLI, DATA, 1)[0];
    h.write(CLI, DATA, &[was ^ 0x40]);
    let (_, changed) = inject(&mut h, CLI, 6, 0);
    assert_ne!(changed.before, first.before);
    h.write(CLI, DATA, &[was]);
    assert_eq!(inject(&mut h, CLI, 6, 0).1, first);
    // A task without a ring region has none to fingerprint; no other arg.
    assert_eq!(inject(&mut h, CLI, 6, 1).0, KIPC_BAD_MESSAGE);
    assert_eq!(inject(&mut h, CLI, 6, 2).0, KIPC_BAD_MESSAGE);
}
