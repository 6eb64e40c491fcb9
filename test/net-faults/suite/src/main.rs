//! Fault injection into the NIC driver during a transfer (test image
//! `test/net-faults.toml` only): after a start delay that lets the host's
//! transfer begin, it asks `net0` to commit [`ROUNDS`] faults, cycling
//! through every `fault_inject::DriverFault` kind, one every [`PERIOD_MS`].
//! Each is logged as `injected <kind> (<n>/<ROUNDS>)`, and the end as
//! `net-fault-test: done`; `cargo xtask test` reads both while it checks
//! that the transfer came through byte-exact.
//!
//! It must never be part of an image that ships.

#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use fault_inject::{DriverFault, FaultInjectClient, InjectError};
use idol_runtime::{RequestError, UserlibIpc};
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

#[export_name = "main"]
fn main() -> ! {
    let nic = FaultInjectClient::new(UserlibIpc, tasks::NET0);
    sleep_ms(START_MS, TIMER_BIT);
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
