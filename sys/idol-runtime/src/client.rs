//! The steps of a generated client stub.

use crate::error::ServerRestarted;
use crate::ipc::{Ipc, LeaseRef};
use abi::TaskId;
use core::cell::Cell;

/// Sends one request to `*task` and returns the response code and the reply.
///
/// A DEAD code means the server died before or during the call: `task` is
/// updated to the generation the code carries (no further syscall), then an
/// `idempotent` op is sent once more to the new incarnation, and anything
/// else — or a second death — returns [`ServerRestarted`]. The kernel
/// completes every send to a dead task, so this never waits on one.
///
/// Panics (in the calling client) if the kernel reports a reply longer than
/// the reply buffer, which it never does.
pub fn call<'r, I: Ipc + ?Sized>(
    ipc: &I,
    task: &Cell<TaskId>,
    operation: u16,
    message: &[u8],
    reply: &'r mut [u8],
    leases: &mut [LeaseRef<'_>],
    idempotent: bool,
) -> Result<(u32, &'r [u8]), ServerRestarted> {
    let mut retried = false;
    loop {
        let target = task.get();
        let (code, len) = ipc.send(target, operation, message, reply, leases);
        match abi::dead_generation(code) {
            None => {
                return match reply.get(..len) {
                    Some(bytes) => Ok((code, bytes)),
                    None => protocol_violation("reply longer than the reply buffer", code),
                };
            }
            Some(generation) => {
                // The index is at most TaskId::INDEX_MASK, so it fits a u16.
                task.set(TaskId::new(target.index() as u16, generation));
                if idempotent && !retried {
                    retried = true;
                    continue;
                }
                return Err(ServerRestarted);
            }
        }
    }
}

/// Stops a client whose server broke the protocol: an unknown response code
/// (including the kernel's refusals, which mean the image is misconfigured)
/// or a reply that does not decode. Servers are trusted by their clients;
/// faulting the client names the bug instead of inventing a value.
#[cold]
#[track_caller]
pub fn protocol_violation(what: &str, code: u32) -> ! {
    panic!("idol: {what} (response code {code:#x})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockKernel;
    use abi::Generation;

    const SERVER: TaskId = TaskId::new(2, Generation(0));

    fn echo_server(kernel: &MockKernel) {
        kernel.serve_with(16, |k, buffer, msg| {
            let len = msg.message_len.min(buffer.len());
            k.reply(msg.sender, msg.operation, &buffer[..len]);
        });
    }

    #[test]
    fn passes_code_and_reply_through() {
        let kernel = MockKernel::new(SERVER);
        echo_server(&kernel);
        let task = Cell::new(SERVER);
        let mut reply = [0u8; 8];
        assert_eq!(
            call(&kernel, &task, 7, b"hey", &mut reply, &mut [], false),
            Ok((7, &b"hey"[..]))
        );
    }

    #[test]
    fn a_dead_server_refreshes_the_id_and_retries_only_idempotent_ops() {
        let kernel = MockKernel::new(SERVER);
        echo_server(&kernel);
        let task = Cell::new(SERVER);
        let mut reply = [0u8; 8];

        kernel.restart_server();
        assert_eq!(
            call(&kernel, &task, 0, b"", &mut reply, &mut [], false),
            Err(ServerRestarted)
        );
        assert_eq!(task.get(), TaskId::new(2, Generation(1)));

        kernel.restart_server();
        assert_eq!(
            call(&kernel, &task, 0, b"x", &mut reply, &mut [], true),
            Ok((0, &b"x"[..]))
        );
        assert_eq!(task.get(), TaskId::new(2, Generation(2)));

        kernel.kill_server_during_next_calls(2);
        assert_eq!(
            call(&kernel, &task, 0, b"x", &mut reply, &mut [], true),
            Err(ServerRestarted)
        );
        assert_eq!(task.get(), TaskId::new(2, Generation(4)));
    }

    #[test]
    fn kernel_refusals_are_codes_for_the_stub_to_judge() {
        let kernel = MockKernel::new(SERVER);
        let task = Cell::new(TaskId::new(9, Generation(0)));
        let mut reply = [0u8; 1];
        assert_eq!(
            call(&kernel, &task, 0, b"", &mut reply, &mut [], true),
            Ok((abi::REFUSED_NO_SUCH_TASK, &[][..]))
        );
    }

    #[test]
    #[should_panic(expected = "idol: Ping.add: reply does not decode (response code 0x0)")]
    fn protocol_violations_name_the_op() {
        protocol_violation("Ping.add: reply does not decode", 0);
    }
}
