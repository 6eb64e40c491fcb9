//! The kernel test suite: runs each case and reports it on the console as
//! `[test] case <name> ... ok` or `... FAIL: <reason>`, then `[test] done`,
//! then asks the supervisor to stop the machine with the failure count.
//!
//! The suite is the least important test task (but idle). It asks the
//! assistant to serve, borrow and misbehave, and checks the outcome three
//! ways: the response code it gets, the fault record the supervisor reads
//! from the kernel, and a fresh call proving the restarted assistant works.
//! A case must never pass by skipping: every path that does not reach its
//! assertions reports a failure.

#![no_std]
#![no_main]

use abi::{
    dead_generation, FaultKind, Generation, TaskId, TaskState, UsageError, BORROW_OUT_OF_RANGE,
    REFUSED_NOT_IN_SLOTS, REFUSED_PRIORITY, SUCCESS,
};
use supervisor_api::Supervisor;
use test_api::*;
use userlib::log::LineBuf;
use userlib::{
    lease_read, lease_write, sys_get_timer, sys_log, sys_recv_notification, sys_send,
    sys_set_timer, tasks,
};

const TIMER_BIT: u32 = 1 << 0;
const POST_BIT: u32 = 1 << 1;

/// Base of the kernel's RAM in the test image: test/kernel.toml gives the
/// kernel 64 KiB of text at 0x8000_0000, so its RAM starts right after.
const KERNEL_RAM_BASE: u32 = 0x8001_0000;
/// The first virtio-mmio slot: a device window nobody was granted.
const VIRTIO_SLOT0: u32 = 0x1000_1000;

/// Memory of the suite's own that the assistant must not be able to touch.
static SECRET: [u8; 16] = *b"suite's own data";

type CaseResult = Result<(), LineBuf>;

macro_rules! fail {
    ($($arg:tt)*) => {{
        let mut l = LineBuf::new();
        let _ = core::fmt::Write::write_fmt(&mut l, format_args!($($arg)*));
        return Err(l);
    }};
}

macro_rules! check {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            fail!($($arg)*);
        }
    };
}

struct Suite {
    assist: TaskId,
    supervisor: Supervisor,
    failed: u32,
}

fn word(bytes: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    let n = bytes.len().min(4);
    w[..n].copy_from_slice(&bytes[..n]);
    u32::from_le_bytes(w)
}

impl Suite {
    fn run(&mut self, name: &str, case: fn(&mut Suite) -> CaseResult) {
        match case(self) {
            Ok(()) => sys_log!("[test] case {name} ... ok"),
            Err(why) => {
                self.failed += 1;
                let why = core::str::from_utf8(why.as_bytes()).unwrap_or("?");
                sys_log!("[test] case {name} ... FAIL: {why}");
            }
        }
    }

    /// Calls the assistant with a `u32` argument.
    fn call(&mut self, op: u16, arg: u32, reply: &mut [u8], leases: &[abi::Lease]) -> (u32, usize) {
        sys_send(self.assist, op, &arg.to_le_bytes(), reply, leases)
    }

    fn assist_status(&self) -> Result<abi::TaskStatus, LineBuf> {
        match self.supervisor.task_status(self.assist.index()) {
            Ok(s) => Ok(s),
            Err(e) => fail!("supervisor status query failed: {e:?}"),
        }
    }

    /// Asks the assistant to do something that must fault it, then checks
    /// the DEAD code, the recorded fault, the restart with generation + 1,
    /// and that the new incarnation serves.
    fn expect_fault(
        &mut self,
        op: u16,
        arg: u32,
        kind: FaultKind,
        address: Option<u32>,
    ) -> Result<abi::FaultRecord, LineBuf> {
        let before = self.assist_status()?;
        let (code, _) = self.call(op, arg, &mut [0u8; 4], &[]);
        let expected_gen = Generation(((before.generation + 1) as u8) & Generation::MASK);
        match dead_generation(code) {
            Some(g) if g == expected_gen => {}
            Some(g) => fail!(
                "DEAD code carried generation {} instead of {}",
                g.0,
                expected_gen.0
            ),
            None => fail!("expected a DEAD code, got {code:#x}"),
        }
        let after = self.assist_status()?;
        let f = after.last_fault;
        check!(
            f.kind() == kind,
            "fault kind was '{}', expected '{}'",
            f.kind().describe(),
            kind.describe()
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
        self.assist = TaskId::new(self.assist.index() as u16, expected_gen);
        let mut reply = [0u8; 2];
        let (code, len) = sys_send(self.assist, OP_ECHO_PLUS_ONE, &[1, 2], &mut reply, &[]);
        check!(
            code == SUCCESS && len == 2 && reply == [2, 3],
            "restarted assistant did not serve: code {code:#x}"
        );
        Ok(f)
    }
}

fn ipc_ping_pong(s: &mut Suite) -> CaseResult {
    let mut reply = [0u8; 8];
    let (code, len) = sys_send(s.assist, OP_ECHO_PLUS_ONE, b"abcdef", &mut reply, &[]);
    check!(code == SUCCESS, "response code {code:#x}");
    check!(
        len == 6 && &reply[..6] == b"bcdefg",
        "reply {:?} (len {len})",
        &reply[..len.min(8)]
    );
    Ok(())
}

fn lease_read_is_borrowed(s: &mut Suite) -> CaseResult {
    let mut data = [0u8; 100];
    for (i, b) in data.iter_mut().enumerate() {
        *b = i as u8 + 1;
    }
    let mut reply = [0u8; 4];
    let (code, _) = s.call(OP_SUM_LEASE, 0, &mut reply, &[lease_read(&data)]);
    check!(code == SUCCESS, "response code {code:#x}");
    check!(word(&reply) == 5050, "sum {} instead of 5050", word(&reply));
    Ok(())
}

fn lease_write_is_borrowed(s: &mut Suite) -> CaseResult {
    let mut data = [0u8; 40];
    let mut reply = [0u8; 4];
    let (code, _) = s.call(OP_FILL_LEASE, 0x5a, &mut reply, &[lease_write(&mut data)]);
    check!(
        code == SUCCESS && word(&reply) == 40,
        "code {code:#x}, wrote {}",
        word(&reply)
    );
    for (i, &b) in data.iter().enumerate() {
        check!(b == (i as u8) ^ 0x5a, "byte {i} is {b:#x}");
    }
    Ok(())
}

fn lease_out_of_bounds_borrow_refused(s: &mut Suite) -> CaseResult {
    let data = [7u8; 16];
    let mut reply = [0u8; 4];
    let (code, _) = s.call(OP_BORROW_AT, 0, &mut reply, &[lease_read(&data)]);
    check!(
        code == SUCCESS && word(&reply) == SUCCESS,
        "in-bounds borrow gave {:#x}",
        word(&reply)
    );
    let (code, _) = s.call(OP_BORROW_AT, 10, &mut reply, &[lease_read(&data)]);
    check!(code == SUCCESS, "response code {code:#x}");
    check!(
        word(&reply) == BORROW_OUT_OF_RANGE,
        "out-of-bounds borrow gave {:#x}",
        word(&reply)
    );
    Ok(())
}

fn lease_of_foreign_memory_faults_sender(s: &mut Suite) -> CaseResult {
    let f = s.expect_fault(
        OP_LEASE_FOREIGN_MEMORY,
        SECRET.as_ptr() as u32,
        FaultKind::SyscallUsage,
        None,
    )?;
    check!(
        f.detail == UsageError::LeaseOutOfBounds as u32,
        "usage error {}",
        f.detail
    );
    Ok(())
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
    let a = SECRET.as_ptr() as u32;
    s.expect_fault(OP_READ_ADDRESS, a, FaultKind::LoadAccess, Some(a))
        .map(|_| ())
}

fn read_kernel_ram_faults(s: &mut Suite) -> CaseResult {
    s.expect_fault(
        OP_READ_ADDRESS,
        KERNEL_RAM_BASE,
        FaultKind::LoadAccess,
        Some(KERNEL_RAM_BASE),
    )
    .map(|_| ())
}

fn write_kernel_text_faults(s: &mut Suite) -> CaseResult {
    s.expect_fault(
        OP_WRITE_ADDRESS,
        0x8000_0000,
        FaultKind::StoreAccess,
        Some(0x8000_0000),
    )
    .map(|_| ())
}

fn read_ungranted_device_faults(s: &mut Suite) -> CaseResult {
    s.expect_fault(
        OP_READ_ADDRESS,
        VIRTIO_SLOT0,
        FaultKind::LoadAccess,
        Some(VIRTIO_SLOT0),
    )
    .map(|_| ())
}

fn stack_overflow_faults(s: &mut Suite) -> CaseResult {
    s.expect_fault(OP_OVERFLOW_STACK, 0, FaultKind::StackOverflow, None)
        .map(|_| ())
}

fn client_of_faulting_server_gets_dead(s: &mut Suite) -> CaseResult {
    s.expect_fault(OP_PANIC, 0, FaultKind::Panic, None)
        .map(|_| ())
}

fn stale_task_id_gets_dead(s: &mut Suite) -> CaseResult {
    let stale = TaskId::new(s.assist.index() as u16, Generation(0));
    check!(
        stale != s.assist,
        "assistant was never restarted, cannot test"
    );
    let (code, _) = sys_send(stale, OP_ECHO_PLUS_ONE, &[1], &mut [0u8; 1], &[]);
    check!(
        dead_generation(code) == Some(s.assist.generation()),
        "stale send gave {code:#x}"
    );
    Ok(())
}

fn bad_syscall_number_faults_caller(s: &mut Suite) -> CaseResult {
    let f = s.expect_fault(OP_BAD_SYSCALL, 0, FaultKind::SyscallUsage, None)?;
    check!(
        f.detail == UsageError::BadSyscallNumber as u32,
        "usage error {}",
        f.detail
    );
    Ok(())
}

fn illegal_instruction_faults(s: &mut Suite) -> CaseResult {
    s.expect_fault(
        OP_ILLEGAL_INSTRUCTION,
        0,
        FaultKind::IllegalInstruction,
        None,
    )
    .map(|_| ())
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

fn post_notification_arrives(s: &mut Suite) -> CaseResult {
    let mut reply = [0u8; 4];
    let (code, _) = s.call(OP_POST_TO_CALLER, POST_BIT, &mut reply, &[]);
    check!(
        code == SUCCESS && word(&reply) == SUCCESS,
        "post gave {:#x}/{:#x}",
        code,
        word(&reply)
    );
    let bits = sys_recv_notification(POST_BIT | TIMER_BIT);
    check!(bits == POST_BIT, "woke with bits {bits:#x}");
    Ok(())
}

#[export_name = "main"]
fn main() -> ! {
    let mut s = Suite {
        assist: tasks::ASSIST,
        supervisor: Supervisor(tasks::SUPERVISOR),
        failed: 0,
    };
    let cases: &[(&str, fn(&mut Suite) -> CaseResult)] = &[
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
            "bad_syscall_number_faults_caller",
            bad_syscall_number_faults_caller,
        ),
        ("illegal_instruction_faults", illegal_instruction_faults),
        ("timer_notification_arrives", timer_notification_arrives),
        ("post_notification_arrives", post_notification_arrives),
    ];
    for (name, case) in cases {
        s.run(name, *case);
    }
    sys_log!("[test] done");
    let _ = s.supervisor.shutdown(s.failed);
    loop {
        sys_recv_notification(0);
    }
}
