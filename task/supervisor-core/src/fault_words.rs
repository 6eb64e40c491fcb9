//! A fault, and a decision to leave a task stopped, in words for the
//! supervisor's console line. The line is what a person writing a task
//! reads when it goes wrong, so it must name what to change where there
//! is one thing to change: a stack overflow is the task's app.toml
//! `stack`, a task left stopped by policy `never` is not at any limit.
//!
//! Formatting only: nothing here may panic (it runs in the supervisor).

use core::fmt::{self, Display, Formatter};

use abi::{FaultKind, FaultRecord, ReplyFaultReason, UsageError};

/// The kind of a fault, its kind-specific detail and the address it
/// names, if any: `stack overflow at address 0x80070f40 (...)`. `server`
/// is the name of the task whose verdict a `FromServer` fault carries
/// (the task at index `detail >> 16`); the other kinds do not use it.
pub struct FaultWords<'a, N> {
    /// The kernel's record of the fault.
    pub record: &'a FaultRecord,
    /// The server's name, for a `FromServer` fault.
    pub server: N,
}

impl<N: Display> Display for FaultWords<'_, N> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let r = self.record;
        f.write_str(r.kind().describe())?;
        match r.kind() {
            FaultKind::SyscallUsage => {
                let u = UsageError::from_u32(r.detail);
                write!(
                    f,
                    " ({})",
                    u.map(|u| u.describe()).unwrap_or("unknown misuse")
                )?;
            }
            FaultKind::FromServer => {
                let why = ReplyFaultReason::from_u32(r.detail & 0xffff);
                let why = why.map(|w| w.describe()).unwrap_or("unknown reason");
                write!(f, " ({why}, by {})", self.server)?;
            }
            FaultKind::IllegalInstruction => write!(f, " ({:#010x})", r.detail)?,
            FaultKind::BudgetExceeded => write!(f, " ({} ms without waiting for work)", r.detail)?,
            _ => {}
        }
        if r.kind().names_address() {
            write!(f, " at address {:#010x}", r.address)?;
        }
        if r.kind() == FaultKind::StackOverflow {
            // The stack is the task's own budget; the address alone
            // (below the task's RAM, in a neighbour's) told a user nothing.
            f.write_str(" (its stack is too small: raise the task's `stack` in the app file)")?;
        }
        Ok(())
    }
}

/// Why a faulted task is left stopped, from its
/// [`Decision::GiveUp`](crate::Decision::GiveUp)'s `faults_in_window`
/// (0 for policy `never`).
pub struct GaveUpWords(pub u32);

impl Display for GaveUpWords {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            // "restart limit reached (0 faults in its window)" it said,
            // to a user whose task had policy `never` and faulted once.
            0 => f.write_str("its restart policy is `never`; left stopped"),
            n => write!(
                f,
                "restart limit reached ({n} faults in its window); left stopped"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::format;

    use super::*;
    use crate::{Decision, Fault, Restarts};
    use abi::{RestartKind, RestartPolicy};

    fn record(kind: FaultKind, address: u32, detail: u32) -> FaultRecord {
        FaultRecord {
            kind: kind as u32,
            address,
            pc: 0x8005_935c,
            detail,
        }
    }

    fn words(r: &FaultRecord) -> std::string::String {
        format!(
            "{}",
            FaultWords {
                record: r,
                server: "kv"
            }
        )
    }

    #[test]
    fn a_stack_overflow_names_the_key_to_raise() {
        assert_eq!(
            words(&record(FaultKind::StackOverflow, 0x8007_0f40, 0)),
            "stack overflow at address 0x80070f40 (its stack is too small: raise the task's `stack` in the app file)"
        );
    }

    #[test]
    fn other_faults_keep_their_detail_and_address() {
        assert_eq!(
            words(&record(FaultKind::StoreAccess, 0x8001_0000, 0)),
            "store access fault at address 0x80010000"
        );
        assert_eq!(
            words(&record(FaultKind::BudgetExceeded, 0, 200)),
            "ran past its CPU budget (200 ms without waiting for work)"
        );
        let bad_leases = ReplyFaultReason::BadLeases as u32;
        assert_eq!(
            words(&record(FaultKind::FromServer, 0, (3 << 16) | bad_leases)),
            format!(
                "rejected by server ({}, by kv)",
                ReplyFaultReason::BadLeases.describe()
            )
        );
        assert_eq!(words(&record(FaultKind::Panic, 0, 0)), "panic");
    }

    #[test]
    fn a_task_left_stopped_says_whether_by_policy_or_limit() {
        let mut r = Restarts::default();
        let never = RestartPolicy::new(RestartKind::Never, 0, 0, 0);
        let Decision::GiveUp { faults_in_window } = r.on_fault(1, &never, 5, Fault::Other) else {
            panic!("policy never gives up")
        };
        assert_eq!(
            format!("{}", GaveUpWords(faults_in_window)),
            "its restart policy is `never`; left stopped"
        );
        assert_eq!(
            format!("{}", GaveUpWords(4)),
            "restart limit reached (4 faults in its window); left stopped"
        );
    }
}
