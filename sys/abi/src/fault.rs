//! Why a task stopped: the fault kinds the kernel records, the usage
//! errors a syscall can commit, and why a server rejected a message.

use crate::*;

/// Why a server rejected a message with `reply_fault`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ReplyFaultReason {
    /// The operation number is not one the server implements.
    UndefinedOperation = 0,
    /// The message could not be decoded (wrong length or contents).
    BadMessageContents = 1,
    /// The reply buffer is too small for the reply.
    ReplyBufferTooSmall = 2,
    /// The call carries the wrong number of leases.
    BadLeases = 3,
    /// A lease lacks the read or write attribute the operation needs.
    BadLeaseAttributes = 4,
}

impl ReplyFaultReason {
    /// Decodes a reason, `None` if unknown.
    pub const fn from_u32(n: u32) -> Option<Self> {
        Some(match n {
            0 => Self::UndefinedOperation,
            1 => Self::BadMessageContents,
            2 => Self::ReplyBufferTooSmall,
            3 => Self::BadLeases,
            4 => Self::BadLeaseAttributes,
            _ => return None,
        })
    }

    /// A short description for logs.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::UndefinedOperation => "undefined operation",
            Self::BadMessageContents => "bad message contents",
            Self::ReplyBufferTooSmall => "reply buffer too small",
            Self::BadLeases => "wrong lease count",
            Self::BadLeaseAttributes => "wrong lease attributes",
        }
    }
}

/// How a task misused a syscall, carried by [`FaultKind::SyscallUsage`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum UsageError {
    /// `a7` held a number that is not a syscall.
    BadSyscallNumber = 0,
    /// A pointer/length pair the task passed is not memory it owns with the
    /// needed access (or wraps around the address space).
    InvalidSlice = 1,
    /// A lease names memory the sender does not own.
    LeaseOutOfBounds = 2,
    /// A reply was larger than the caller's reply buffer.
    ReplyTooBig = 3,
    /// A reply used a code reserved by the kernel.
    ReservedResponseCode = 4,
    /// `irq_control` named notification bits that have no IRQ.
    NoIrqForBits = 5,
    /// Too many leases in one call.
    TooManyLeases = 6,
}

impl UsageError {
    /// Decodes a usage error, `None` if unknown.
    pub const fn from_u32(n: u32) -> Option<Self> {
        Some(match n {
            0 => Self::BadSyscallNumber,
            1 => Self::InvalidSlice,
            2 => Self::LeaseOutOfBounds,
            3 => Self::ReplyTooBig,
            4 => Self::ReservedResponseCode,
            5 => Self::NoIrqForBits,
            6 => Self::TooManyLeases,
            _ => return None,
        })
    }

    /// A short description for logs.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::BadSyscallNumber => "bad syscall number",
            Self::InvalidSlice => "pointer to memory the task does not own",
            Self::LeaseOutOfBounds => "lease of memory the sender does not own",
            Self::ReplyTooBig => "reply larger than the caller's buffer",
            Self::ReservedResponseCode => "reply with a kernel-reserved code",
            Self::NoIrqForBits => "irq_control on bits without an IRQ",
            Self::TooManyLeases => "too many leases",
        }
    }
}

/// What stopped a task. The numeric values are the `kind` field of
/// [`FaultRecord`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum FaultKind {
    /// Not faulted.
    None = 0,
    /// A load from memory the task does not own (`address` is the target).
    LoadAccess = 1,
    /// A store to memory the task does not own.
    StoreAccess = 2,
    /// An instruction fetch from memory the task may not execute.
    FetchAccess = 3,
    /// The stack pointer left the stack region (`address` is the access).
    StackOverflow = 4,
    /// An instruction the task may not execute (`detail` = the instruction bits).
    IllegalInstruction = 5,
    /// A misaligned load, store or atomic access.
    Misaligned = 6,
    /// A syscall was misused; `detail` is the [`UsageError`].
    SyscallUsage = 7,
    /// The task called `panic`.
    Panic = 8,
    /// A server rejected the task's message; `detail` = server index << 16 |
    /// [`ReplyFaultReason`].
    FromServer = 9,
    /// The supervisor injected the fault with `kipc`.
    Injected = 10,
    /// A breakpoint (`ebreak`).
    Breakpoint = 11,
    /// The task ran for longer than its CPU budget (app.toml `budget-ms`)
    /// without blocking; `detail` = the budget in ms. Syscalls that return
    /// at once do not count as blocking.
    BudgetExceeded = 12,
}

impl FaultKind {
    /// Decodes a fault kind, `None` if unknown.
    pub const fn from_u32(n: u32) -> Option<Self> {
        Some(match n {
            0 => Self::None,
            1 => Self::LoadAccess,
            2 => Self::StoreAccess,
            3 => Self::FetchAccess,
            4 => Self::StackOverflow,
            5 => Self::IllegalInstruction,
            6 => Self::Misaligned,
            7 => Self::SyscallUsage,
            8 => Self::Panic,
            9 => Self::FromServer,
            10 => Self::Injected,
            11 => Self::Breakpoint,
            12 => Self::BudgetExceeded,
            _ => return None,
        })
    }

    /// A short name for logs.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::LoadAccess => "load access fault",
            Self::StoreAccess => "store access fault",
            Self::FetchAccess => "instruction fetch fault",
            Self::StackOverflow => "stack overflow",
            Self::IllegalInstruction => "illegal instruction",
            Self::Misaligned => "misaligned access",
            Self::SyscallUsage => "syscall misuse",
            Self::Panic => "panic",
            Self::FromServer => "rejected by server",
            Self::Injected => "injected by supervisor",
            Self::Breakpoint => "breakpoint",
            Self::BudgetExceeded => "ran past its CPU budget",
        }
    }
}

/// What the kernel recorded about a task's last fault.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct FaultRecord {
    /// A [`FaultKind`] value.
    pub kind: u32,
    /// The faulting address (for access faults), else 0.
    pub address: u32,
    /// The program counter of the faulting instruction.
    pub pc: u32,
    /// Kind-specific detail (see [`FaultKind`]).
    pub detail: u32,
}

impl FaultRecord {
    /// The decoded kind (unknown values read as `None`).
    pub fn kind(&self) -> FaultKind {
        FaultKind::from_u32(self.kind).unwrap_or(FaultKind::None)
    }
}
