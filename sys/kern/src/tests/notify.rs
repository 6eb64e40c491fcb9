//! Notifications: post, recv masks, timers and interrupts.

use abi::{dead_code, Generation, Sysnum, TaskId, UsageError, REFUSED_NO_SUCH_TASK, SUCCESS};

use super::harness::*;
use crate::notify;
use crate::syscalls::{self, Exception};
use crate::task::SchedState;

#[test]
fn pending_notifications_come_before_waiting_messages() {
    let (mut h, srv) = Harness::three_and_server();
    assert_eq!(h.post(CLI, srv, 0b101), SUCCESS);
    h.send(CLI, srv, 4, b"msg", 0, &[]);
    assert_eq!(h.sched(CLI), SchedState::InSend(srv));

    h.recv(SRV, 16, 0b001);
    let m = h.received(SRV);
    assert_eq!(m.sender, TaskId::KERNEL);
    assert_eq!(m.op, 0b001);
    assert_eq!((m.len, m.reply_cap, m.leases), (0, 0, 0));
    // The masked-out bit is still pending, and the sender still waits.
    assert_eq!(h.task(SRV).notifications(), 0b100);
    assert_eq!(h.sched(CLI), SchedState::InSend(srv));
    assert_eq!(h.read(SRV, RECV_BUF, 3), [0; 3]);

    // A recv that does not select it gets the message.
    h.recv(SRV, 16, 0b010);
    assert_eq!(h.received(SRV).sender, h.id(CLI));
    assert_eq!(h.read(SRV, RECV_BUF, 3), b"msg");
    assert_eq!(h.task(SRV).notifications(), 0b100);

    // And a later recv selecting it gets the bit.
    let cli = h.id(CLI);
    h.reply(SRV, cli, 0, b"");
    h.recv(SRV, 16, 0xFFFF_FFFF);
    assert_eq!(h.received(SRV).sender, TaskId::KERNEL);
    assert_eq!(h.received(SRV).op, 0b100);
    assert_eq!(h.task(SRV).notifications(), 0);
}

#[test]
fn post_wakes_a_receiver_only_when_its_mask_matches() {
    let mut h = Harness::three();
    h.recv(SRV, 16, 0b10);
    let srv = h.id(SRV);
    assert_eq!(h.post(CLI, srv, 0b01), SUCCESS);
    assert_eq!(h.sched(SRV), SchedState::InRecv(None));
    assert_eq!(h.task(SRV).notifications(), 0b01);

    assert_eq!(h.post(CLI, srv, 0b110), SUCCESS);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.received(SRV).sender, TaskId::KERNEL);
    assert_eq!(h.received(SRV).op, 0b10);
    assert_eq!(h.task(SRV).notifications(), 0b101);
    // The woken server now preempts the poster.
    assert_eq!(syscalls::next_task(&mut h.sys, CLI), Some(SUP));
    h.recv(SUP, 0, 1);
    assert_eq!(syscalls::next_task(&mut h.sys, CLI), Some(SRV));
}

#[test]
fn post_to_a_stale_or_missing_task() {
    let mut h = Harness::three();
    let old = h.id(SRV);
    syscalls::exception(&mut h.sys, SRV, Exception::Illegal(0));
    h.restart(SRV);
    assert_eq!(h.post(CLI, old, 1), dead_code(Generation(1)));
    assert_eq!(h.task(SRV).notifications(), 0);
    assert_eq!(h.post(CLI, TaskId(7), 1), REFUSED_NO_SUCH_TASK);
    let now = h.id(SRV);
    assert_eq!(h.post(CLI, now, 1), SUCCESS);
    assert_eq!(h.task(SRV).notifications(), 1);
}

#[test]
fn timer_with_a_past_deadline_fires_at_once() {
    let mut h = Harness::three();
    h.sys.machine.now = 1_000;
    h.set_timer(SRV, Some(500), 0b100);
    assert_eq!(h.task(SRV).notifications(), 0b100);
    assert_eq!(h.task(SRV).timer(), None);
    assert_eq!(h.sys.machine.deadline, None);
    // A deadline of exactly now fires too.
    h.set_timer(SRV, Some(1_000), 0b1000);
    assert_eq!(h.task(SRV).notifications(), 0b1100);
}

#[test]
fn service_timers_fires_expired_timers_and_reprograms_the_earliest() {
    let mut h = Harness::three();
    h.set_timer(SRV, Some(5_000), 0b01);
    assert_eq!(h.sys.machine.deadline, Some(5_000));
    h.set_timer(CLI, Some(3_000), 0b10);
    assert_eq!(h.sys.machine.deadline, Some(3_000));
    h.recv(SRV, 16, 0b01);

    h.sys.machine.now = 2_999;
    notify::service_timers(&mut h.sys);
    assert_eq!(h.task(CLI).notifications(), 0);
    assert_eq!(h.sys.machine.deadline, Some(3_000));

    h.sys.machine.now = 3_000;
    notify::service_timers(&mut h.sys);
    assert_eq!(h.task(CLI).notifications(), 0b10);
    assert_eq!(h.task(CLI).timer(), None);
    assert_eq!(h.sched(SRV), SchedState::InRecv(None));
    assert_eq!(h.sys.machine.deadline, Some(5_000));

    h.sys.machine.now = 7_000;
    notify::service_timers(&mut h.sys);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.received(SRV).sender, TaskId::KERNEL);
    assert_eq!(h.received(SRV).op, 0b01);
    assert_eq!(h.sys.machine.deadline, None);
}

#[test]
fn disarming_a_timer_stops_it() {
    let mut h = Harness::three();
    h.set_timer(SRV, Some(100), 1);
    h.set_timer(CLI, Some(200), 2);
    h.set_timer(SRV, None, 0);
    assert_eq!(h.task(SRV).timer(), None);
    assert_eq!(h.sys.machine.deadline, Some(200));
    h.sys.machine.now = 1_000;
    notify::service_timers(&mut h.sys);
    assert_eq!(h.task(SRV).notifications(), 0);
    assert_eq!(h.task(CLI).notifications(), 2);
}

#[test]
fn get_timer_reports_now_deadline_and_bits() {
    let mut h = Harness::three();
    h.sys.machine.now = 0x2_0000_0005;
    h.syscall(SRV, Sysnum::GetTimer, &[]);
    assert_eq!(
        (0..6).map(|n| h.ret(SRV, n)).collect::<Vec<_>>(),
        [5, 2, 0, 0, 0, 0]
    );
    h.set_timer(SRV, Some(0x3_0000_0010), 0x80);
    assert_eq!(h.sys.machine.deadline, Some(0x3_0000_0010));
    h.syscall(SRV, Sysnum::GetTimer, &[]);
    assert_eq!(
        (0..6).map(|n| h.ret(SRV, n)).collect::<Vec<_>>(),
        [5, 2, 0x10, 3, 1, 0x80]
    );
}

#[test]
fn a_faulted_tasks_timer_is_dropped() {
    let mut h = Harness::three();
    h.set_timer(SRV, Some(100), 1);
    syscalls::exception(&mut h.sys, SRV, Exception::Breakpoint);
    assert_eq!(h.task(SRV).timer(), None);
    h.sys.machine.now = 200;
    notify::service_timers(&mut h.sys);
    assert_eq!(h.task(SRV).notifications(), 0);
    assert_eq!(h.sys.machine.deadline, None);
}

/// srv owns IRQ 33 on bit 1 and IRQ 34 on bit 2; cli owns IRQ 40 on bit 0.
fn with_irqs() -> Harness {
    Builder::three()
        .irq(33, SRV as u16, 0b010)
        .irq(34, SRV as u16, 0b100)
        .irq(40, CLI as u16, 0b001)
        .build()
}

#[test]
fn interrupt_posts_the_routed_bits_and_masks_the_source() {
    let mut h = with_irqs();
    // Every source starts enabled.
    assert_eq!(
        h.sys.machine.irq_calls,
        [(33, true), (34, true), (40, true)]
    );
    h.sys.machine.irq_calls.clear();
    h.recv(SRV, 16, 0b010);
    notify::interrupt(&mut h.sys, 33);
    assert_eq!(h.sys.machine.irq_calls, [(33, false)]);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.received(SRV).sender, TaskId::KERNEL);
    assert_eq!(h.received(SRV).op, 0b010);
    // Another task's IRQ leaves srv alone.
    notify::interrupt(&mut h.sys, 40);
    assert_eq!(h.task(CLI).notifications(), 0b001);
    assert_eq!(h.task(SRV).notifications(), 0);
    // An unrouted source is just masked.
    notify::interrupt(&mut h.sys, 99);
    assert_eq!(h.sys.machine.irq_calls.last(), Some(&(99, false)));
}

#[test]
fn irq_control_reenables_only_the_callers_sources() {
    let mut h = with_irqs();
    notify::interrupt(&mut h.sys, 33);
    h.sys.machine.irq_calls.clear();
    h.syscall(SRV, Sysnum::IrqControl, &[0b010, 1]);
    assert_eq!(h.sys.machine.irq_calls, [(33, true)]);
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    h.syscall(SRV, Sysnum::IrqControl, &[0b110, 0]);
    assert_eq!(
        h.sys.machine.irq_calls,
        [(33, true), (33, false), (34, false)]
    );
}

#[test]
fn irq_control_on_bits_without_an_irq_faults() {
    let mut h = with_irqs();
    h.sys.machine.irq_calls.clear();
    h.syscall(SRV, Sysnum::IrqControl, &[0b1000, 1]);
    h.assert_usage_fault(SRV, UsageError::NoIrqForBits);
    // Another task's IRQ bits are not the caller's either.
    h.syscall(CLI, Sysnum::IrqControl, &[0b010, 1]);
    h.assert_usage_fault(CLI, UsageError::NoIrqForBits);
    assert!(h.sys.machine.irq_calls.is_empty());
}

/// sup (0), drv (1, IRQ 40 on bit 0, bit 2 postable), cli (2, drv in its
/// slots), helper (3, cli may post to it, bit 1 postable), other (4, no
/// slots or posts).
fn post_rights() -> Harness {
    Builder::default()
        .task("sup", 0)
        .task("drv", 1)
        .slots(&[0])
        .postable(0b100)
        .task("cli", 2)
        .slots(&[0, 1])
        .posts(&[3])
        .task("helper", 3)
        .slots(&[0])
        .postable(0b10)
        .task("other", 4)
        .slots(&[])
        .irq(40, 1, 0b1)
        .build()
}

#[test]
fn post_reaches_slots_and_posts_with_postable_bits_only() {
    let mut h = post_rights();
    let (drv, helper) = (h.id(1), h.id(3));
    assert_eq!(h.post(2, drv, 0b100), SUCCESS, "a slot, a postable bit");
    assert_eq!(h.task(1).notifications(), 0b100);
    assert_eq!(h.post(2, helper, 0b10), SUCCESS, "listed in `posts`");
    assert_eq!(h.task(3).notifications(), 0b10);
    // Bits the target did not declare are refused, and nothing is posted.
    assert_eq!(h.post(2, drv, 0b1000), abi::REFUSED_POST_BITS);
    assert_eq!(h.post(2, drv, 0b1100), abi::REFUSED_POST_BITS);
    assert_eq!(h.post(2, helper, 0b100), abi::REFUSED_POST_BITS);
    assert_eq!(h.task(1).notifications(), 0b100);
    assert_eq!(h.task(3).notifications(), 0b10);
}

#[test]
fn post_to_a_task_outside_slots_and_posts_is_refused() {
    let mut h = post_rights();
    let (drv, cli, helper) = (h.id(1), h.id(2), h.id(3));
    assert_eq!(h.post(4, drv, 0b100), abi::REFUSED_POST_TARGET);
    assert_eq!(h.post(4, helper, 0b10), abi::REFUSED_POST_TARGET);
    assert_eq!(h.post(3, cli, 0b1), abi::REFUSED_POST_TARGET, "no way back");
    assert_eq!(h.task(1).notifications(), 0);
    assert_eq!(h.task(2).notifications(), 0);
    assert_eq!(h.task(3).notifications(), 0);
    assert_eq!(h.sched(4), SchedState::Runnable, "a refusal, not a fault");
}

#[test]
fn irq_bits_and_the_fault_bit_are_the_kernels_alone() {
    let mut h = post_rights();
    let (sup, drv) = (h.id(0), h.id(1));
    // Not even a task allowed to post to the supervisor can fake a fault.
    assert_eq!(
        h.post(2, sup, abi::SUPERVISOR_FAULT_BIT),
        abi::REFUSED_POST_BITS
    );
    assert_eq!(h.task(0).notifications(), 0);
    // The supervisor may post any bit a driver has, but not its IRQ's.
    assert_eq!(h.post(0, drv, 0b1), abi::REFUSED_POST_BITS);
    assert_eq!(h.post(0, drv, 0b1010), SUCCESS, "remove/probe bits");
    assert_eq!(h.task(1).notifications(), 0b1010);
    // A granted device's IRQ bit is protected the same way.
    let other = h.id(4);
    assert_eq!(
        h.kipc_words(0, abi::Kipc::GrantDevice, &[4, 1, 0b1000]),
        SUCCESS
    );
    assert_eq!(h.post(0, other, 0b1000), abi::REFUSED_POST_BITS);
    assert_eq!(h.post(0, other, 0b0100), SUCCESS);
    assert_eq!(h.task(4).notifications(), 0b0100);
}

#[test]
fn two_interrupts_sharing_one_bit_keep_it_the_kernels() {
    // app.toml may route two sources to the same notification bit of a
    // task (one handler for both): the bit is an interrupt bit once, not
    // cancelled out by the second route.
    let mut h = Builder::default()
        .task("sup", 0)
        .task("drv", 1)
        .irq(5, 1, 0b1)
        .irq(6, 1, 0b1)
        .irq(7, 1, 0b100)
        .build();
    assert_eq!(crate::notify::irq_bits(&h.sys, 1), 0b101);
    let drv = h.id(1);
    assert_eq!(h.post(0, drv, 0b1), abi::REFUSED_POST_BITS);
    assert_eq!(h.post(0, drv, 0b10), SUCCESS);
    // Either source wakes it on that bit.
    h.recv(1, 0, 0b1);
    crate::notify::interrupt(&mut h.sys, 6);
    assert_eq!(h.ret(1, 1), 0b1);
}
