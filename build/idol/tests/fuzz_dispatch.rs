//! The fuzz target: arbitrary operation numbers, message bytes, reply
//! capacities and lease sets fed to generated dispatch functions through
//! the mock kernel. Dispatch must never panic, must always answer (a client
//! never hangs), and must refuse a malformed request with the reason an
//! independent model of the `Ping` interface predicts.
//!
//! And the generated judge (`<name>_judge_call`, which the supervisor
//! holds a refused call against) must agree with dispatch: it may call a
//! refused call well-formed never, an accepted one malformed never, and
//! when the record holds the whole call (its message bytes, at most one
//! lease) it must decide.
//!
//! Bounded so it runs in `cargo test`; raise `PROPTEST_CASES` to fuzz longer.

mod support;

use abi::{ReplyFaultReason, LEASE_READ, LEASE_WRITE};
use hubpack::SerializedSize;
use idol_fixture::everything_client::everything_judge_call;
use idol_fixture::everything_server::{everything_dispatch, EVERYTHING_BUFFER_SIZE};
use idol_fixture::ping_client::ping_judge_call;
use idol_fixture::ping_client::PingStatus;
use idol_fixture::ping_server::{ping_dispatch, PING_BUFFER_SIZE};
use idol_runtime::judge::{RejectedCall, Verdict};
use idol_runtime::mock::{MockLease, Outcome};
use proptest::prelude::*;
use support::{everything_system, ping_system, CLIENT};

/// What the `Ping` IDL says about each op: message length, lease
/// directions and `max_len`s, reply size.
struct Spec {
    message: usize,
    leases: &'static [(u32, Option<usize>)],
    reply: usize,
}

fn ping_spec(op: u32) -> Option<Spec> {
    Some(match op {
        1 => Spec {
            message: 8,
            leases: &[],
            reply: 4,
        },
        2 => Spec {
            message: 0,
            leases: &[(LEASE_READ, Some(4096))],
            reply: 4,
        },
        3 => Spec {
            message: 1,
            leases: &[(LEASE_WRITE, None)],
            reply: 4,
        },
        4 => Spec {
            message: 0,
            leases: &[],
            reply: PingStatus::MAX_SIZE,
        },
        5 => Spec {
            message: 8,
            leases: &[],
            reply: 4,
        },
        6 => Spec {
            message: 0,
            leases: &[],
            reply: 0,
        },
        7 => Spec {
            message: 8,
            leases: &[(LEASE_READ, Some(4096))],
            reply: 8,
        },
        _ => return None,
    })
}

/// The model: the first check that fails, in the documented order.
fn expected_fault(
    op: u32,
    message: &[u8],
    capacity: usize,
    leases: &[MockLease],
) -> Option<ReplyFaultReason> {
    use ReplyFaultReason::*;
    let Some(spec) = ping_spec(op) else {
        return Some(UndefinedOperation);
    };
    if message.len() != spec.message {
        return Some(BadMessageContents);
    }
    if leases.len() != spec.leases.len() {
        return Some(BadLeases);
    }
    for (lease, (needed, max)) in leases.iter().zip(spec.leases) {
        if lease.attributes & needed != *needed {
            return Some(BadLeaseAttributes);
        }
        if max.is_some_and(|m| lease.data.len() > m) {
            return Some(BadLeases);
        }
    }
    if capacity < spec.reply {
        return Some(ReplyBufferTooSmall);
    }
    None
}

fn leases() -> impl Strategy<Value = Vec<MockLease>> {
    let len = prop_oneof![0usize..80, 4090usize..4100];
    prop::collection::vec((0u32..4, len, any::<u8>()), 0..4).prop_map(|ls| {
        ls.into_iter()
            .map(|(attributes, len, fill)| MockLease {
                attributes,
                data: vec![fill; len],
            })
            .collect()
    })
}

fn operation() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..10, 1 => any::<u32>()]
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..12),
        prop::collection::vec(any::<u8>(), 0..300),
    ]
}

/// One call as any client might make it: operation number, message
/// bytes, a reply capacity below `capacities`, and leases.
fn call(capacities: usize) -> impl Strategy<Value = (u32, Vec<u8>, usize, Vec<MockLease>)> {
    (operation(), message(), 0..capacities, leases())
}

/// The call as the kernel records it when a server refuses it: the first
/// lease and the message vouched for as the kernel vouches for them (the
/// mock client has no device, and its leases never cover its message), so
/// only for a call of at most one lease, and the message only if it fits
/// the record.
fn recorded(op: u32, message: &[u8], capacity: usize, leases: &[MockLease]) -> RejectedCall {
    let mut call = RejectedCall {
        count: 1,
        operation: op,
        message_len: message.len() as u32,
        response_capacity: capacity as u32,
        lease_count: leases.len() as u32,
        first_lease: leases.first().map_or(0, |l| {
            abi::describe_lease(l.attributes, l.data.len() as u32)
        }),
        lease_vouched: u32::from(leases.len() <= 1),
        ..RejectedCall::default()
    };
    if decidable(message, leases) {
        call.message_vouched = 1;
        call.message[..message.len()].copy_from_slice(message);
    }
    call
}

/// Whether the record of a refused call holds all the judge needs: every
/// step of dispatch can then be checked against it. (A lease lending
/// nothing, or a gigabyte or more, is recorded as no description.)
fn decidable(message: &[u8], leases: &[MockLease]) -> bool {
    message.len() <= abi::REJECTED_MESSAGE_BYTES
        && leases.len() <= 1
        && leases
            .iter()
            .all(|l| abi::describe_lease(l.attributes, l.data.len() as u32) != 0)
}

/// Whether `verdict` on a call agrees with how dispatch answered it.
fn agrees(verdict: Verdict, outcome: &Option<Outcome>) -> bool {
    match outcome {
        Some(Outcome::Fault(_)) => verdict != Verdict::WellFormed,
        Some(Outcome::Reply { .. }) => verdict != Verdict::Malformed,
        None => false,
    }
}

/// 512 cases per target unless `PROPTEST_CASES` says otherwise.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn ping_dispatch_never_panics_and_refuses_exactly_what_the_model_refuses(
        (op, message, capacity, leases) in call(16),
    ) {
        let (kernel, _) = ping_system();
        let predicted = expected_fault(op, &message, capacity, &leases);
        let verdict = ping_judge_call(&recorded(op, &message, capacity, &leases));
        // Ping's arguments are all plain: its judge always decides.
        prop_assert_eq!(
            verdict == Verdict::WellFormed,
            predicted.is_none(),
            "judged {:?} where the model predicts {:?}",
            verdict,
            predicted
        );
        let delivery = kernel.deliver(CLIENT, op, &message, PING_BUFFER_SIZE, capacity, leases.clone(), |k, b, m| {
            ping_dispatch(&mut support::Ping::default(), k, b, m)
        });
        match (predicted, delivery.outcome) {
            (Some(reason), Some(Outcome::Fault(got))) => prop_assert_eq!(got, reason),
            (None, Some(Outcome::Reply { code, message: reply })) => {
                prop_assert!(reply.len() <= capacity);
                prop_assert!(code == 0 || (op == 5 && code == 1), "code {}", code);
                if op == 3 {
                    // fill wrote the byte everywhere it was allowed to.
                    prop_assert!(delivery.leases[0].data.iter().all(|b| *b == message[0]));
                }
            }
            (predicted, got) => prop_assert!(false, "predicted {:?}, got {:?}", predicted, got),
        }
    }

    #[test]
    fn everything_dispatch_never_panics_and_always_answers(
        (op, message, capacity, leases) in call(64),
    ) {
        let (kernel, _) = everything_system();
        let verdict = everything_judge_call(&recorded(op, &message, capacity, &leases));
        // With the message bytes in the record, even the ops whose
        // arguments must decode (hubpack, options, named types) are judged.
        prop_assert!(
            verdict != Verdict::Undecided || !decidable(&message, &leases),
            "undecided on a call the record holds whole: op {}, {} bytes, {} leases",
            op,
            message.len(),
            leases.len()
        );
        let delivery = kernel.deliver(CLIENT, op, &message, EVERYTHING_BUFFER_SIZE, capacity, leases, |k, b, m| {
            everything_dispatch(&mut support::Everything::default(), k, b, m)
        });
        prop_assert!(
            agrees(verdict, &delivery.outcome),
            "judged {:?}, dispatch answered {:?}",
            verdict,
            delivery.outcome
        );
        match delivery.outcome {
            Some(Outcome::Reply { message, .. }) => prop_assert!(message.len() <= capacity),
            Some(Outcome::Fault(_)) => {}
            None => prop_assert!(false, "no answer: the client would hang"),
        }
    }
}
