//! When a driver that rejects its clients' calls is the broken one.
//!
//! An untrusted server's `reply_fault` reaches its client as an error, not
//! a fault (the kernel's `reply_fault`), and the kernel counts it
//! (`TaskStatus::rejections`, and `rejected_clients`: the changes of the
//! client rejected). A well-behaved client of a generated interface never
//! sends a malformed message, so a driver that keeps rejecting calls is
//! likely corrupted (a flipped bit, a wild write), and left alone it would
//! turn its clients away for ever. But a client can be the broken or
//! hostile one, and a restart of the driver resets its device and fails
//! every other client's call in flight: one client must not be able to get
//! the driver restarted. So a driver counts as broken when it rejects two
//! *different* clients in a row within [`REJECTION_WINDOW_MS`]; one client
//! rejected again and again proves nothing.
//!
//! What this leaves: a corrupted driver whose only client is the one it
//! rejects is not restarted for it (nothing tells that client from a
//! hostile one that once sent a good call); it is the operator's (`restart`
//! in the shell; the fault campaign does it after 100 ms). And two hostile
//! clients of one driver can still get it restarted.
//!
//! Nothing here may panic: it runs in the supervisor.

use crate::MAX_TASKS;

/// A driver that rejects a second client within this many ms of rejecting
/// another is deemed broken.
pub const REJECTION_WINDOW_MS: u64 = 1000;

/// What the kernel counts of one task (from its `TaskStatus`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// The incarnation.
    pub generation: u32,
    /// Whether it is faulted now (its counts are the dead incarnation's).
    pub faulted: bool,
    /// Changes of the client it rejected.
    pub rejected_clients: u32,
}

/// One task's record.
#[derive(Copy, Clone, Debug, Default)]
struct Record {
    /// The generation and `rejected_clients` count last looked at.
    seen: (u32, u32),
    /// When it last rejected a new client (pending a second).
    new_client_at: Option<u64>,
    /// The client it last faulted, as a trusted server ([`Rejections::client_faulted`]).
    faulted_client: Option<usize>,
}

/// Each task's rejections as the supervisor has seen them.
#[derive(Debug)]
pub struct Rejections {
    records: [Record; MAX_TASKS],
}

impl Default for Rejections {
    fn default() -> Self {
        Rejections {
            records: [Record::default(); MAX_TASKS],
        }
    }
}

impl Rejections {
    /// Looks at `task`'s counts `now` (ms): whether it should be restarted
    /// as a broken driver (it rejected two different clients in a row
    /// within [`REJECTION_WINDOW_MS`]). Call it with every status read;
    /// after a verdict the record starts afresh.
    ///
    /// A faulted task already shows its next generation with the dead
    /// incarnation's counts; taken as the new one's, they would be counted
    /// twice (and their reset to 0 at the restart read as a wrap). So a
    /// faulted task is not looked at, and counts from another generation,
    /// or that went down, are counted from 0.
    pub fn judge(&mut self, task: usize, c: Counts, now: u64) -> bool {
        let Some(r) = self.records.get_mut(task) else {
            return false;
        };
        if c.faulted {
            return false;
        }
        let before = match r.seen {
            (generation, count) if generation == c.generation && count <= c.rejected_clients => {
                count
            }
            _ => {
                *r = Record::default();
                0
            }
        };
        r.seen = (c.generation, c.rejected_clients);
        let new_clients = c.rejected_clients - before;
        for _ in 0..new_clients.min(2) {
            if r.new_client(now) {
                *r = Record {
                    seen: r.seen,
                    ..Record::default()
                };
                return true;
            }
        }
        false
    }

    /// `server`, a trusted one, faulted `client` with its verdict at `now`
    /// (ms): whether it should be restarted as broken — the rule of
    /// [`judge`](Self::judge), for the faults a trusted server's verdicts
    /// are.
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

    fn counts(generation: u32, rejected_clients: u32) -> Counts {
        Counts {
            generation,
            faulted: false,
            rejected_clients,
        }
    }

    #[test]
    fn two_different_clients_within_the_window_is_a_broken_driver() {
        let mut r = Rejections::default();
        assert!(!r.judge(1, counts(0, 1), 100));
        assert!(!r.judge(1, counts(0, 1), 300), "no new client");
        assert!(r.judge(1, counts(0, 2), 600));
        // Counting starts over after a verdict.
        assert!(!r.judge(1, counts(0, 3), 700));
        // New clients far apart are not a pattern.
        let mut r = Rejections::default();
        assert!(!r.judge(2, counts(0, 1), 0));
        assert!(!r.judge(2, counts(0, 2), 5000));
        // Two at once are enough; tasks are apart.
        let mut r = Rejections::default();
        assert!(!r.judge(4, counts(0, 1), 0));
        assert!(r.judge(3, counts(0, 2), 0));
        assert!(!r.judge(MAX_TASKS, counts(0, 2), 0));
    }

    #[test]
    fn counts_are_taken_once_per_incarnation() {
        let mut r = Rejections::default();
        assert!(!r.judge(3, counts(0, 1), 0));
        // Faulted: generation 1 shows generation 0's count; not looked at.
        let dead = Counts {
            faulted: true,
            ..counts(1, 5)
        };
        assert!(!r.judge(3, dead, 10));
        // Restarted as generation 1: its first new client is a first.
        assert!(!r.judge(3, counts(1, 1), 20));
        // A count that went down in the same generation is not a wrap.
        assert!(!r.judge(3, counts(1, 0), 1500));
        assert!(!r.judge(3, counts(1, 1), 3000));
        assert!(r.judge(3, counts(1, 2), 3100));
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
