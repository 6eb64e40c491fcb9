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

/// What a client stub of an op with a `Result` reply returns on failure.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RequestError<E> {
    /// The server answered with the op's error.
    Server(E),
    /// The server died before or during the call (see [`ServerRestarted`]).
    ServerRestarted,
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
