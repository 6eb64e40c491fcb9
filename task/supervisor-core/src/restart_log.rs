//! The supervisor's log of the restarts it made, for the operator (the
//! status page, the shell): every restart, with when and why, the last
//! [`KEPT`] of them.
//!
//! The supervisor keeps it because it is the one that restarts: a client
//! that watched generations instead saw a restart only when it next
//! looked, as one however many restarts came in between, and nothing of
//! what came before its own restart.
//!
//! It must never lose the newest record to make room (the oldest goes).

use abi::{RestartCause, RestartRecord};

/// Records kept.
pub const KEPT: usize = abi::RESTARTS_KEPT;

/// The last [`KEPT`] restarts.
pub struct RestartLog {
    records: [RestartRecord; KEPT],
    /// Restarts recorded since boot; the next record's `seq`.
    count: u32,
    /// Records held: `count` until it reaches [`KEPT`].
    kept: u32,
}

impl RestartLog {
    /// An empty log.
    pub const fn new() -> Self {
        RestartLog {
            records: [RestartRecord {
                seq: 0,
                task: 0,
                generation: 0,
                cause: 0,
                at_ms: 0,
            }; KEPT],
            count: 0,
            kept: 0,
        }
    }

    /// Records that `task` was restarted as `generation` at `at_ms`.
    pub fn record(&mut self, task: usize, generation: u32, cause: RestartCause, at_ms: u64) {
        let seq = self.count;
        self.records[seq as usize % KEPT] = RestartRecord {
            seq,
            task: task as u32,
            generation,
            cause: cause as u32,
            at_ms,
        };
        // Wrapping: after 2^32 restarts the numbers start again, and
        // `KEPT` divides 2^32, so the slots stay in order.
        self.count = seq.wrapping_add(1);
        self.kept = (self.kept + 1).min(KEPT as u32);
    }

    /// The `back`-th most recent record (0: the latest), if it is kept.
    pub fn get(&self, back: u32) -> Option<RestartRecord> {
        if back >= self.kept {
            return None;
        }
        let seq = self.count.wrapping_sub(1).wrapping_sub(back);
        Some(self.records[seq as usize % KEPT])
    }
}

impl Default for RestartLog {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_comes_first_and_an_empty_log_has_none() {
        let mut log = RestartLog::new();
        assert_eq!(log.get(0), None);
        log.record(3, 1, RestartCause::Fault, 100);
        log.record(5, 1, RestartCause::Operator, 250);
        let r = log.get(0).unwrap();
        assert_eq!((r.seq, r.task, r.generation, r.at_ms), (1, 5, 1, 250));
        assert_eq!(r.cause(), Some(RestartCause::Operator));
        let r = log.get(1).unwrap();
        assert_eq!((r.seq, r.task, r.at_ms), (0, 3, 100));
        assert_eq!(r.cause(), Some(RestartCause::Fault));
        assert_eq!(log.get(2), None);
    }

    #[test]
    fn only_the_last_kept_are_kept_oldest_going_first() {
        let mut log = RestartLog::new();
        for i in 0..(KEPT as u32 + 5) {
            log.record(1, i + 1, RestartCause::Hung, u64::from(i) * 10);
        }
        for back in 0..KEPT as u32 {
            let r = log.get(back).unwrap();
            let seq = KEPT as u32 + 4 - back;
            assert_eq!((r.seq, r.generation), (seq, seq + 1), "back {back}");
        }
        assert_eq!(log.get(KEPT as u32), None);
        assert_eq!(log.get(u32::MAX), None);
    }

    #[test]
    fn numbers_wrap_without_losing_the_order() {
        let mut log = RestartLog::new();
        log.count = u32::MAX - 1;
        for g in 0..4 {
            log.record(2, g, RestartCause::Rejecting, 7);
        }
        let seqs = [0, 1, 2, 3].map(|b| log.get(b).unwrap().seq);
        assert_eq!(seqs, [1, 0, u32::MAX, u32::MAX - 1]);
        let gens = [0, 1, 2, 3].map(|b| log.get(b).unwrap().generation);
        assert_eq!(gens, [3, 2, 1, 0]);
    }
}
