//! The supervisor: the most important task, and the only one with kernel IPC.
//!
//! It waits for the kernel's fault notification, logs every faulted task
//! (name, kind, address, pc) and restarts it; between faults it answers
//! status queries. It must never block on another task: it only receives
//! and replies, so a misbehaving task can never stall recovery.

#![no_std]
#![no_main]

use abi::{FaultKind, FaultRecord, TaskState, SUPERVISOR_FAULT_BIT};
use supervisor_api::{ERR_BAD_REQUEST, ERR_NO_SUCH_TASK, OP_SHUTDOWN, OP_TASK_STATUS};
use userlib::{kipc, sys_log, sys_recv, sys_reply};
use zerocopy::IntoBytes;

fn name(status: &abi::TaskStatus) -> &str {
    let n = status
        .name
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(status.name.len());
    core::str::from_utf8(&status.name[..n]).unwrap_or("?")
}

/// Kind-specific detail of a fault, in words.
struct Detail<'a>(&'a FaultRecord);

impl core::fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let r = self.0;
        match r.kind() {
            FaultKind::SyscallUsage => {
                let u = abi::UsageError::from_u32(r.detail);
                write!(
                    f,
                    " ({})",
                    u.map(|u| u.describe()).unwrap_or("unknown misuse")
                )
            }
            FaultKind::FromServer => {
                let why = abi::ReplyFaultReason::from_u32(r.detail & 0xffff);
                let why = why.map(|w| w.describe()).unwrap_or("unknown reason");
                write!(f, " ({why}, by task index {})", r.detail >> 16)
            }
            FaultKind::IllegalInstruction => write!(f, " ({:#010x})", r.detail),
            _ => Ok(()),
        }
    }
}

/// Logs and restarts every faulted task.
fn recover() {
    for i in 0..kipc::task_count() {
        let Ok(st) = kipc::task_status(i) else {
            continue;
        };
        if TaskState::from_u32(st.state) != Some(TaskState::Faulted) {
            continue;
        }
        let f = st.last_fault;
        sys_log!(
            "task {} faulted: {}{} at address {:#010x}, pc {:#010x}; restarting as generation {}",
            name(&st),
            f.kind().describe(),
            Detail(&f),
            f.address,
            f.pc,
            st.generation,
        );
        if let Err(code) = kipc::restart_task(i) {
            sys_log!("restart of task {} refused: code {code:#x}", name(&st));
        }
    }
}

#[export_name = "main"]
fn main() -> ! {
    let mut buf = [0u8; 8];
    loop {
        let msg = sys_recv(&mut buf, SUPERVISOR_FAULT_BIT, None);
        if msg.is_notification() {
            recover();
            continue;
        }
        let arg =
            (msg.message_len == 4).then(|| u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]));
        match (msg.operation as u16, arg) {
            (OP_TASK_STATUS, Some(i)) => match kipc::task_status(i as usize) {
                Ok(st) => sys_reply(msg.sender, abi::SUCCESS, st.as_bytes()),
                Err(_) => sys_reply(msg.sender, ERR_NO_SUCH_TASK, &[]),
            },
            (OP_SHUTDOWN, Some(code)) if cfg!(feature = "test-control") => {
                sys_log!(
                    "shutdown requested by task index {} with code {code}",
                    msg.sender.index()
                );
                let _ = kipc::shutdown(code);
                sys_reply(msg.sender, ERR_BAD_REQUEST, &[]);
            }
            _ => sys_reply(msg.sender, ERR_BAD_REQUEST, &[]),
        }
    }
}
