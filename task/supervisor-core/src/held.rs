//! Callers a server holds: how long each task has been waiting for the
//! reply to one and the same call.
//!
//! The liveness watchdog's other rules ([`Liveness`](crate::Liveness)) see
//! a driver that spins, or that answers none of its callers. A driver that
//! keeps answering others while it holds one caller's request for good
//! passes both, and that caller would hang. This rule sees it from the
//! caller's side: a task whose request the server has received (it awaits
//! the reply) and that has made no syscall since the last sample is still
//! in the same call. Only received requests count, so a caller merely
//! queued behind more important ones is not held by anybody.

use crate::MAX_TASKS;

/// A task's call as one sample sees it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The server it awaits a reply from (task index).
    pub server: u32,
    /// The caller's generation (a restarted caller makes a new call).
    pub generation: u32,
    /// The caller's syscall count: unchanged while it stays blocked in the
    /// same call.
    pub syscalls: u32,
}

/// Each task's call at the last sample, and for how many samples in a
/// row it has been the same.
#[derive(Debug)]
pub struct HeldCalls {
    last: [Option<Call>; MAX_TASKS],
    samples: [u8; MAX_TASKS],
}

impl HeldCalls {
    /// No call seen yet (a constant, so that it can be a static's initial
    /// value).
    pub const fn new() -> Self {
        HeldCalls {
            last: [None; MAX_TASKS],
            samples: [0; MAX_TASKS],
        }
    }
}

// (`Default` of `[T; N]` is derived only for N <= 32.)
impl Default for HeldCalls {
    fn default() -> Self {
        Self::new()
    }
}

impl HeldCalls {
    /// Records `caller`'s call at this sample (`None`: it awaits no reply)
    /// and returns for how many samples before this one it has awaited the
    /// reply to this same call: 0 for a call first seen now.
    pub fn sample(&mut self, caller: usize, call: Option<Call>) -> u8 {
        let (Some(last), Some(samples)) = (self.last.get_mut(caller), self.samples.get_mut(caller))
        else {
            return 0;
        };
        *samples = match call {
            Some(c) if *last == Some(c) => samples.saturating_add(1),
            _ => 0,
        };
        *last = call;
        *samples
    }
}

#[cfg(test)]
mod tests {
    use super::{Call, HeldCalls};

    const CALL: Call = Call {
        server: 2,
        generation: 0,
        syscalls: 40,
    };

    #[test]
    fn the_same_call_counts_up_from_its_second_sample() {
        let mut h = HeldCalls::default();
        assert_eq!(h.sample(5, Some(CALL)), 0);
        for n in 1..=20 {
            assert_eq!(h.sample(5, Some(CALL)), n);
        }
        // Another task's count is its own.
        assert_eq!(h.sample(6, Some(CALL)), 0);
    }

    #[test]
    fn any_change_is_a_new_call() {
        for other in [
            Call {
                syscalls: 41,
                ..CALL
            },
            Call {
                generation: 1,
                ..CALL
            },
            Call { server: 3, ..CALL },
        ] {
            let mut h = HeldCalls::default();
            h.sample(5, Some(CALL));
            assert_eq!(h.sample(5, Some(CALL)), 1);
            assert_eq!(h.sample(5, Some(other)), 0, "{other:?}");
            assert_eq!(h.sample(5, Some(other)), 1);
        }
        let mut h = HeldCalls::default();
        h.sample(5, Some(CALL));
        h.sample(5, Some(CALL));
        assert_eq!(h.sample(5, None), 0, "answered");
        assert_eq!(h.sample(5, Some(CALL)), 0, "a call after a gap starts over");
    }

    #[test]
    fn counts_saturate_and_unknown_tasks_are_ignored() {
        let mut h = HeldCalls::default();
        for _ in 0..300 {
            h.sample(0, Some(CALL));
        }
        assert_eq!(h.sample(0, Some(CALL)), u8::MAX);
        assert_eq!(h.sample(usize::MAX, Some(CALL)), 0);
        assert_eq!(h.sample(crate::MAX_TASKS, Some(CALL)), 0);
    }
}
