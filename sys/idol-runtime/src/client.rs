//! The steps of a generated client stub.

use crate::error::{ErrorCode, KernelCode, ProtocolError, RequestError};
use crate::ipc::{Call, Ipc, LeaseRef};
use abi::TaskId;
use core::cell::Cell;

/// Sends one request to `*task` and returns the response code and the reply.
///
/// A DEAD code means the server died before or during the call: `task` is
/// updated to the generation the code carries (no further syscall), then an
/// `idempotent` op is sent once more to the new incarnation, and anything
/// else — or a second death — returns `ServerRestarted`. The kernel
/// completes every send to a dead task, so this never waits on one. A
/// server left stopped (`abi::SERVER_STOPPED`) returns `ServerStopped`,
/// not retried: nothing will answer until an operator restarts it.
///
/// A reply length beyond the reply buffer (which the kernel never reports)
/// is a [`ProtocolError::BadReply`], not a panic.
pub fn call<'r, I: Ipc + ?Sized, E>(
    ipc: &I,
    task: &Cell<TaskId>,
    operation: u16,
    message: &[u8],
    reply: &'r mut [u8],
    leases: &mut [LeaseRef<'_>],
    idempotent: bool,
) -> Result<(u32, &'r [u8]), RequestError<E>> {
    let mut retried = false;
    loop {
        let target = task.get();
        let (code, len) = ipc.send(Call {
            target,
            operation,
            outgoing: message,
            incoming: &mut *reply,
            leases: &mut *leases,
        });
        match abi::dead_generation(code) {
            None if code == abi::SERVER_STOPPED => return Err(RequestError::ServerStopped),
            None => {
                return match reply.get(..len) {
                    Some(bytes) => Ok((code, bytes)),
                    None => Err(ProtocolError::BadReply { code, len }.into()),
                };
            }
            Some(generation) => {
                // The index is at most TaskId::INDEX_MASK, so it fits a u16.
                task.set(TaskId::new(target.index() as u16, generation));
                if idempotent && !retried {
                    retried = true;
                    continue;
                }
                return Err(RequestError::ServerRestarted);
            }
        }
    }
}

/// Judges a non-DEAD response code: `Ok` for success, else the op's own
/// error, a rejection passed on by the kernel, a kernel refusal, or an
/// unknown code — never a panic, whatever the server sent.
pub fn response<E: ErrorCode>(code: u32) -> Result<(), RequestError<E>> {
    if code == abi::SUCCESS {
        return Ok(());
    }
    if let Some(e) = E::from_code(code) {
        return Err(RequestError::Server(e));
    }
    let e = if let Some(reason) = abi::rejected_reason(code) {
        ProtocolError::Rejected(reason)
    } else if code >= abi::KERNEL_CODE_BASE {
        ProtocolError::Refused(KernelCode(code))
    } else {
        ProtocolError::UnknownCode(code)
    };
    Err(e.into())
}

/// Turns a decoded reply into the stub's result: bytes that do not decode
/// are the server's protocol error.
pub fn decoded<T, E>(value: Option<T>, code: u32, len: usize) -> Result<T, RequestError<E>> {
    value.ok_or(RequestError::Protocol(ProtocolError::BadReply {
        code,
        len,
    }))
}

/// Stops a client whose *own* request cannot be encoded (a generator or
/// api-crate bug: the buffer is sized from the type). Never used for what a
/// server sent.
#[cold]
#[track_caller]
pub fn protocol_violation(what: &str, code: u32) -> ! {
    panic!("idol: {what} (response code {code:#x})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CallError;
    use crate::mock::MockKernel;
    use abi::Generation;

    const RESTARTED: CallError = RequestError::ServerRestarted;

    const SERVER: TaskId = TaskId::new(2, Generation(0));

    /// A kernel whose server answers every call with its own operation
    /// number as the code and the message as the reply.
    fn echo_kernel() -> MockKernel {
        let kernel = MockKernel::new(SERVER);
        kernel.serve_with(16, |k, buffer, msg| {
            let len = msg.message_len.min(buffer.len());
            k.reply(msg.sender, msg.operation, &buffer[..len]);
        });
        kernel
    }

    #[test]
    fn passes_code_and_reply_through() {
        let kernel = echo_kernel();
        let task = Cell::new(SERVER);
        let mut reply = [0u8; 8];
        assert_eq!(
            call::<_, core::convert::Infallible>(
                &kernel,
                &task,
                7,
                b"hey",
                &mut reply,
                &mut [],
                false
            ),
            Ok((7, &b"hey"[..]))
        );
    }

    #[test]
    fn a_dead_server_refreshes_the_id_and_retries_only_idempotent_ops() {
        let kernel = echo_kernel();
        let task = Cell::new(SERVER);
        let mut reply = [0u8; 8];

        kernel.restart_server();
        assert_eq!(
            call(&kernel, &task, 0, b"", &mut reply, &mut [], false),
            Err(RESTARTED)
        );
        assert_eq!(task.get(), TaskId::new(2, Generation(1)));

        kernel.restart_server();
        assert_eq!(
            call::<_, core::convert::Infallible>(
                &kernel,
                &task,
                0,
                b"x",
                &mut reply,
                &mut [],
                true
            ),
            Ok((0, &b"x"[..]))
        );
        assert_eq!(task.get(), TaskId::new(2, Generation(2)));

        kernel.kill_server_during_next_calls(2);
        assert_eq!(
            call(&kernel, &task, 0, b"x", &mut reply, &mut [], true),
            Err(RESTARTED)
        );
        assert_eq!(task.get(), TaskId::new(2, Generation(4)));
    }

    #[test]
    fn a_server_left_stopped_is_not_called_again() {
        let kernel = echo_kernel();
        let task = Cell::new(SERVER);
        let mut reply = [0u8; 8];
        kernel.restart_server();
        kernel.stop_server(true);
        for id in [SERVER, TaskId::new(2, Generation(1))] {
            task.set(id);
            assert_eq!(
                call(&kernel, &task, 0, b"x", &mut reply, &mut [], true),
                Err(RequestError::<core::convert::Infallible>::ServerStopped)
            );
            assert_eq!(task.get(), id, "no generation to refresh to");
        }
        assert_eq!(kernel.calls_delivered(), 0);
        // Restarted by an operator: the stub's refresh finds it again.
        kernel.stop_server(false);
        task.set(SERVER);
        assert_eq!(
            call::<_, core::convert::Infallible>(
                &kernel,
                &task,
                0,
                b"x",
                &mut reply,
                &mut [],
                true
            ),
            Ok((0, &b"x"[..]))
        );
        assert_eq!(kernel.calls_delivered(), 1);
    }

    #[test]
    fn kernel_refusals_are_codes_for_the_stub_to_judge() {
        let kernel = MockKernel::new(SERVER);
        let task = Cell::new(TaskId::new(9, Generation(0)));
        let mut reply = [0u8; 1];
        assert_eq!(
            call::<_, core::convert::Infallible>(&kernel, &task, 0, b"", &mut reply, &mut [], true),
            Ok((abi::REFUSED_NO_SUCH_TASK, &[][..]))
        );
        assert_eq!(
            response::<core::convert::Infallible>(abi::REFUSED_NO_SUCH_TASK),
            Err(ProtocolError::Refused(KernelCode(abi::REFUSED_NO_SUCH_TASK)).into())
        );
    }

    /// An error enum with one code, as generated.
    #[derive(Debug, PartialEq)]
    struct Oops;
    impl ErrorCode for Oops {
        fn code(&self) -> u32 {
            5
        }
        fn from_code(code: u32) -> Option<Self> {
            (code == 5).then_some(Oops)
        }
    }

    #[test]
    fn every_response_code_is_judged_without_panicking() {
        use abi::ReplyFaultReason;
        assert_eq!(response::<Oops>(0), Ok(()));
        assert_eq!(response::<Oops>(5), Err(RequestError::Server(Oops)));
        assert_eq!(
            response::<Oops>(6),
            Err(RequestError::Protocol(ProtocolError::UnknownCode(6)))
        );
        assert_eq!(
            response::<core::convert::Infallible>(5),
            Err(RequestError::Protocol(ProtocolError::UnknownCode(5)))
        );
        assert_eq!(
            response::<Oops>(abi::rejected_code(ReplyFaultReason::BadLeases)),
            Err(RequestError::Protocol(ProtocolError::Rejected(
                ReplyFaultReason::BadLeases
            )))
        );
        assert_eq!(
            response::<Oops>(abi::REFUSED_PRIORITY),
            Err(RequestError::Protocol(ProtocolError::Refused(KernelCode(
                abi::REFUSED_PRIORITY
            ))))
        );
        // Every code a server can send, and the kernel's: none panics.
        for code in (0..300).chain(abi::KERNEL_CODE_BASE - 2..=abi::KERNEL_CODE_BASE + 2) {
            let _ = response::<Oops>(code);
        }
        assert_eq!(
            decoded::<u32, Oops>(None, 0, 3),
            Err(RequestError::Protocol(ProtocolError::BadReply {
                code: 0,
                len: 3
            }))
        );
    }

    #[test]
    fn a_reply_length_past_the_buffer_is_an_error_not_a_panic() {
        let kernel = echo_kernel();
        kernel.misreport_reply_len(99);
        let task = Cell::new(SERVER);
        let mut reply = [0u8; 4];
        assert_eq!(
            call::<_, Oops>(&kernel, &task, 0, b"", &mut reply, &mut [], false),
            Err(RequestError::Protocol(ProtocolError::BadReply {
                code: 0,
                len: 99
            }))
        );
    }

    #[test]
    #[should_panic(expected = "idol: Ping.add: reply does not decode (response code 0x0)")]
    fn protocol_violations_name_the_op() {
        protocol_violation("Ping.add: reply does not decode", 0);
    }
}
