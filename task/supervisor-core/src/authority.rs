//! Who may ask the supervisor for what.
//!
//! The supervisor serves every task, so it checks each request against the
//! authority app.toml gave the caller ([`abi::Authority`], from
//! `userlib::tasks::AUTHORITY`) before acting:
//!
//! | request                                   | who may make it                                   |
//! |-------------------------------------------|---------------------------------------------------|
//! | `register(ids)`                           | a driver, for device ids in its `drives` only      |
//! | `removed()`                               | a driver, for the slot it is bound to (by caller)  |
//! | `unbind(slot)`                            | an operator; a driver for its own bound slot       |
//! | `task_status`, `restart_record`           | an observer (the status page) or an operator      |
//! | `bind(slot)`, `restart_task`              | an operator                                       |
//! | `fault_task`, `inject`, `shutdown`        | an operator, and only in a test image              |
//! | `devices`, `task_count`                   | anyone (read-only facts about the image)           |
//!
//! A refusal is a typed error to the caller and a line in the log naming
//! the task and what it tried; nothing else changes.

use abi::Authority;

/// A request to the supervisor, as far as authority is concerned.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `register` with this id table (0 = unused entry).
    Register([u32; 4]),
    /// `unbind(slot)`.
    Unbind(usize),
    /// `bind(slot)`.
    Bind(usize),
    /// `task_status`.
    TaskStatus,
    /// `restart_record`.
    RestartRecord,
    /// `restart_task`.
    RestartTask,
    /// `fault_task` (test images only).
    FaultTask,
    /// `inject` (test images only).
    Inject,
    /// `shutdown` (test images only).
    Shutdown,
}

/// Why a request was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The op needs `operator = true` in app.toml.
    NotOperator,
    /// Reading task status needs `observer = true` (or `operator`).
    NotObserver,
    /// A driver may only unbind the slot it is bound to (`None`: it is
    /// bound to none).
    NotItsSlot {
        /// The slot the caller is bound to, if any.
        bound: Option<usize>,
    },
    /// The id table names a device id outside the caller's `drives`.
    ClassNotGranted {
        /// The first id not granted.
        device_id: u32,
    },
    /// The op exists only in images built for tests.
    TestOnly,
}

impl Refusal {
    /// What was wrong, for the log line.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotOperator => "needs operator rights (app.toml `operator = true`)",
            Self::NotObserver => "needs observer rights (app.toml `observer = true`)",
            Self::NotItsSlot { .. } => "a driver may only unbind the slot it is bound to",
            Self::ClassNotGranted { .. } => "device id outside the task's app.toml `drives`",
            Self::TestOnly => {
                "exists only in test images (a supervisor built with app.toml `features = [\"test-control\"]`)"
            }
        }
    }
}

/// Whether a task with authority `auth`, bound to `bound_slot`, may make
/// `request`, in an image built for tests (`test_image`) or not.
pub fn check(
    auth: &Authority,
    bound_slot: Option<usize>,
    test_image: bool,
    request: Request,
) -> Result<(), Refusal> {
    let operator = || {
        if auth.operator {
            Ok(())
        } else {
            Err(Refusal::NotOperator)
        }
    };
    match request {
        Request::Register(ids) => match ids.iter().find(|&&id| id != 0 && !auth.may_drive(id)) {
            Some(&device_id) => Err(Refusal::ClassNotGranted { device_id }),
            None => Ok(()),
        },
        Request::Unbind(slot) => {
            if auth.operator || bound_slot == Some(slot) {
                Ok(())
            } else {
                Err(Refusal::NotItsSlot { bound: bound_slot })
            }
        }
        Request::TaskStatus | Request::RestartRecord => {
            if auth.operator || auth.observer {
                Ok(())
            } else {
                Err(Refusal::NotObserver)
            }
        }
        Request::Bind(_) | Request::RestartTask => operator(),
        Request::FaultTask | Request::Inject | Request::Shutdown => {
            operator()?;
            if test_image {
                Ok(())
            } else {
                Err(Refusal::TestOnly)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RNG: Authority = Authority {
        operator: false,
        observer: false,
        device_ids: 1 << 4,
    };
    const SHELL: Authority = Authority {
        operator: true,
        observer: false,
        device_ids: 0,
    };
    const PLAIN: Authority = Authority {
        operator: false,
        observer: false,
        device_ids: 0,
    };
    const STATUS_PAGE: Authority = Authority {
        operator: false,
        observer: true,
        device_ids: 0,
    };

    #[test]
    fn a_driver_registers_for_its_classes_only() {
        let refused = |device_id| Err(Refusal::ClassNotGranted { device_id });
        for (who, test_image, ids, expected) in [
            (&RNG, false, [4, 0, 0, 0], Ok(())),
            (&RNG, false, [4, 2, 0, 0], refused(2)),
            (&PLAIN, true, [4, 0, 0, 0], refused(4)),
            // Operator rights are no licence to drive.
            (&SHELL, true, [2, 0, 0, 0], refused(2)),
            (&RNG, false, [4, 64, 0, 0], refused(64)),
        ] {
            assert_eq!(
                check(who, None, test_image, Request::Register(ids)),
                expected
            );
        }
    }

    #[test]
    fn a_driver_unbinds_only_its_own_slot() {
        assert_eq!(check(&RNG, Some(7), false, Request::Unbind(7)), Ok(()));
        assert_eq!(
            check(&RNG, Some(7), false, Request::Unbind(6)),
            Err(Refusal::NotItsSlot { bound: Some(7) })
        );
        assert_eq!(
            check(&RNG, None, false, Request::Unbind(6)),
            Err(Refusal::NotItsSlot { bound: None })
        );
        assert_eq!(check(&SHELL, None, false, Request::Unbind(6)), Ok(()));
    }

    #[test]
    fn operator_ops_need_the_grant() {
        for r in [Request::Bind(6), Request::RestartTask] {
            assert_eq!(check(&RNG, Some(6), true, r), Err(Refusal::NotOperator));
            assert_eq!(check(&PLAIN, None, true, r), Err(Refusal::NotOperator));
            assert_eq!(
                check(&STATUS_PAGE, None, true, r),
                Err(Refusal::NotOperator)
            );
            assert_eq!(check(&SHELL, None, false, r), Ok(()));
        }
        assert_eq!(
            check(&STATUS_PAGE, None, true, Request::Unbind(6)),
            Err(Refusal::NotItsSlot { bound: None })
        );
    }

    #[test]
    fn status_and_restart_records_need_observer_or_operator_rights() {
        for r in [Request::TaskStatus, Request::RestartRecord] {
            assert_eq!(check(&STATUS_PAGE, None, false, r), Ok(()));
            assert_eq!(check(&SHELL, None, false, r), Ok(()));
            assert_eq!(check(&RNG, Some(6), true, r), Err(Refusal::NotObserver));
            assert_eq!(check(&PLAIN, None, true, r), Err(Refusal::NotObserver));
        }
    }

    #[test]
    fn test_ops_need_a_test_image_and_the_grant() {
        for r in [Request::FaultTask, Request::Inject, Request::Shutdown] {
            assert_eq!(check(&SHELL, None, true, r), Ok(()));
            assert_eq!(check(&SHELL, None, false, r), Err(Refusal::TestOnly));
            assert_eq!(check(&RNG, Some(7), true, r), Err(Refusal::NotOperator));
            assert_eq!(
                check(&STATUS_PAGE, None, true, r),
                Err(Refusal::NotOperator)
            );
        }
    }

    #[test]
    fn each_refusal_names_what_to_grant_or_why_not() {
        for (r, says) in [
            (Refusal::NotOperator, "`operator = true`"),
            (Refusal::NotObserver, "`observer = true`"),
            (
                Refusal::NotItsSlot { bound: None },
                "the slot it is bound to",
            ),
            (Refusal::ClassNotGranted { device_id: 2 }, "`drives`"),
            (Refusal::TestOnly, "test images"),
        ] {
            assert!(r.describe().contains(says), "{r:?}: {}", r.describe());
        }
    }
}
