//! The errors of a call, as the client and as the server see them.

use abi::ReplyFaultReason;
use core::convert::Infallible;
use core::fmt;

/// The server a client stub called died before or during the call. The stub
/// has already refreshed its `TaskId`: the next call goes to the new
/// incarnation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ServerRestarted;

impl fmt::Display for ServerRestarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("server restarted during the call")
    }
}

/// A code the kernel answered with (`abi::REFUSED_*`, `abi::BORROW_*`):
/// shown by its name and meaning, not as a number, because it names a
/// mistake in the image (a missing slot) or a lender gone, which whoever
/// reads the log must be able to tell apart.
#[derive(Copy, Clone, PartialEq, Eq)]
pub struct KernelCode(pub u32);

impl fmt::Debug for KernelCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match abi::kernel_code_name(self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "KernelCode({:#x})", self.0),
        }
    }
}

impl fmt::Display for KernelCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (
            abi::kernel_code_name(self.0),
            abi::kernel_code_meaning(self.0),
        ) {
            (Some(name), Some(meaning)) => write!(f, "{meaning} ({name})"),
            _ => write!(f, "kernel code {:#x}", self.0),
        }
    }
}

/// What a client stub returns on failure. `E` is the op's error enum, or
/// [`Infallible`] for an op without one (see [`CallError`]).
///
/// A client stub never panics because of what its server did: a server is
/// as likely to be broken as its client (drivers are not trusted), so
/// anything it answers outside the protocol is a [`ProtocolError`] value.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RequestError<E> {
    /// The server answered with the op's error.
    Server(E),
    /// The server died before or during the call (see [`ServerRestarted`]).
    ServerRestarted,
    /// The server is stopped and no restart is coming (`abi::SERVER_STOPPED`):
    /// app.toml does not start it, or the supervisor left it stopped at its
    /// restart limit. Calling again will not help until an operator
    /// restarts it (the shell's `restart`); a server that is only waiting
    /// out its restart backoff answers [`RequestError::ServerRestarted`].
    ServerStopped,
    /// The server (or the kernel) answered outside the op's protocol.
    Protocol(ProtocolError),
}

/// The error of an op that declares no error enum: it can still fail by
/// the server dying or breaking the protocol.
pub type CallError = RequestError<Infallible>;

/// How an answer broke the protocol of a call. Each says whom to blame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// An untrusted server refused the request with `reply_fault` and the
    /// kernel passed its verdict on as a code instead of faulting us
    /// (`abi::rejected_code`). Either this client sent a malformed request
    /// or the server is broken; the server is the one not trusted.
    Rejected(ReplyFaultReason),
    /// The kernel refused the send (a code at or above
    /// `abi::KERNEL_CODE_BASE`: the server is not in this task's slots, not
    /// more important, or does not exist): the image is misconfigured.
    Refused(KernelCode),
    /// The server answered with a response code the op does not define.
    UnknownCode(u32),
    /// The server answered with bytes that are not the op's reply (wrong
    /// length or contents).
    BadReply {
        /// The response code that came with them.
        code: u32,
        /// How many bytes the server sent.
        len: usize,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Rejected(r) => {
                write!(f, "server rejected the request ({})", r.describe())
            }
            ProtocolError::Refused(code) => write!(f, "kernel refused the call: {code}"),
            ProtocolError::UnknownCode(code) => {
                write!(f, "server answered with unknown response code {code:#x}")
            }
            ProtocolError::BadReply { code, len } => write!(
                f,
                "server's reply ({len} bytes, code {code:#x}) does not decode"
            ),
        }
    }
}

impl<E> From<ProtocolError> for RequestError<E> {
    fn from(e: ProtocolError) -> Self {
        RequestError::Protocol(e)
    }
}

impl<E> From<ServerRestarted> for RequestError<E> {
    fn from(_: ServerRestarted) -> Self {
        RequestError::ServerRestarted
    }
}

impl<E: fmt::Display> fmt::Display for RequestError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Server(e) => e.fmt(f),
            RequestError::ServerRestarted => ServerRestarted.fmt(f),
            RequestError::ServerStopped => {
                f.write_str("server stopped (restart limit reached, or never started)")
            }
            RequestError::Protocol(e) => e.fmt(f),
        }
    }
}

/// What a server method returns instead of its value.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ServerError<E> {
    /// The op's own error: sent to the client as the response code.
    Error(E),
    /// Refuse the request: the kernel faults the client with this reason.
    /// For requests that decode but make no sense (an offset past the end of
    /// a lease, say): the client is to blame.
    Fault(ReplyFaultReason),
}

/// What a server method returns: its reply's value, or a [`ServerError`].
/// `E` is the op's own error; it defaults to [`Infallible`] for an op that
/// has none, so `Served<u32>` is an op that answers a `u32` or refuses.
pub type Served<T, E = Infallible> = Result<T, ServerError<E>>;

/// An error enum whose variants travel as response codes (generated from an
/// IDL `errors` entry: every code is explicit, non-zero and below
/// `abi::KERNEL_CODE_BASE`).
pub trait ErrorCode: Sized {
    /// The response code of this error.
    fn code(&self) -> u32;
    /// The error a response code names, `None` if none does.
    fn from_code(code: u32) -> Option<Self>;
}

/// The error type of ops that have none.
impl ErrorCode for Infallible {
    fn code(&self) -> u32 {
        match *self {}
    }

    fn from_code(_: u32) -> Option<Self> {
        None
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::{CallError, KernelCode, ProtocolError};
    use std::format;

    /// A client that forgot a slot reads which refusal it was, not
    /// `Refused(4294966785)`.
    #[test]
    fn kernel_codes_are_shown_by_name_and_meaning() {
        let e: CallError = ProtocolError::Refused(KernelCode(abi::REFUSED_NOT_IN_SLOTS)).into();
        assert_eq!(format!("{e:?}"), "Protocol(Refused(REFUSED_NOT_IN_SLOTS))");
        assert_eq!(
            format!("{e}"),
            "kernel refused the call: the target is not in the caller's `slots` in app.toml \
             (REFUSED_NOT_IN_SLOTS)"
        );
        for code in [
            abi::REFUSED_NOT_IN_SLOTS,
            abi::REFUSED_PRIORITY,
            abi::REFUSED_NO_SUCH_TASK,
            abi::REFUSED_NOT_SUPERVISOR,
            abi::REFUSED_POST_TARGET,
            abi::REFUSED_POST_BITS,
            abi::REFUSED_CLOSED_RECV,
            abi::BORROW_NOT_LENT,
            abi::BORROW_NO_SUCH_LEASE,
            abi::BORROW_OUT_OF_RANGE,
            abi::BORROW_WRONG_ATTRIBUTES,
        ] {
            let debug = format!("{:?}", KernelCode(code));
            assert!(
                debug.starts_with("REFUSED_") || debug.starts_with("BORROW_"),
                "{debug}"
            );
        }
        // A code the kernel does not define is shown in hex, not hidden.
        assert_eq!(
            format!("{:?}", KernelCode(0xffff_fe7f)),
            "KernelCode(0xfffffe7f)"
        );
        assert_eq!(
            format!("{}", KernelCode(0xffff_fe7f)),
            "kernel code 0xfffffe7f"
        );
    }
}
