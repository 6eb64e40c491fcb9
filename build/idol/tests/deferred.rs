//! Deferred replies (`deferred: true`): the server method keeps the caller
//! and its leases and answers later through the generated
//! `<interface>_reply_<op>`, so several callers wait at once and are
//! answered in any order, each with its own lease contents.

use abi::{Generation, TaskId, LEASE_READ, LEASE_WRITE};
use idol_fixture::deferred_client::{DeferredError, DeferredOp};
use idol_fixture::deferred_server::{
    deferred_dispatch, deferred_reply_fetch, deferred_reply_status, deferred_serve_once,
    DeferredServer, DEFERRED_BUFFER_SIZE,
};
use idol_runtime::mock::{Delivery, MockKernel, MockLease, Outcome};
use idol_runtime::{
    Deferred, Detached, ErrorCode, KernelCode, LeaseError, Leased, NotificationHandler, Served,
    ServerError, Write,
};

const SERVER: TaskId = TaskId::new(9, Generation(0));

fn client(i: u16) -> TaskId {
    TaskId::new(i, Generation(0))
}

/// Keeps every `fetch` and `status` for later, except `fetch(0)` which is
/// refused at once.
#[derive(Default)]
struct Later {
    fetches: Vec<(TaskId, u8, Detached<Write, u8>)>,
    statuses: Vec<TaskId>,
}

impl NotificationHandler for Later {}

impl DeferredServer for Later {
    fn fetch(
        &mut self,
        caller: TaskId,
        byte: u8,
        data: Leased<'_, Write, u8>,
    ) -> Served<Deferred<u32>, DeferredError> {
        if byte == 0 {
            return Err(DeferredError::Busy.into());
        }
        if byte == 1 {
            // Known at once: answered by dispatch.
            data.write_at(0, 1)?;
            return Ok(Deferred::Now(1));
        }
        self.fetches.push((caller, byte, data.detach()));
        Ok(Deferred::Later)
    }

    fn status(&mut self, caller: TaskId) -> Served<Deferred<Option<u32>>> {
        self.statuses.push(caller);
        Ok(Deferred::Later)
    }

    fn now(&mut self, _caller: TaskId) -> Served<u32> {
        Ok(self.fetches.len() as u32)
    }
}

/// `fetch(byte)` from client 1 with one lease of `len` bytes and
/// `attributes`, handed straight to dispatch: what the client got.
fn dispatch_fetch(
    kernel: &MockKernel,
    server: &mut Later,
    byte: u8,
    attributes: u32,
    len: usize,
) -> Delivery {
    kernel.deliver(
        client(1),
        DeferredOp::Fetch as u32,
        &[byte],
        DEFERRED_BUFFER_SIZE,
        4,
        vec![MockLease {
            attributes,
            data: vec![0; len],
        }],
        |k, b, m| deferred_dispatch(server, k, b, m),
    )
}

fn fetch(kernel: &MockKernel, caller: TaskId, byte: u8, len: usize) {
    kernel.queue_message(
        caller,
        DeferredOp::Fetch as u32,
        &[byte],
        4,
        vec![MockLease {
            attributes: LEASE_WRITE,
            data: vec![0; len],
        }],
    );
}

/// Completes a kept fetch: fills the lease and answers.
fn complete(kernel: &MockKernel, kept: (TaskId, u8, Detached<Write, u8>)) {
    let (caller, byte, lease) = kept;
    let lease = lease.attach(kernel);
    let fill = vec![byte; lease.len()];
    let result = lease
        .write_range(0, &fill)
        .map(|()| fill.len() as u32)
        .map_err(ServerError::from);
    deferred_reply_fetch(kernel, caller, result);
}

#[test]
fn several_callers_wait_and_are_answered_in_any_order() {
    let kernel = MockKernel::new(SERVER);
    let mut server = Later::default();
    let mut buffer = [0u8; DEFERRED_BUFFER_SIZE];
    for (i, len) in [(1u16, 8usize), (2, 16), (3, 64)] {
        fetch(&kernel, client(i), 0x10 + i as u8, len);
        deferred_serve_once(&mut server, &kernel, &mut buffer);
        assert_eq!(kernel.take_outcome(), None, "deferred: no answer yet");
    }
    assert_eq!(kernel.waiting(), [client(1), client(2), client(3)]);

    // An ordinary op is served while the three wait.
    kernel.queue_message(client(4), DeferredOp::Now as u32, &[], 4, vec![]);
    deferred_serve_once(&mut server, &kernel, &mut buffer);
    assert_eq!(
        kernel.take_outcome(),
        Some(Outcome::reply(0, &3u32.to_le_bytes()))
    );

    // Complete out of order: 2, then 3, then 1.
    let mut kept = std::mem::take(&mut server.fetches);
    let third = kept.pop().unwrap();
    let second = kept.pop().unwrap();
    let first = kept.pop().unwrap();
    complete(&kernel, second);
    assert_eq!(kernel.waiting(), [client(1), client(3)]);
    complete(&kernel, third);
    complete(&kernel, first);
    assert!(kernel.waiting().is_empty());

    for (i, len) in [(1u16, 8usize), (2, 16), (3, 64)] {
        let answer = kernel.take_answer(client(i)).expect("answered");
        assert_eq!(
            answer.outcome,
            Some(Outcome::reply(0, &(len as u32).to_le_bytes()))
        );
        assert_eq!(answer.leases[0].data, vec![0x10 + i as u8; len]);
    }
}

#[test]
fn errors_and_immediate_values_are_answered_by_dispatch() {
    let kernel = MockKernel::new(SERVER);
    let mut server = Later::default();
    let refused = dispatch_fetch(&kernel, &mut server, 0, LEASE_WRITE, 4);
    assert_eq!(
        refused.outcome,
        Some(Outcome::reply(DeferredError::Busy.code(), &[]))
    );
    let now = dispatch_fetch(&kernel, &mut server, 1, LEASE_WRITE, 4);
    assert_eq!(now.outcome, Some(Outcome::reply(0, &1u32.to_le_bytes())));
    assert_eq!(now.leases[0].data, [1, 0, 0, 0]);
    assert!(server.fetches.is_empty());
}

#[test]
fn malformed_deferred_requests_are_still_refused_at_dispatch() {
    let kernel = MockKernel::new(SERVER);
    let mut server = Later::default();
    for (attributes, len, reason) in [
        // A read-only lease where a writable one is needed.
        (LEASE_READ, 4, abi::ReplyFaultReason::BadLeaseAttributes),
        // Too long for max_len.
        (LEASE_WRITE, 65, abi::ReplyFaultReason::BadLeases),
    ] {
        let refused = dispatch_fetch(&kernel, &mut server, 5, attributes, len);
        assert_eq!(refused.outcome, Some(Outcome::Fault(reason)));
    }
    assert!(server.fetches.is_empty(), "the method was never called");
}

#[test]
fn a_hubpack_reply_can_be_deferred() {
    let kernel = MockKernel::new(SERVER);
    let mut server = Later::default();
    let mut buffer = [0u8; DEFERRED_BUFFER_SIZE];
    kernel.queue_message(client(2), DeferredOp::Status as u32, &[], 8, vec![]);
    deferred_serve_once(&mut server, &kernel, &mut buffer);
    assert_eq!(server.statuses, [client(2)]);
    deferred_reply_status(&kernel, client(2), Ok(Some(0x0102_0304)));
    assert_eq!(
        kernel.take_answer(client(2)).unwrap().outcome,
        Some(Outcome::reply(0, &[1, 4, 3, 2, 1]))
    );
}

#[test]
fn a_detached_lease_is_refused_once_the_call_is_answered() {
    let kernel = MockKernel::new(SERVER);
    let mut server = Later::default();
    let mut buffer = [0u8; DEFERRED_BUFFER_SIZE];
    fetch(&kernel, client(1), 7, 8);
    deferred_serve_once(&mut server, &kernel, &mut buffer);
    let (caller, _, lease) = server.fetches.pop().unwrap();
    assert_eq!((lease.lender(), lease.len()), (client(1), 8));
    // Answered with an error (say the work failed): the lease is gone.
    deferred_reply_fetch(&kernel, caller, Err(DeferredError::Gone.into()));
    assert_eq!(
        lease.attach(&kernel).write_at(0, 1),
        Err(LeaseError::Refused(KernelCode(abi::BORROW_NOT_LENT)))
    );
    assert_eq!(
        kernel.take_answer(client(1)).unwrap().outcome,
        Some(Outcome::reply(DeferredError::Gone.code(), &[]))
    );
    // A reply to a caller no longer waiting is ignored, as by the kernel.
    deferred_reply_fetch(&kernel, caller, Ok(1));
    assert!(kernel.take_answer(client(1)).is_none());
}

#[test]
fn the_client_side_does_not_change() {
    let plain = idol::parse_str(
        "x.idol",
        r#"Interface(name: "X", ops: { "a": (args: { "v": "u32" }, reply: Simple("u32")) })"#,
    )
    .unwrap();
    let deferred = idol::parse_str(
        "x.idol",
        r#"Interface(name: "X", ops: { "a": (args: { "v": "u32" }, reply: Simple("u32"), deferred: true) })"#,
    )
    .unwrap();
    assert!(deferred.ops[0].deferred);
    assert_eq!(
        idol::client_code(&plain, "x.idol"),
        idol::client_code(&deferred, "x.idol")
    );
    assert_ne!(
        idol::server_code(&plain, "x.idol"),
        idol::server_code(&deferred, "x.idol")
    );
}
