//! Host tests of [`Leased`] against the mock kernel.

use super::*;
use crate::mock::{MockKernel, MockLease};
use abi::{Generation, LEASE_READ, LEASE_WRITE};
use proptest::prelude::*;
use std::vec;

use std::vec::Vec;

const SERVER: TaskId = TaskId::new(2, Generation(0));
const CLIENT: TaskId = TaskId::new(1, Generation(0));

/// The lease at `offset` bytes into lease `index` of `lender`'s call.
fn at(lender: TaskId, index: usize, offset: usize) -> LeaseAt {
    LeaseAt {
        lender,
        index,
        offset,
    }
}

/// Runs `f` as the server, during a call from CLIENT lending `leases`.
fn during_call(leases: Vec<MockLease>, f: impl FnOnce(&dyn Ipc)) -> Vec<MockLease> {
    let kernel = MockKernel::new(SERVER);
    kernel
        .deliver(CLIENT, 1, &[], 0, 0, leases, |k, _, _| f(k))
        .leases
}

fn lease(attributes: u32, data: Vec<u8>) -> MockLease {
    MockLease { attributes, data }
}

#[test]
fn a_described_lease_is_claimed_without_asking_and_checked_the_same() {
    // No lease lent at all: asking the kernel fails, so every success
    // below comes from the description alone.
    during_call(vec![], |ipc| {
        let described = Some((LEASE_WRITE, 8));
        let l = Leased::<Write, u32>::claim_described(ipc, CLIENT, 0, None, described);
        assert_eq!(l.unwrap().len(), 2);
        assert_eq!(
            Leased::<Read, u8>::claim_described(ipc, CLIENT, 0, None, described).unwrap_err(),
            ReplyFaultReason::BadLeaseAttributes
        );
        assert_eq!(
            Leased::<Write, u32>::claim_described(ipc, CLIENT, 0, None, Some((LEASE_WRITE, 6)))
                .unwrap_err(),
            ReplyFaultReason::BadLeases
        );
        assert_eq!(
            Leased::<Write, u8>::claim_described(ipc, CLIENT, 0, Some(4), described).unwrap_err(),
            ReplyFaultReason::BadLeases
        );
        assert_eq!(
            Leased::<Write, u8>::claim_described(ipc, CLIENT, 0, None, None).unwrap_err(),
            ReplyFaultReason::BadLeases,
            "not described: the kernel is asked"
        );
    });
}

#[test]
fn claim_checks_attributes_then_size() {
    during_call(
        vec![
            lease(LEASE_READ, vec![0; 8]),
            lease(LEASE_WRITE, vec![0; 6]),
            lease(LEASE_READ | LEASE_WRITE, vec![0; 8]),
        ],
        |ipc| {
            let read = Leased::<Read, u32>::claim(ipc, CLIENT, 0, None).unwrap();
            assert_eq!(read.len(), 2);
            let wide = Leased::<Write, u16>::claim(ipc, CLIENT, 1, None);
            assert_eq!(wide.unwrap().len(), 3);
            assert!(Leased::<Read, u8>::claim(ipc, CLIENT, 2, Some(8)).is_ok());
            // Each refusal and its reason: attributes first, then size.
            let (attributes, leases) = (
                ReplyFaultReason::BadLeaseAttributes,
                ReplyFaultReason::BadLeases,
            );
            for (refused, why) in [
                (
                    Leased::<Write, u32>::claim(ipc, CLIENT, 0, None).err(),
                    attributes,
                ),
                (
                    Leased::<ReadWrite, u8>::claim(ipc, CLIENT, 1, None).err(),
                    attributes,
                ),
                (
                    Leased::<Write, u32>::claim(ipc, CLIENT, 1, None).err(),
                    leases,
                ),
                (
                    Leased::<Write, u16>::claim(ipc, CLIENT, 1, Some(2)).err(),
                    leases,
                ),
                (
                    Leased::<Read, u8>::claim(ipc, CLIENT, 3, None).err(),
                    leases,
                ),
                (
                    Leased::<Read, u8>::claim(ipc, SERVER, 0, None).err(),
                    leases,
                ),
            ] {
                assert_eq!(refused, Some(why));
            }
        },
    );
}

#[test]
fn reads_and_writes_elements_at_offsets() {
    let after = during_call(
        vec![lease(LEASE_READ | LEASE_WRITE, vec![1, 0, 2, 0, 3, 0])],
        |ipc| {
            let l = Leased::<ReadWrite, u16>::claim(ipc, CLIENT, 0, None).unwrap();
            assert_eq!(l.read_at(1), Ok(2));
            let mut two = [0u16; 2];
            l.read_range(1, &mut two).unwrap();
            assert_eq!(two, [2, 3]);
            l.write_at(0, 0x0102).unwrap();
            l.write_range(1, &[7, 8]).unwrap();
            assert_eq!(l.read_at(3), Err(LeaseError::OutOfRange));
            assert_eq!(l.write_range(2, &[1, 2]), Err(LeaseError::OutOfRange));
            assert_eq!(
                l.read_range(usize::MAX, &mut two),
                Err(LeaseError::OutOfRange)
            );
        },
    );
    assert_eq!(after[0].data, [2, 1, 7, 0, 8, 0]);
}

#[test]
fn a_lender_that_went_away_is_an_error_not_a_panic() {
    let kernel = MockKernel::new(SERVER);
    let mut kept = None;
    kernel.deliver(
        CLIENT,
        1,
        &[],
        0,
        0,
        vec![lease(LEASE_READ, vec![5; 4])],
        |k, _, _| {
            let l = Leased::<Read, u8>::claim(k, CLIENT, 0, None).unwrap();
            kept = Some((l.lender(), l.len()));
        },
    );
    // The call is over: a fresh claim is refused by the kernel.
    assert_eq!(
        Leased::<Read, u8>::claim(&kernel, CLIENT, 0, None).unwrap_err(),
        ReplyFaultReason::BadLeases
    );
    assert_eq!(kept, Some((CLIENT, 4)));
    let e: ServerError<core::convert::Infallible> =
        LeaseError::Refused(KernelCode(abi::BORROW_NOT_LENT)).into();
    assert_eq!(e, ServerError::Fault(ReplyFaultReason::BadLeases));
}

proptest! {
    #[test]
    fn accesses_succeed_exactly_when_in_bounds(len in 0usize..20, start in 0usize..30, count in 0usize..30) {
        during_call(vec![lease(LEASE_READ | LEASE_WRITE, vec![9; len * 4])], |ipc| {
            let l = Leased::<ReadWrite, u32>::claim(ipc, CLIENT, 0, None).unwrap();
            let mut dest = vec![0u32; count];
            let inside = start + count <= len;
            assert_eq!(l.read_range(start, &mut dest).is_ok(), inside);
            assert_eq!(l.write_range(start, &dest).is_ok(), inside);
        });
    }
}

#[test]
fn a_short_borrow_is_an_error_never_a_partial_value() {
    let kernel = MockKernel::new(SERVER);
    let leases = vec![lease(
        LEASE_READ | LEASE_WRITE,
        vec![1, 2, 3, 4, 5, 6, 7, 8],
    )];
    kernel.deliver(CLIENT, 1, &[], 0, 0, leases, |k, _, _| {
        k.set_short_borrows(true);
        let l = Leased::<ReadWrite, u32>::claim(k, CLIENT, 0, None).unwrap();
        assert_eq!(l.len(), 2, "borrow_info goes through unchanged");
        assert_eq!(
            l.read_at(1),
            Err(LeaseError::Refused(KernelCode(abi::BORROW_OUT_OF_RANGE)))
        );
        let mut two = [0u32; 2];
        assert_eq!(
            l.read_range(0, &mut two),
            Err(LeaseError::Refused(KernelCode(abi::BORROW_OUT_OF_RANGE)))
        );
        assert_eq!(
            l.write_at(0, 0xAABB_CCDD),
            Err(LeaseError::Refused(KernelCode(abi::BORROW_OUT_OF_RANGE)))
        );
        // With whole borrows the same lease reads whole.
        k.set_short_borrows(false);
        assert_eq!(l.read_at(1), Ok(u32::from_le_bytes([5, 6, 7, 8])));
    });
}

#[test]
fn the_forwarding_impl_reaches_the_same_kernel() {
    let kernel = MockKernel::new(SERVER);
    kernel.serve_with(16, |k, msg, m| {
        assert_eq!(&msg[..m.message_len], b"ping");
        assert_eq!(m.lease_count, 1);
        let by_ref: &&MockKernel = &k;
        assert_eq!(
            by_ref.borrow_info(m.sender, 0),
            Ok(crate::LeaseInfo {
                attributes: LEASE_WRITE,
                len: 3
            })
        );
        assert_eq!(by_ref.borrow_write(at(m.sender, 0, 0), b"abc"), Ok(3));
        let mut none = [0u8; 1];
        assert_eq!(
            by_ref.borrow_read(at(m.sender, 0, 0), &mut none),
            Err(abi::BORROW_WRONG_ATTRIBUTES)
        );
        by_ref.reply(m.sender, 7, b"pong");
    });
    let by_ref: &&MockKernel = &&kernel;
    let mut out = [0u8; 3];
    let mut reply = [0u8; 8];
    let (code, len) = by_ref.send(crate::Call {
        target: SERVER,
        operation: 1,
        outgoing: b"ping",
        incoming: &mut reply,
        leases: &mut [crate::LeaseRef::Write(&mut out)],
    });
    assert_eq!((code, &reply[..len]), (7, &b"pong"[..]));
    assert_eq!(&out, b"abc");
    assert_eq!(by_ref.refresh_task_id(CLIENT), CLIENT);
    assert_eq!(
        by_ref.refresh_task_id(TaskId::new(SERVER.index() as u16, Generation(9))),
        SERVER
    );
}

#[test]
fn lease_refs_report_their_direction_and_length() {
    let ro = [1u8, 2, 3];
    let mut wo = [0u8; 5];
    let mut rw = [0u8; 0];
    let leases = [
        crate::LeaseRef::Read(&ro),
        crate::LeaseRef::Write(&mut wo),
        crate::LeaseRef::ReadWrite(&mut rw),
    ];
    let seen: Vec<(u32, usize, bool)> = leases
        .iter()
        .map(|l| (l.attributes(), l.len(), l.is_empty()))
        .collect();
    assert_eq!(
        seen,
        [
            (LEASE_READ, 3, false),
            (LEASE_WRITE, 5, false),
            (LEASE_READ | LEASE_WRITE, 0, true),
        ]
    );
}

/// A DMA gate posts a lease by its index in the call: each claimed
/// lease names its own, also after a detach and attach.
#[test]
fn claimed_leases_know_their_index_in_the_call() {
    during_call(
        vec![
            lease(LEASE_READ, vec![1]),
            lease(LEASE_WRITE, vec![0; 2]),
            lease(LEASE_READ, vec![3; 3]),
        ],
        |ipc| {
            let first = Leased::<Read, u8>::claim(ipc, CLIENT, 0, None).unwrap();
            let third = Leased::<Read, u8>::claim(ipc, CLIENT, 2, None).unwrap();
            assert_eq!((first.index(), third.index()), (0, 2));
            assert_eq!(third.detach().attach(ipc).index(), 2);
        },
    );
}

#[test]
fn claimed_and_detached_leases_know_when_they_are_empty() {
    during_call(
        vec![lease(LEASE_READ, vec![]), lease(LEASE_READ, vec![1, 2])],
        |ipc| {
            let empty = Leased::<Read, u8>::claim(ipc, CLIENT, 0, None).unwrap();
            let full = Leased::<Read, u8>::claim(ipc, CLIENT, 1, None).unwrap();
            assert!(empty.is_empty());
            assert!(!full.is_empty());
            let (empty, full) = (empty.detach(), full.detach());
            assert!(empty.is_empty());
            assert!(!full.is_empty());
            assert_eq!((empty.len(), full.len()), (0, 2));
            assert_eq!(full.lender(), CLIENT);
            assert_eq!(full.attach(ipc).read_at(1), Ok(2));
        },
    );
}

/// The mock kernel refuses raw borrows the way the real one does, so a
/// server that skips `Leased`'s own checks is still caught in host tests.
#[test]
fn the_mock_kernel_refuses_raw_borrows_outside_a_lease_or_its_direction() {
    during_call(
        vec![
            lease(LEASE_READ, vec![1, 2, 3, 4]),
            lease(LEASE_WRITE, vec![0; 4]),
        ],
        |ipc| {
            let mut two = [0u8; 2];
            assert_eq!(ipc.borrow_read(at(CLIENT, 0, 2), &mut two), Ok(2));
            assert_eq!(two, [3, 4]);
            assert_eq!(
                ipc.borrow_read(at(CLIENT, 0, 3), &mut two),
                Err(abi::BORROW_OUT_OF_RANGE)
            );
            assert_eq!(
                ipc.borrow_read(at(CLIENT, 0, usize::MAX), &mut two),
                Err(abi::BORROW_OUT_OF_RANGE)
            );
            assert_eq!(
                ipc.borrow_write(at(CLIENT, 1, 3), &[9, 9]),
                Err(abi::BORROW_OUT_OF_RANGE)
            );
            assert_eq!(
                ipc.borrow_write(at(CLIENT, 0, 0), &[9]),
                Err(abi::BORROW_WRONG_ATTRIBUTES)
            );
            assert_eq!(
                ipc.borrow_read(at(CLIENT, 1, 0), &mut two),
                Err(abi::BORROW_WRONG_ATTRIBUTES)
            );
            assert_eq!(ipc.borrow_write(at(CLIENT, 1, 2), &[7, 8]), Ok(2));
        },
    );
}

/// The mock kernel describes the first lease at delivery as the kernel
/// does (the kernel's `recv_describes_the_first_lease_as_borrow_info_would`),
/// so that a server claiming it is spared `borrow_info` under the mock
/// too; later leases, and a call without any, are not described.
#[test]
fn the_mock_describes_the_first_lease_at_delivery_as_the_kernel_does() {
    let kernel = MockKernel::new(SERVER);
    let leases = vec![
        lease(LEASE_WRITE, vec![0; 12]),
        lease(LEASE_READ, vec![0; 4]),
    ];
    let mut seen = None;
    kernel.deliver(CLIENT, 1, &[], 0, 0, leases, |_, _, m| {
        seen = Some((m.described_lease(0), m.described_lease(1)));
    });
    assert_eq!(seen, Some((Some((LEASE_WRITE, 12)), None)));
    kernel.deliver(CLIENT, 1, &[], 0, 0, vec![], |_, _, m| {
        seen = Some((m.described_lease(0), None));
    });
    assert_eq!(seen, Some((None, None)), "no lease, nothing described");
}
