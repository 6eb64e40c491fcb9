//! Client side of the supervisor's IPC interface.
//!
//! The supervisor answers status queries (for the shell and tests) and, in
//! test images, a request to stop the machine. It must never be called by a
//! task that does not name `supervisor` in its task slots (the kernel
//! refuses it).

#![no_std]

use abi::{TaskId, TaskStatus};
use zerocopy::FromBytes;

/// Operation: status of the task whose index is the `u32` message.
pub const OP_TASK_STATUS: u16 = 1;
/// Operation: stop the machine with the `u32` exit code (test images).
pub const OP_SHUTDOWN: u16 = 2;

/// Response code: no task with that index.
pub const ERR_NO_SUCH_TASK: u32 = 1;
/// Response code: malformed request.
pub const ERR_BAD_REQUEST: u32 = 2;

/// Errors of a supervisor call.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The supervisor answered with this code.
    Code(u32),
    /// The reply was not a status record.
    BadReply,
}

/// A handle on the supervisor.
pub struct Supervisor(pub TaskId);

impl Supervisor {
    /// The status of task `index`.
    pub fn task_status(&self, index: usize) -> Result<TaskStatus, Error> {
        let mut reply = [0u8; core::mem::size_of::<TaskStatus>()];
        let (code, len) = userlib::sys_send(
            self.0,
            OP_TASK_STATUS,
            &(index as u32).to_le_bytes(),
            &mut reply,
            &[],
        );
        if code != abi::SUCCESS {
            return Err(Error::Code(code));
        }
        TaskStatus::read_from_bytes(&reply[..len]).map_err(|_| Error::BadReply)
    }

    /// Asks the supervisor to stop the machine (test images only).
    pub fn shutdown(&self, code: u32) -> Result<(), Error> {
        let (rc, _) = userlib::sys_send(self.0, OP_SHUTDOWN, &code.to_le_bytes(), &mut [], &[]);
        match rc {
            abi::SUCCESS => Ok(()),
            c => Err(Error::Code(c)),
        }
    }
}
