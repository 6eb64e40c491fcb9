//! Which refusals the supervisor writes to the console: a task's first in
//! each second, and then how many it kept quiet.
//!
//! A log line is the kernel writing the UART a byte at a time in the
//! supervisor's trap (about 0.8 ms for 240 bytes). The supervisor logs a
//! refusal while it serves the refused call, and a server without a
//! budget serving a budgeted caller runs on the caller's CPU share until
//! it replies (`sys/kern/src/budget.rs`, "Server time"): the line is
//! charged to the calling driver's share (not its budget; drivers get one
//! by default), so a driver refused in a loop spends its own time. A
//! caller app.toml leaves without a budget is charged nothing, and the
//! lines of its refusals cost every task less important than the
//! supervisor. Before server time was charged, every refusal was logged
//! and a red team's driver called a refused operation in a loop and,
//! through the supervisor's logging, took most of the CPU from every task
//! less important than the supervisor (the suite below it kept 5 to 22 %
//! of its time, against 48 to 76 % beside a driver that only spun). The
//! quota still bounds what an unbudgeted caller's refusals cost, and keeps
//! the console readable. The refusal itself is still answered, every
//! time.

use crate::MAX_TASKS;

/// The least time between two logged refusals of one task.
pub const LOG_EVERY_MS: u64 = 1_000;

/// Per task: when a refusal of it was last logged, and how many were kept
/// quiet since.
#[derive(Debug)]
pub struct LogQuota {
    last_ms: [Option<u64>; MAX_TASKS],
    quiet: [u32; MAX_TASKS],
}

impl LogQuota {
    /// Nothing logged yet (a constant, so that it can be a static's
    /// initial value).
    pub const fn new() -> Self {
        LogQuota {
            last_ms: [None; MAX_TASKS],
            quiet: [0; MAX_TASKS],
        }
    }

    /// Whether to log a refusal of `task` at `now_ms`: `Some(n)` to log it,
    /// `n` being the refusals of the task kept quiet since the last one
    /// logged; `None` to keep it quiet (counted). A task beyond the table
    /// is always logged.
    pub fn admit(&mut self, task: usize, now_ms: u64) -> Option<u32> {
        let (Some(last), Some(quiet)) = (self.last_ms.get_mut(task), self.quiet.get_mut(task))
        else {
            return Some(0);
        };
        match *last {
            Some(at) if now_ms.saturating_sub(at) < LOG_EVERY_MS => {
                *quiet = quiet.saturating_add(1);
                None
            }
            _ => {
                *last = Some(now_ms);
                Some(core::mem::take(quiet))
            }
        }
    }
}

// (`Default` of `[T; N]` is derived only for N <= 32.)
impl Default for LogQuota {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tasks_first_refusal_each_second_is_logged_with_the_count_kept_quiet() {
        let mut q = LogQuota::new();
        assert_eq!(q.admit(3, 100), Some(0));
        for ms in 101..1100 {
            assert_eq!(q.admit(3, ms), None, "at {ms} ms");
        }
        assert_eq!(q.admit(3, 1100), Some(999));
        assert_eq!(q.admit(3, 1101), None);
        assert_eq!(q.admit(3, 5000), Some(1));
    }

    #[test]
    fn tasks_are_counted_apart_and_one_beyond_the_table_is_always_logged() {
        let mut q = LogQuota::new();
        assert_eq!(q.admit(1, 0), Some(0));
        assert_eq!(q.admit(2, 0), Some(0));
        assert_eq!(q.admit(1, 10), None);
        assert_eq!(q.admit(2, 10), None);
        assert_eq!(q.admit(MAX_TASKS, 10), Some(0));
        assert_eq!(q.admit(MAX_TASKS, 11), Some(0));
    }
}
