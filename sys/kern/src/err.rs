//! Syscall errors, typed by whom they blame.
//!
//! A syscall either succeeds, fails in a way the caller is expected to handle
//! (a response code in `a0`), or reveals that the caller is broken (a fault).
//! The handler decides which; the dispatcher applies it. Faults of *another*
//! task (a sender whose lease lies, a server rejecting a message) are applied
//! directly by the handler, since the caller is not to blame.
//!
//! [`UserError`] is two words on purpose: every handler returns a
//! `Result<(), UserError>`, which then travels in two registers instead of
//! through memory, and each `?` that passes one on costs nothing. The full
//! [`FaultRecord`] is made once, by whoever applies the fault.

use abi::{FaultKind, FaultRecord, UsageError};

/// Why a syscall did not complete normally.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum UserError {
    /// Return this response code to the caller, which carries on.
    Recoverable(u32),
    /// Fault the caller: it misused the syscall this way.
    Usage(UsageError),
    /// Fault the caller: it named memory at this address that it does not
    /// own with the access needed ([`UsageError::InvalidSlice`]).
    BadSlice(usize),
    /// Fault the caller: it panicked (the `panic` syscall).
    Panic,
}

impl UserError {
    /// What the dispatcher does with the error: `Ok(code)` to return
    /// `code` to the caller, `Err(record)` to fault it with `record`
    /// (whose `pc` is 0: the applier fills it in).
    pub fn to_fault(self) -> Result<u32, FaultRecord> {
        let (kind, address, detail) = match self {
            UserError::Recoverable(code) => return Ok(code),
            UserError::Usage(e) => (FaultKind::SyscallUsage, 0, e as u32),
            UserError::BadSlice(base) => (
                FaultKind::SyscallUsage,
                base as u32,
                UsageError::InvalidSlice as u32,
            ),
            UserError::Panic => (FaultKind::Panic, 0, 0),
        };
        Err(FaultRecord {
            kind: kind as u32,
            address,
            pc: 0,
            detail,
        })
    }
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
    #[inline(always)]
    fn from(e: UsageError) -> Self {
        UserError::Usage(e)
    }
}

// The point of the type's shape (see the module comment): two words, so
// that a handler's result fits the two return registers.
const _: () =
    assert!(core::mem::size_of::<Result<(), UserError>>() <= 2 * core::mem::size_of::<usize>());
