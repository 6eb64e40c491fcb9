//! Client of the IDL test image's assistant (`idl/idol-test.idol`) and the
//! catalogue of malformed requests it can send the Ping server, each with
//! the `reply_fault` reason the generated dispatch must answer it with.
//!
//! Used only by `idol-test` and `idol-test-assist`. It must
//! never be used to hand-pack a request outside that test: the malformed
//! messages exist to check that generated dispatch refuses them.

#![no_std]

use idol_runtime::ReplyFaultReason;
use zerocopy::{Immutable, IntoBytes, KnownLayout, TryFromBytes};

/// A request the Ping server must refuse, sent raw by the assistant.
#[derive(Copy, Clone, Debug, PartialEq, Eq, TryFromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(u8)]
pub enum Malformation {
    /// `add` with a 4-byte message instead of the 8 bytes of `(a, b)`.
    WrongLength = 0,
    /// `sum` without its read lease.
    MissingLease = 1,
    /// `fill` with a read-only lease where it needs a write lease.
    ReadOnlyLease = 2,
    /// An operation number the interface does not have.
    UnknownOp = 3,
    /// `sum` with a lease of 4097 bytes; the IDL says at most 4096.
    LeaseTooLong = 4,
    /// `add` with a one-byte reply buffer for its `u32` reply.
    ReplyBufferTooSmall = 5,
    /// `add`, which takes no lease, with one.
    ExtraLease = 6,
}

impl Malformation {
    /// Every malformation, in declaration order.
    pub const ALL: [Malformation; 7] = [
        Malformation::WrongLength,
        Malformation::MissingLease,
        Malformation::ReadOnlyLease,
        Malformation::UnknownOp,
        Malformation::LeaseTooLong,
        Malformation::ReplyBufferTooSmall,
        Malformation::ExtraLease,
    ];

    /// The reason the server's dispatch must give (see `idl/README.md`,
    /// "What a server's dispatch checks").
    pub const fn expected_reason(self) -> ReplyFaultReason {
        match self {
            Malformation::WrongLength => ReplyFaultReason::BadMessageContents,
            Malformation::MissingLease => ReplyFaultReason::BadLeases,
            Malformation::ReadOnlyLease => ReplyFaultReason::BadLeaseAttributes,
            Malformation::UnknownOp => ReplyFaultReason::UndefinedOperation,
            Malformation::LeaseTooLong => ReplyFaultReason::BadLeases,
            Malformation::ReplyBufferTooSmall => ReplyFaultReason::ReplyBufferTooSmall,
            Malformation::ExtraLease => ReplyFaultReason::BadLeases,
        }
    }
}

include!(concat!(env!("OUT_DIR"), "/idol_test_assist_client.rs"));
