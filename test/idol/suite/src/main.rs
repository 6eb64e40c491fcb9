//! The IDL test suite: checks, on the real kernel, that code generated from
//! `idl/ping.idol` works end to end. It reports each case on the console as
//! `[test] case <name> ... ok` or `... FAIL: <reason>`, then `[test] done`,
//! then asks the supervisor to stop the machine with the failure count.
//!
//! * every op kind through the generated `PingClient`: plain arguments,
//!   read lease, write lease, hubpack enum reply, error reply;
//! * malformed requests, which the assistant sends raw when asked: each must
//!   fault the assistant (never the server) with the right `reply_fault`
//!   reason, read back through the supervisor, and the server must go on
//!   serving;
//! * a server killed mid-call gives `ServerRestarted`, and an idempotent op
//!   called with a stale `TaskId` is retried on the new incarnation.
//!
//! A case must never pass by skipping: every path that does not reach its
//! assertions reports a failure.

#![no_std]
#![no_main]
// A case fails with its message formatted on the stack (no allocator):
// the large `Err` is the point, and only ever moved once per case.
#![allow(clippy::result_large_err)]

use abi::{FaultKind, TaskState};
use idol_runtime::{RequestError, UserlibIpc};
use idol_test_api::{IdolTestAssistClient, Malformation};
use ping_api::{PingClient, PingError, PingStatus};
use test_harness::{check, fail, task_status, Case, CaseResult};
use userlib::tasks;

struct Suite {
    ping: PingClient<UserlibIpc>,
    assist: IdolTestAssistClient<UserlibIpc>,
}

impl Suite {
    /// A normal call right after something else happened to the server.
    fn server_still_serves(&self, what: &str) -> CaseResult {
        match self.ping.add(40, 2) {
            Ok(42) => Ok(()),
            r => fail!("add(40, 2) after {what} gave {r:?}"),
        }
    }
}

fn add_plain_args(s: &mut Suite) -> CaseResult {
    check!(
        s.ping.add(2, 3) == Ok(5),
        "add(2, 3) gave {:?}",
        s.ping.add(2, 3)
    );
    let r = s.ping.add(u32::MAX, 2);
    check!(
        r == Ok(1),
        "add(u32::MAX, 2) gave {r:?}, expected the wrapped 1"
    );
    Ok(())
}

fn sum_read_lease(s: &mut Suite) -> CaseResult {
    let mut data = [0u8; 4096];
    for (i, b) in data.iter_mut().take(100).enumerate() {
        *b = i as u8 + 1;
    }
    let r = s.ping.sum(&data[..100]);
    check!(r == Ok(5050), "sum of 1..=100 gave {r:?}");
    let r = s.ping.sum(&[]);
    check!(r == Ok(0), "sum of an empty lease gave {r:?}");
    // The whole max_len, so the server reads it in several chunks.
    data.fill(0xff);
    let r = s.ping.sum(&data);
    check!(r == Ok(4096 * 255), "sum of 4096 x 0xff gave {r:?}");
    Ok(())
}

fn fill_write_lease(s: &mut Suite) -> CaseResult {
    let mut buf = [0u8; 1000];
    let r = s.ping.fill(0xa5, &mut buf[..40]);
    check!(r == Ok(40), "fill of 40 bytes gave {r:?}");
    check!(
        buf[..40].iter().all(|&b| b == 0xa5) && buf[40..].iter().all(|&b| b == 0),
        "fill wrote outside its lease or missed bytes"
    );
    let r = s.ping.fill(0x3c, &mut buf);
    check!(r == Ok(1000), "fill of 1000 bytes gave {r:?}");
    if let Some(i) = buf.iter().position(|&b| b != 0x3c) {
        fail!("byte {i} is {:#x} after fill(0x3c)", buf[i]);
    }
    Ok(())
}

fn status_hubpack_enum(s: &mut Suite) -> CaseResult {
    let before = match s.ping.status() {
        Ok(PingStatus::Served { requests }) => requests,
        r => fail!("status after the earlier cases gave {r:?}, expected Served"),
    };
    s.server_still_serves("status")?;
    let r = s.ping.status();
    check!(
        r == Ok(PingStatus::Served {
            requests: before + 1
        }),
        "status after one more add gave {r:?}, expected Served {{ requests: {} }}",
        before + 1
    );
    Ok(())
}

fn divide_error_reply(s: &mut Suite) -> CaseResult {
    let r = s.ping.divide(7, 2);
    check!(r == Ok(3), "divide(7, 2) gave {r:?}");
    let r = s.ping.divide(7, 0);
    check!(
        r == Err(RequestError::Server(PingError::DivideByZero)),
        "divide(7, 0) gave {r:?}"
    );
    Ok(())
}

fn checksum_arg_and_lease(s: &mut Suite) -> CaseResult {
    let mut data = [0u8; 4096];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i * 7 + (i >> 8)) as u8;
    }
    let seed = 0x0123_4567_89ab_cdef;
    let expected = ping_api::checksum_update(seed, &data);
    let r = s.ping.checksum(seed, &data);
    check!(
        r == Ok(expected),
        "checksum gave {r:x?}, expected {expected:#x}"
    );
    Ok(())
}

/// Asks the assistant to send `kind`; checks that the server faulted the
/// assistant (and only it) with the expected reason and kept serving.
fn malformed(s: &mut Suite, kind: Malformation) -> CaseResult {
    let assist = s.assist.task_id();
    let server = tasks::PING_SERVER.index();
    let assist_before = task_status(assist)?;
    let server_before = task_status(tasks::PING_SERVER)?;

    let r = s.assist.send_malformed(kind);
    check!(
        r == Err(RequestError::ServerRestarted),
        "the assistant was not faulted: send_malformed gave {r:?}"
    );

    let after = task_status(assist)?;
    let f = after.last_fault;
    check!(
        f.kind() == FaultKind::FromServer,
        "assistant fault kind '{}', expected '{}'",
        f.kind().describe(),
        FaultKind::FromServer.describe()
    );
    let reason = kind.expected_reason();
    let detail = ((server as u32) << 16) | reason as u32;
    check!(
        f.detail == detail,
        "fault detail {:#x} (server {}, reason {:?}), expected {detail:#x} (server {server}, {})",
        f.detail,
        f.detail >> 16,
        abi::ReplyFaultReason::from_u32(f.detail & 0xffff).map(|r| r.describe()),
        reason.describe()
    );
    check!(
        after.fault_count == assist_before.fault_count + 1,
        "assistant fault count went {} -> {}",
        assist_before.fault_count,
        after.fault_count
    );
    check!(
        TaskState::from_u32(after.state) != Some(TaskState::Faulted),
        "assistant was not restarted"
    );

    let server_after = task_status(tasks::PING_SERVER)?;
    check!(
        server_after.generation == server_before.generation
            && server_after.fault_count == server_before.fault_count,
        "the server itself faulted or restarted (generation {} -> {}, faults {} -> {})",
        server_before.generation,
        server_after.generation,
        server_before.fault_count,
        server_after.fault_count
    );
    s.server_still_serves("the malformed request")
}

fn crash_gives_server_restarted(s: &mut Suite) -> CaseResult {
    let server = s.ping.task_id();
    let before = task_status(server)?;
    let r = s.ping.crash();
    check!(r == Err(RequestError::ServerRestarted), "crash gave {r:?}");
    let after = task_status(server)?;
    check!(
        after.last_fault.kind() == FaultKind::Panic,
        "server fault kind '{}', expected panic",
        after.last_fault.kind().describe()
    );
    check!(
        after.generation == before.generation + 1,
        "server generation {} -> {}",
        before.generation,
        after.generation
    );
    check!(
        s.ping.task_id().generation().0 as u32 == after.generation,
        "the client did not refresh its TaskId: generation {}, server is at {}",
        s.ping.task_id().generation().0,
        after.generation
    );
    // The same client now talks to the fresh incarnation.
    let r = s.ping.status();
    check!(
        r == Ok(PingStatus::Idle),
        "status of the restarted server gave {r:?}"
    );
    Ok(())
}

fn stale_client_idempotent_op_retried(s: &mut Suite) -> CaseResult {
    let stale = PingClient::new(UserlibIpc, tasks::PING_SERVER);
    check!(
        stale.task_id() != s.ping.task_id(),
        "the server was never restarted, cannot test (its id is {:?})",
        s.ping.task_id()
    );
    let r = stale.add(20, 22);
    check!(r == Ok(42), "idempotent add through a stale id gave {r:?}");
    check!(
        stale.task_id() == s.ping.task_id(),
        "the stub did not refresh its id: {:?}, server is {:?}",
        stale.task_id(),
        s.ping.task_id()
    );
    // The contrast: a non-idempotent op is not retried.
    let stale = PingClient::new(UserlibIpc, tasks::PING_SERVER);
    let r = stale.divide(6, 3);
    check!(
        r == Err(RequestError::ServerRestarted),
        "non-idempotent divide through a stale id gave {r:?}"
    );
    let r = stale.divide(6, 3);
    check!(r == Ok(2), "divide after the refresh gave {r:?}");
    Ok(())
}

/// The calls that must work, in order.
const CALLS: &[Case<Suite>] = &[
    ("add_plain_args", add_plain_args),
    ("sum_read_lease", sum_read_lease),
    ("fill_write_lease", fill_write_lease),
    ("status_hubpack_enum_reply", status_hubpack_enum),
    ("divide_by_zero_error_reply", divide_error_reply),
    ("checksum_u64_arg_and_4k_lease", checksum_arg_and_lease),
];

/// Restarts of the server, after the malformed requests.
const RESTARTS: &[Case<Suite>] = &[
    (
        "crash_mid_call_gives_server_restarted",
        crash_gives_server_restarted,
    ),
    (
        "stale_client_idempotent_op_retried_on_restarted_server",
        stale_client_idempotent_op_retried,
    ),
];

#[export_name = "main"]
fn main() -> ! {
    let mut s = Suite {
        ping: PingClient::new(UserlibIpc, tasks::PING_SERVER),
        assist: IdolTestAssistClient::new(UserlibIpc, tasks::ASSIST),
    };
    let mut failed = test_harness::run_cases(&mut s, CALLS);
    for kind in Malformation::ALL {
        let name = match kind {
            Malformation::WrongLength => "malformed_wrong_length_faults_sender",
            Malformation::MissingLease => "malformed_missing_lease_faults_sender",
            Malformation::ReadOnlyLease => "malformed_read_only_lease_faults_sender",
            Malformation::UnknownOp => "malformed_unknown_op_faults_sender",
            Malformation::LeaseTooLong => "malformed_lease_over_max_len_faults_sender",
            Malformation::ReplyBufferTooSmall => "malformed_reply_buffer_too_small_faults_sender",
            Malformation::ExtraLease => "malformed_extra_lease_faults_sender",
        };
        failed += test_harness::run_case(&mut s, name, |s| malformed(s, kind));
    }
    failed += test_harness::run_cases(&mut s, RESTARTS);
    test_harness::finish(failed)
}
