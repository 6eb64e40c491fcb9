//! Fault injection into the NIC driver during a transfer (test image
//! `test/net-faults.toml` only): after a start delay that lets the host's
//! transfer begin, it tells `net0` to refuse the stack's `send_batch` calls
//! ([`refusal`], logged as `refusal: ok: ...` or `refusal: FAILED: ...`),
//! then asks it to commit [`ROUNDS`] faults, cycling through every
//! `fault_inject::DriverFault` kind, one every [`PERIOD_MS`]. Each is
//! logged as `injected <kind> (<n>/<ROUNDS>)`, and the end as
//! `net-fault-test: done`; `cargo xtask test` reads them all while it
//! checks that the transfer came through byte-exact.
//!
//! It must never be part of an image that ships.

#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use ethernet_api::{Batch, EthernetOp};
use fault_inject::{DriverFault, FaultInjectClient, InjectError};
use idol_runtime::{RequestError, UserlibIpc};
use test_harness::{latest_restart_cause, task_status};
use userlib::abi::{Generation, RestartCause, TaskId};
use userlib::{sleep_ms, sys_log, tasks};

/// Notification bits, in app.toml order: `notifications = ["timer"]`.
const TIMER_BIT: u32 = 1 << 0;

/// Faults injected in all (at least two of every kind).
const ROUNDS: usize = 30;
/// Time between injections.
const PERIOD_MS: u64 = 450;
/// Time before the first, for the host to start its transfer.
const START_MS: u64 = 1500;

/// The kernel's RAM in this image (`[kernel] text = 65536` puts it at
/// 0x8000_0000 + 64 KiB).
const KERNEL_RAM: u32 = 0x8001_0000;
/// The UART, granted to no task in the image.
const UART: u32 = 0x1000_0000;

/// A word of this task's RAM: another task's RAM as net0 sees it.
static VICTIM: u32 = 0;

fn refused(e: InjectError) -> &'static str {
    match e {
        InjectError::UnknownKind => "refused: unknown kind",
        InjectError::NoQueue => "refused: no queue",
        InjectError::NotCommitted => "refused: not committed",
    }
}

/// How long the supervisor may take to restart net0 once it refuses.
const REFUSAL_MS: u64 = 3000;

/// net0, as if a flipped bit had corrupted its dispatch, refuses the
/// stack's `send_batch` calls (`refuse`) while the host's transfer runs.
/// Nothing faults, and net0 answers every other call, so only the refused
/// call itself can convict it: a `Batch` is a named type, whose bytes must
/// decode, so the supervisor must judge the call by the message bytes the
/// kernel recorded. It must restart net0 (a new generation, no fault, the
/// restart log's cause `Rejecting`) at the first refusal; the stack's own
/// record must show that call. Logs `refusal: ok: <evidence>` or
/// `refusal: FAILED: <evidence>`, and in the second case stops the
/// refusing, so that the transfer can end.
fn refusal(nic: &FaultInjectClient<UserlibIpc>) -> test_harness::CaseResult {
    let before = task_status(tasks::NET0)?;
    let count0 = task_status(tasks::NET)?.rejected_call.count;
    let op = EthernetOp::SendBatch as u32;
    if let Err(e) = nic.refuse(1000, op) {
        test_harness::fail!("refuse(1000, send_batch) failed: {e:?}");
    }
    let mut after = before;
    for _ in 0..REFUSAL_MS / 20 {
        sleep_ms(20, TIMER_BIT);
        after = task_status(tasks::NET0)?;
        if after.generation != before.generation {
            break;
        }
    }
    let call = task_status(tasks::NET)?.rejected_call;
    let cause = latest_restart_cause(tasks::NET0).ok().flatten();
    let refused_by = TaskId::new(
        tasks::NET0.index() as u16,
        Generation(before.generation as u16),
    );
    let ok = after.generation == before.generation + 1
        && after.fault_count == before.fault_count
        && cause == Some(RestartCause::Rejecting)
        && call.count != count0
        && call.server == refused_by.0
        && call.operation == op
        && call.message_len == core::mem::size_of::<Batch>() as u32
        && call.message_vouched == 1;
    if !ok {
        let _ = nic.refuse(0, 0);
    }
    sys_log!(
        "refusal: {} net0 gen {} -> {}, faults {} -> {}, cause {cause:?}; net's refused \
         call #{}: op {} to {:#x}, {} bytes, vouched message {} lease {}",
        if ok { "ok:" } else { "FAILED:" },
        before.generation,
        after.generation,
        before.fault_count,
        after.fault_count,
        call.count,
        call.operation,
        call.server,
        call.message_len,
        call.message_vouched,
        call.lease_vouched,
    );
    Ok(())
}

#[export_name = "main"]
fn main() -> ! {
    let nic = FaultInjectClient::new(UserlibIpc, tasks::NET0);
    sleep_ms(START_MS, TIMER_BIT);
    if let Err(e) = refusal(&nic) {
        let why = core::str::from_utf8(e.as_bytes()).unwrap_or("?");
        sys_log!("refusal: FAILED: {why}");
    }
    for n in 0..ROUNDS {
        let kind = DriverFault::ALL[n % DriverFault::ALL.len()];
        let arg = match kind {
            DriverFault::StoreKernelRam => KERNEL_RAM,
            DriverFault::StoreOtherTaskRam => core::ptr::addr_of!(VICTIM) as u32,
            DriverFault::StoreUngrantedDevice => UART,
            DriverFault::WildJump => 0x10,
            _ => 0x5a5a_0000 | n as u32,
        };
        // Inject into a live incarnation with a device: wait until net0
        // answers (kind 0 is no fault, so a live driver refuses it) and,
        // for the queue kinds, until it has a queue to corrupt.
        let outcome = loop {
            if nic.inject(0, 0) != Err(RequestError::Server(InjectError::UnknownKind)) {
                sleep_ms(20, TIMER_BIT);
                continue;
            }
            match nic.inject(kind as u32, arg) {
                Ok(()) => break "queue corrupted",
                Err(RequestError::ServerRestarted) => break "driver died",
                Err(RequestError::ServerStopped) => break "driver left stopped",
                Err(RequestError::Server(InjectError::NoQueue)) => sleep_ms(20, TIMER_BIT),
                Err(RequestError::Server(e)) => break refused(e),
                // An untrusted driver's rejection or garbled answer.
                Err(RequestError::Protocol(_)) => break "driver answered outside the protocol",
            }
        };
        sys_log!(
            "injected {} ({}/{ROUNDS}): {outcome}",
            kind.describe(),
            n + 1
        );
        sleep_ms(PERIOD_MS, TIMER_BIT);
    }
    sys_log!("net-fault-test: done");
    loop {
        sleep_ms(60_000, TIMER_BIT);
    }
}
