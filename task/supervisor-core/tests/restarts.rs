//! Restart decisions far from time zero and after an operator's revival,
//! through the public API only.
//!
//! The unit tests in `src/lib.rs` start their clocks at 0, where a history
//! of zero-filled fault times would look like a burst of faults; these run
//! at times a real supervisor sees after hours of uptime.

use abi::{RestartKind, RestartPolicy};
use supervisor_core::{Decision, Fault, Restarts, MAX_BACKOFF_FACTOR};

/// Ten hours in, in ms.
const LATE: u64 = 36_000_000;

/// A task with no restart history, and a policy of `kind` with these
/// `backoff_ms`, `limit` and `window_ms`.
fn fresh(
    kind: RestartKind,
    backoff_ms: u32,
    limit: u32,
    window_ms: u32,
) -> (Restarts, RestartPolicy) {
    (
        Restarts::default(),
        RestartPolicy::new(kind, backoff_ms, limit, window_ms),
    )
}

/// The supervisor leaves the task down, `n` faults in the window.
fn gave_up(n: u32) -> Decision {
    Decision::GiveUp {
        faults_in_window: n,
    }
}

#[test]
fn the_limit_counts_every_fault_in_the_window_late_in_life() {
    let (mut r, p) = fresh(RestartKind::Immediate, 0, 3, 100);
    for dt in [0, 10, 20] {
        assert_eq!(
            r.on_fault(4, &p, LATE + dt, Fault::Other),
            Decision::RestartNow
        );
    }
    assert_eq!(r.on_fault(4, &p, LATE + 30, Fault::Other), gave_up(4));
}

#[test]
fn faults_just_outside_the_window_are_not_counted() {
    let (mut r, p) = fresh(RestartKind::Immediate, 0, 2, 100);
    assert_eq!(r.on_fault(1, &p, LATE, Fault::Other), Decision::RestartNow);
    assert_eq!(
        r.on_fault(1, &p, LATE + 1, Fault::Other),
        Decision::RestartNow
    );
    // Both fall out of the window [LATE + 2, LATE + 102]: only this one counts.
    assert_eq!(
        r.on_fault(1, &p, LATE + 102, Fault::Other),
        Decision::RestartNow
    );
    assert_eq!(
        r.on_fault(1, &p, LATE + 103, Fault::Other),
        Decision::RestartNow
    );
    // The window is inclusive: the fault exactly `window` ms ago (LATE + 102)
    // still counts, making three.
    assert_eq!(r.on_fault(1, &p, LATE + 202, Fault::Other), gave_up(3));
}

#[test]
fn a_zero_window_means_the_default_window() {
    let (mut r, p) = fresh(RestartKind::Immediate, 0, 1, 0);
    assert_eq!(r.on_fault(2, &p, LATE, Fault::Other), Decision::RestartNow);
    // Well inside DEFAULT_WINDOW_MS: the second fault exceeds the limit.
    let later = LATE + u64::from(supervisor_core::DEFAULT_WINDOW_MS) - 1;
    assert_eq!(r.on_fault(2, &p, later, Fault::Other), gave_up(2));
    // Past it, the count starts over.
    let mut r = Restarts::default();
    assert_eq!(r.on_fault(2, &p, LATE, Fault::Other), Decision::RestartNow);
    let past = LATE + u64::from(supervisor_core::DEFAULT_WINDOW_MS) + 1;
    assert_eq!(r.on_fault(2, &p, past, Fault::Other), Decision::RestartNow);
}

#[test]
fn backoff_late_in_life_doubles_from_the_base_delay() {
    let (mut r, p) = fresh(RestartKind::Backoff, 10, 0, 1000);
    assert_eq!(
        r.on_fault(2, &p, LATE, Fault::Other),
        Decision::RestartAt(LATE + 10)
    );
    assert_eq!(
        r.on_fault(2, &p, LATE + 20, Fault::Other),
        Decision::RestartAt(LATE + 40)
    );
    assert_eq!(r.next_deadline(), Some(LATE + 40));
}

#[test]
fn backoff_never_exceeds_its_cap_however_many_faults() {
    let (mut r, p) = fresh(RestartKind::Backoff, 3, 0, 1_000_000);
    for i in 0..200u64 {
        match r.on_fault(5, &p, LATE + i, Fault::Other) {
            Decision::RestartAt(at) => assert!(at - (LATE + i) <= 3 * MAX_BACKOFF_FACTOR),
            d => panic!("fault {i}: unexpected {d:?}"),
        }
    }
}

#[test]
fn forget_clears_the_history_and_the_pending_restart() {
    let mut r = Restarts::default();
    let limited = RestartPolicy::new(RestartKind::Immediate, 0, 1, 1000);
    assert_eq!(
        r.on_fault(6, &limited, LATE, Fault::Other),
        Decision::RestartNow
    );
    assert_eq!(r.on_fault(6, &limited, LATE + 1, Fault::Other), gave_up(2));
    // The operator revives it: its earlier faults no longer count.
    r.forget(6);
    assert_eq!(
        r.on_fault(6, &limited, LATE + 2, Fault::Other),
        Decision::RestartNow
    );

    // A delayed restart is cancelled, and backoff starts again from its base.
    let backoff = RestartPolicy::new(RestartKind::Backoff, 10, 0, 1000);
    let mut r = Restarts::default();
    r.on_fault(7, &backoff, LATE, Fault::Other);
    r.on_fault(7, &backoff, LATE + 1, Fault::Other);
    assert_eq!(r.next_deadline(), Some(LATE + 21));
    r.forget(7);
    assert_eq!(r.next_deadline(), None);
    assert_eq!(r.take_due(u64::MAX), None);
    assert_eq!(
        r.on_fault(7, &backoff, LATE + 2, Fault::Other),
        Decision::RestartAt(LATE + 12)
    );
}

#[test]
fn forget_touches_only_the_task_named() {
    let (mut r, p) = fresh(RestartKind::Backoff, 10, 0, 1000);
    r.on_fault(1, &p, LATE, Fault::Other);
    r.on_fault(2, &p, LATE + 5, Fault::Other);
    r.forget(1);
    assert_eq!(r.next_deadline(), Some(LATE + 15));
    assert_eq!(r.take_due(u64::MAX), Some(2));
    // Out of range: ignored, no panic.
    r.forget(usize::MAX);
}

#[test]
fn backoff_with_no_delay_restarts_at_once() {
    let (mut r, p) = fresh(RestartKind::Backoff, 0, 0, 1000);
    for dt in 0..3 {
        assert_eq!(
            r.on_fault(3, &p, LATE + dt, Fault::Other),
            Decision::RestartNow
        );
    }
    assert_eq!(r.next_deadline(), None, "nothing left pending");
}
