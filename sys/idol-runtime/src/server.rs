//! The steps of a generated dispatch function, and the receive loop.
//!
//! Generated dispatch checks a request in this order and answers the first
//! failure with `reply_fault`, never calling the server method:
//!
//! 1. operation number known, else `UndefinedOperation`;
//! 2. message length and contents decode, else `BadMessageContents`;
//! 3. lease count exact, else `BadLeases`;
//! 4. each lease in order: attributes, else `BadLeaseAttributes`; length a
//!    whole number of elements within the op's `max_len`, else `BadLeases`;
//! 5. reply buffer large enough for the op's reply, else
//!    `ReplyBufferTooSmall`.

use crate::error::{ErrorCode, ServerError};
use crate::ipc::{Ipc, RecvMessage};
use crate::wire;
use abi::{ReplyFaultReason, TaskId};
use serde::de::DeserializeOwned;
use serde::Serialize;
use zerocopy::{Immutable, IntoBytes, KnownLayout, TryFromBytes};

/// The message bytes of `msg` within the receive buffer, or
/// `BadMessageContents` if the kernel had to truncate it.
fn message<'b>(buffer: &'b [u8], msg: &RecvMessage) -> Result<&'b [u8], ReplyFaultReason> {
    buffer
        .get(..msg.message_len)
        .ok_or(ReplyFaultReason::BadMessageContents)
}

/// Step 2 for a zerocopy op.
pub fn decode_zerocopy<T: TryFromBytes + KnownLayout + Immutable>(
    buffer: &[u8],
    msg: &RecvMessage,
) -> Result<T, ReplyFaultReason> {
    wire::decode_zerocopy(message(buffer, msg)?).ok_or(ReplyFaultReason::BadMessageContents)
}

/// Step 2 for a hubpack op.
pub fn decode_hubpack<T: DeserializeOwned>(
    buffer: &[u8],
    msg: &RecvMessage,
) -> Result<T, ReplyFaultReason> {
    wire::decode_hubpack(message(buffer, msg)?).ok_or(ReplyFaultReason::BadMessageContents)
}

/// Step 2 for an op without arguments: the message must be empty.
pub fn decode_empty(msg: &RecvMessage) -> Result<(), ReplyFaultReason> {
    if msg.message_len == 0 {
        Ok(())
    } else {
        Err(ReplyFaultReason::BadMessageContents)
    }
}

/// Step 3.
pub fn check_lease_count(msg: &RecvMessage, expected: usize) -> Result<(), ReplyFaultReason> {
    if msg.lease_count == expected {
        Ok(())
    } else {
        Err(ReplyFaultReason::BadLeases)
    }
}

/// Step 5.
pub fn check_reply_capacity(msg: &RecvMessage, needed: usize) -> Result<(), ReplyFaultReason> {
    if msg.response_capacity >= needed {
        Ok(())
    } else {
        Err(ReplyFaultReason::ReplyBufferTooSmall)
    }
}

/// Answers an error or a fault; shared by both encodings.
fn reply_failure<E: ErrorCode>(ipc: &dyn Ipc, caller: TaskId, error: ServerError<E>) {
    match error {
        ServerError::Error(e) => ipc.reply(caller, e.code(), &[]),
        ServerError::Fault(reason) => ipc.reply_fault(caller, reason),
    }
}

/// Answers the result of a zerocopy op: the value's bytes with code 0, or
/// the error's code with an empty reply, or a fault.
pub fn reply_zerocopy<T: IntoBytes + Immutable, E: ErrorCode>(
    ipc: &dyn Ipc,
    caller: TaskId,
    result: Result<T, ServerError<E>>,
) {
    match result {
        Ok(value) => ipc.reply(caller, abi::SUCCESS, value.as_bytes()),
        Err(error) => reply_failure(ipc, caller, error),
    }
}

/// Answers the result of a hubpack op, encoding into `scratch` (sized
/// `SerializedSize::MAX_SIZE` by generated code).
pub fn reply_hubpack<T: Serialize, E: ErrorCode>(
    ipc: &dyn Ipc,
    caller: TaskId,
    result: Result<T, ServerError<E>>,
    scratch: &mut [u8],
) {
    match result {
        Ok(value) => match wire::encode_hubpack(scratch, &value) {
            Some(bytes) => ipc.reply(caller, abi::SUCCESS, bytes),
            // Cannot happen with a MAX_SIZE scratch buffer. The client must
            // still get an answer, never a hang: refuse the request.
            None => ipc.reply_fault(caller, ReplyFaultReason::ReplyBufferTooSmall),
        },
        Err(error) => reply_failure(ipc, caller, error),
    }
}

/// What the server method of a `deferred` op returns on success: the
/// answer now, or a promise to answer later.
///
/// A deferred op lets one server keep several callers waiting at once (a
/// driver with requests in flight on its device): the method starts the
/// work, keeps the `caller` (and its leases, with [`Leased::detach`]) and
/// returns `Later`; when the work completes the server calls the generated
/// `<interface>_reply_<op>(ipc, caller, result)`. The caller stays blocked
/// until then, its leases stay lent. Errors found at once are returned as
/// `Err` and answered immediately, like for any op.
///
/// [`Leased::detach`]: crate::Leased::detach
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[must_use = "a deferred call must be answered: `Later` promises a reply function call"]
pub enum Deferred<T> {
    /// Answer now with this value.
    Now(T),
    /// No answer yet: the server calls the op's reply function later,
    /// exactly once.
    Later,
}

/// The answer of a deferred op's method that dispatch sends at once:
/// `None` if the method deferred it.
pub fn answer_now<T, E>(
    result: Result<Deferred<T>, ServerError<E>>,
) -> Option<Result<T, ServerError<E>>> {
    match result {
        Ok(Deferred::Now(value)) => Some(Ok(value)),
        Ok(Deferred::Later) => None,
        Err(error) => Some(Err(error)),
    }
}

/// What a server does besides answering requests: receive notifications
/// (interrupts, timers, posts) in the same loop. Generated server traits
/// have this as a supertrait.
pub trait NotificationHandler {
    /// The notification bits `recv` should wake up for (default: none).
    fn notification_mask(&self) -> u32 {
        0
    }

    /// Called with the bits that fired (always a subset of the mask). The
    /// default ignores them: with the default mask none ever fire.
    fn handle_notification(&mut self, _bits: u32) {}
}

/// One turn of a server's loop: `recv` with the handler's notification
/// mask, then either `handle_notification` or `dispatch` (a generated
/// dispatch function).
pub fn serve_once<S: NotificationHandler + ?Sized>(
    ipc: &dyn Ipc,
    server: &mut S,
    buffer: &mut [u8],
    dispatch: impl FnOnce(&mut S, &dyn Ipc, &[u8], &RecvMessage),
) {
    let msg = ipc.recv(buffer, server.notification_mask(), None);
    route(ipc, server, buffer, &msg, dispatch);
}

/// Answers one received message: notifications go to
/// `handle_notification`, requests to `dispatch`. For loops that receive
/// themselves (a driver that serves a second interface, see
/// `fault_inject::serve`).
pub fn route<S: NotificationHandler + ?Sized>(
    ipc: &dyn Ipc,
    server: &mut S,
    buffer: &[u8],
    msg: &RecvMessage,
    dispatch: impl FnOnce(&mut S, &dyn Ipc, &[u8], &RecvMessage),
) {
    if msg.is_notification() {
        server.handle_notification(msg.operation);
    } else {
        dispatch(server, ipc, buffer, msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{MockKernel, Outcome};
    use abi::Generation;
    use core::convert::Infallible;
    use std::vec;
    use std::vec::Vec;

    const SERVER: TaskId = TaskId::new(2, Generation(0));
    const CLIENT: TaskId = TaskId::new(1, Generation(0));

    #[derive(Copy, Clone, Debug, PartialEq)]
    struct Oops;
    impl ErrorCode for Oops {
        fn code(&self) -> u32 {
            42
        }
        fn from_code(code: u32) -> Option<Self> {
            (code == 42).then_some(Oops)
        }
    }

    fn answer(f: impl FnOnce(&dyn Ipc, TaskId)) -> Option<Outcome> {
        let kernel = MockKernel::new(SERVER);
        kernel
            .deliver(CLIENT, 1, &[], 0, 0, vec![], |k, _, m| f(k, m.sender))
            .outcome
    }

    #[test]
    fn replies_carry_values_codes_or_faults() {
        assert_eq!(
            answer(|ipc, c| reply_zerocopy::<u16, Infallible>(ipc, c, Ok(0x0102))),
            Some(Outcome::reply(0, &[2, 1]))
        );
        assert_eq!(
            answer(|ipc, c| reply_zerocopy::<u16, Oops>(ipc, c, Err(ServerError::Error(Oops)))),
            Some(Outcome::reply(42, &[]))
        );
        assert_eq!(
            answer(|ipc, c| reply_hubpack::<u16, Oops>(
                ipc,
                c,
                Err(ServerError::Fault(ReplyFaultReason::BadLeases)),
                &mut [0; 2]
            )),
            Some(Outcome::Fault(ReplyFaultReason::BadLeases))
        );
        assert_eq!(
            answer(|ipc, c| reply_hubpack::<Option<u8>, Oops>(ipc, c, Ok(Some(5)), &mut [0; 2])),
            Some(Outcome::reply(0, &[1, 5]))
        );
        // A scratch buffer too small (impossible in generated code) still
        // answers.
        assert_eq!(
            answer(|ipc, c| reply_hubpack::<u32, Oops>(ipc, c, Ok(5), &mut [0; 1])),
            Some(Outcome::Fault(ReplyFaultReason::ReplyBufferTooSmall))
        );
    }

    fn msg(message_len: usize, lease_count: usize, response_capacity: usize) -> RecvMessage {
        RecvMessage {
            sender: CLIENT,
            operation: 1,
            message_len,
            response_capacity,
            lease_count,
            first_lease: 0,
        }
    }

    #[test]
    fn checks_name_their_reasons() {
        assert_eq!(decode_zerocopy::<u16>(&[1, 0, 9], &msg(2, 0, 0)), Ok(1));
        assert_eq!(
            decode_zerocopy::<u16>(&[1, 0], &msg(3, 0, 0)),
            Err(ReplyFaultReason::BadMessageContents)
        );
        assert_eq!(
            decode_hubpack::<u8>(&[1, 0], &msg(2, 0, 0)),
            Err(ReplyFaultReason::BadMessageContents)
        );
        assert_eq!(
            decode_empty(&msg(1, 0, 0)),
            Err(ReplyFaultReason::BadMessageContents)
        );
        assert_eq!(
            check_lease_count(&msg(0, 2, 0), 1),
            Err(ReplyFaultReason::BadLeases)
        );
        assert_eq!(
            check_reply_capacity(&msg(0, 0, 3), 4),
            Err(ReplyFaultReason::ReplyBufferTooSmall)
        );
        assert_eq!(check_reply_capacity(&msg(0, 0, 4), 4), Ok(()));
    }

    #[derive(Default)]
    struct Counter {
        bits: Vec<u32>,
        messages: Vec<u32>,
    }
    impl NotificationHandler for Counter {
        fn notification_mask(&self) -> u32 {
            0b10
        }
        fn handle_notification(&mut self, bits: u32) {
            self.bits.push(bits);
        }
    }

    #[test]
    fn serve_once_routes_notifications_and_messages() {
        let kernel = MockKernel::new(SERVER);
        let mut server = Counter::default();
        let mut buffer = [0u8; 4];
        kernel.post(0b11);
        kernel.queue_message(CLIENT, 9, &[1], 0, vec![]);
        let dispatch = |s: &mut Counter, ipc: &dyn Ipc, _: &[u8], m: &RecvMessage| {
            s.messages.push(m.operation);
            ipc.reply(m.sender, 0, &[]);
        };
        serve_once(&kernel, &mut server, &mut buffer, dispatch);
        serve_once(&kernel, &mut server, &mut buffer, dispatch);
        assert_eq!(server.bits, [0b10]);
        assert_eq!(server.messages, [9]);
        assert_eq!(kernel.take_outcome(), Some(Outcome::reply(0, &[])));
    }

    /// A server that only answers requests: every method of
    /// `NotificationHandler` left at its default.
    struct RequestsOnly {
        messages: Vec<u32>,
    }
    impl NotificationHandler for RequestsOnly {}

    #[test]
    fn by_default_a_server_wakes_for_no_notification() {
        let kernel = MockKernel::new(SERVER);
        let mut server = RequestsOnly { messages: vec![] };
        assert_eq!(server.notification_mask(), 0);
        // Every bit pending: none may pre-empt the queued request, and the
        // default handler ignores whatever it is given.
        kernel.post(u32::MAX);
        kernel.queue_message(CLIENT, 5, &[], 0, vec![]);
        let mut buffer = [0u8; 4];
        serve_once(&kernel, &mut server, &mut buffer, |s, ipc, _, m| {
            assert_ne!(m.sender, TaskId::KERNEL, "a notification was delivered");
            s.messages.push(m.operation);
            ipc.reply(m.sender, 0, &[]);
        });
        assert_eq!(server.messages, [5]);
        server.handle_notification(u32::MAX);
        assert_eq!(server.messages, [5]);
    }
}
