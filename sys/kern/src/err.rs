//! Syscall errors, typed by whom they blame.
//!
//! A syscall either succeeds, fails in a way the caller is expected to handle
//! (a response code in `a0`), or reveals that the caller is broken (a fault).
//! The handler decides which; the dispatcher applies it. Faults of *another*
//! task (a sender whose lease lies, a server rejecting a message) are applied
//! directly by the handler, since the caller is not to blame.

use abi::{FaultKind, FaultRecord, UsageError};

/// Why a syscall did not complete normally.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum UserError {
    /// Return this response code to the caller, which carries on.
    Recoverable(u32),
    /// Fault the caller with this record (its `pc` is filled in by the
    /// dispatcher).
    Unrecoverable(FaultRecord),
}

/// The fault record of a syscall misused with `e`; its `pc` is filled in by
/// whoever applies it (the dispatcher, or `faults::fault_blocked`).
pub fn usage_fault(e: UsageError) -> FaultRecord {
    FaultRecord {
        kind: FaultKind::SyscallUsage as u32,
        address: 0,
        pc: 0,
        detail: e as u32,
    }
}

impl From<UsageError> for UserError {
    fn from(e: UsageError) -> Self {
        UserError::Unrecoverable(usage_fault(e))
    }
}
