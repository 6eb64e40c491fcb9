//! Why a task stopped: the fault kinds the kernel records, the usage
//! errors a syscall can commit, and why a server rejected a message.

use crate::*;

code_enum! {
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
        /// The call's leases do not fit the operation: too many or too few,
        /// one longer than the operation allows or not a whole number of
        /// elements, or one the server reached outside of.
        BadLeases = 3,
        /// A lease lacks the read or write attribute the operation needs.
        BadLeaseAttributes = 4,
    }
    describe {
        UndefinedOperation => "undefined operation",
        BadMessageContents => "bad message contents",
        ReplyBufferTooSmall => "reply buffer too small",
        BadLeases => "bad leases (count, length or bounds)",
        BadLeaseAttributes => "wrong lease attributes",
    }
}

code_enum! {
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
    describe {
        BadSyscallNumber => "bad syscall number",
        InvalidSlice => "pointer to memory the task does not own",
        LeaseOutOfBounds => "lease of memory the sender does not own",
        ReplyTooBig => "reply larger than the caller's buffer",
        ReservedResponseCode => "reply with a kernel-reserved code",
        NoIrqForBits => "irq_control on bits without an IRQ",
        TooManyLeases => "too many leases",
    }
}

code_enum! {
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
        /// An access fault (load, store or fetch) taken with the stack
        /// pointer below the stack's base, where a stack that outgrew its
        /// region points it (`address` is the access, wherever it was).
        /// With the stack pointer anywhere else, even wild above the stack,
        /// the access fault keeps its own kind.
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
        /// without waiting for work (blocked in `recv`); `detail` = the
        /// budget in ms. Syscalls that return at once do not count, nor do
        /// calls: only the task's own time between them is charged.
        BudgetExceeded = 12,
    }
    describe {
        None => "none",
        LoadAccess => "load access fault",
        StoreAccess => "store access fault",
        FetchAccess => "instruction fetch fault",
        StackOverflow => "stack overflow",
        IllegalInstruction => "illegal instruction",
        Misaligned => "misaligned access",
        SyscallUsage => "syscall misuse",
        Panic => "panic",
        FromServer => "rejected by server",
        Injected => "injected by supervisor",
        Breakpoint => "breakpoint",
        BudgetExceeded => "ran past its CPU budget",
    }
}

impl FaultKind {
    /// Whether a record of this kind names the access that faulted in
    /// [`FaultRecord::address`]; the other kinds leave it 0.
    pub const fn names_address(self) -> bool {
        matches!(
            self,
            FaultKind::LoadAccess
                | FaultKind::StoreAccess
                | FaultKind::FetchAccess
                | FaultKind::StackOverflow
                | FaultKind::Misaligned
        )
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
