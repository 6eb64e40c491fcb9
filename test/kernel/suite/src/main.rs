//! The kernel test suite: runs each case and reports it on the console as
//! `[test] case <name> ... ok` or `... FAIL: <reason>`, then `[test] done`,
//! then asks the supervisor to stop the machine with the failure count.
//!
//! The suite is the least important test task (but idle). It asks the
//! assistant to serve, borrow and misbehave, through the client generated
//! from `idl/kernel-test.idol`, and checks the outcome three ways: what the
//! call returns (`ServerRestarted` when the assistant died, with the stub's
//! id refreshed to the generation the kernel's DEAD code carried), the fault
//! record the supervisor reads from the kernel, and a fresh call proving the
//! restarted assistant works. Raw `sys_send` is kept only where the case is
//! about the raw ABI itself (refused sends, a stale id's DEAD code).
//! A case must never pass by skipping: every path that does not reach its
//! assertions reports a failure.

#![no_std]
#![no_main]
// A case fails with its message formatted on the stack (no allocator):
// the large `Err` is the point, and only ever moved once per case.
#![allow(clippy::result_large_err)]

use core::sync::atomic::{AtomicU32, Ordering};

use abi::{
    dead_generation, FaultKind, Generation, TaskId, TaskState, UsageError, BORROW_OUT_OF_RANGE,
    REFUSED_NOT_IN_SLOTS, REFUSED_PRIORITY, SUCCESS,
};
use idol_runtime::{CallError, RequestError, UserlibIpc};
use kernel_test_api::{KernelTestAssistClient, KernelTestAssistOp};
use supervisor_api::SupervisorClient;
use test_harness::{check, fail, CaseResult, LineBuf};
use userlib::{sys_get_timer, sys_recv_notification, sys_send, sys_set_timer, tasks};

const TIMER_BIT: u32 = 1 << 0;
const POST_BIT: u32 = 1 << 1;

/// Base of the kernel's RAM in the test image: test/kernel.toml gives the
/// kernel 64 KiB of text at 0x8000_0000, so its RAM starts right after.
const KERNEL_RAM_BASE: u32 = 0x8001_0000;
/// The first virtio-mmio slot: a device window nobody was granted.
const VIRTIO_SLOT0: u32 = 0x1000_1000;

/// Memory of the suite's own that the assistant must not be able to touch.
static SECRET: [u8; 16] = *b"suite's own data";

/// A word of the suite's RAM (interior mutability puts it in `.data`, not
/// with the read-only `SECRET` in the suite's text): what the assistant's
/// atomics aimed at the suite's RAM must leave alone.
static RAM_WORD: AtomicU32 = AtomicU32::new(0x5EC2_E7ED);

type Case = test_harness::Case<Suite>;

type Assist = KernelTestAssistClient<UserlibIpc>;

struct Suite {
    assist: Assist,
    supervisor: SupervisorClient<UserlibIpc>,
}

impl Suite {
    fn assist_status(&self) -> Result<abi::TaskStatus, LineBuf> {
        self.status_of(self.assist.task_id().index())
    }

    /// The assistant's report of its last `hog`: ticks run, ticks lasted,
    /// sleeps.
    fn hog_report(&self) -> Result<(u64, u64, u32), LineBuf> {
        match self.assist.hog_report() {
            Ok([ran, lasted, sleeps]) => Ok((u64::from(ran), u64::from(lasted), sleeps)),
            Err(e) => fail!("hog_report gave {e:?}"),
        }
    }

    fn status_of(&self, index: usize) -> Result<abi::TaskStatus, LineBuf> {
        match self.supervisor.task_status(index as u32) {
            Ok(s) => Ok(s),
            Err(e) => fail!("supervisor status query failed: {e:?}"),
        }
    }

    /// [`Suite::expect_fault`] of a syscall misuse: a `SyscallUsage` fault
    /// carrying `error`.
    fn usage_fault<T: core::fmt::Debug>(
        &mut self,
        call: impl FnOnce(&Assist) -> Result<T, CallError>,
        error: UsageError,
    ) -> CaseResult {
        let f = self.expect_fault(call, FaultKind::SyscallUsage, None)?;
        check!(
            f.detail == error as u32,
            "usage error {}, expected {}",
            f.detail,
            error as u32
        );
        Ok(())
    }

    /// [`Suite::expect_fault`] of a read of `address` by the assistant: a
    /// load access fault at exactly that address.
    fn load_faults(&mut self, address: u32) -> CaseResult {
        self.expect_fault(
            |a| a.read_address(address),
            FaultKind::LoadAccess,
            Some(address),
        )
        .map(|_| ())
    }

    /// Asks the assistant (through `call`) to do something that must fault
    /// it, then checks `ServerRestarted` and the generation the stub was
    /// refreshed to (from the kernel's DEAD code), the recorded fault, the
    /// restart with generation + 1, and that the new incarnation serves.
    fn expect_fault<T: core::fmt::Debug>(
        &mut self,
        call: impl FnOnce(&Assist) -> Result<T, CallError>,
        kind: FaultKind,
        address: Option<u32>,
    ) -> Result<abi::FaultRecord, LineBuf> {
        self.expect_fault_of(call, &[kind], address)
    }

    /// [`Suite::expect_fault`] with a fault of any of `kinds` (the first
    /// the one named in a failure).
    fn expect_fault_of<T: core::fmt::Debug>(
        &mut self,
        call: impl FnOnce(&Assist) -> Result<T, CallError>,
        kinds: &[FaultKind],
        address: Option<u32>,
    ) -> Result<abi::FaultRecord, LineBuf> {
        let before = self.assist_status()?;
        let result = call(&self.assist);
        let expected_gen = Generation(before.generation as u16).next();
        check!(
            matches!(result, Err(RequestError::ServerRestarted)),
            "expected ServerRestarted, got {result:?}"
        );
        let g = self.assist.task_id().generation();
        check!(
            g == expected_gen,
            "the DEAD code carried generation {} instead of {}",
            g.0,
            expected_gen.0
        );
        let after = self.assist_status()?;
        let f = after.last_fault;
        check!(
            kinds.contains(&f.kind()),
            "fault kind was '{}', expected '{}'",
            f.kind().describe(),
            kinds[0].describe()
        );
        if let Some(a) = address {
            check!(
                f.address == a,
                "fault address {:#010x}, expected {a:#010x}",
                f.address
            );
        }
        check!(
            after.fault_count == before.fault_count + 1,
            "fault count went {} -> {}",
            before.fault_count,
            after.fault_count
        );
        check!(
            after.generation == expected_gen.0 as u32,
            "generation {} after restart, expected {}",
            after.generation,
            expected_gen.0
        );
        check!(
            TaskState::from_u32(after.state) != Some(TaskState::Faulted),
            "assistant was not restarted"
        );
        let r = self.assist.echo_plus_one([1, 2, 3, 4, 5, 6, 7, 8]);
        check!(
            r == Ok([2, 3, 4, 5, 6, 7, 8, 9]),
            "restarted assistant did not serve: {r:?}"
        );
        Ok(f)
    }
}

fn ipc_ping_pong(s: &mut Suite) -> CaseResult {
    let r = s.assist.echo_plus_one(*b"abcdefgh");
    check!(r == Ok(*b"bcdefghi"), "reply {r:?}");
    Ok(())
}

fn lease_read_is_borrowed(s: &mut Suite) -> CaseResult {
    let mut data = [0u8; 100];
    for (i, b) in data.iter_mut().enumerate() {
        *b = i as u8 + 1;
    }
    let r = s.assist.sum_lease(&data);
    check!(r == Ok(5050), "sum {r:?} instead of 5050");
    Ok(())
}

fn lease_write_is_borrowed(s: &mut Suite) -> CaseResult {
    let mut data = [0u8; 40];
    let r = s.assist.fill_lease(0x5a, &mut data);
    check!(r == Ok(40), "fill gave {r:?}");
    for (i, &b) in data.iter().enumerate() {
        check!(b == (i as u8) ^ 0x5a, "byte {i} is {b:#x}");
    }
    Ok(())
}

fn lease_out_of_bounds_borrow_refused(s: &mut Suite) -> CaseResult {
    let data = [7u8; 16];
    let r = s.assist.borrow_at(0, &data);
    check!(r == Ok(SUCCESS), "in-bounds borrow gave {r:x?}");
    let r = s.assist.borrow_at(10, &data);
    check!(
        r == Ok(BORROW_OUT_OF_RANGE),
        "out-of-bounds borrow gave {r:x?}"
    );
    Ok(())
}

fn lease_of_foreign_memory_faults_sender(s: &mut Suite) -> CaseResult {
    let secret = SECRET.as_ptr() as u32;
    s.usage_fault(
        |a| a.lease_foreign_memory(secret),
        UsageError::LeaseOutOfBounds,
    )
}

fn send_to_lower_priority_refused(_: &mut Suite) -> CaseResult {
    let (code, _) = sys_send(tasks::IDLE, 0, &[], &mut [], &[]);
    check!(code == REFUSED_PRIORITY, "send to idle gave {code:#x}");
    Ok(())
}

fn send_outside_slots_refused(_: &mut Suite) -> CaseResult {
    let (code, _) = sys_send(tasks::UNSLOTTED, 0, &[], &mut [], &[]);
    check!(
        code == REFUSED_NOT_IN_SLOTS,
        "send to unslotted gave {code:#x}"
    );
    Ok(())
}

fn read_other_task_ram_faults(s: &mut Suite) -> CaseResult {
    s.load_faults(SECRET.as_ptr() as u32)
}

fn read_kernel_ram_faults(s: &mut Suite) -> CaseResult {
    s.load_faults(KERNEL_RAM_BASE)
}

fn write_kernel_text_faults(s: &mut Suite) -> CaseResult {
    let a = 0x8000_0000;
    s.expect_fault(|x| x.write_address(a), FaultKind::StoreAccess, Some(a))
        .map(|_| ())
}

fn read_ungranted_device_faults(s: &mut Suite) -> CaseResult {
    s.load_faults(VIRTIO_SLOT0)
}

fn stack_overflow_faults(s: &mut Suite) -> CaseResult {
    s.expect_fault(|a| a.overflow_stack(), FaultKind::StackOverflow, None)
        .map(|_| ())
}

fn client_of_faulting_server_gets_dead(s: &mut Suite) -> CaseResult {
    s.expect_fault(|a| a.panic(), FaultKind::Panic, None)
        .map(|_| ())
}

fn stale_task_id_gets_dead(s: &mut Suite) -> CaseResult {
    // Raw on purpose: the case is the DEAD code itself, which generated
    // stubs consume.
    let current = s.assist.task_id();
    let stale = TaskId::new(current.index() as u16, Generation(0));
    check!(
        stale != current,
        "assistant was never restarted, cannot test"
    );
    let op = KernelTestAssistOp::EchoPlusOne as u16;
    let (code, _) = sys_send(stale, op, &[1; 8], &mut [0u8; 8], &[]);
    check!(
        dead_generation(code) == Some(current.generation()),
        "stale send gave {code:#x}"
    );
    Ok(())
}

/// More restarts than a 6-bit generation could count: an id taken before
/// them must still get DEAD, never reach the new incarnation.
fn id_from_65_restarts_ago_gets_dead(s: &mut Suite) -> CaseResult {
    const RESTARTS: u32 = 65;
    let old = userlib::sys_refresh_task_id(s.assist.task_id());
    let index = old.index() as u32;
    for n in 0..RESTARTS {
        let r = s.supervisor.fault_task(index);
        check!(r == Ok(()), "fault_task #{n} gave {r:?}");
        // The supervisor (more important) has restarted it by now.
        let st = s.assist_status()?;
        check!(
            TaskState::from_u32(st.state) != Some(TaskState::Faulted),
            "assistant not restarted after fault #{n}"
        );
    }
    let now = userlib::sys_refresh_task_id(old);
    check!(
        now.generation() == Generation(old.generation().0.wrapping_add(RESTARTS as u16)),
        "generation {} after {RESTARTS} restarts from {}",
        now.generation().0,
        old.generation().0
    );
    let op = KernelTestAssistOp::EchoPlusOne as u16;
    let mut reply = [0u8; 8];
    let (code, _) = sys_send(old, op, &[1; 8], &mut reply, &[]);
    check!(
        dead_generation(code) == Some(now.generation()),
        "send to the id from {RESTARTS} restarts ago gave {code:#x} (reply {reply:?})"
    );
    s.assist = KernelTestAssistClient::new(UserlibIpc, now);
    let r = s.assist.echo_plus_one(*b"abcdefgh");
    check!(
        r == Ok(*b"bcdefghi"),
        "the new incarnation did not serve: {r:?}"
    );
    Ok(())
}

fn bad_syscall_number_faults_caller(s: &mut Suite) -> CaseResult {
    s.usage_fault(|a| a.bad_syscall(), UsageError::BadSyscallNumber)
}

fn illegal_instruction_faults(s: &mut Suite) -> CaseResult {
    s.expect_fault(
        |a| a.illegal_instruction(),
        FaultKind::IllegalInstruction,
        None,
    )
    .map(|_| ())
}

/// A store or AMO where the task may not write: a store/AMO access fault
/// (RISC-V privileged spec, PMP). QEMU 7.2 (Debian 12's) reports an AMO
/// on memory the task may not even read as a *load* access fault (it
/// reads first), at the same address; the kernel records the cause the
/// hart gives, so either is the right answer here.
const AMO_DENIED: &[FaultKind] = &[FaultKind::StoreAccess, FaultKind::LoadAccess];

/// What each of the assistant's misdeeds (`misbehave`, in the order of
/// its `misdeed`) must end in: the fault kinds, the address when the suite
/// knows it, and for an illegal instruction its bits (`detail`). The
/// misdeeds aimed at an address the suite names come after
/// ([`AIMED_MISDEEDS`]).
const MISDEEDS: [(&str, &[FaultKind], Option<u32>, u32); 22] = [
    ("wfi", &[FaultKind::IllegalInstruction], None, 0x1050_0073),
    ("mret", &[FaultKind::IllegalInstruction], None, 0x3020_0073),
    ("sret", &[FaultKind::IllegalInstruction], None, 0x1020_0073),
    (
        "csrw mstatus",
        &[FaultKind::IllegalInstruction],
        None,
        0x3000_1073,
    ),
    (
        "csrr mscratch",
        &[FaultKind::IllegalInstruction],
        None,
        0x3400_2573,
    ),
    (
        "csrw pmpcfg0",
        &[FaultKind::IllegalInstruction],
        None,
        0x3a00_1073,
    ),
    (
        "csrw mtvec",
        &[FaultKind::IllegalInstruction],
        None,
        0x3050_1073,
    ),
    (
        "csrw satp",
        &[FaultKind::IllegalInstruction],
        None,
        0x1800_1073,
    ),
    (
        "sfence.vma",
        &[FaultKind::IllegalInstruction],
        None,
        0x1200_0073,
    ),
    (
        "csrw cycle",
        &[FaultKind::IllegalInstruction],
        None,
        0xc000_1073,
    ),
    ("ebreak", &[FaultKind::Breakpoint], None, 0),
    (
        "amoswap to kernel RAM",
        AMO_DENIED,
        Some(KERNEL_RAM_BASE),
        0,
    ),
    (
        "lr from kernel RAM",
        &[FaultKind::LoadAccess],
        Some(KERNEL_RAM_BASE),
        0,
    ),
    ("amoadd to kernel text", AMO_DENIED, Some(0x8000_0000), 0),
    ("misaligned amoswap", &[FaultKind::Misaligned], None, 0),
    (
        "jump into kernel text",
        &[FaultKind::FetchAccess],
        Some(0x8000_0000),
        0,
    ),
    ("jump into own RAM", &[FaultKind::FetchAccess], None, 0),
    ("amoswap to own text", &[FaultKind::StoreAccess], None, 0),
    ("lr/sc to own text", &[FaultKind::StoreAccess], None, 0),
    (
        "a syscall with sp in kernel RAM",
        &[FaultKind::SyscallUsage],
        None,
        UsageError::BadSyscallNumber as u32,
    ),
    (
        "a push with sp in kernel RAM",
        &[FaultKind::StackOverflow],
        Some(KERNEL_RAM_BASE + 0xfc),
        0,
    ),
    (
        "get_timer with sp in kernel RAM",
        &[FaultKind::SyscallUsage],
        None,
        UsageError::BadSyscallNumber as u32,
    ),
];

/// An atomic (`amoor.w`, misdeed 22) and a load-reserved (`lr.w`, 23) at
/// an address the suite names: a device window nobody granted the
/// assistant, the suite's own RAM, and a hole in the address space where
/// nothing is mapped.
fn aimed_misdeeds() -> [(&'static str, u32, &'static [FaultKind], u32); 6] {
    let suite = RAM_WORD.as_ptr() as u32;
    const HOLE: u32 = 0x4000_0000;
    [
        ("amoor to an ungranted device", 22, AMO_DENIED, VIRTIO_SLOT0),
        (
            "lr from an ungranted device",
            23,
            &[FaultKind::LoadAccess],
            VIRTIO_SLOT0,
        ),
        ("amoor to the suite's RAM", 22, AMO_DENIED, suite),
        (
            "lr from the suite's RAM",
            23,
            &[FaultKind::LoadAccess],
            suite,
        ),
        ("amoor to an unmapped hole", 22, AMO_DENIED, HOLE),
        (
            "lr from an unmapped hole",
            23,
            &[FaultKind::LoadAccess],
            HOLE,
        ),
    ]
}

/// U-mode privileged instructions, atomics where the task has no right,
/// a misaligned atomic and jumps out of its text: each faults the
/// assistant with the kind (and address, or instruction bits) the kernel
/// promises, its generation moves, and it serves again.
fn misdeeds_fault_with_their_kind_and_address(s: &mut Suite) -> CaseResult {
    for (how, &(name, kinds, address, detail)) in MISDEEDS.iter().enumerate() {
        let f = match s.expect_fault_of(|a| a.misbehave(how as u32, 0), kinds, address) {
            Ok(f) => f,
            Err(e) => fail!(
                "{name}: {}",
                core::str::from_utf8(e.as_bytes()).unwrap_or("?")
            ),
        };
        check!(
            detail == 0 || f.detail == detail,
            "{name}: detail {:#010x}, expected {detail:#010x}",
            f.detail
        );
    }
    for (name, how, kinds, address) in aimed_misdeeds() {
        if let Err(e) = s.expect_fault_of(|a| a.misbehave(how, address), kinds, Some(address)) {
            fail!(
                "{name}: {}",
                core::str::from_utf8(e.as_bytes()).unwrap_or("?")
            );
        }
    }
    let word = RAM_WORD.load(Ordering::Relaxed);
    check!(word == 0x5EC2_E7ED, "the suite's RAM word is {word:#x}");
    Ok(())
}

fn timer_notification_arrives(_: &mut Suite) -> CaseResult {
    let deadline = sys_get_timer().now + abi::TICKS_PER_MS;
    sys_set_timer(Some(deadline), TIMER_BIT);
    let bits = sys_recv_notification(TIMER_BIT);
    let now = sys_get_timer().now;
    check!(bits == TIMER_BIT, "woke with bits {bits:#x}");
    check!(
        now >= deadline,
        "woke {} ticks before the deadline",
        deadline - now
    );
    check!(
        sys_get_timer().deadline.is_none(),
        "timer still armed after firing"
    );
    Ok(())
}

/// A hart retires nothing while it sleeps: the instruction counter (under
/// `-icount`, as benchmarks and this suite run, the virtual clock) must
/// not run on through the kernel's `wfi`, or every benchmark would count
/// the host's timing as work. Without the kernel's write-back after the
/// wait it moved 100,208,144 here.
fn instret_counts_work_not_sleep(_: &mut Suite) -> CaseResult {
    const SLEEP_MS: u64 = 100;
    let before = userlib::instret();
    let deadline = sys_get_timer().now + SLEEP_MS * abi::TICKS_PER_MS;
    sys_set_timer(Some(deadline), TIMER_BIT);
    let bits = sys_recv_notification(TIMER_BIT);
    let counted = userlib::instret() - before;
    check!(bits == TIMER_BIT, "woke with bits {bits:#x}");
    // 100 ms asleep would be 10^8 virtual instructions, or some 10^8
    // host cycles; the wait itself is a few thousand instructions.
    check!(
        counted < 20_000_000,
        "instret moved {counted} over a {SLEEP_MS} ms sleep"
    );
    Ok(())
}

fn post_notification_arrives(s: &mut Suite) -> CaseResult {
    let r = s.assist.post_to_caller(POST_BIT);
    check!(r == Ok(SUCCESS), "post gave {r:x?}");
    let bits = sys_recv_notification(POST_BIT | TIMER_BIT);
    check!(bits == POST_BIT, "woke with bits {bits:#x}");
    Ok(())
}

/// The assistant's CPU budget (test/kernel.toml `budget-ms`).
const ASSIST_BUDGET_MS: u32 = 100;

/// Work below the budget is never cut short, however many syscalls it makes.
fn work_below_the_budget_runs_to_the_end(s: &mut Suite) -> CaseResult {
    let before = s.assist_status()?;
    let r = s.assist.spin(5);
    check!(
        matches!(r, Ok(n) if n > 0),
        "spinning 5 ms (budget {ASSIST_BUDGET_MS} ms) gave {r:?}"
    );
    let after = s.assist_status()?;
    check!(
        after.fault_count == before.fault_count,
        "faulted below its budget: {}",
        after.last_fault.kind().describe()
    );
    Ok(())
}

/// A task spinning on a cheap syscall is faulted by the kernel with its own
/// kind once its budget is spent, and this less important task runs again.
fn spinning_past_the_budget_faults(s: &mut Suite) -> CaseResult {
    // The assistant ran the last case past its 25 % share: throttled, it
    // has not yet come back to `recv` since its reply when this call
    // comes, and finds it waiting there. That must count as waiting for
    // work (`budget::work_arrived`): its charge ran on from the last case
    // before, and it was faulted 96 ms into this one.
    let start = sys_get_timer().now;
    let f = s.expect_fault(|a| a.spin(u32::MAX), FaultKind::BudgetExceeded, None)?;
    let spun = sys_get_timer().now - start;
    check!(
        f.detail == ASSIST_BUDGET_MS,
        "the fault names a budget of {} ms, expected {ASSIST_BUDGET_MS}",
        f.detail
    );
    check!(
        spun >= u64::from(ASSIST_BUDGET_MS) * abi::TICKS_PER_MS,
        "faulted after {} ticks, before its budget was spent",
        spun
    );
    Ok(())
}

/// The assistant's CPU share (test/kernel.toml `cpu-share`), in percent.
const ASSIST_SHARE: u64 = 25;

/// The longest gap between two of the suite's `get_timer` calls that still
/// counts as the suite running (the assistant's `hog` counts the same way).
const RUNNING_GAP_TICKS: u64 = 500;

/// A task that never runs past its budget but keeps the CPU busy — spin
/// 50 ms, sleep 0.2 ms, again — is held to its CPU share: this less
/// important task gets the rest, and the hog is throttled, not faulted.
/// Before shares, the suite got 0.2 ms in 50. Then, with this task asleep,
/// the throttled hog gets the time nobody else wants: a share limits what
/// it takes from others, and wastes nothing.
fn a_duty_cycling_task_gets_only_its_share(s: &mut Suite) -> CaseResult {
    const HOG_MS: u32 = 300;
    // Past the hog's end, so that it runs only while this task wants the CPU.
    const MEASURE_MS: u64 = HOG_MS as u64 + 20;
    let before = s.assist_status()?;
    let r = s.assist.hog(HOG_MS, 50);
    check!(r == Ok(()), "hog gave {r:?}");
    // What this task gets of the CPU while the hog runs.
    let start = sys_get_timer().now;
    let (mut mine, mut last) = (0u64, start);
    let mut seen_throttled = false;
    while last - start < MEASURE_MS * abi::TICKS_PER_MS {
        let now = sys_get_timer().now;
        if now - last < RUNNING_GAP_TICKS {
            mine += now - last;
        }
        last = now;
        // This task runs only while the hog is throttled or asleep: its
        // status must show it throttled now and then.
        if !seen_throttled {
            let st = s.assist_status()?;
            seen_throttled = TaskState::from_u32(st.state) == Some(TaskState::Throttled);
            last = sys_get_timer().now;
        }
    }
    let elapsed = last - start;
    let (ran, lasted, sleeps) = s.hog_report()?;
    let after = s.assist_status()?;
    let mine_percent = mine * 100 / elapsed;
    let hog_percent = ran * 100 / lasted.max(1);
    check!(
        after.generation == before.generation && after.fault_count == before.fault_count,
        "the hog was faulted or restarted ({}): a share is no fault",
        after.last_fault.kind().describe()
    );
    let throttles = after.throttles.wrapping_sub(before.throttles);
    check!(
        mine_percent >= 50,
        "the suite ran {mine_percent} % of {MEASURE_MS} ms under the hog ({throttles} throttles)"
    );
    check!(
        hog_percent <= ASSIST_SHARE + 10 && hog_percent >= 5,
        "the hog ran {hog_percent} % of its {lasted} ticks, its share is {ASSIST_SHARE} %"
    );
    // Evidence the kernel did it: about one throttle a 10 ms period.
    check!(
        throttles >= HOG_MS / abi::CPU_SHARE_PERIOD_MS / 2,
        "{throttles} throttles in {HOG_MS} ms ({sleeps} sleeps)"
    );
    check!(seen_throttled, "never saw the hog throttled");

    // Now nobody else wants the CPU: the throttled hog may have it.
    let before = after;
    let r = s.assist.hog(HOG_MS, 50);
    check!(r == Ok(()), "the second hog gave {r:?}");
    userlib::sleep_ms(MEASURE_MS, TIMER_BIT);
    let (ran, lasted, _) = s.hog_report()?;
    let after = s.assist_status()?;
    let hog_percent = ran * 100 / lasted.max(1);
    let throttles = after.throttles.wrapping_sub(before.throttles);
    check!(
        hog_percent >= 70,
        "alone, the hog ran only {hog_percent} % of its {lasted} ticks ({throttles} throttles): spare time went to waste"
    );
    check!(
        throttles > 0 && after.fault_count == before.fault_count,
        "alone, the hog was throttled {throttles} times and faulted {} times",
        after.fault_count - before.fault_count
    );
    Ok(())
}

/// A budgeted task calling a more important server without a budget in a
/// loop is held to its share with the server's time counted in: this less
/// important task gets the rest (see the kernel's `budget`, "Server
/// time"). Before, only the caller's own time counted: a call costing the
/// server ten times what it cost the caller left this task nothing, and
/// the caller was never throttled.
fn a_task_calling_a_server_in_a_loop_gets_only_its_share(s: &mut Suite) -> CaseResult {
    const HOG_MS: u32 = 300;
    const MEASURE_MS: u64 = HOG_MS as u64 + 20;
    let before = s.assist_status()?;
    let r = s.assist.hog_calls(HOG_MS);
    check!(r == Ok(()), "hog_calls gave {r:?}");
    let start = sys_get_timer().now;
    let (mut mine, mut last) = (0u64, start);
    while last - start < MEASURE_MS * abi::TICKS_PER_MS {
        let now = sys_get_timer().now;
        if now - last < RUNNING_GAP_TICKS {
            mine += now - last;
        }
        last = now;
    }
    let elapsed = last - start;
    let (ran, lasted, calls) = s.hog_report()?;
    let after = s.assist_status()?;
    let mine_percent = mine * 100 / elapsed;
    let hog_percent = ran * 100 / lasted.max(1);
    let throttles = after.throttles.wrapping_sub(before.throttles);
    check!(
        after.generation == before.generation && after.fault_count == before.fault_count,
        "the caller was faulted or restarted ({}): the server's time is no fault of its",
        after.last_fault.kind().describe()
    );
    check!(calls > 0, "hog_calls made no call");
    userlib::sys_log!(
        "server time: the suite ran {mine_percent} %, the assistant and the server {hog_percent} % ({calls} calls, {throttles} throttles)"
    );
    check!(
        mine_percent >= 50,
        "the suite ran {mine_percent} % of {MEASURE_MS} ms while the assistant called the server ({calls} calls, {throttles} throttles)"
    );
    check!(
        hog_percent <= ASSIST_SHARE + 10,
        "the assistant and the server ran {hog_percent} % of its {lasted} ticks, its share is {ASSIST_SHARE} % ({calls} calls)"
    );
    // Evidence the kernel did it: the caller was throttled, though its own
    // stretches are a small part of its share.
    check!(
        throttles >= HOG_MS / abi::CPU_SHARE_PERIOD_MS / 2,
        "{throttles} throttles in {HOG_MS} ms ({calls} calls)"
    );
    Ok(())
}

/// The assistant is untrusted (test/kernel.toml), like a driver: whatever it
/// answers, the suite gets a typed error and is never faulted, and the
/// assistant itself is not blamed unless it broke the kernel's rules.
fn untrusted_server_cannot_hurt_its_client(s: &mut Suite) -> CaseResult {
    use abi::ReplyFaultReason::{BadLeases, BadMessageContents};
    use idol_runtime::ProtocolError::{BadReply, Rejected, UnknownCode};
    let before = s.assist_status()?;
    let me = s.status_of(tasks::SUITE.index())?;

    let r = s.assist.reject(BadLeases as u32);
    check!(
        r == Err(RequestError::Protocol(Rejected(BadLeases))),
        "reply_fault(BadLeases) gave {r:?}"
    );
    let r = s.assist.reject(0x77);
    check!(
        r == Err(RequestError::Protocol(Rejected(BadMessageContents))),
        "reply_fault with an unknown reason gave {r:?}"
    );
    let r = s.assist.answer_raw(0x1234, 0);
    check!(
        r == Err(RequestError::Protocol(UnknownCode(0x1234))),
        "an unknown response code gave {r:?}"
    );
    let r = s.assist.answer_raw(0, 2);
    check!(
        r == Err(RequestError::Protocol(BadReply { code: 0, len: 2 })),
        "a 2-byte reply to a u32 op gave {r:?}"
    );
    let r = s.assist.answer_raw(0, 4);
    check!(r == Ok(0xEEEE_EEEE), "a well-formed raw reply gave {r:x?}");

    // Nobody was faulted: not the suite (same generation, no new fault) and
    // not the assistant, which only answered.
    let after = s.assist_status()?;
    check!(
        after.fault_count == before.fault_count && after.generation == before.generation,
        "the assistant was faulted or restarted: {} -> {} faults",
        before.fault_count,
        after.fault_count
    );
    let me_after = s.status_of(tasks::SUITE.index())?;
    check!(
        me_after.fault_count == me.fault_count && me.fault_count == 0,
        "the suite has {} faults",
        me_after.fault_count
    );

    // A reply too big for the suite's buffer is the assistant's fault, not
    // the suite's: the kernel faults it and the suite learns of the death.
    s.usage_fault(|a| a.answer_raw(0, 64), UsageError::ReplyTooBig)
}

#[export_name = "main"]
fn main() -> ! {
    let mut s = Suite {
        assist: KernelTestAssistClient::new(UserlibIpc, tasks::ASSIST),
        supervisor: SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR),
    };
    let cases: &[Case] = &[
        ("ipc_ping_pong_with_reply_payload", ipc_ping_pong),
        ("lease_read", lease_read_is_borrowed),
        ("lease_write", lease_write_is_borrowed),
        (
            "lease_out_of_bounds_borrow_refused",
            lease_out_of_bounds_borrow_refused,
        ),
        (
            "lease_of_foreign_memory_faults_sender",
            lease_of_foreign_memory_faults_sender,
        ),
        (
            "send_to_lower_priority_refused",
            send_to_lower_priority_refused,
        ),
        ("send_outside_slots_refused", send_outside_slots_refused),
        (
            "read_other_task_ram_faults_and_restarts",
            read_other_task_ram_faults,
        ),
        (
            "read_kernel_ram_faults_and_restarts",
            read_kernel_ram_faults,
        ),
        (
            "write_kernel_text_faults_and_restarts",
            write_kernel_text_faults,
        ),
        (
            "read_ungranted_device_faults_and_restarts",
            read_ungranted_device_faults,
        ),
        ("stack_overflow_faults", stack_overflow_faults),
        (
            "client_of_faulting_server_gets_dead",
            client_of_faulting_server_gets_dead,
        ),
        ("stale_task_id_gets_dead", stale_task_id_gets_dead),
        (
            "id_from_65_restarts_ago_gets_dead",
            id_from_65_restarts_ago_gets_dead,
        ),
        (
            "bad_syscall_number_faults_caller",
            bad_syscall_number_faults_caller,
        ),
        ("illegal_instruction_faults", illegal_instruction_faults),
        (
            "misdeeds_fault_with_their_kind_and_address",
            misdeeds_fault_with_their_kind_and_address,
        ),
        ("timer_notification_arrives", timer_notification_arrives),
        (
            "instret_counts_work_not_sleep",
            instret_counts_work_not_sleep,
        ),
        ("post_notification_arrives", post_notification_arrives),
        (
            "work_below_the_budget_runs_to_the_end",
            work_below_the_budget_runs_to_the_end,
        ),
        (
            "spinning_on_get_timer_past_the_budget_faults",
            spinning_past_the_budget_faults,
        ),
        (
            "a_duty_cycling_task_gets_only_its_share",
            a_duty_cycling_task_gets_only_its_share,
        ),
        (
            "a_task_calling_a_server_in_a_loop_gets_only_its_share",
            a_task_calling_a_server_in_a_loop_gets_only_its_share,
        ),
        (
            "untrusted_server_cannot_hurt_its_client",
            untrusted_server_cannot_hurt_its_client,
        ),
    ];
    test_harness::run_suite(&mut s, cases)
}
