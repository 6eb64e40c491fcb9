//! Random syscalls and events against the invariants the kernel promises:
//! it never panics because of a task, nobody waits on an incarnation that
//! cannot answer, IPC only flows up, the hardware timer never fires later
//! than an armed deadline, no task can put a control character, a bidi
//! format character or a byte that is not UTF-8 on the console, and a
//! blocked task runs again only with what ends its wait (a message, a
//! notification, a reply or a kernel code). One run picks any runnable
//! task to trap; another lets only the task the scheduler chose trap,
//! with time passing, budgets, shares and the timer.

use abi::{Generation, Lease, Sysnum, TaskId};
use zerocopy::IntoBytes;

use super::harness::*;
use crate::syscalls::{self, Exception};
use crate::task::{SchedState, TaskState};
use crate::{faults, notify};

/// xorshift64*: deterministic, so a failure reproduces.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A register value with a good chance of meaning something to the kernel.
fn arg(r: &mut Rng, h: &Harness, t: usize, foreign: usize) -> usize {
    let n = h.mem.len();
    let any = r.below(n);
    match r.below(14) {
        0 => 0,
        1 => 1,
        2 => usize::MAX,
        3 => u32::MAX as usize,
        4 | 5 => h.addr(t, r.below(RAM_SIZE)),
        6 => h.mem[t].text + r.below(TEXT_SIZE),
        7 => h.addr(any, r.below(RAM_SIZE)),
        8 => foreign + r.below(64),
        9 => abi::send_op_leases(r.below(4) as u16, r.below(10)) as usize,
        10 => h.id(any).0 as usize,
        11 => TaskId::new(any as u16, abi::Generation(r.below(3) as u16)).0 as usize,
        12 => r.below(64),
        _ => r.next() as usize,
    }
}

/// Arguments shaped like a correct call of syscall `num` from `t`: its
/// own memory, small lengths, real task ids.
fn well_formed(
    r: &mut Rng,
    h: &Harness,
    t: usize,
    num: usize,
    caller: Option<TaskId>,
) -> [usize; 7] {
    let n = h.mem.len();
    let id = |r: &mut Rng| h.id(r.below(n)).0 as usize;
    // The task that last called us, as a server would remember it.
    let peer = |r: &mut Rng| match caller {
        Some(c) if r.below(5) != 0 => c.0 as usize,
        _ => id(r),
    };
    let own = |r: &mut Rng| h.addr(t, DATA + r.below(0x400));
    let len = |r: &mut Rng| r.below(0x40);
    match Sysnum::from_u32(num as u32) {
        Some(Sysnum::Send) => [
            // Mostly up the priority order, sometimes anywhere.
            if t > 0 && r.below(4) != 0 {
                h.id(r.below(t)).0 as usize
            } else {
                id(r)
            },
            own(r),
            len(r),
            own(r),
            len(r),
            h.addr(t, LEASE_TABLE),
            abi::send_op_leases(r.below(8) as u16, r.below(3)) as usize,
        ],
        Some(Sysnum::Recv) => [
            own(r),
            len(r),
            r.below(8) | (r.below(4) != 0) as usize,
            match r.below(6) {
                0 | 1 => id(r),
                2 => TaskId::KERNEL.0 as usize,
                _ => abi::RECV_OPEN as usize,
            },
            0,
            0,
            0,
        ],
        Some(Sysnum::Reply) => [peer(r), r.below(4), own(r), len(r), 0, 0, 0],
        Some(Sysnum::BorrowRead | Sysnum::BorrowWrite) => {
            [peer(r), r.below(5), r.below(0x40), own(r), len(r), 0, 0]
        }
        Some(Sysnum::BorrowInfo | Sysnum::ReplyFault) => [peer(r), r.below(5), 0, 0, 0, 0, 0],
        Some(Sysnum::Post) => [id(r), r.below(8), 0, 0, 0, 0, 0],
        Some(Sysnum::SetTimer) => [
            r.below(2),
            h.sys.machine.now as usize + r.below(3_000),
            0,
            r.below(8),
            0,
            0,
            0,
        ],
        Some(Sysnum::Kipc) => [r.below(6), h.addr(t, MSG_OUT), 4, own(r), 64, 0, 0],
        Some(Sysnum::Log) => [own(r), len(r), 0, 0, 0, 0, 0],
        _ => [r.below(8), r.below(2), 0, 0, 0, 0, 0],
    }
}

/// A lease table of random entries at `LEASE_TABLE` of task `t`.
fn scribble_leases(r: &mut Rng, h: &mut Harness, t: usize, foreign: usize) {
    let leases: Vec<Lease> = (0..4)
        .map(|_| Lease {
            attributes: 1 + r.below(3) as u32,
            base: match r.below(8) {
                0 => foreign as u32,
                1 => h.mem[t].text as u32,
                _ => h.addr(t, DATA + r.below(0x200)) as u32,
            },
            len: r.below(0x300) as u32,
        })
        .collect();
    h.write(t, LEASE_TABLE, leases.as_bytes());
}

/// A run's start: every task's lease table scribbled over. Returns the
/// foreign address the arguments aim at, and whom each task serves (no
/// one yet).
fn begin(r: &mut Rng, h: &mut Harness) -> (usize, Vec<Option<TaskId>>) {
    let foreign = foreign(0x100);
    let n = h.mem.len();
    for t in 0..n {
        scribble_leases(r, h, t, foreign);
    }
    (foreign, vec![None; n])
}

fn check_invariants(h: &Harness, step: usize, console_checked: &mut usize, strict: bool) {
    let n = h.sys.tasks.len();
    if strict {
        // Closed receives, too, must never wait on a dead incarnation.
        for i in 0..n {
            if let TaskState::Healthy(SchedState::InRecv(Some(t))) = h.task(i).state() {
                if t == TaskId::KERNEL {
                    continue; // waiting for notifications only
                }
                let j = t.index();
                assert!(
                    j < n && h.task(j).is_healthy() && h.id(j) == t,
                    "step {step}: task {i} in a closed recv on dead {t:?}"
                );
            }
        }
    }
    for i in 0..n {
        if let TaskState::Healthy(SchedState::InSend(t) | SchedState::InReply(t)) =
            h.task(i).state()
        {
            let j = t.index();
            assert!(j < n && j != i, "step {step}: task {i} waits on {t:?}");
            assert!(
                h.task(j).is_healthy() && h.id(j) == t,
                "step {step}: task {i} waits on {t:?}, which is {:?} at {:?}",
                h.task(j).state(),
                h.id(j)
            );
            assert!(
                h.task(j).is_more_important_than(h.task(i)),
                "step {step}: task {i} waits on less important {j}"
            );
        }
    }
    if let Some(earliest) = h
        .sys
        .tasks
        .iter()
        .filter_map(|t| t.timer())
        .map(|(d, _)| d)
        .min()
    {
        let hw = h.sys.machine.deadline;
        assert!(
            hw.is_some_and(|d| d <= earliest),
            "step {step}: timer armed for {earliest} but hardware set for {hw:?}"
        );
    }
    let console = &h.sys.machine.console[*console_checked..];
    let text = core::str::from_utf8(console)
        .unwrap_or_else(|e| panic!("step {step}: the console is not UTF-8: {e}"));
    assert!(
        !text.chars().any(|c| c != '\n' && abi::acts_on_terminal(c)),
        "step {step}: a control or bidi format character on the console: {text:?}"
    );
    *console_checked = h.sys.machine.console.len();
}

fn run(seed: u64, steps: usize, strict: bool) -> Stats {
    let mut r = Rng(seed);
    let mut h = Builder::default()
        .task("sup", 0)
        .task("srv", 1)
        .task("mid", 2)
        .slots(&[0, 1])
        .task("cli", 3)
        .task("low", 3)
        .irq(5, 1, 0b10)
        .irq(6, 2, 0b100)
        .build();
    let (foreign, mut caller) = begin(&mut r, &mut h);
    let n = h.mem.len();
    let mut console_checked = 0;
    let mut stats = Stats::default();
    for step in 0..steps {
        let mut step_recv = None;
        let before: Vec<TaskState> = h.sys.tasks.iter().map(|t| t.state()).collect();
        let generations: Vec<_> = h.sys.tasks.iter().map(|t| t.generation()).collect();
        match r.below(20) {
            // Events from outside the tasks.
            0 => notify::interrupt(&mut h.sys, 4 + r.below(4) as u32),
            1 => {
                h.sys.machine.now += r.below(2_000) as u64;
                notify::service_timers(&mut h.sys);
            }
            2 => {
                let t = r.below(n);
                let e = match r.below(4) {
                    0 => Exception::Load(arg(&mut r, &h, t, foreign)),
                    1 => Exception::Store(arg(&mut r, &h, t, foreign)),
                    2 => Exception::Illegal(r.next() as usize),
                    _ => Exception::Breakpoint,
                };
                if t != SUP && h.task(t).is(SchedState::Runnable) {
                    syscalls::exception(&mut h.sys, t, e);
                }
            }
            3 => {
                let t = 1 + r.below(n - 1);
                if !h.task(t).is_healthy() || r.below(4) == 0 {
                    let _ = faults::restart_task(&mut h.sys, t);
                }
            }
            4 => {
                let t = r.below(n);
                scribble_leases(&mut r, &mut h, t, foreign);
            }
            // A runnable task makes a syscall with plausible garbage.
            _ => {
                let runnable: Vec<usize> = (0..n)
                    .filter(|&t| h.task(t).is(SchedState::Runnable))
                    .collect();
                if runnable.is_empty() {
                    // Everyone waits (a server that never replies is a fine
                    // thing for a fuzzer to be): nudge someone.
                    stats.idle += 1;
                    let dead: Vec<usize> = (1..n).filter(|&t| !h.task(t).is_healthy()).collect();
                    let t = r.below(n);
                    if !dead.is_empty() && r.below(4) != 0 {
                        let _ = faults::restart_task(&mut h.sys, dead[r.below(dead.len())]);
                    } else if t != SUP && r.below(3) == 0 {
                        let _ = faults::restart_task(&mut h.sys, t);
                    } else {
                        notify::post_bits(&mut h.sys, t, !0);
                    }
                    check_invariants(&h, step, &mut console_checked, strict);
                    continue;
                }
                let t = runnable[r.below(runnable.len())];
                let num = match r.below(20) {
                    _ if t == SUP && r.below(4) == 0 => Sysnum::Kipc as usize,
                    _ if caller[t]
                        .is_some_and(|c| h.task(c.index()).is(SchedState::InReply(h.id(t))))
                        && r.below(3) == 0 =>
                    {
                        Sysnum::BorrowRead as usize + r.below(3)
                    }
                    0 if r.below(4) == 0 => r.next() as usize,
                    1..=5 => Sysnum::Send as usize,
                    6..=10 => Sysnum::Recv as usize,
                    11..=13 => Sysnum::Reply as usize,
                    14 | 15 => Sysnum::BorrowRead as usize + r.below(3),
                    _ => r.below(15),
                };
                if t == SUP && num == Sysnum::Kipc as usize {
                    // Keep the supervisor's kipc to task indices that exist
                    // sometimes, so restarts and status reads really happen.
                    h.write(SUP, MSG_OUT, &(r.below(n + 1) as u32).to_le_bytes());
                }
                let mut args = well_formed(&mut r, &h, t, num, caller[t]);
                // Then spoil some of them.
                while r.below(5) == 0 {
                    let i = r.below(7);
                    args[i] = arg(&mut r, &h, t, foreign);
                }
                h.syscall_n(t, num, &args);
                let ok = h.task(t).is_healthy() && h.ret(t, 0) == abi::SUCCESS as usize;
                let ok_recv =
                    h.task(t).is(SchedState::Runnable) && TaskId(h.ret(t, 0) as u32).index() < n;
                let sched = match h.task(t).state() {
                    TaskState::Healthy(s) => Some(s),
                    _ => None,
                };
                match Sysnum::from_u32(num as u32) {
                    Some(Sysnum::Send) if matches!(sched, Some(SchedState::InReply(_))) => {
                        stats.delivered += 1
                    }
                    Some(Sysnum::Send) if matches!(sched, Some(SchedState::InSend(_))) => {
                        stats.queued += 1
                    }
                    Some(Sysnum::Recv) if ok_recv => {
                        step_recv = Some(t);
                        stats.delivered += 1
                    }
                    Some(Sysnum::BorrowRead | Sysnum::BorrowWrite) if ok => stats.borrowed += 1,
                    Some(Sysnum::Kipc) if ok => stats.kipc += 1,
                    _ => {}
                }
            }
        }
        check_invariants(&h, step, &mut console_checked, strict);
        check_wakes(&h, step, &before, &generations);
        // Remember who each server last received a message from.
        for (t, was) in before.iter().enumerate() {
            let now_runnable = h.task(t).is(SchedState::Runnable);
            let sender = TaskId(h.ret(t, 0) as u32);
            let was_recv = matches!(was, TaskState::Healthy(SchedState::InRecv(_)));
            let recv_now = step_recv == Some(t);
            if now_runnable && (was_recv || recv_now) && sender.index() < n {
                caller[t] = Some(sender);
            }
        }
    }
    stats.faults = h.sys.tasks.iter().map(|t| t.fault_count() as usize).sum();
    stats
}

/// How much of the interesting behaviour a run reached.
#[derive(Debug, Default)]
struct Stats {
    delivered: usize,
    queued: usize,
    borrowed: usize,
    kipc: usize,
    faults: usize,
    idle: usize,
}

#[test]
fn random_syscalls_and_events_keep_the_kernel_consistent() {
    let mut total = Stats::default();
    for seed in 1..=12u64 {
        let s = run(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 4_000, false);
        total.delivered += s.delivered;
        total.queued += s.queued;
        total.borrowed += s.borrowed;
        total.kipc += s.kipc;
        total.faults += s.faults;
        total.idle += s.idle;
    }
    eprintln!("{total:?}");
    // The runs must have reached the paths they are meant to stress.
    assert!(
        total.delivered > 100
            && total.queued > 100
            && total.borrowed > 10
            && total.kipc > 10
            && total.faults > 100,
        "too little coverage: {total:?}"
    );
}

#[test]
fn random_runs_never_leave_a_closed_recv_waiting_on_a_dead_task() {
    for seed in 1..=12u64 {
        run(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 4_000, true);
    }
}

/// As [`run`], but the way the hardware runs the kernel: only the task the
/// scheduler chose traps, each trap ends in `after_trap` (budgets charged,
/// shares spent, the quick choice checked against the full one), time
/// passes while a task runs, and the timer interrupts when the deadline the
/// kernel programmed comes. The world has budgets, shares, an untrusted
/// server and a driver with rings.
fn run_scheduled(seed: u64, steps: usize) -> Stats {
    let mut r = Rng(seed);
    let mut h = Builder::default()
        .task("sup", 0)
        .task("srv", 1)
        .untrusted()
        .budget_ms(5)
        .cpu_share(30)
        .task("drv", 2)
        .untrusted()
        .budget_ms(3)
        .cpu_share(25)
        .dma()
        .task("mid", 3)
        .slots(&[0, 1, 2])
        .task("cli", 4)
        .budget_ms(20)
        .cpu_share(20)
        .task("low", 4)
        .irq(5, 1, 0b10)
        .irq(6, 2, 0b100)
        .build();
    let (foreign, mut caller) = begin(&mut r, &mut h);
    let n = h.mem.len();
    let mut console_checked = 0;
    let mut stats = Stats::default();
    let mut current = syscalls::next_task(&mut h.sys, 0);
    for step in 0..steps {
        let Some(t) = current else {
            // Nothing runnable: the hart waits for the timer, or, with
            // none armed, someone is nudged from outside.
            stats.idle += 1;
            match h.sys.machine.deadline {
                Some(d) if d < u64::MAX => {
                    h.sys.machine.now = h.sys.machine.now.max(d);
                    notify::service_timers(&mut h.sys);
                }
                _ => {
                    let t = 1 + r.below(n - 1);
                    if r.below(2) == 0 || !h.task(t).is_healthy() {
                        let _ = faults::restart_task(&mut h.sys, t);
                    } else {
                        notify::post_bits(&mut h.sys, t, !0);
                    }
                }
            }
            current = syscalls::after_trap(&mut h.sys, 0);
            check_invariants(&h, step, &mut console_checked, false);
            continue;
        };
        // The supervisor's policy: restart what faulted.
        let dead: Vec<usize> = (1..n).filter(|&i| !h.task(i).is_healthy()).collect();
        if t == SUP && !dead.is_empty() && r.below(2) == 0 {
            let d = dead[r.below(dead.len())];
            let _ = h.kipc(SUP, abi::Kipc::RestartTask as u32, Some(d as u32));
            current = syscalls::after_trap(&mut h.sys, t);
            check_invariants(&h, step, &mut console_checked, false);
            continue;
        };
        assert!(
            h.task(t).is(SchedState::Runnable) || h.task(t).is(SchedState::Throttled),
            "step {step}: chose task {t} in {:?}",
            h.task(t).state()
        );
        // It runs a while.
        h.sys.machine.now += match r.below(4) {
            0 => 0,
            1 => r.below(100) as u64,
            2 => r.below(2 * abi::TICKS_PER_MS as usize) as u64,
            _ => r.below(8 * abi::TICKS_PER_MS as usize) as u64,
        };
        let before: Vec<TaskState> = h.sys.tasks.iter().map(|t| t.state()).collect();
        let generations: Vec<_> = h.sys.tasks.iter().map(|t| t.generation()).collect();
        let mut step_recv = None;
        let timer_due = h
            .sys
            .machine
            .deadline
            .is_some_and(|d| d <= h.sys.machine.now);
        if timer_due && r.below(3) != 0 {
            notify::service_timers(&mut h.sys);
        } else {
            match r.below(12) {
                0 => notify::interrupt(&mut h.sys, 4 + r.below(4) as u32),
                1 if t != SUP => {
                    let e = match r.below(4) {
                        0 => Exception::Load(arg(&mut r, &h, t, foreign)),
                        1 => Exception::Store(arg(&mut r, &h, t, foreign)),
                        2 => Exception::Illegal(r.next() as usize),
                        _ => Exception::Breakpoint,
                    };
                    syscalls::exception(&mut h.sys, t, e);
                }
                2 => scribble_leases(&mut r, &mut h, t, foreign),
                _ => {
                    let num = match r.below(22) {
                        _ if t == SUP && r.below(3) == 0 => Sysnum::Kipc as usize,
                        _ if caller[t].is_some_and(|c| {
                            h.task(c.index()).is(SchedState::InReply(h.id(t)))
                        }) && r.below(3) == 0 =>
                        {
                            Sysnum::BorrowRead as usize + r.below(3)
                        }
                        0 if r.below(4) == 0 => r.next() as usize,
                        1..=5 => Sysnum::Send as usize,
                        6..=10 => Sysnum::Recv as usize,
                        11..=12 => Sysnum::Reply as usize,
                        13 => Sysnum::ReplyRecv as usize,
                        14 => Sysnum::ReplyFault as usize,
                        15 | 16 => Sysnum::BorrowRead as usize + r.below(3),
                        17 => Sysnum::Dma as usize,
                        _ => r.below(18),
                    };
                    if t == SUP && num == Sysnum::Kipc as usize {
                        let words = [r.below(n + 1) as u32, r.below(3) as u32, 1 << r.below(8)];
                        h.write(SUP, MSG_OUT, words.as_bytes());
                    }
                    let mut args = well_formed(&mut r, &h, t, num, caller[t]);
                    if t == SUP && num == Sysnum::Kipc as usize {
                        args[2] = 4 * (1 + r.below(3));
                    }
                    if t == SUP && num == Sysnum::Recv as usize {
                        // It keeps listening for faults.
                        args[2] |= abi::SUPERVISOR_FAULT_BIT as usize;
                    }
                    if num == Sysnum::ReplyRecv as usize {
                        args[4] = h.addr(t, RECV_BUF);
                        args[5] = r.below(0x40);
                        args[6] = r.below(8);
                    }
                    while r.below(5) == 0 {
                        let i = r.below(7);
                        args[i] = arg(&mut r, &h, t, foreign);
                    }
                    h.syscall_n(t, num, &args);
                    if matches!(
                        Sysnum::from_u32(num as u32),
                        Some(Sysnum::Recv | Sysnum::ReplyRecv)
                    ) && h.task(t).is(SchedState::Runnable)
                        && TaskId(h.ret(t, 0) as u32).index() < n
                    {
                        step_recv = Some(t);
                        stats.delivered += 1;
                    }
                }
            }
        }
        current = syscalls::after_trap(&mut h.sys, t);
        check_invariants(&h, step, &mut console_checked, false);
        check_wakes(&h, step, &before, &generations);
        for (i, was) in before.iter().enumerate() {
            let now_runnable = h.task(i).is(SchedState::Runnable);
            let sender = TaskId(h.ret(i, 0) as u32);
            let was_recv = matches!(was, TaskState::Healthy(SchedState::InRecv(_)));
            if now_runnable && (was_recv || step_recv == Some(i)) && sender.index() < n {
                caller[i] = Some(sender);
            }
        }
    }
    stats.faults = h.sys.tasks.iter().map(|t| t.fault_count() as usize).sum();
    stats
}

/// A task that was blocked before a step and runs after it (the same
/// incarnation) was woken the way its wait ends: a sender still in `send`
/// (in one step it cannot have been delivered and answered) only by a
/// kernel code (DEAD); a receiver with a sender's id, the kernel's (a
/// notification), or a kernel code (its one sender died).
fn check_wakes(h: &Harness, step: usize, before: &[TaskState], generations: &[Generation]) {
    let n = h.sys.tasks.len();
    for (i, was) in before.iter().enumerate() {
        // (A restart starts a new incarnation afresh.)
        if !h.task(i).is(SchedState::Runnable) || h.task(i).generation() != generations[i] {
            continue;
        }
        let a0 = h.ret(i, 0) as u32;
        let ok = match was {
            TaskState::Healthy(SchedState::InSend(_)) => a0 >= abi::KERNEL_CODE_BASE,
            TaskState::Healthy(SchedState::InRecv(_)) => {
                let from = TaskId(a0);
                from == TaskId::KERNEL
                    || (a0 < TaskId::LIMIT && from.index() < n)
                    || a0 >= abi::KERNEL_CODE_BASE
            }
            _ => true,
        };
        assert!(
            ok,
            "step {step}: task {i} woke from {was:?} with a0 = {a0:#x}"
        );
    }
}

#[test]
fn random_traps_as_the_hardware_takes_them_keep_the_kernel_consistent() {
    let mut total = Stats::default();
    for seed in 1..=24u64 {
        let s = run_scheduled(seed.wrapping_mul(0xD1B5_4A32_D192_ED03), 5_000);
        total.delivered += s.delivered;
        total.faults += s.faults;
        total.idle += s.idle;
    }
    eprintln!("{total:?}");
    assert!(
        total.delivered > 100 && total.faults > 100,
        "too little coverage: {total:?}"
    );
}
