//! What became of a task the operator faulted (`fault <task>`), told from
//! its status read right after the supervisor answered.
//!
//! The supervisor is more important than the shell and takes a pending
//! fault notification before its next call, so by the time the shell asks,
//! the supervisor has restarted the task, put its restart off (backoff) or
//! left it stopped (restart limit). The shell once said "the supervisor
//! restarts it" in every case, also for a task left stopped for good.
//!
//! It must never claim a restart the status does not show, nor give a way
//! back that does not bring the task back: a driver left stopped also has
//! its slot marked failed, and `restart` alone brings the task back
//! without its device (the shell once said "`restart rng0` brings it
//! back", and `rng 8` after that restart answered "the driver has no
//! device").

use core::fmt;

/// A task's status after the fault, as far as the verdict needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Its generation now.
    pub generation: u32,
    /// Faulted and not yet restarted.
    pub faulted: bool,
    /// Stopped: not coming back until an operator restarts it.
    pub stopped: bool,
    /// Its app.toml restart policy is `never`: a fault leaves it stopped
    /// at once, no limit involved.
    pub policy_never: bool,
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
    /// Left stopped: its restart limit was reached, or (`by_policy`) its
    /// restart policy is `never` (it was called "restart limit reached"
    /// then too, to a user who had set no limit).
    LeftStopped {
        /// By policy `never`, not by a limit.
        by_policy: bool,
    },
    /// No status could be read after the fault.
    Unknown,
}

/// The verdict from the generation before the fault and the status after
/// it (`None` if it could not be read). Generations wrap, so a restart is
/// any change of generation, not a larger one.
pub fn aftermath(generation_before: u32, after: Option<Seen>) -> Aftermath {
    match after {
        None => Aftermath::Unknown,
        Some(s) if s.stopped => Aftermath::LeftStopped {
            by_policy: s.policy_never,
        },
        Some(s) if s.faulted || s.generation == generation_before => Aftermath::Down,
        Some(s) => Aftermath::Restarted {
            generation: s.generation,
        },
    }
}

/// The virtio slot a faulted task drove, as the shell read the device
/// table just before the fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DroveSlot {
    /// It was bound to this slot.
    Slot(u32),
    /// It was bound to no slot.
    None,
    /// The device table could not be read.
    Unknown,
}

/// The shell's sentence on a faulted task: what became of it and, if it
/// was left stopped, what brings it back.
pub struct Told<'a> {
    /// The task's name.
    pub task: &'a str,
    /// The slot it drove before the fault.
    pub slot: DroveSlot,
    /// What became of it.
    pub aftermath: Aftermath,
}

impl fmt::Display for Told<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let task = self.task;
        write!(f, "task {task} faulted; ")?;
        match self.aftermath {
            Aftermath::Restarted { generation } => {
                write!(f, "restarted as generation {generation}")
            }
            Aftermath::Down => {
                // `restarts` lists restarts made, not one to come: it
                // once said "`restarts` shows when", which it did not.
                f.write_str("its restart waits out a backoff (`restarts` lists it once made)")
            }
            Aftermath::LeftStopped { by_policy } => {
                // A task of policy `never` is left stopped at its first
                // fault: no limit was reached.
                f.write_str(if by_policy {
                    "its restart policy is `never`, left stopped"
                } else {
                    "restart limit reached, left stopped"
                })?;
                match self.slot {
                    // The supervisor marks a driver's slot failed when it
                    // gives the driver up; the slot must be offered again.
                    DroveSlot::Slot(slot) => write!(
                        f,
                        " and slot {slot} marked failed: `bind {slot}` and `restart {task}` bring it back"
                    ),
                    DroveSlot::None => write!(f, ": `restart {task}` brings it back"),
                    DroveSlot::Unknown => write!(
                        f,
                        ": `restart {task}` brings it back \
                         (a driver whose device was marked failed: `bind` its slot first)"
                    ),
                }
            }
            Aftermath::Unknown => f.write_str(
                "the supervisor restarts it as its policy says (`restarts` lists it once made)",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{aftermath, Aftermath, DroveSlot, Seen, Told};

    fn told(task: &str, slot: DroveSlot, aftermath: Aftermath) -> String {
        Told {
            task,
            slot,
            aftermath,
        }
        .to_string()
    }

    #[test]
    fn a_driver_left_stopped_is_told_to_bind_its_slot_too() {
        // `restart rng0` alone brought rng0 back without its device, its
        // slot still marked failed.
        let s = told(
            "rng0",
            DroveSlot::Slot(7),
            Aftermath::LeftStopped { by_policy: false },
        );
        assert_eq!(
            s,
            "task rng0 faulted; restart limit reached, left stopped and slot 7 marked failed: \
             `bind 7` and `restart rng0` bring it back"
        );
        // No slot: restart alone. A table that could not be read: the
        // general rule.
        assert_eq!(
            told(
                "echo",
                DroveSlot::None,
                Aftermath::LeftStopped { by_policy: false }
            ),
            "task echo faulted; restart limit reached, left stopped: `restart echo` brings it back"
        );
        let s = told(
            "rng0",
            DroveSlot::Unknown,
            Aftermath::LeftStopped { by_policy: false },
        );
        assert!(s.contains("`restart rng0` brings it back"), "{s}");
        assert!(s.contains("`bind` its slot first"), "{s}");
    }

    #[test]
    fn a_task_of_policy_never_is_told_its_policy_not_a_limit() {
        assert_eq!(
            told("echo", DroveSlot::None, Aftermath::LeftStopped { by_policy: true }),
            "task echo faulted; its restart policy is `never`, left stopped: `restart echo` brings it back"
        );
        let s = told(
            "rng0",
            DroveSlot::Slot(7),
            Aftermath::LeftStopped { by_policy: true },
        );
        assert!(s.contains("policy is `never`"), "{s}");
        assert!(s.contains("`bind 7` and `restart rng0`"), "{s}");
    }

    #[test]
    fn every_verdict_is_told() {
        for slot in [DroveSlot::Slot(6), DroveSlot::None, DroveSlot::Unknown] {
            assert_eq!(
                told("blk0", slot, Aftermath::Restarted { generation: 2 }),
                "task blk0 faulted; restarted as generation 2"
            );
            assert_eq!(
                told("blk0", slot, Aftermath::Down),
                "task blk0 faulted; its restart waits out a backoff (`restarts` lists it once made)"
            );
            assert_eq!(
                told("blk0", slot, Aftermath::Unknown),
                "task blk0 faulted; the supervisor restarts it as its policy says (`restarts` lists it once made)"
            );
        }
    }

    fn seen(generation: u32, faulted: bool, stopped: bool) -> Option<Seen> {
        Some(Seen {
            generation,
            faulted,
            stopped,
            policy_never: false,
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
        let limit = Aftermath::LeftStopped { by_policy: false };
        assert_eq!(aftermath(3, seen(3, false, true)), limit);
        assert_eq!(aftermath(3, seen(4, false, true)), limit);
    }

    #[test]
    fn a_task_of_policy_never_is_left_stopped_by_its_policy_not_a_limit() {
        let never = Seen {
            generation: 0,
            faulted: false,
            stopped: true,
            policy_never: true,
        };
        assert_eq!(
            aftermath(0, Some(never)),
            Aftermath::LeftStopped { by_policy: true }
        );
    }

    #[test]
    fn a_task_still_faulted_or_on_its_old_generation_is_down() {
        assert_eq!(aftermath(3, seen(3, true, false)), Aftermath::Down);
        assert_eq!(aftermath(3, seen(3, false, false)), Aftermath::Down);
        assert_eq!(aftermath(3, None), Aftermath::Unknown);
    }
}
