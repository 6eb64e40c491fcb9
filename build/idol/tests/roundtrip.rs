//! Generated clients calling generated servers through the mock kernel:
//! every encoding round-trips, errors and restarts reach the caller as
//! typed values, and hand-crafted malformed requests are refused with the
//! right reason while the server keeps serving.

mod support;

use abi::{ReplyFaultReason, LEASE_READ, LEASE_WRITE};
use idol_fixture::everything_client::{EverythingClient, Failure, Mode, Point};
use idol_fixture::ping_client::{PingClient, PingError, PingOp, PingStatus};
use idol_fixture::ping_server::{ping_dispatch, ping_serve_once, PING_BUFFER_SIZE};
use idol_runtime::mock::{MockKernel, MockLease, Outcome};
use idol_runtime::{ProtocolError, RequestError};
use support::{everything_system, ping_system, CLIENT, SERVER};

#[test]
fn ping_plain_args_round_trip() {
    let (kernel, _) = ping_system();
    let ping = PingClient::new(&*kernel, SERVER);
    assert_eq!(ping.add(2, 3), Ok(5));
    assert_eq!(ping.add(u32::MAX, 2), Ok(1));
}

#[test]
fn ping_read_lease_is_read_in_chunks() {
    let (kernel, _) = ping_system();
    let ping = PingClient::new(&*kernel, SERVER);
    let data: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    let expected = data.iter().map(|b| u32::from(*b)).sum::<u32>();
    assert_eq!(ping.sum(&data), Ok(expected));
    assert_eq!(ping.sum(&[]), Ok(0));
}

#[test]
fn ping_checksum_takes_an_8_byte_argument_and_a_4_kib_lease() {
    let (kernel, _) = ping_system();
    let ping = PingClient::new(&*kernel, SERVER);
    let data = [0x5Au8; 4096];
    let expected = data
        .iter()
        .fold(7u64, |h, b| h.rotate_left(5) ^ u64::from(*b));
    assert_eq!(ping.checksum(7, &data), Ok(expected));
}

#[test]
fn ping_write_lease_is_written_back() {
    let (kernel, _) = ping_system();
    let ping = PingClient::new(&*kernel, SERVER);
    let mut buf = [0u8; 100];
    assert_eq!(ping.fill(0xAB, &mut buf), Ok(100));
    assert!(buf.iter().all(|b| *b == 0xAB));
}

#[test]
fn ping_hubpack_enum_reply_round_trips() {
    let (kernel, _) = ping_system();
    let ping = PingClient::new(&*kernel, SERVER);
    assert_eq!(ping.status(), Ok(PingStatus::Idle));
    assert_eq!(ping.add(1, 1), Ok(2));
    assert_eq!(ping.status(), Ok(PingStatus::Served { requests: 2 }));
}

#[test]
fn ping_error_reply_is_typed() {
    let (kernel, _) = ping_system();
    let ping = PingClient::new(&*kernel, SERVER);
    assert_eq!(ping.divide(7, 2), Ok(3));
    assert_eq!(
        ping.divide(7, 0),
        Err(RequestError::Server(PingError::DivideByZero))
    );
}

#[test]
fn a_server_dead_during_a_call_gives_server_restarted_and_a_fresh_id() {
    let (kernel, _) = ping_system();
    let ping = PingClient::new(&*kernel, SERVER);
    kernel.kill_server_during_next_calls(1);
    assert_eq!(ping.crash(), Err(RequestError::ServerRestarted));
    assert_eq!(ping.task_id(), kernel.server());
    assert_ne!(ping.task_id(), SERVER);
    // The next call reaches the new incarnation.
    assert_eq!(ping.divide(8, 2), Ok(4));
    kernel.kill_server_during_next_calls(1);
    assert_eq!(ping.divide(8, 2), Err(RequestError::ServerRestarted));
}

#[test]
fn an_idempotent_op_is_retried_once_on_the_new_incarnation() {
    let (kernel, server) = ping_system();
    let ping = PingClient::new(&*kernel, SERVER);
    kernel.kill_server_during_next_calls(1);
    assert_eq!(ping.add(20, 22), Ok(42));
    assert_eq!(server.borrow().served, 2, "executed by both incarnations");
    assert_eq!(ping.task_id(), kernel.server());

    // Dead before the call (stale id): retried too.
    kernel.restart_server();
    assert_eq!(ping.add(1, 2), Ok(3));

    // Dying twice in a row is reported, not retried forever.
    kernel.kill_server_during_next_calls(2);
    assert_eq!(ping.add(1, 2), Err(RequestError::ServerRestarted));
    assert_eq!(ping.add(1, 2), Ok(3));
}

#[test]
fn a_non_idempotent_op_on_a_stale_id_is_not_sent_twice() {
    let (kernel, server) = ping_system();
    let ping = PingClient::new(&*kernel, SERVER);
    kernel.restart_server();
    let before = kernel.calls_delivered();
    let mut buf = [0u8; 4];
    assert_eq!(ping.fill(1, &mut buf), Err(RequestError::ServerRestarted));
    assert_eq!(kernel.calls_delivered(), before);
    assert_eq!(server.borrow().served, 0);
    assert_eq!(ping.fill(1, &mut buf), Ok(4));
    assert_eq!(
        kernel.calls_delivered(),
        before + 1,
        "the retry reached it once"
    );
}

/// Delivers a raw request to the Ping dispatch function.
fn raw(operation: u32, message: &[u8], capacity: usize, leases: Vec<MockLease>) -> Option<Outcome> {
    let (kernel, _) = ping_system();
    kernel
        .deliver(
            CLIENT,
            operation,
            message,
            PING_BUFFER_SIZE,
            capacity,
            leases,
            |k, b, m| {
                let mut server = support::Ping::default();
                ping_dispatch(&mut server, k, b, m)
            },
        )
        .outcome
}

fn lease(attributes: u32, len: usize) -> MockLease {
    MockLease {
        attributes,
        data: vec![1; len],
    }
}

#[test]
fn malformed_requests_are_refused_with_the_right_reason() {
    use ReplyFaultReason::*;
    let add = PingOp::Add as u32;
    let sum = PingOp::Sum as u32;
    let fill = PingOp::Fill as u32;
    let cases: Vec<(&str, Option<Outcome>, ReplyFaultReason)> = vec![
        ("unknown op", raw(99, &[], 4, vec![]), UndefinedOperation),
        ("op 0", raw(0, &[], 4, vec![]), UndefinedOperation),
        (
            "short message",
            raw(add, &[1, 0, 0, 0], 4, vec![]),
            BadMessageContents,
        ),
        (
            "long message",
            raw(add, &[0; 9], 4, vec![]),
            BadMessageContents,
        ),
        (
            "truncated message",
            raw(add, &[0; 100], 4, vec![]),
            BadMessageContents,
        ),
        (
            "message to no-arg op",
            raw(sum, &[1], 4, vec![lease(LEASE_READ, 4)]),
            BadMessageContents,
        ),
        ("missing lease", raw(sum, &[], 4, vec![]), BadLeases),
        (
            "extra lease",
            raw(add, &[0; 8], 4, vec![lease(LEASE_READ, 1)]),
            BadLeases,
        ),
        (
            "read-only lease for write",
            raw(fill, &[7], 4, vec![lease(LEASE_READ, 4)]),
            BadLeaseAttributes,
        ),
        (
            "write-only lease for read",
            raw(sum, &[], 4, vec![lease(LEASE_WRITE, 4)]),
            BadLeaseAttributes,
        ),
        (
            "lease over max_len",
            raw(sum, &[], 4, vec![lease(LEASE_READ, 4097)]),
            BadLeases,
        ),
        (
            "reply buffer too small",
            raw(add, &[0; 8], 3, vec![]),
            ReplyBufferTooSmall,
        ),
    ];
    for (what, outcome, reason) in cases {
        assert_eq!(outcome, Some(Outcome::Fault(reason)), "{what}");
    }
    // And the well-formed versions are answered.
    assert_eq!(
        raw(add, &[1, 0, 0, 0, 2, 0, 0, 0], 4, vec![]),
        Some(Outcome::reply(0, &[3, 0, 0, 0]))
    );
    assert_eq!(
        raw(sum, &[], 4, vec![lease(LEASE_READ | LEASE_WRITE, 4096)]),
        Some(Outcome::reply(0, &4096u32.to_le_bytes()))
    );
}

#[test]
fn the_server_keeps_serving_after_refusing_a_request() {
    let (kernel, _) = ping_system();
    let ping = PingClient::new(&*kernel, SERVER);
    let refused = kernel.deliver(CLIENT, 99, &[], PING_BUFFER_SIZE, 4, vec![], |k, b, m| {
        ping_dispatch(&mut support::Ping::default(), k, b, m)
    });
    assert_eq!(
        refused.outcome,
        Some(Outcome::Fault(ReplyFaultReason::UndefinedOperation))
    );
    assert_eq!(ping.add(1, 1), Ok(2));
}

#[test]
fn one_loop_serves_requests_and_notifications() {
    let (kernel, _) = ping_system();
    let mut server = support::Ping::default();
    let mut buffer = [0u8; PING_BUFFER_SIZE];
    kernel.post(0b111);
    kernel.queue_message(
        CLIENT,
        PingOp::Divide as u32,
        &[9, 0, 0, 0, 3, 0, 0, 0],
        4,
        vec![],
    );
    ping_serve_once(&mut server, &*kernel, &mut buffer);
    assert_eq!(server.notifications, [0b101], "only the bits in the mask");
    ping_serve_once(&mut server, &*kernel, &mut buffer);
    assert_eq!(
        kernel.take_outcome(),
        Some(Outcome::reply(0, &[3, 0, 0, 0]))
    );
    assert_eq!(server.served, 1);
}

#[test]
fn every_zerocopy_scalar_and_array_round_trips() {
    let (kernel, server) = everything_system();
    let c = EverythingClient::new(&*kernel, SERVER);
    assert_eq!(c.nothing(), Ok(()));
    assert_eq!(server.borrow().calls, 1);
    assert_eq!(
        c.scalars(true, -1, -1_000_000_000_000, 5, 7, 2.5),
        Ok(-1 - 1_000_000_000_000 + 5 + 7 + 2)
    );
    assert_eq!(c.scalars(false, 1, 0, 0, 0, 0.0), Ok(-1));
    let mut big = [0u16; 40];
    big[39] = 9;
    assert_eq!(
        c.arrays([1, 2, 3, 4], [true, false, true], big),
        Ok([6, 3, 2, 9])
    );
    assert_eq!(
        c.named(Point { x: 2, y: -3 }, 4),
        Ok(Point { x: 8, y: -12 })
    );
}

/// What `Everything.scalars` (op 2) answers to the raw `message`.
fn scalars(kernel: &MockKernel, message: &[u8]) -> Option<Outcome> {
    kernel
        .deliver(CLIENT, 2, message, 64, 8, vec![], |k, b, m| {
            idol_fixture::everything_server::everything_dispatch(
                &mut support::Everything::default(),
                k,
                b,
                m,
            )
        })
        .outcome
}

#[test]
fn a_bool_that_is_not_0_or_1_is_a_bad_message() {
    let (kernel, _) = everything_system();
    // scalars: flag(bool) small(i8) big(i64) wide(u64) half(u16) real(f32), packed.
    let mut message = vec![0u8; 1 + 1 + 8 + 8 + 2 + 4];
    message[0] = 2;
    let outcome = scalars(&kernel, &message);
    assert_eq!(
        outcome,
        Some(Outcome::Fault(ReplyFaultReason::BadMessageContents))
    );
    message[0] = 1;
    let outcome = scalars(&kernel, &message);
    assert_eq!(outcome, Some(Outcome::reply(0, &0i64.to_le_bytes())));
}

#[test]
fn hubpack_options_enums_and_errors_round_trip() {
    let (kernel, _) = everything_system();
    let c = EverythingClient::new(&*kernel, SERVER);
    let bytes = [9, 0, 0, 0, 0, 0, 0, 1];
    assert_eq!(c.rich(None, Mode::Off, false, bytes), Ok(None));
    assert_eq!(
        c.rich(Some(3), Mode::On(700), false, bytes),
        Ok(Some(Mode::On(700)))
    );
    assert_eq!(
        c.rich(Some(3), Mode::Off, true, bytes),
        Ok(Some(Mode::Burst {
            count: 3,
            at: Point { x: 9, y: 0 }
        }))
    );
    assert_eq!(
        c.rich(Some(101), Mode::Off, true, bytes),
        Err(RequestError::Server(Failure::TooBig))
    );
}

#[test]
fn unit_results_and_large_error_codes_round_trip() {
    let (kernel, _) = everything_system();
    let c = EverythingClient::new(&*kernel, SERVER);
    assert_eq!(c.check(4), Ok(()));
    assert_eq!(c.check(5), Err(RequestError::Server(Failure::Odd)));
    assert_eq!(c.check(u32::MAX - 1), Ok(()));
    assert_eq!(c.check(u32::MAX), Err(RequestError::Server(Failure::Odd)));
    assert_eq!(
        <Failure as idol_runtime::ErrorCode>::code(&Failure::Last),
        0xfffd_ffff
    );
    assert_eq!(
        <Failure as idol_runtime::ErrorCode>::from_code(0x1234),
        Some(Failure::Odd)
    );
    assert_eq!(<Failure as idol_runtime::ErrorCode>::from_code(0), None);
}

#[test]
fn read_write_and_multiple_leases_of_wider_elements() {
    let (kernel, _) = everything_system();
    let c = EverythingClient::new(&*kernel, SERVER);
    let src = [10u32, 20, 30];
    let mut scratch = [0u32; 4];
    let mut dst = [0u32; 3];
    assert_eq!(c.copy(&src, &mut scratch, &mut dst), Ok(3));
    assert_eq!(scratch, [10, 20, 30, 0]);
    assert_eq!(dst, [11, 21, 31]);
    let mut short = [0u32; 2];
    assert_eq!(
        c.copy(&src, &mut scratch, &mut short),
        Err(RequestError::Server(Failure::TooBig))
    );
}

#[test]
fn a_lease_of_named_structs_is_read_and_written() {
    let (kernel, _) = everything_system();
    let c = EverythingClient::new(&*kernel, SERVER);
    let mut points = [Point { x: 1, y: 2 }, Point { x: 3, y: 4 }];
    assert_eq!(c.points(&mut points), Ok(2));
    assert_eq!(points, [Point { x: 2, y: 1 }, Point { x: 4, y: 3 }]);
}

#[test]
fn lease_lengths_that_are_not_whole_elements_or_too_long_are_refused() {
    let (kernel, _) = everything_system();
    let deliver = |leases: Vec<MockLease>| {
        kernel
            .deliver(CLIENT, 8, &[], 64, 4, leases, |k, b, m| {
                idol_fixture::everything_server::everything_dispatch(
                    &mut support::Everything::default(),
                    k,
                    b,
                    m,
                )
            })
            .outcome
    };
    let rw = LEASE_READ | LEASE_WRITE;
    assert_eq!(
        deliver(vec![lease(rw, 12)]),
        Some(Outcome::Fault(ReplyFaultReason::BadLeases))
    );
    assert_eq!(
        deliver(vec![lease(rw, 9 * 8)]),
        Some(Outcome::Fault(ReplyFaultReason::BadLeases))
    );
    assert_eq!(
        deliver(vec![lease(rw, 8 * 8)]).map(|o| matches!(o, Outcome::Reply { .. })),
        Some(true)
    );
    // The server reaching past the lease (driven by a bad request) faults the
    // client instead of panicking the server.
    assert_eq!(
        deliver(vec![lease(rw, 3 * 8)]),
        Some(Outcome::Fault(ReplyFaultReason::BadLeases))
    );
}

#[test]
#[should_panic(expected = "kernel faults the client: bad leases (count, length or bounds)")]
fn a_client_lending_too_much_is_faulted() {
    let (kernel, _) = everything_system();
    let c = EverythingClient::new(&*kernel, SERVER);
    let mut points = [Point::default(); 9];
    let _ = c.points(&mut points);
}

/// A kernel whose server answers every call with `answer` (a broken or
/// hostile driver), whatever was asked.
fn hostile(answer: Outcome) -> std::rc::Rc<idol_runtime::mock::MockKernel> {
    let kernel = std::rc::Rc::new(idol_runtime::mock::MockKernel::new(SERVER));
    kernel.set_untrusted(true);
    kernel.serve_with(PING_BUFFER_SIZE, move |k, _, msg| match &answer {
        Outcome::Reply { code, message } => idol_runtime::Ipc::reply(k, msg.sender, *code, message),
        Outcome::Fault(reason) => idol_runtime::Ipc::reply_fault(k, msg.sender, *reason),
    });
    kernel
}

#[test]
fn an_unknown_response_code_is_a_typed_error_not_a_panic() {
    let kernel = hostile(Outcome::Reply {
        code: 77,
        message: vec![],
    });
    let ping = PingClient::new(&*kernel, SERVER);
    let unknown = ProtocolError::UnknownCode(77);
    assert_eq!(ping.divide(1, 1), Err(RequestError::Protocol(unknown)));
    assert_eq!(ping.add(1, 1), Err(RequestError::Protocol(unknown)));
    assert_eq!(ping.status(), Err(RequestError::Protocol(unknown)));
    assert_eq!(ping.crash(), Err(RequestError::Protocol(unknown)));
}

#[test]
fn a_reply_that_does_not_decode_is_a_typed_error_not_a_panic() {
    // Success with too few bytes for a u32, and an invalid hubpack enum
    // tag (longer replies than the client's buffer fault the server).
    for message in [vec![], vec![0xFF, 0xFF, 0xFF]] {
        let kernel = hostile(Outcome::Reply {
            code: 0,
            message: message.clone(),
        });
        let ping = PingClient::new(&*kernel, SERVER);
        let bad = ProtocolError::BadReply {
            code: 0,
            len: message.len(),
        };
        assert_eq!(ping.divide(4, 2), Err(RequestError::Protocol(bad)));
        let bad = RequestError::Protocol(bad);
        assert_eq!(ping.add(1, 1), Err(bad));
        assert_eq!(ping.status(), Err(bad), "{message:?}");
    }
}

#[test]
fn an_untrusted_servers_reply_fault_is_a_typed_rejection() {
    let kernel = hostile(Outcome::Fault(ReplyFaultReason::BadLeases));
    let ping = PingClient::new(&*kernel, SERVER);
    let rejected = ProtocolError::Rejected(ReplyFaultReason::BadLeases);
    assert_eq!(ping.divide(2, 2), Err(RequestError::Protocol(rejected)));
    let rejected = RequestError::Protocol(rejected);
    assert_eq!(ping.add(2, 2), Err(rejected));
    let mut buf = [0u8; 8];
    assert_eq!(ping.fill(1, &mut buf), Err(rejected));
    // The client's id is untouched: the server did not restart.
    assert_eq!(ping.task_id(), SERVER);
}
