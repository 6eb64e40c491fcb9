//! The IDL test image's assistant: when the suite asks, it sends the Ping
//! server one hand-crafted malformed request with a raw `sys_send`, and the
//! server's generated dispatch must answer with `reply_fault`, which faults
//! the assistant (FaultKind::FromServer). The supervisor restarts it; the
//! suite, waiting on its own call, gets `ServerRestarted` and reads the fault
//! record.
//!
//! This is the one place outside the kernel tests where messages are packed
//! by hand, on purpose: the point is what generated dispatch does with bytes
//! no generated client would send. It must never send a well-formed request.

#![no_std]
#![no_main]

use abi::{Lease, TaskId};
use idol_runtime::Served;
use idol_test_api::Malformation;
use ping_api::PingOp;
use userlib::{lease_read, lease_write, sys_refresh_task_id, sys_send, tasks};

include!(concat!(env!("OUT_DIR"), "/idol_test_assist_server.rs"));

/// The `(a, b)` of an `add`, packed as the generated request is.
fn add_args() -> [u8; 8] {
    let mut m = [0u8; 8];
    m[..4].copy_from_slice(&1u32.to_le_bytes());
    m[4..].copy_from_slice(&2u32.to_le_bytes());
    m
}

/// Sends `kind` to `server`; returns the response code (reached only if the
/// server failed to refuse the request).
fn send(server: TaskId, kind: Malformation) -> u32 {
    let mut reply = [0u8; 8];
    let none: &[Lease] = &[];
    let (code, _) = match kind {
        Malformation::WrongLength => {
            sys_send(server, PingOp::Add as u16, &[0; 4], &mut reply, none)
        }
        Malformation::MissingLease => sys_send(server, PingOp::Sum as u16, &[], &mut reply, none),
        Malformation::ReadOnlyLease => {
            let buf = [0u8; 16];
            sys_send(
                server,
                PingOp::Fill as u16,
                &[0x5a],
                &mut reply,
                &[lease_read(&buf)],
            )
        }
        Malformation::UnknownOp => sys_send(server, 0x7777, &[], &mut reply, none),
        Malformation::LeaseTooLong => {
            let buf = [0u8; 4097];
            sys_send(
                server,
                PingOp::Sum as u16,
                &[],
                &mut reply,
                &[lease_read(&buf)],
            )
        }
        Malformation::ReplyBufferTooSmall => sys_send(
            server,
            PingOp::Add as u16,
            &add_args(),
            &mut reply[..1],
            none,
        ),
        Malformation::ExtraLease => {
            let mut buf = [0u8; 4];
            sys_send(
                server,
                PingOp::Add as u16,
                &add_args(),
                &mut reply,
                &[lease_write(&mut buf)],
            )
        }
    };
    code
}

struct Assist;

impl idol_runtime::NotificationHandler for Assist {}

impl IdolTestAssistServer for Assist {
    fn send_malformed(&mut self, _: TaskId, kind: Malformation) -> Served<u32> {
        // The Ping server may have restarted since the image started.
        Ok(send(sys_refresh_task_id(tasks::PING_SERVER), kind))
    }
}

#[export_name = "main"]
fn main() -> ! {
    let mut buffer = [0u8; IDOL_TEST_ASSIST_BUFFER_SIZE];
    loop {
        idol_test_assist_serve_once(&mut Assist, &idol_runtime::UserlibIpc, &mut buffer);
    }
}
