//! What became of a task the operator faulted (`fault <task>`), told from
//! its status read right after the supervisor answered.
//!
//! The supervisor is more important than the shell and takes a pending
//! fault notification before its next call, so by the time the shell asks,
//! the supervisor has restarted the task, put its restart off (backoff) or
//! left it stopped (restart limit). The shell once said "the supervisor
//! restarts it" in every case, also for a task left stopped for good.
//!
//! It must never claim a restart the status does not show.

/// A task's status after the fault, as far as the verdict needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Its generation now.
    pub generation: u32,
    /// Faulted and not yet restarted.
    pub faulted: bool,
    /// Stopped: not coming back until an operator restarts it.
    pub stopped: bool,
}

/// What became of the faulted task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aftermath {
    /// Running again, as the generation given.
    Restarted {
        /// The new incarnation's generation.
        generation: u32,
    },
    /// Still down: its restart is put off (backoff) or not decided yet.
    Down,
    /// Left stopped: its restart limit was reached.
    LeftStopped,
    /// No status could be read after the fault.
    Unknown,
}

/// The verdict from the generation before the fault and the status after
/// it (`None` if it could not be read). Generations wrap, so a restart is
/// any change of generation, not a larger one.
pub fn aftermath(generation_before: u32, after: Option<Seen>) -> Aftermath {
    match after {
        None => Aftermath::Unknown,
        Some(s) if s.stopped => Aftermath::LeftStopped,
        Some(s) if s.faulted || s.generation == generation_before => Aftermath::Down,
        Some(s) => Aftermath::Restarted {
            generation: s.generation,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{aftermath, Aftermath, Seen};

    fn seen(generation: u32, faulted: bool, stopped: bool) -> Option<Seen> {
        Some(Seen {
            generation,
            faulted,
            stopped,
        })
    }

    #[test]
    fn a_new_generation_running_is_a_restart() {
        assert_eq!(
            aftermath(3, seen(4, false, false)),
            Aftermath::Restarted { generation: 4 }
        );
        // Generations wrap at 16 bits.
        assert_eq!(
            aftermath(0xFFFF, seen(0, false, false)),
            Aftermath::Restarted { generation: 0 }
        );
    }

    #[test]
    fn a_task_left_stopped_is_never_called_restarted() {
        assert_eq!(aftermath(3, seen(3, false, true)), Aftermath::LeftStopped);
        assert_eq!(aftermath(3, seen(4, false, true)), Aftermath::LeftStopped);
    }

    #[test]
    fn a_task_still_faulted_or_on_its_old_generation_is_down() {
        assert_eq!(aftermath(3, seen(3, true, false)), Aftermath::Down);
        assert_eq!(aftermath(3, seen(3, false, false)), Aftermath::Down);
        assert_eq!(aftermath(3, None), Aftermath::Unknown);
    }
}
