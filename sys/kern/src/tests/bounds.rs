//! Task ids and indices at and past the end of the task table, for every
//! syscall and kipc that names a task.
//!
//! The fuzzer only generates indices of real tasks; an index equal to the
//! task count is the off-by-one every `<` / `<=` check must get right, and
//! the largest index a `TaskId` can carry is the far end. Each is refused
//! (an error code, or silently skipped where the syscall's contract says
//! so) without faulting the caller or touching any other task.

use abi::{
    Generation, Kipc, ReplyFaultReason, Sysnum, TaskId, BORROW_NOT_LENT, REFUSED_NO_SUCH_TASK,
};

use super::harness::*;
use crate::kipc::KIPC_NO_SUCH_TASK;
use crate::task::{SchedState, TaskState};

/// Indices no task has in a three-task harness: the count itself, one past
/// it, and the largest index below the kernel's.
fn missing() -> [u16; 3] {
    [3, 4, (TaskId::MAX_TASKS - 1) as u16]
}

fn id(index: u16) -> TaskId {
    TaskId::new(index, Generation(0))
}

/// Every task is still healthy and nothing was posted to anyone.
fn untouched(h: &Harness) {
    for t in 0..3 {
        assert!(
            matches!(h.task(t).state(), TaskState::Healthy(_)),
            "task {t}: {:?}",
            h.task(t).state()
        );
        assert_eq!(h.task(t).notifications(), 0, "task {t}");
    }
}

/// Runs `case` on a fresh [`Harness::three`] for each of [`missing`]
/// (given as an id), then checks the harness is [`untouched`].
fn for_each_missing(case: impl Fn(&mut Harness, TaskId)) {
    for i in missing() {
        let mut h = Harness::three();
        case(&mut h, id(i));
        untouched(&h);
    }
}

#[test]
fn send_to_a_missing_task_is_refused() {
    for_each_missing(|h, missing| {
        h.send(CLI, missing, 1, b"x", 4, &[]);
        h.assert_answered(CLI, REFUSED_NO_SUCH_TASK);
    });
}

#[test]
fn recv_from_a_missing_task_is_refused() {
    for_each_missing(|h, missing| {
        h.recv_from(SRV, 16, 0, missing);
        h.assert_answered(SRV, REFUSED_NO_SUCH_TASK);
    });
}

#[test]
fn reply_and_reply_fault_to_a_missing_task_are_skipped() {
    for i in missing() {
        let mut h = Harness::three();
        // A real caller is waiting: it must neither be answered nor hurt.
        h.recv(SRV, 16, 0);
        let srv = h.id(SRV);
        h.send(CLI, srv, 1, b"x", 4, &[]);
        assert_eq!(h.sched(CLI), SchedState::InReply(srv));

        h.reply(SRV, id(i), 0, b"r");
        h.reply_fault(SRV, id(i), ReplyFaultReason::BadLeases as usize);
        assert_eq!(h.sched(SRV), SchedState::Runnable, "index {i}");
        assert_eq!(h.sched(CLI), SchedState::InReply(srv), "index {i}");
        untouched(&h);
    }
}

#[test]
fn reply_recv_to_a_missing_task_skips_the_reply_and_still_receives() {
    for i in missing() {
        let (mut h, srv) = Harness::three_in_call(16, 1, b"x", 4);
        // Both paths: the fast one declines, the general one skips.
        h.stage_reply_recv(SRV, id(i), 0, b"r", 16, 0);
        assert!(!crate::fastpath::reply_recv(&mut h.sys, SRV), "index {i}");
        h.reply_recv(SRV, id(i), 0, b"r", 16, 0);
        assert_eq!(h.sched(SRV), SchedState::InRecv(None), "index {i}");
        assert_eq!(h.sched(CLI), SchedState::InReply(srv), "index {i}");
        untouched_but_waiting(&h);
    }
}

/// As [`untouched`], for a harness where the server waits in `recv` and
/// the client waits for its reply.
fn untouched_but_waiting(h: &Harness) {
    for t in 0..3 {
        assert!(h.task(t).is_healthy(), "task {t}: {:?}", h.task(t).state());
        assert_eq!(h.task(t).notifications(), 0, "task {t}");
    }
}

#[test]
fn borrows_from_a_missing_lender_are_refused() {
    for_each_missing(|h, missing| {
        assert_eq!(
            h.borrow_read(SRV, missing, 0, 0, 0, 4).0,
            BORROW_NOT_LENT,
            "{missing:?}"
        );
        assert_eq!(h.borrow_write(SRV, missing, 0, 0, 0, 4).0, BORROW_NOT_LENT);
        assert_eq!(h.borrow_info(SRV, missing, 0).0, BORROW_NOT_LENT);
    });
}

#[test]
fn post_to_a_missing_task_is_refused() {
    for_each_missing(|h, missing| {
        assert_eq!(h.post(CLI, missing, 1), REFUSED_NO_SUCH_TASK, "{missing:?}");
    });
}

#[test]
fn refreshing_a_missing_task_id_returns_it_unchanged() {
    for i in missing() {
        let mut h = Harness::three();
        let stale = TaskId::new(i, Generation(5));
        h.syscall(CLI, Sysnum::RefreshTaskId, &[stale.0 as usize]);
        assert_eq!(TaskId(h.ret(CLI, 0) as u32), stale, "index {i}");
        untouched(&h);
    }
    // The last real task is refreshed (the boundary on the other side).
    let mut h = Harness::three();
    h.syscall(CLI, Sysnum::RefreshTaskId, &[id(2).0 as usize]);
    assert_eq!(TaskId(h.ret(CLI, 0) as u32), h.id(2));
}

#[test]
fn kipc_on_a_missing_task_is_refused() {
    for i in missing() {
        for op in [Kipc::TaskStatus, Kipc::RestartTask, Kipc::FaultTask] {
            let mut h = Harness::three();
            let (code, _) = h.kipc(SUP, op as u32, Some(u32::from(i)));
            assert_eq!(code, KIPC_NO_SUCH_TASK, "{op:?} on index {i}");
            untouched(&h);
        }
        for op in [Kipc::GrantDevice, Kipc::RevokeDevice] {
            let mut h = Harness::three();
            let code = h.kipc_words(SUP, op, &[u32::from(i), 0, 1]);
            assert_eq!(code, KIPC_NO_SUCH_TASK, "{op:?} on index {i}");
            untouched(&h);
        }
    }
    // The last real task is found.
    let mut h = Harness::three();
    let (code, _) = h.kipc(SUP, Kipc::TaskStatus as u32, Some(2));
    assert_eq!(code, abi::SUCCESS);
}
