//! When a driver that refuses its clients' calls is the broken one.
//!
//! An untrusted server's `reply_fault` reaches its client as an error, not
//! a fault (the kernel's `reply_fault`). A driver corrupted by a flipped
//! bit or a wild write can turn every client away like that for good, and
//! must then be restarted; but a hostile client must not be able to get a
//! driver restarted, under everyone else's calls, by sending garbage.
//!
//! The kernel records each refused call in the client's own status
//! (`TaskStatus::rejected_call`: its shape and message bytes, as the server
//! was told of them),
//! and the supervisor holds it against the interface the server serves
//! (the generated `<name>_judge_call`). A server generated from an IDL
//! file refuses only calls that break the interface, so:
//!
//! - a refused call that fits the interface convicts the server at once,
//!   whichever client made it ([`Rejections::refused_call`]);
//! - one that does not fit convicts nobody, however many clients send such
//!   calls, and however often;
//! - one the record cannot decide (message bytes it does not hold or
//!   vouch for, a lease it does not vouch for) convicts nobody either.
//!
//! A client's record can be overwritten only by its own next refused call,
//! so one client's garbage cannot hide another's good call from the
//! supervisor. Each client is looked at when the kernel posts the fault
//! bit, which it does at every refusal.
//!
//! Trusted servers fault their clients instead, and are judged by the
//! different-clients rule of [`Rejections::client_faulted`].
//!
//! Nothing here may panic: it runs in the supervisor.

use crate::MAX_TASKS;

/// A trusted driver that faults a second client within this many ms of
/// faulting another is deemed broken.
pub const REJECTION_WINDOW_MS: u64 = 1000;

/// One task's record.
#[derive(Copy, Clone, Debug, Default)]
struct Record {
    /// As a client: the count of its refused calls last looked at.
    seen_refusals: u32,
    /// As a trusted server: when it last faulted a new client (pending a
    /// second).
    new_client_at: Option<u64>,
    /// The client it last faulted, as a trusted server ([`Rejections::client_faulted`]).
    faulted_client: Option<usize>,
}

/// Each task's rejections as the supervisor has seen them.
#[derive(Debug)]
pub struct Rejections {
    records: [Record; MAX_TASKS],
}

impl Rejections {
    /// Nothing seen yet (a constant, so that it can be a static's initial
    /// value).
    pub const fn new() -> Self {
        Rejections {
            records: [Record {
                seen_refusals: 0,
                new_client_at: None,
                faulted_client: None,
            }; MAX_TASKS],
        }
    }
}

impl Default for Rejections {
    fn default() -> Self {
        Self::new()
    }
}

impl Rejections {
    /// Looks at client `client`'s last refused call, `call` (from its
    /// status): the index of the server to restart as broken, if the call
    /// is new since the last look and `convicts` says it fits the
    /// interface of the server that refused it (`convicts` is asked only
    /// then; it must also say no for a server that has been restarted since,
    /// `call.server`'s generation).
    pub fn refused_call(
        &mut self,
        client: usize,
        call: &abi::RejectedCall,
        convicts: impl FnOnce(&abi::RejectedCall) -> bool,
    ) -> Option<usize> {
        let r = self.records.get_mut(client)?;
        if call.count == r.seen_refusals {
            return None;
        }
        r.seen_refusals = call.count;
        convicts(call).then(|| abi::TaskId(call.server).index())
    }

    /// `server`, a trusted one, faulted `client` with its verdict at `now`
    /// (ms): whether it should be restarted as broken: it faulted two
    /// different clients in a row within [`REJECTION_WINDOW_MS`].
    pub fn client_faulted(&mut self, server: usize, client: usize, now: u64) -> bool {
        let Some(r) = self.records.get_mut(server) else {
            return false;
        };
        if r.faulted_client == Some(client) {
            return false;
        }
        r.faulted_client = Some(client);
        if r.new_client(now) {
            r.new_client_at = None;
            return true;
        }
        false
    }
}

impl Record {
    /// Notes a rejection of a client other than the last one at `now`;
    /// whether it is the second within [`REJECTION_WINDOW_MS`].
    fn new_client(&mut self, now: u64) -> bool {
        let second = self
            .new_client_at
            .is_some_and(|t| now.saturating_sub(t) <= REJECTION_WINDOW_MS);
        self.new_client_at = Some(now);
        second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(count: u32, server: u16, operation: u32) -> abi::RejectedCall {
        abi::RejectedCall {
            count,
            server: abi::TaskId::new(server, abi::Generation(3)).0,
            operation,
            ..abi::RejectedCall::default()
        }
    }

    /// A judge for which operation 1 is a well-formed call.
    fn op_one(c: &abi::RejectedCall) -> bool {
        c.operation == 1
    }

    #[test]
    fn a_refused_call_that_fits_convicts_its_server_at_once() {
        let mut r = Rejections::default();
        assert_eq!(r.refused_call(5, &call(1, 2, 1), op_one), Some(2));
        // Looked at once: the same record again convicts nobody.
        assert_eq!(r.refused_call(5, &call(1, 2, 1), op_one), None);
        // Another client's good call, and the same client's next one.
        assert_eq!(r.refused_call(6, &call(7, 2, 1), op_one), Some(2));
        assert_eq!(r.refused_call(5, &call(2, 4, 1), op_one), Some(4));
    }

    #[test]
    fn garbage_convicts_nobody_however_many_clients_send_it() {
        let mut r = Rejections::default();
        for count in 1..50 {
            for client in 3..MAX_TASKS {
                assert_eq!(r.refused_call(client, &call(count, 2, 9), op_one), None);
            }
        }
        // Nor does a record with no refusal, or of a task out of range.
        let mut r = Rejections::default();
        let none = abi::RejectedCall::default();
        assert_eq!(r.refused_call(3, &none, |_| true), None);
        assert_eq!(r.refused_call(MAX_TASKS, &call(1, 2, 1), op_one), None);
        // The judge is asked only about a new record.
        r.refused_call(3, &call(1, 2, 9), op_one);
        r.refused_call(3, &call(1, 2, 9), |_| panic!("asked again"));
    }

    #[test]
    fn a_trusted_server_faulting_two_different_clients_is_a_broken_driver() {
        let mut r = Rejections::default();
        assert!(!r.client_faulted(1, 5, 0));
        assert!(!r.client_faulted(1, 5, 10), "the same client again");
        assert!(r.client_faulted(1, 6, 20), "another within the window");
        assert!(!r.client_faulted(1, 5, 30), "counting starts over");
        assert!(!r.client_faulted(1, 6, 2000), "far apart");
        assert!(!r.client_faulted(MAX_TASKS, 1, 0));
    }
}
