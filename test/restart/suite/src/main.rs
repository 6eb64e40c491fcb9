//! The restart-policy test suite (image `test/restart.toml`).
//!
//! Two Ping servers with different policies are crashed on purpose:
//! `flaky` (`backoff`, 50 ms, limit 3 in 10 s), `eager` (`immediate`,
//! limit 2 in 10 s) and `stubborn` (`immediate`, limit 10 in 10 s, as
//! app.toml's tasks have it). The suite measures how long each stays down, checks
//! that backoff delays double, that the limit leaves the task down for
//! good, and that a client of a task left down gets an error at once
//! instead of hanging. Last, `storm` (no `restart` key: immediate, no
//! limit), which faults as it starts every time, is started to check that
//! its restarts are slowed and leave the suite its time.

#![no_std]
#![no_main]

use abi::{TaskState, TICKS_PER_MS};
use idol_runtime::{RequestError, TaskId, UserlibIpc};
use ping_api::PingClient;
use supervisor_api::SupervisorError;
use test_harness::{check, fail, Case, CaseResult};
use userlib::{sleep_ms, sys_get_timer, tasks};

const TIMER_BIT: u32 = 1 << 0;
/// `flaky`'s first backoff delay (test/restart.toml).
const BACKOFF_MS: u64 = 50;

struct Suite {
    flaky: PingClient<UserlibIpc>,
    eager: PingClient<UserlibIpc>,
    stubborn: PingClient<UserlibIpc>,
}

fn now_ms() -> u64 {
    sys_get_timer().now / TICKS_PER_MS
}

impl Suite {
    fn state(&self, task: TaskId) -> Option<TaskState> {
        let st = test_harness::task_status(task).ok()?;
        TaskState::from_u32(st.state)
    }

    /// Crashes the server behind `client` and returns how many ms it stayed
    /// faulted, or `None` if it was still down after `give_up_ms`.
    fn crash_and_time(
        &self,
        client: &PingClient<UserlibIpc>,
        task: TaskId,
        give_up_ms: u64,
    ) -> Result<Option<u64>, test_harness::LineBuf> {
        let t0 = now_ms();
        check!(
            client.crash() == Err(RequestError::ServerRestarted),
            "crash() did not end the server"
        );
        loop {
            // Faulted awaits its restart; stopped is left down for good.
            if !matches!(
                self.state(task),
                Some(TaskState::Faulted | TaskState::Stopped)
            ) {
                return Ok(Some(now_ms() - t0));
            }
            if now_ms() - t0 > give_up_ms {
                return Ok(None);
            }
            sleep_ms(5, TIMER_BIT);
        }
    }
}

fn backoff_delays_double(s: &mut Suite) -> CaseResult {
    let mut last = 0;
    for (n, factor) in [1u64, 2, 4].into_iter().enumerate() {
        let Some(down) = s.crash_and_time(&s.flaky, tasks::FLAKY, 5000)? else {
            fail!("crash {}: flaky still down after 5 s", n + 1);
        };
        let expected = BACKOFF_MS * factor;
        check!(
            down >= expected,
            "crash {}: down {down} ms, backoff says at least {expected} ms",
            n + 1
        );
        check!(
            down >= last,
            "crash {}: down {down} ms, less than the previous {last} ms",
            n + 1
        );
        last = down;
        // The restarted server serves again.
        check!(
            s.flaky.add(2, 3) == Ok(5),
            "flaky does not serve after restart {}",
            n + 1
        );
    }
    Ok(())
}

fn backoff_limit_leaves_the_task_down(s: &mut Suite) -> CaseResult {
    // The fourth fault within the window exceeds limit 3.
    let down = s.crash_and_time(&s.flaky, tasks::FLAKY, 1000)?;
    check!(
        down.is_none(),
        "flaky was restarted after {down:?} ms despite its limit"
    );
    // Stopped, not faulted: no restart is coming, and the kernel tells
    // its clients so.
    check!(
        s.state(tasks::FLAKY) == Some(TaskState::Stopped),
        "flaky is not left stopped: {:?}",
        s.state(tasks::FLAKY)
    );
    Ok(())
}

fn a_client_of_a_task_left_down_gets_an_error_not_a_hang(s: &mut Suite) -> CaseResult {
    let t0 = now_ms();
    // Not `ServerRestarted`, which says to call again: nothing will answer
    // until an operator restarts it.
    let r = s.flaky.add(1, 1);
    check!(
        r == Err(RequestError::ServerStopped),
        "a call to the task left stopped gave {r:?}"
    );
    check!(
        now_ms() - t0 < 100,
        "the failed call took {} ms",
        now_ms() - t0
    );
    Ok(())
}

fn faulting_a_task_left_down_is_refused(_: &mut Suite) -> CaseResult {
    // The shell said "task flaky faulted" and nothing happened: there was
    // no incarnation to end.
    let before = test_harness::task_status(tasks::FLAKY)
        .ok()
        .map(|st| st.fault_count);
    let r = test_harness::supervisor().fault_task(tasks::FLAKY.index() as u32);
    check!(
        r == Err(RequestError::Server(SupervisorError::NotRunning)),
        "fault_task of a task left down gave {r:?}"
    );
    let after = test_harness::task_status(tasks::FLAKY)
        .ok()
        .map(|st| st.fault_count);
    check!(
        before.is_some() && before == after,
        "fault count {before:?} -> {after:?}"
    );
    Ok(())
}

fn an_operator_restart_starts_afresh(s: &mut Suite) -> CaseResult {
    let sup = test_harness::supervisor();
    let generation = || {
        test_harness::task_status(tasks::FLAKY)
            .ok()
            .map(|st| st.generation)
    };
    // flaky was left down at its limit: revived by the operator, its old
    // faults no longer count, and its next fault is restarted.
    check!(
        sup.restart_task(tasks::FLAKY.index() as u32) == Ok(()),
        "the operator's restart of flaky failed"
    );
    check!(
        s.flaky.add(1, 2) == Ok(3),
        "flaky does not serve after the operator's restart"
    );
    let down = s.crash_and_time(&s.flaky, tasks::FLAKY, 1000)?;
    check!(
        down.is_some(),
        "flaky was left down at its first fault after the operator revived it"
    );
    check!(
        s.flaky.add(1, 2) == Ok(3),
        "flaky does not serve after its restart"
    );
    // A fault's backoff still pending when the operator restarts the task
    // must not end the incarnation the operator made.
    check!(
        s.flaky.crash() == Err(RequestError::ServerRestarted),
        "crash() did not end flaky"
    );
    check!(
        sup.restart_task(tasks::FLAKY.index() as u32) == Ok(()),
        "the operator's restart during the backoff failed"
    );
    let revived = generation();
    sleep_ms(400, TIMER_BIT);
    check!(
        generation() == revived && s.flaky.add(2, 2) == Ok(4),
        "the backoff's restart came after the operator's: generation {revived:?} -> {:?}",
        generation()
    );
    Ok(())
}

/// Crashes `task` `limit` times, each restarted at once as a new
/// generation with one more fault counted, then once more, after which it
/// must stay down.
fn restarts_until(
    s: &Suite,
    client: &PingClient<UserlibIpc>,
    task: TaskId,
    limit: u32,
) -> CaseResult {
    let Ok(start) = test_harness::task_status(task) else {
        fail!("no status for the task");
    };
    for n in 1..=limit {
        let Some(down) = s.crash_and_time(client, task, 2000)? else {
            fail!("crash {n}: still down after 2 s");
        };
        check!(
            down < 1000,
            "crash {n}: an immediate restart took {down} ms"
        );
        check!(
            client.add(4, 5) == Ok(9),
            "does not serve after restart {n}"
        );
        let Ok(now) = test_harness::task_status(task) else {
            fail!("no status after restart {n}");
        };
        check!(
            now.fault_count == start.fault_count + n && now.generation != start.generation,
            "after crash {n}: {} faults counted (from {}), generation {} (from {})",
            now.fault_count,
            start.fault_count,
            now.generation,
            start.generation
        );
    }
    let down = s.crash_and_time(client, task, 500)?;
    check!(down.is_none(), "restarted past its limit of {limit}");
    let r = client.add(4, 5);
    check!(
        r == Err(RequestError::ServerStopped),
        "a call past its limit gave {r:?}"
    );
    Ok(())
}

fn immediate_restarts_until_its_limit(s: &mut Suite) -> CaseResult {
    restarts_until(s, &s.eager, tasks::EAGER, 2)
}

fn a_limit_of_ten_is_reached_too(s: &mut Suite) -> CaseResult {
    // The supervisor once remembered 8 fault times, and a task with
    // app.toml's limit of 10 was restarted for ever.
    restarts_until(s, &s.stubborn, tasks::STUBBORN, 10)
}

/// How long (ms) restarts of `storm` are counted once its first
/// `START_FAULTS_AT_ONCE` (64) restarts, made at once, are past: its
/// delays, 1, 2, 4 ... 64 ms, then 128, leave room for 8 or 9 in that
/// long. Restarted at once every time, it was restarted about 160 times in
/// 200 ms (241 in 300 ms on a quiet host).
const STORM_MS: u64 = 200;
/// The most restarts allowed in `STORM_MS`.
const STORM_RESTARTS: u32 = 16;

/// Times the suite wakes from 1 ms sleeps in `ms`: its own work, which a
/// storm below it must not take.
fn wakes_in(ms: u64) -> u32 {
    let t0 = now_ms();
    let mut wakes = 0;
    while now_ms() - t0 < ms {
        sleep_ms(1, TIMER_BIT);
        wakes += 1;
    }
    wakes
}

/// `storm`'s faults since boot.
fn storm_faults() -> Result<u32, test_harness::LineBuf> {
    test_harness::task_status(tasks::STORM).map(|st| st.fault_count)
}

fn a_task_that_faults_as_it_starts_is_slowed(_: &mut Suite) -> CaseResult {
    let quiet = wakes_in(STORM_MS);
    // `storm` is `start = false`: the operator's restart starts it, and it
    // faults at once, every time, below the suite's priority.
    let before = storm_faults()?;
    check!(
        test_harness::supervisor().restart_task(tasks::STORM.index() as u32) == Ok(()),
        "the operator's restart of storm failed"
    );
    // The restarts made at once.
    let t0 = now_ms();
    while storm_faults()? - before <= 64 {
        if now_ms() - t0 > 2000 {
            fail!(
                "storm faulted only {} times in 2 s: did it start?",
                storm_faults()? - before
            );
        }
        sleep_ms(1, TIMER_BIT);
    }
    let burst_ms = now_ms() - t0;
    let from = storm_faults()?;
    let stormy = wakes_in(STORM_MS);
    let restarts = storm_faults()? - from;
    userlib::sys_log!(
        "restart: storm faulted 64 times in {burst_ms} ms, then {restarts} times in {STORM_MS} ms; the suite woke {stormy} times from 1 ms sleeps meanwhile, {quiet} in as long before the storm"
    );
    check!(
        restarts <= STORM_RESTARTS,
        "storm faulted {restarts} times in {STORM_MS} ms: its restarts were not slowed"
    );
    check!(
        stormy >= quiet / 2,
        "the suite woke {stormy} times in {STORM_MS} ms of storm, {quiet} in as long before"
    );
    Ok(())
}

#[export_name = "main"]
fn main() -> ! {
    let mut s = Suite {
        flaky: PingClient::new(UserlibIpc, tasks::FLAKY),
        eager: PingClient::new(UserlibIpc, tasks::EAGER),
        stubborn: PingClient::new(UserlibIpc, tasks::STUBBORN),
    };
    let cases: &[Case<Suite>] = &[
        ("backoff_delays_double", backoff_delays_double),
        (
            "backoff_limit_leaves_the_task_down",
            backoff_limit_leaves_the_task_down,
        ),
        (
            "a_client_of_a_task_left_down_gets_an_error_not_a_hang",
            a_client_of_a_task_left_down_gets_an_error_not_a_hang,
        ),
        (
            "faulting_a_task_left_down_is_refused",
            faulting_a_task_left_down_is_refused,
        ),
        (
            "an_operator_restart_starts_afresh",
            an_operator_restart_starts_afresh,
        ),
        (
            "immediate_restarts_until_its_limit",
            immediate_restarts_until_its_limit,
        ),
        (
            "a_limit_of_ten_is_reached_too",
            a_limit_of_ten_is_reached_too,
        ),
        // Last: the storm goes on, slowed, until the suite ends.
        (
            "a_task_that_faults_as_it_starts_is_slowed",
            a_task_that_faults_as_it_starts_is_slowed,
        ),
    ];
    test_harness::run_suite(&mut s, cases)
}
