//! The supervisor's kernel operations (`abi::Kipc`). Any other task calling
//! these gets `abi::REFUSED_NOT_SUPERVISOR`.

use abi::{Kipc, Sysnum, TaskStatus, SUCCESS};
use zerocopy::FromBytes;

use crate::raw::syscall;

fn kipc(op: Kipc, arg: u32, reply: &mut [u8]) -> Result<usize, u32> {
    kipc_bytes(op, &arg.to_le_bytes(), reply)
}

fn kipc_bytes(op: Kipc, msg: &[u8], reply: &mut [u8]) -> Result<usize, u32> {
    // SAFETY: `msg` is only read; `reply` is exclusively ours.
    let r = unsafe {
        syscall(
            Sysnum::Kipc,
            [
                op as usize,
                msg.as_ptr() as usize,
                msg.len(),
                reply.as_mut_ptr() as usize,
                reply.len(),
                0,
                0,
            ],
        )
    };
    if r[0] as u32 == SUCCESS {
        Ok(r[1])
    } else {
        Err(r[0] as u32)
    }
}

/// Status of task `index`.
pub fn task_status(index: usize) -> Result<TaskStatus, u32> {
    let mut buf = [0u8; core::mem::size_of::<TaskStatus>()];
    kipc(Kipc::TaskStatus, index as u32, &mut buf)?;
    TaskStatus::read_from_bytes(&buf).map_err(|_| u32::MAX)
}

/// Restarts task `index` from its image.
pub fn restart_task(index: usize) -> Result<(), u32> {
    kipc(Kipc::RestartTask, index as u32, &mut []).map(|_| ())
}

/// Leaves faulted task `index` stopped until a [`restart_task`]: calls to
/// it are refused with `abi::SERVER_STOPPED` meanwhile.
pub fn stop_task(index: usize) -> Result<(), u32> {
    kipc(Kipc::StopTask, index as u32, &mut []).map(|_| ())
}

/// Faults task `index` (fault kind `Injected`).
pub fn fault_task(index: usize) -> Result<(), u32> {
    kipc(Kipc::FaultTask, index as u32, &mut []).map(|_| ())
}

/// Number of tasks in the image.
pub fn task_count() -> usize {
    let mut buf = [0u8; 4];
    match kipc(Kipc::TaskCount, 0, &mut buf) {
        Ok(_) => u32::from_le_bytes(buf) as usize,
        Err(_) => 0,
    }
}

/// Stops the machine: `0` = pass, anything else = fail with that code.
pub fn shutdown(code: u32) -> Result<(), u32> {
    kipc(Kipc::Shutdown, code, &mut []).map(|_| ())
}

/// Gives task `index` virtio-mmio slot `slot`'s window and routes the slot's
/// interrupt to its notification `bits`.
pub fn grant_device(index: usize, slot: usize, bits: u32) -> Result<(), u32> {
    let mut msg = [0u8; 12];
    msg[..4].copy_from_slice(&(index as u32).to_le_bytes());
    msg[4..8].copy_from_slice(&(slot as u32).to_le_bytes());
    msg[8..].copy_from_slice(&bits.to_le_bytes());
    kipc_bytes(Kipc::GrantDevice, &msg, &mut []).map(|_| ())
}

/// Takes slot `slot`'s window and interrupt back from task `index`.
pub fn revoke_device(index: usize, slot: usize) -> Result<(), u32> {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&(index as u32).to_le_bytes());
    msg[4..].copy_from_slice(&(slot as u32).to_le_bytes());
    kipc_bytes(Kipc::RevokeDevice, &msg, &mut []).map(|_| ())
}

/// Corrupts task `index` (`abi::Injection` `kind` with `arg`) and returns
/// the kernel's evidence of what changed; only kernels built with the
/// `fault-injection` feature accept it.
pub fn inject(index: usize, kind: abi::Injection, arg: u32) -> Result<abi::InjectEvidence, u32> {
    let mut msg = [0u8; 12];
    msg[..4].copy_from_slice(&(index as u32).to_le_bytes());
    msg[4..8].copy_from_slice(&(kind as u32).to_le_bytes());
    msg[8..].copy_from_slice(&arg.to_le_bytes());
    let mut reply = [0u8; core::mem::size_of::<abi::InjectEvidence>()];
    let n = kipc_bytes(Kipc::Inject, &msg, &mut reply)?;
    if n != reply.len() {
        // A kernel that did not say what it changed: no evidence.
        return Err(u32::MAX);
    }
    abi::InjectEvidence::read_from_bytes(&reply).map_err(|_| u32::MAX)
}
