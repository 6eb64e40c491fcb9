//! Scheduling: strict priority, ties, nothing to run, faulted tasks, and
//! what `next_task` does besides choosing.

use abi::FaultRecord;

use super::harness::*;
use crate::syscalls::{self, Exception};
use crate::task::SchedState;
use crate::{faults, sched};

/// sup 0, a 1, b 1, c 2.
fn four() -> Harness {
    Harness::new(&[("sup", 0), ("a", 1), ("b", 1), ("c", 2)])
}

#[test]
fn most_important_runnable_task_runs() {
    let mut h = four();
    for current in 0..4 {
        assert_eq!(sched::select_from(h.sys.tasks, current), Some(SUP));
    }
    // The supervisor waits: a and b (priority 1) beat c (priority 2),
    // whoever was running.
    h.recv(SUP, 0, 1);
    assert_eq!(sched::select_from(h.sys.tasks, 3), Some(1));
    // a and b wait too: c, the least important, finally runs.
    h.recv(1, 0, 1);
    h.recv(2, 0, 1);
    assert_eq!(sched::select_from(h.sys.tasks, 0), Some(3));
    // A notification makes b runnable again: it preempts c.
    let b = h.id(2);
    assert_eq!(h.post(3, b, 1), abi::SUCCESS);
    assert_eq!(sched::select_from(h.sys.tasks, 3), Some(2));
}

#[test]
fn equal_priority_keeps_current_else_next_in_table_order() {
    let mut h = four();
    h.recv(SUP, 0, 1);
    // a and b are equally important: the one running keeps the CPU.
    assert_eq!(sched::select_from(h.sys.tasks, 1), Some(1));
    assert_eq!(sched::select_from(h.sys.tasks, 2), Some(2));
    // Coming from c (or the blocked supervisor), the first after it wins.
    assert_eq!(sched::select_from(h.sys.tasks, 3), Some(1));
    assert_eq!(sched::select_from(h.sys.tasks, 0), Some(1));
    // Once b blocks, a runs even from b.
    h.recv(2, 0, 1);
    assert_eq!(sched::select_from(h.sys.tasks, 2), Some(1));
}

#[test]
fn nothing_runnable_selects_none() {
    let mut h = four();
    for t in 0..4 {
        h.recv(t, 0, 1);
    }
    assert_eq!(sched::select_from(h.sys.tasks, 0), None);
    assert_eq!(syscalls::next_task(&mut h.sys, 3), None);
    // And an empty table does not divide by zero.
    assert_eq!(sched::select_from(&[], 0), None);
}

#[test]
fn faulted_and_stopped_tasks_are_never_picked() {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("hi", 1)
        .task("never", 1)
        .stopped()
        .task("lo", 2)
        .build();
    h.recv(SUP, 0, 1);
    assert_eq!(sched::select_from(h.sys.tasks, 2), Some(1));
    syscalls::exception(&mut h.sys, 1, Exception::Illegal(0));
    assert!(!h.task(1).is_healthy());
    // The fault woke the supervisor; it goes back to waiting.
    assert!(h.task(SUP).is(SchedState::Runnable));
    h.recv(SUP, 0, 1);
    // The faulted one (more important than lo) and the stopped one (as
    // important as hi) are both skipped, from any current task.
    for current in 0..4 {
        assert_eq!(sched::select_from(h.sys.tasks, current), Some(3));
    }
    faults::fault_task(&mut h.sys, 3, FaultRecord::default());
    // The supervisor was woken by the fault bit: it runs...
    assert_eq!(sched::select_from(h.sys.tasks, 3), Some(SUP));
    // ...and once it waits again, nothing can run.
    h.recv(SUP, 0, 1);
    assert_eq!(sched::select_from(h.sys.tasks, 3), None);
}

#[test]
fn next_task_announces_each_start_once_and_protects_its_regions() {
    let mut h = Harness::three();
    assert_eq!(syscalls::next_task(&mut h.sys, 0), Some(SUP));
    assert_eq!(
        h.sys.machine.protected.last().unwrap().as_slice(),
        h.task(SUP).regions()
    );
    assert_eq!(h.console(), "[   0.000000] kernel: task sup started\n");
    // Running it again says nothing new, and leaves the protection as it is.
    assert_eq!(syscalls::next_task(&mut h.sys, 0), Some(SUP));
    assert_eq!(h.console().matches("started").count(), 1);
    assert_eq!(h.sys.machine.protected.len(), 1);

    h.recv(SUP, 0, 1);
    assert_eq!(syscalls::next_task(&mut h.sys, 0), Some(1));
    assert!(h.console().ends_with("kernel: task srv started\n"));
    assert_eq!(
        h.sys.machine.protected.last().unwrap().as_slice(),
        h.task(1).regions()
    );

    // A restart is announced again, with the generation.
    syscalls::exception(&mut h.sys, 1, Exception::Breakpoint);
    h.restart(1);
    assert_eq!(syscalls::next_task(&mut h.sys, 0), Some(SUP));
    h.recv(SUP, 0, 1);
    assert_eq!(syscalls::next_task(&mut h.sys, 0), Some(1));
    assert!(
        h.console()
            .ends_with("kernel: task srv started (generation 1)\n"),
        "{}",
        h.console()
    );
}

#[test]
fn task_set_visits_exactly_its_members_in_any_range() {
    use crate::sched::TaskSet;
    let mut rand = xorshift(0x9e37_79b9_7f4a_7c15u64);
    let max = abi::TaskId::MAX_TASKS;
    for _ in 0..200 {
        let mut set = TaskSet::default();
        let mut model = vec![false; max];
        for _ in 0..rand(150) {
            let i = rand(max);
            let member = rand(4) != 0;
            set.set(i, member);
            model[i] = member;
        }
        for (i, &m) in model.iter().enumerate() {
            assert_eq!(set.contains(i), m, "member {i}");
        }
        // Indices beyond the set are never members and setting them is
        // ignored.
        set.set(max + 40, true);
        assert!(!set.contains(max + 40));
        for _ in 0..20 {
            let lo = rand(max + 10);
            let hi = rand(max + 40);
            let mut seen = Vec::new();
            set.for_each_in(lo, hi, |i| seen.push(i));
            let want: Vec<usize> = (lo..hi.min(max)).filter(|&i| model[i]).collect();
            assert_eq!(seen, want, "range {lo}..{hi}");
        }
    }
}

/// A table wider than one bitmap word, with priorities spread over the
/// whole 0..=255 range (so over several level words): random blocking,
/// waking, faults and restarts, with every choice checked against `select`
/// inside the scheduler (and the bitmaps against the table).
#[test]
fn a_wide_table_with_high_priorities_agrees_with_select() {
    let mut rand = xorshift(0x0123_4567_89ab_cdefu64);
    const N: usize = 70;
    let names: Vec<&'static str> = (0..N)
        .map(|i| &*Box::leak(format!("t{i}").into_boxed_str()))
        .collect();
    let mut b = Builder::default().task("sup", 0);
    for (i, name) in names.iter().enumerate().skip(1) {
        // Ties (i % 5) and priorities in every level word.
        b = b.task(name, [255, 31, 32, 200, 64][i % 5] - (i % 3) as u8);
    }
    let mut h = b.build();
    let mut current = syscalls::next_task(&mut h.sys, 0).unwrap();
    let mut ran = std::collections::BTreeSet::new();
    for _ in 0..3000 {
        let t = rand(N);
        match rand(4) {
            0 | 1 if h.task(current).is_runnable() => h.recv(current, 0, 1),
            0 | 1 => crate::notify::post_bits(&mut h.sys, t, 1),
            2 if t != SUP && h.task(t).is_healthy() && rand(8) == 0 => {
                faults::fault_task(&mut h.sys, t, FaultRecord::default())
            }
            3 if t != SUP && !h.task(t).is_healthy() => {
                let _ = faults::restart_task(&mut h.sys, t);
            }
            _ => crate::notify::post_bits(&mut h.sys, t, 1),
        }
        h.sys.sched.assert_consistent(h.sys.tasks);
        match syscalls::next_task(&mut h.sys, current) {
            Some(next) => {
                ran.insert(next);
                current = next;
            }
            None => {
                // Nothing runnable: the supervisor is woken (an interrupt
                // would do it on the machine).
                crate::notify::post_bits(&mut h.sys, SUP, 1);
            }
        }
    }
    assert!(
        ran.iter().any(|&i| i >= 32) && ran.len() > 20,
        "the test never ran tasks in the second bitmap word: {ran:?}"
    );
}

#[test]
fn a_tie_that_includes_task_zero_wraps_around_from_the_levels_cursor() {
    // Task 0 ties with task 2: going round from task 3 the order is 3, 0,
    // 1, 2, so task 0 wins; from 1 it is 1, 2, ..., so task 2 does.
    let h = Harness::new(&[("sup", 1), ("a", 5), ("b", 1), ("c", 5)]);
    for (cursor, want) in [(3, 0), (1, 2), (2, 2), (0, 0)] {
        let mut cursors = [0; 256];
        cursors[1] = cursor;
        assert_eq!(
            sched::select(h.sys.tasks, &cursors),
            Some(want),
            "from {cursor}"
        );
    }
}

/// Equals take turns: a turn ends when a task blocks (here calling a
/// server, or waiting for work), not when a more important task preempts
/// it. Going round from the task that trapped (the server that answered,
/// the stack that preempted) put the echo first every time: busy with bulk
/// transfers, calling the stack at every step, it kept the page server
/// from running at all.
#[test]
fn a_turn_ends_when_a_task_blocks_not_when_it_is_preempted() {
    // The stack (1) outranks the echo (2) and the page server (3), which
    // are equally important.
    let mut h = Harness::new(&[("sup", 0), ("net", 3), ("echo", 5), ("http", 5)]);
    h.recv(SUP, 0, 1);
    h.recv(1, 64, 1);
    h.recv(3, 0, 1);
    assert_eq!(syscalls::next_task(&mut h.sys, 2), Some(2));
    // The page server wakes: the echo's turn goes on.
    crate::notify::post_bits(&mut h.sys, 3, 1);
    assert_eq!(chosen(&mut h, 2).0, Some(2));
    // The echo calls the stack: its turn ends there ...
    let net = h.id(1);
    h.send(2, net, 0, b"", 0, &[]);
    assert_eq!(chosen(&mut h, 2).0, Some(1));
    // ... so when the stack answers and waits, the page server goes first.
    let echo = h.id(2);
    h.reply(1, echo, 0, b"");
    h.recv(1, 64, 1);
    assert_eq!(chosen(&mut h, 1).0, Some(3), "the page server's turn");
    // A frame: the stack preempts the page server, then waits again; the
    // page server's turn goes on.
    crate::notify::post_bits(&mut h.sys, 1, 1);
    assert_eq!(chosen(&mut h, 3).0, Some(1));
    h.recv(1, 64, 1);
    assert_eq!(chosen(&mut h, 1).0, Some(3), "preempted, not blocked");
    // It waits for work: the echo's turn.
    h.recv(3, 0, 1);
    assert_eq!(chosen(&mut h, 3).0, Some(2));
}

/// Runs the scheduler as the trap handler does after a trap by `t`; returns
/// its choice and how many full choices and scans that took.
fn chosen(h: &mut Harness, t: usize) -> (Option<usize>, u32, u32) {
    let before = h.sys.sched.choices();
    let next = syscalls::after_trap(&mut h.sys, t);
    let after = h.sys.sched.choices();
    (
        next,
        after.full.wrapping_sub(before.full),
        after.scans.wrapping_sub(before.scans),
    )
}

/// The common hand-overs of a call cost no scan of the runnable tasks
/// (and most no full choice at all); the scan is left for a task blocking
/// with nothing more important woken.
#[test]
fn the_common_choices_take_no_scan() {
    let mut h = super::fastpath::ready_for_a_call();
    let (srv, cli) = (h.id(SRV), h.id(CLI));
    // A call to a waiting server: the fast path hands the CPU over.
    h.send(CLI, srv, 1, b"hi", 8, &[]);
    assert_eq!(chosen(&mut h, CLI), (Some(SRV), 0, 0), "send to a receiver");
    // A syscall that blocks and wakes no one: the caller runs on.
    h.syscall(SRV, abi::Sysnum::GetTimer, &[]);
    assert_eq!(chosen(&mut h, SRV), (Some(SRV), 0, 0), "get_timer");
    // A reply wakes the less important client: the server runs on.
    h.reply(SRV, cli, 0, b"ok");
    assert_eq!(chosen(&mut h, SRV), (Some(SRV), 1, 0), "reply");
    // The server waits again with nothing woken: only now a scan.
    h.recv(SRV, 64, 0);
    assert_eq!(
        chosen(&mut h, SRV),
        (Some(CLI), 1, 1),
        "recv, nothing woken"
    );
    // The next call, answered with reply_recv: handed back, no choice.
    h.send(CLI, srv, 2, b"again", 8, &[]);
    assert_eq!(chosen(&mut h, CLI), (Some(SRV), 0, 0), "send again");
    h.reply_recv(SRV, cli, 0, b"ok", 64, 0);
    assert_eq!(chosen(&mut h, SRV), (Some(CLI), 0, 0), "reply_recv");
    // An interrupt's notification wakes the supervisor, more important:
    // it runs.
    crate::notify::post_bits(&mut h.sys, SUP, 1);
    assert_eq!(chosen(&mut h, CLI), (Some(SUP), 1, 0), "notification");
    // A next_task that finds the chosen task still running does not scan.
    assert_eq!(syscalls::next_task(&mut h.sys, SUP), Some(SUP));
    assert_eq!(
        h.sys.sched.choices().scans,
        2,
        "the first choice and the recv"
    );
}

/// Two tasks woken by the same timer interrupt: the more important runs
/// without a scan, whichever woke first; two equally important ones are a
/// tie, which only the scan breaks (here in favour of the first in table
/// order: no task of their level has had a turn, so the round starts at
/// task 0).
#[test]
fn tasks_woken_together_need_a_scan_only_for_a_tie() {
    // Priorities of tasks 1 and 3; task 2 (priority 2) runs.
    let woken = |p1: u8, p3: u8| {
        let mut h = Harness::new(&[("sup", 0), ("x", p1), ("c", 2), ("y", p3)]);
        h.recv(SUP, 0, 1);
        for t in [1, 3] {
            h.set_timer(t, Some(100), 1);
            h.recv(t, 0, 1);
        }
        assert_eq!(syscalls::next_task(&mut h.sys, 2), Some(2));
        h.sys.machine.now = 100;
        crate::notify::service_timers(&mut h.sys);
        chosen(&mut h, 2)
    };
    assert_eq!(
        woken(1, 0),
        (Some(3), 1, 0),
        "the second woken is more important"
    );
    assert_eq!(
        woken(0, 1),
        (Some(1), 1, 0),
        "the first woken is more important"
    );
    assert_eq!(woken(1, 1), (Some(1), 1, 1), "a tie");
}

/// The fast path reports the task it wakes even when it does not hand the
/// CPU over: here another wake (a notification to a task less important
/// than the client) is still pending when the client's call wakes the
/// server, and the choice then takes the server without a scan.
#[test]
fn a_fast_send_after_another_wake_still_reports_the_server() {
    let (mut h, srv) = Harness::four_and_server();
    h.recv(SUP, 0, 1);
    h.recv(SRV, 64, 0);
    h.recv(3, 0, 1);
    assert_eq!(syscalls::next_task(&mut h.sys, CLI), Some(CLI));
    crate::notify::post_bits(&mut h.sys, 3, 1);
    h.stage_send(CLI, srv, 1, b"hi", 8, &[]);
    assert!(crate::fastpath::send(&mut h.sys, CLI), "fast path declined");
    assert_eq!(chosen(&mut h, CLI), (Some(SRV), 1, 0));
}

/// The reply's hand-back looks at every runnable task, in every word of
/// the bitmap: in a 70-task system a task at index 65 that is more
/// important than the client keeps the CPU from it, and one that is less
/// important does not stop the hand-back.
#[test]
fn the_hand_back_sees_runnable_tasks_in_every_bitmap_word() {
    const N: usize = 70;
    const FAR: usize = 65;
    let after_reply = |far_priority: u8| {
        let mut b = Builder::default()
            .task("sup", 0)
            .task("srv", 40)
            .task("cli", 200);
        for i in 3..N {
            let name = &*Box::leak(format!("t{i}").into_boxed_str());
            b = b.task(name, if i == FAR { far_priority } else { 255 });
        }
        let mut h = b.build();
        for t in [SUP, SRV].into_iter().chain(3..N) {
            h.recv(t, 64, if t == FAR { 1 } else { 0 });
        }
        assert_eq!(syscalls::next_task(&mut h.sys, CLI), Some(CLI));
        let srv = h.id(SRV);
        h.send(CLI, srv, 1, b"q", 8, &[]);
        assert_eq!(chosen(&mut h, CLI), (Some(SRV), 0, 0));
        // The far task wakes while the server works; the server runs on.
        crate::notify::post_bits(&mut h.sys, FAR, 1);
        assert_eq!(chosen(&mut h, SRV).0, Some(SRV));
        let cli = h.id(CLI);
        h.reply_recv(SRV, cli, 0, b"a", 64, 0);
        chosen(&mut h, SRV)
    };
    assert_eq!(after_reply(100), (Some(FAR), 1, 1), "more important");
    assert_eq!(after_reply(250), (Some(CLI), 0, 0), "less important");
}
