//! What every QEMU test task shares: the `check!`/`fail!` assertions, the
//! case runner that prints the console protocol `cargo xtask test` reads,
//! the supervisor as every suite asks it about tasks, and the end of a
//! suite (`[test] done`, then the supervisor stops the machine with the
//! failure count). Every image names its supervisor task `supervisor`.
//!
//! The protocol, one line per case:
//!
//! ```text
//! [test] case <name> ... ok
//! [test] case <name> ... FAIL: <reason>
//! [test] done
//! ```
//!
//! A case is a `fn(&mut S) -> CaseResult`. It must assert something that
//! could fail; a case that cannot reach its assertions must fail, never
//! pass. Nothing here may hide a failure.

#![no_std]

use idol_runtime::UserlibIpc;
use supervisor_api::{SupervisorClient, TaskStatus};
use userlib::TaskId;

pub use userlib::log::LineBuf;

/// The outcome of one case: `Err` carries the reason.
pub type CaseResult = Result<(), LineBuf>;

/// Ends the case with a formatted failure reason.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {{
        let mut l = $crate::LineBuf::new();
        let _ = core::fmt::Write::write_fmt(&mut l, format_args!($($arg)*));
        return Err(l);
    }};
}

/// Fails the case with a formatted reason unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::fail!($($arg)*);
        }
    };
}

/// A named case.
pub type Case<S> = (&'static str, fn(&mut S) -> CaseResult);

/// Runs the cases in order, printing one protocol line each; returns how
/// many failed.
pub fn run_cases<S>(state: &mut S, cases: &[Case<S>]) -> u32 {
    cases
        .iter()
        .map(|(name, case)| run_case(state, name, case))
        .sum()
}

/// A whole suite: runs the cases in order, then ends it ([`finish`]) with
/// the failure count.
pub fn run_suite<S>(state: &mut S, cases: &[Case<S>]) -> ! {
    finish(run_cases(state, cases))
}

/// Runs one case and prints its protocol line; returns 1 if it failed, else
/// 0. For suites whose cases close over arguments (a loop over kinds, a
/// case parameterised by a disk) rather than sit in a [`Case`] table.
pub fn run_case<S>(state: &mut S, name: &str, case: impl FnOnce(&mut S) -> CaseResult) -> u32 {
    // A log line is cut at `LINE_MAX` bytes: a long name would push the
    // verdict off its line, and the judge would see neither.
    let name = shown_name(name);
    match case(state) {
        Ok(()) => {
            userlib::sys_log!("[test] case {name} ... ok");
            0
        }
        Err(why) => {
            let why = core::str::from_utf8(why.as_bytes()).unwrap_or("?");
            userlib::sys_log!("[test] case {name} ... FAIL: {why}");
            1
        }
    }
}

/// Longest case name printed: with the timestamp, the task's name and the
/// verdict it leaves the verdict on the line.
const NAME_MAX: usize = 96;

/// `name`, cut to [`NAME_MAX`] bytes at a character boundary.
fn shown_name(name: &str) -> &str {
    let mut end = name.len().min(NAME_MAX);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// The supervisor, which must be in the task's slots (and, for the
/// test-only operations, built with `test-control`). The client is a task
/// id and nothing more, so asking for one is free.
pub fn supervisor() -> SupervisorClient<UserlibIpc> {
    SupervisorClient::new(UserlibIpc, userlib::tasks::SUPERVISOR)
}

/// `task`'s status as the supervisor reports it; a refusal ends the case
/// with the supervisor's error.
pub fn task_status(task: TaskId) -> Result<TaskStatus, LineBuf> {
    let index = task.index();
    match supervisor().task_status(index as u32) {
        Ok(status) => Ok(status),
        Err(e) => fail!("supervisor task_status({index}) failed: {e:?}"),
    }
}

/// Why the supervisor last restarted `task`, from its restart log (the
/// last [`userlib::abi::RESTARTS_KEPT`]); a task with no restart there ends the case.
pub fn latest_restart_cause(task: TaskId) -> Result<Option<userlib::abi::RestartCause>, LineBuf> {
    let sup = supervisor();
    for back in 0..userlib::abi::RESTARTS_KEPT as u32 {
        match sup.restart_record(back) {
            Ok(r) if r.task == task.index() as u32 => return Ok(r.cause()),
            Ok(_) => {}
            Err(e) => fail!("restart_record({back}): {e:?}"),
        }
    }
    fail!(
        "no restart of task {} in the supervisor's log",
        task.index()
    )
}

/// Ends the suite: prints `[test] done` and asks the [`supervisor`] to
/// stop the machine with the failure count as exit code.
pub fn finish(failed: u32) -> ! {
    userlib::sys_log!("[test] done");
    if let Err(e) = supervisor().shutdown(failed) {
        userlib::sys_log!("[test] shutdown refused: {e:?}");
    }
    loop {
        userlib::sys_recv_notification(0);
    }
}
