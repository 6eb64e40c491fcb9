//! Tests of the parts of a test run that judge what they see: the cargo
//! test parser, the image judge, the console script, the boot test.

use super::boot::{boot_expectations, evaluate_boot};
use super::host::{parse_cargo_test, HostResult};
use super::image::{judge, Expected};
use super::script::{lines_containing, without_log_lines, LineCounts, Script};
use super::Case;
use crate::config::tests::fixture_app;
use crate::config::{Step, TestSpec};
use crate::qemu::{Capture, End, Interact};
use std::time::Duration;

/// The judge as a test image uses it.
fn evaluate_test_image(
    cap: &Capture,
    timeout_s: u64,
    expect: &[String],
    kernel_panic: Option<&str>,
) -> Vec<Case> {
    judge(
        cap,
        &Expected {
            timeout_s,
            expect,
            kernel_panic,
            supervisor_fault: None,
            clean_exit_is_done: false,
        },
    )
    .cases
}

fn step(send: Option<&str>, expect: Option<&str>) -> Step {
    Step {
        send: send.map(str::to_string),
        expect: expect.map(str::to_string),
        echo: None,
        timeout: None,
    }
}

fn console_spec(steps: Vec<Step>) -> TestSpec {
    TestSpec {
        steps,
        ..TestSpec::default()
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A step that only waits may wait for a task's log line (which the steps
/// that type never see): the line typed next waits for it, though the
/// prompt came first.
#[test]
fn a_waiting_step_finds_a_log_line_the_typed_steps_do_not_see() {
    let spec = console_spec(vec![
        step(None, Some("hello: wrote sector 1")),
        step(Some("blk 0 read 1"), Some("|hello")),
        step(None, Some("hello: done")),
    ]);
    let mut s = Script::new(&spec);
    let mut t = String::from("[   0.1] kernel: Vireo kernel\nVireo shell.\nvireo> ");
    assert_eq!(
        s.advance_console(&t, secs(0)),
        Interact::Wait,
        "not before the write"
    );
    t.push_str("[   0.2] hello: wrote sector 1\n");
    assert_eq!(
        s.advance_console(&t, secs(1)),
        Interact::Send("blk 0 read 1\n".into()),
        "the prompt that came first will do"
    );
    // The log line after the answer, in the same output as the answer.
    t.push_str("blk 0 read 1\n00000000  68 65 6c 6c 6f  |hello|\n[   0.3] hello: done\nvireo> ");
    assert_eq!(s.advance_console(&t, secs(1)), Interact::Stop);
    // A waiting step does not take a log line from before it began.
    let spec = console_spec(vec![
        step(Some("devices"), Some("entropy")),
        step(None, Some("hello: wrote sector 1")),
    ]);
    let mut s = Script::new(&spec);
    let mut t = String::from("[   0.2] hello: wrote sector 1\nvireo> ");
    assert_eq!(
        s.advance_console(&t, secs(0)),
        Interact::Send("devices\n".into())
    );
    t.push_str("devices\n   7   4  entropy  v1  bound  rng0\n");
    assert_eq!(s.advance_console(&t, secs(1)), Interact::Wait);
    assert_eq!(s.advance_console(&t, secs(20)), Interact::Stop, "timed out");
}

/// The last step may match the start of a line still being printed: the
/// session stops only once that line has ended (else the `expect` list,
/// judged on the console afterwards, missed it: a user's test failed on
/// its own last line, cut after "stats: ok:"), at the prompt, or a grace
/// period later.
#[test]
fn the_session_stops_at_the_end_of_the_last_line() {
    let spec = console_spec(vec![step(None, Some("stats: ok"))]);
    let mut s = Script::new(&spec);
    let mut t = String::from("[   0.0248] stats: ok:");
    assert_eq!(
        s.advance_console(&t, secs(1)),
        Interact::Wait,
        "the line goes on"
    );
    t.push_str(" info, pattern");
    assert_eq!(s.advance_console(&t, secs(1)), Interact::Wait);
    t.push_str(", random\n");
    assert_eq!(s.advance_console(&t, secs(1)), Interact::Stop);
    // A prompt ends it at once; else the grace period does.
    let spec = console_spec(vec![step(Some("rng 4"), Some("00000000"))]);
    let mut s = Script::new(&spec);
    let mut t = String::from("vireo> ");
    assert_eq!(
        s.advance_console(&t, secs(0)),
        Interact::Send("rng 4\n".into())
    );
    t.push_str("rng 4\n00000000  12 34");
    assert_eq!(s.advance_console(&t, secs(1)), Interact::Wait);
    t.push_str(" 56 78  |.4Vx|\nvireo> ");
    assert_eq!(s.advance_console(&t, secs(1)), Interact::Stop);
    let spec = console_spec(vec![step(None, Some("ready"))]);
    let mut s = Script::new(&spec);
    let t = String::from("ready, no newline yet");
    assert_eq!(s.advance_console(&t, secs(2)), Interact::Wait);
    assert_eq!(
        s.advance_console(&t, secs(2) + Duration::from_millis(499)),
        Interact::Wait
    );
    assert_eq!(
        s.advance_console(&t, secs(2) + Duration::from_millis(500)),
        Interact::Stop
    );
}

#[test]
fn console_script_waits_for_prompt_echo_and_answer() {
    let spec = console_spec(vec![
        step(Some("devices"), Some("entropy")),
        step(Some("fault blk0"), None),
        step(None, Some("restarting")),
        step(Some("rng 4"), Some("00000000")),
    ]);
    let mut s = Script::new(&spec);
    let mut t = String::from("[ 0.1] kernel: Vireo kernel\nVireo shell.\n");
    assert_eq!(s.advance(&t, secs(0)), Interact::Wait);
    t.push_str("vireo> ");
    assert_eq!(s.advance(&t, secs(1)), Interact::Send("devices\n".into()));
    assert_eq!(s.advance(&t, secs(1)), Interact::Wait);
    // The echo alone never satisfies the step, even half-way.
    t.push_str("devi");
    assert_eq!(s.advance(&t, secs(1)), Interact::Wait);
    t.push_str("ces\nslot  id  class\n   7   4  entropy  v1  bound  rng0\n");
    // Step 1 passes; step 2 waits for a prompt after that answer.
    assert_eq!(s.advance(&t, secs(1)), Interact::Wait);
    t.push_str("vireo> ");
    assert_eq!(
        s.advance(&t, secs(2)),
        Interact::Send("fault blk0\n".into())
    );
    t.push_str(
        "fault blk0\n[ 2.0] supervisor: task blk0 faulted: injected; restarting as generation 1\n",
    );
    // Step 2 (no expect) passes at its echo, step 3 finds its text in
    // the same output, step 4 waits for the prompt.
    assert_eq!(s.advance(&t, secs(2)), Interact::Wait);
    t.push_str("task blk0 faulted\nvireo> ");
    assert_eq!(s.advance(&t, secs(3)), Interact::Send("rng 4\n".into()));
    t.push_str("rng 4\n00000000  12 34 56 78  |.4Vx|\nvireo> ");
    assert_eq!(s.advance(&t, secs(3)), Interact::Stop);
    let cap = Capture {
        lines: t.lines().map(str::to_string).collect(),
        ..stopped()
    };
    let cases = s.finish(&cap, 60);
    assert_eq!(
        cases,
        vec![
            Case::ok("step 1: `devices` shows `entropy`"),
            Case::ok("step 2: `fault blk0`"),
            Case::ok("step 3: `restarting` appears"),
            Case::ok("step 4: `rng 4` shows `00000000`"),
        ]
    );
}

#[test]
fn console_script_times_out_a_step_and_skips_the_rest() {
    let mut slow = step(Some("blk 0 read 7"), Some("hello"));
    slow.timeout = Some(5);
    let spec = console_spec(vec![slow, step(Some("help"), Some("commands"))]);
    let mut s = Script::new(&spec);
    let mut t = String::from("vireo> ");
    assert_eq!(
        s.advance(&t, secs(1)),
        Interact::Send("blk 0 read 7\n".into())
    );
    t.push_str("blk 0 read 7\nerror: blk0 restarted, try again\nvireo> ");
    assert_eq!(s.advance(&t, secs(4)), Interact::Wait);
    assert_eq!(s.advance(&t, secs(5)), Interact::Stop);
    let cap = stopped();
    let cases = s.finish(&cap, 60);
    assert_eq!(cases.len(), 2);
    let why = cases[0].error.as_deref().unwrap();
    assert!(
        why.starts_with("\"hello\" did not appear within 5 s"),
        "{why}"
    );
    assert!(why.contains("blk0 restarted"), "{why}");
    assert_eq!(
        cases[1],
        Case::fail(
            "step 2: `help` shows `commands`",
            "not run: an earlier step failed"
        )
    );
}

/// A step that sends a line looks for its `expect` in the shell's answer
/// only; when the text came in a task's log line instead, the failure says
/// so and what to write (a user's `{ send = "fault kv", expect = "kvc:
/// loop" }` failed as "did not appear", the line in plain sight).
#[test]
fn a_typed_step_whose_expect_came_in_a_log_line_says_so() {
    let spec = console_spec(vec![step(Some("fault kv"), Some("kvc: loop"))]);
    let mut s = Script::new(&spec);
    let mut t = String::from("[   0.1] kvc: loop 50: ok\nvireo> ");
    assert_eq!(
        s.advance_console(&t, secs(0)),
        Interact::Send("fault kv\n".into())
    );
    t.push_str("fault kv\ntask kv faulted; restarted as generation 1\nvireo> [   1.1] kvc: loop 51: put Err(ServerRestarted)\n");
    assert_eq!(s.advance_console(&t, secs(1)), Interact::Wait);
    assert_eq!(s.advance_console(&t, secs(10)), Interact::Stop);
    let cap = stopped();
    let why = s.finish(&cap, 60)[0].error.clone().unwrap();
    assert!(
        why.starts_with("\"kvc: loop\" did not appear within 10 s"),
        "{why}"
    );
    assert!(
        why.contains("came in a task's log line, and a step that sends a line looks only at the shell's answer to it: wait for the log line in a step of its own after `fault kv`, `{ expect = \"kvc: loop\" }`"),
        "{why}"
    );
    // A log line from before the step is no hint.
    let mut s = Script::new(&spec);
    let mut t = String::from("[   0.1] kvc: loop 50: ok\nvireo> ");
    s.advance_console(&t, secs(0));
    t.push_str("fault kv\ntask kv faulted\nvireo> ");
    assert_eq!(s.advance_console(&t, secs(10)), Interact::Stop);
    let why = s.finish(&cap, 60)[0].error.clone().unwrap();
    assert!(!why.contains("log line"), "{why}");
}

/// A net test's count of console lines, kept as lines come, says what
/// counting the whole console says, at every length, whatever is asked
/// when: a prompt split by a log line, a log line after a prompt, lines
/// that come between two questions.
#[test]
fn line_counts_kept_as_lines_come_agree_with_the_whole_console() {
    let console: Vec<String> = "Vireo shell.\n\
         v[   0.031406] net: address 10.0.2.15/24 (DHCP)\n\
         ireo> [   0.031856] kernel: task echo started\n\
         [   0.034691] echo: listening on TCP and UDP port 7\n\
         vireo> net\n\
         [   1.000000] net0: MAC 52:54:00:12:34:56\n\
         frames 3\n\
         vireo> [   1.2] x: y\n\
         vireo> \n\
         [ 2.0] not a log line\n\
         vireo> net0"
        .lines()
        .map(str::to_string)
        .collect();
    let texts = [
        "vireo> ",
        "net0",
        "frames",
        "listening on",
        "vireo> net0",
        "x: y",
    ];
    let mut counts = LineCounts::default();
    for n in 0..=console.len() {
        // Some texts asked at every length, others now and then.
        for (i, text) in texts.iter().enumerate() {
            if n % (i + 1) == 0 || n == console.len() {
                assert_eq!(
                    counts.count(&console[..n], text),
                    lines_containing(&console[..n], text),
                    "{text:?} in {n} lines"
                );
            }
        }
    }
}

/// Asked every few lines while a chatty image prints, the counts look at
/// each line a few times in all, not the whole console at every question
/// (0.2 s at 100,000 lines, every 50 ms of a net test's wait).
#[test]
fn line_counts_look_at_each_line_a_few_times() {
    let console: Vec<String> = (0..20_000)
        .map(|k| {
            format!(
                "[{:4}.{:06}] storm: task storm faulted: line {k}.",
                k / 1000,
                k % 1000
            )
        })
        .collect();
    let total: usize = console.iter().map(String::len).sum();
    let mut counts = LineCounts::default();
    for n in (0..=console.len()).step_by(10) {
        assert_eq!(counts.count(&console[..n], "vireo> "), 0);
        assert_eq!(
            counts.count(&console[..n], "line 1999."),
            usize::from(n >= 2000)
        );
        assert!(
            counts.examined() <= 8 * total,
            "looked at {} bytes for {n} lines",
            counts.examined()
        );
    }
}

/// Two steps that wait for the same text need it twice: one line did
/// for both when it came in one piece (a log line, or the shell's answer
/// to the step before), and not when it came in two, so whether such a
/// test passed depended on how the console was chunked.
#[test]
fn one_line_is_not_two_steps_text() {
    let twice = console_spec(vec![step(None, Some("ready")), step(None, Some("ready"))]);
    for line in ["[  0.1] x: ready\n", "ready\n"] {
        let mut s = Script::new(&twice);
        let mut t = line.to_string();
        assert_eq!(s.advance_console(&t, secs(0)), Interact::Wait, "{line:?}");
        t.push_str(line);
        assert_eq!(s.advance_console(&t, secs(0)), Interact::Stop, "{line:?}");
    }
    // The shell's answer to a typed step is not the next step's either.
    let spec = console_spec(vec![
        step(Some("go"), Some("ready")),
        step(None, Some("ready")),
    ]);
    let mut s = Script::new(&spec);
    let mut t = "vireo> ".to_string();
    assert_eq!(
        s.advance_console(&t, secs(0)),
        Interact::Send("go\n".into())
    );
    t.push_str("go\r\nready\r\nvireo> ");
    assert_eq!(s.advance_console(&t, secs(0)), Interact::Wait);
    t.push_str("[  0.2] x: ready\n");
    assert_eq!(s.advance_console(&t, secs(0)), Interact::Stop);
    // Text that came twice in one piece still passes both.
    let mut s = Script::new(&twice);
    assert_eq!(
        s.advance_console("[  0.1] x: ready\nready\n", secs(0)),
        Interact::Stop
    );
}

/// A chatty image: a step waits while 100,000 log lines come, a few
/// bytes at a time (QEMU writes its console a byte at a time). The
/// searches look at each byte about once, not at the whole console since
/// the step began after every chunk: that was quadratic, and a console
/// test of an image printing 3,000-4,000 lines a second fell minutes
/// behind its console and failed a step as timed out on text long printed.
#[test]
fn a_chatty_console_costs_each_byte_once() {
    let spec = console_spec(vec![
        step(Some("go"), Some("answer here")),
        step(None, Some("late log line")),
    ]);
    let mut s = Script::new(&spec);
    let mut console = String::from("vireo> ");
    assert_eq!(
        s.advance_console(&console, secs(0)),
        Interact::Send("go\n".into())
    );
    let start = console.len();
    console.push_str("go\r\n");
    for k in 0..100_000 {
        let (secs, micros) = (k / 1000, k % 1000);
        console.push_str(&format!(
            "[{secs:4}.{micros:06}] storm: task storm faulted as it started: line {k}\n"
        ));
    }
    console.push_str("answer here\r\nvireo> [ 100.000000] chatty: late log line\n");
    let mut end = start;
    let mut next = Interact::Wait;
    while next == Interact::Wait && end < console.len() {
        end = (end + 41).min(console.len());
        next = s.advance_console(&console[..end], secs(1));
        let fed = end - start;
        assert!(
            s.examined() <= 4 * fed + 1000,
            "looked at {} bytes for {fed} bytes of console",
            s.examined()
        );
    }
    assert_eq!((next, end), (Interact::Stop, console.len()));
    let cases = s.finish(&stopped(), 90);
    assert!(cases.iter().all(|c| c.error.is_none()), "{cases:?}");
}

#[test]
fn console_script_reports_a_missing_prompt_or_echo_and_how_qemu_ended() {
    // No prompt within the default 10 s.
    let spec = console_spec(vec![step(Some("help"), Some("commands"))]);
    let mut s = Script::new(&spec);
    assert_eq!(s.advance("booting\n", secs(10)), Interact::Stop);
    let cap = stopped();
    let why = s.finish(&cap, 60)[0].error.clone().unwrap();
    assert!(
        why.starts_with("the prompt \"vireo> \" did not appear within 10 s"),
        "{why}"
    );

    // A shell that does not echo.
    let mut s = Script::new(&spec);
    assert_eq!(
        s.advance("vireo> ", secs(0)),
        Interact::Send("help\n".into())
    );
    assert_eq!(s.advance("vireo> commands:\n", secs(10)), Interact::Stop);
    let why = s.finish(&cap, 60)[0].error.clone().unwrap();
    assert!(why.starts_with("the line was not echoed"), "{why}");

    // QEMU died first; a panic is its own failed case.
    let mut s = Script::new(&spec);
    assert_eq!(s.advance("", secs(1)), Interact::Wait);
    let cap = Capture {
        lines: vec!["[ 0.2] KERNEL PANIC: oops".into()],
        end: End::Exited(Some(1)),
        stderr: "bad option".into(),
    };
    let cases = s.finish(&cap, 60);
    assert_eq!(
        cases,
        vec![
            Case::fail(
                "step 1: `help` shows `commands`",
                "not reached: QEMU exited with status 1; qemu said: bad option"
            ),
            Case::fail("kernel", "kernel panic: [ 0.2] KERNEL PANIC: oops"),
        ]
    );
}

/// A run that printed `lines` and ended so (no QEMU stderr).
pub(crate) fn cap(lines: &[&str], end: End) -> Capture {
    Capture {
        lines: lines.iter().map(|s| s.to_string()).collect(),
        end,
        stderr: String::new(),
    }
}

#[test]
fn cargo_test_output() {
    let out = "\
   Compiling abi v0.1.0
\u{1b}[1m\u{1b}[92m     Running\u{1b}[0m unittests src/lib.rs (target/debug/deps/abi-1234)

running 3 tests
test a ... ok
test b ... FAILED
test c ... ok

test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

 Running unittests src/main.rs (target/debug/deps/xtask-99)
test result: ok. 40 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

   Doc-tests abi
test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
";
    assert_eq!(
        parse_cargo_test(out),
        vec![
            HostResult {
                binary: "unittests src/lib.rs (target/debug/deps/abi-1234)".into(),
                passed: 2,
                failed: 1,
                failures: vec!["b".into()]
            },
            HostResult {
                binary: "unittests src/main.rs (target/debug/deps/xtask-99)".into(),
                passed: 40,
                failed: 0,
                failures: vec![]
            },
            HostResult {
                binary: "Doc-tests abi".into(),
                passed: 0,
                failed: 0,
                failures: vec![]
            },
        ]
    );
}

#[test]
fn a_passing_image() {
    let c = cap(
        &[
            "[  0.001000] kernel: Vireo kernel",
            "[  0.010000] runner: [test] case ipc_ping_pong ... ok",
            "[  0.020000] runner: [test] case leases ... FAIL: borrow_read returned 3",
            "[  0.030000] runner: [test] done",
        ],
        End::Stopped,
    );
    let cases = evaluate_test_image(
        &c,
        60,
        &["Vireo kernel".to_string(), "nope".to_string()],
        None,
    );
    assert_eq!(
        cases,
        vec![
            Case::ok("ipc_ping_pong"),
            Case::fail("leases", "borrow_read returned 3"),
            Case::ok("expect: Vireo kernel"),
            Case::fail("expect: nope", "not seen on the console"),
        ]
    );
}

#[test]
fn missing_done_and_panic() {
    let c = cap(
        &[
            "[  0.01] runner: [test] case a ... ok",
            "[  0.02] KERNEL PANIC: bad",
        ],
        End::TimedOut,
    );
    let cases = evaluate_test_image(&c, 7, &[], None);
    assert_eq!(cases[0], Case::ok("a"));
    assert_eq!(
        cases[1],
        Case::fail("kernel", "kernel panic: [  0.02] KERNEL PANIC: bad")
    );
    assert_eq!(cases[2].name, "[test] done");
    let why = cases[2].error.as_deref().unwrap();
    assert!(
        why.starts_with("timed out after 7 s without `[test] done`; last lines: [  0.01] runner"),
        "{why}"
    );

    let c = cap(&[], End::Exited(Some(1)));
    let cases = evaluate_test_image(&c, 7, &[], None);
    assert_eq!(
        cases,
        vec![Case::fail(
            "[test] done",
            "QEMU exited with status 1 without `[test] done`; last lines: (no console output)"
        )]
    );
}

#[test]
fn an_expected_supervisor_fault_passes_and_no_other_does() {
    let lines = [
        "[  0.01] suite: [test] case disk_traffic ... ok",
        "[  0.02] kernel: supervisor 'supervisor' faulted (panic, address 0x0, pc 0x0): nobody can recover it; rebooting",
    ];
    let expecting = |want: Option<&'static str>| Expected {
        timeout_s: 7,
        supervisor_fault: want,
        ..Expected::default()
    };
    let c = cap(&lines, End::Stopped);
    let want = Some("faulted (panic");
    let cases = judge(&c, &expecting(want)).cases;
    assert_eq!(
        cases,
        vec![
            Case::ok("disk_traffic"),
            Case::ok("supervisor fault: faulted (panic")
        ]
    );
    // Not expected: the fault fails the image, which never got done.
    let cases = judge(&c, &expecting(None)).cases;
    assert_eq!(cases[1].name, "supervisor");
    assert_eq!(cases[2].name, "[test] done");
    // Expected but absent (the image finished instead): a failure.
    let c = cap(&[lines[0], "[  0.03] suite: [test] done"], End::Stopped);
    let cases = judge(&c, &expecting(want)).cases;
    assert_eq!(
        cases[1],
        Case::fail(
            "supervisor fault: faulted (panic",
            "the kernel did not reboot with it"
        )
    );
}

#[test]
fn an_expected_kernel_panic_passes_and_no_other_does() {
    let lines = [
        "[  0.01] suite: overflowing the kernel stack",
        "[  0.02] KERNEL PANIC: kernel stack overflow: access at 0x80010100",
    ];
    let c = cap(&lines, End::Exited(Some(1)));
    let cases = evaluate_test_image(&c, 7, &[], Some("kernel stack overflow"));
    assert_eq!(cases, vec![Case::ok("kernel panic: kernel stack overflow")]);
    // Without the panic, or with another one, the image fails.
    let c = cap(&lines[..1], End::TimedOut);
    let cases = evaluate_test_image(&c, 7, &[], Some("kernel stack overflow"));
    assert_eq!(
        cases[0],
        Case::fail(
            "kernel panic: kernel stack overflow",
            "the kernel did not stop with it"
        )
    );
    assert_eq!(cases[1].name, "[test] done");
    let c = cap(
        &["[  0.02] KERNEL PANIC: trap in kernel"],
        End::Exited(Some(1)),
    );
    let cases = evaluate_test_image(&c, 7, &[], Some("kernel stack overflow"));
    assert_eq!(cases.len(), 3, "{cases:?}");
    assert!(cases.iter().all(|c| c.error.is_some()), "{cases:?}");
}

#[test]
fn log_lines_interleaved_with_an_echo_are_removed() {
    let t = "vireo> devic[   0.013286] kernel: task idle started\nes\nslot  id\n[  1.5] blk0: hi\n[test] x\nvireo> [ 2.0] kernel: part";
    assert_eq!(
        without_log_lines(t),
        "vireo> devices\nslot  id\n[test] x\nvireo> "
    );
}

/// A log line still arriving must not show text a step looks for:
/// matched now and removed when its newline comes, it would shift the
/// transcript under the script (the shell test's `restart blk0` step
/// failed that way now and then).
#[test]
fn an_unfinished_log_line_is_hidden_until_it_ends() {
    for partial in [
        "vireo> restart blk0\n[   0.080531] supervisor: task blk0 restarted",
        "vireo> restart blk0\n[   0.080531] superv",
        "vireo> restart blk0\n[   0.08",
    ] {
        assert_eq!(without_log_lines(partial), "vireo> restart blk0\n");
    }
    let done = "vireo> restart blk0\n[   0.080531] supervisor: task blk0 restarted as generation 2\ntask blk0 restarted\nvireo> ";
    assert_eq!(
        without_log_lines(done),
        "vireo> restart blk0\ntask blk0 restarted\nvireo> "
    );
    // Shell text with brackets that no log line starts like stays.
    assert_eq!(without_log_lines("vireo> [test] x"), "vireo> [test] x");
}

#[test]
fn boot_lines() {
    let app = fixture_app();
    let exp = boot_expectations(&app);
    assert_eq!(exp[0], "Vireo kernel");
    assert_eq!(exp[1], "kernel: task supervisor started");
    assert_eq!(exp.len(), 5);

    let c = cap(
        &[
            "[  0.000100] Vireo kernel 0.1.0",
            "[  0.000200] kernel: task supervisor started",
            "[  0.000300] kernel: task pong started",
            "[  2.500000] kernel: task ping started",
            "kernel: task idle started",
        ],
        End::Stopped,
    );
    let cases = evaluate_boot(&c, &exp);
    assert!(cases[..3].iter().all(|c| c.error.is_none()), "{cases:?}");
    assert!(
        cases[3]
            .error
            .as_deref()
            .unwrap()
            .starts_with("seen only at 2.5 s"),
        "{cases:?}"
    );
    assert!(
        cases[4]
            .error
            .as_deref()
            .unwrap()
            .starts_with("line has no"),
        "{cases:?}"
    );

    let c = cap(&["[  0.1] KERNEL PANIC: x"], End::TimedOut);
    let cases = evaluate_boot(&c, &exp[..1]);
    assert!(
        cases[0]
            .error
            .as_deref()
            .unwrap()
            .starts_with("not seen in 30 s of wall time"),
        "{cases:?}"
    );
    assert_eq!(cases[1].name, "no kernel panic");
}

#[test]
fn a_bench_image_may_end_by_exiting_cleanly_and_its_figures_are_kept() {
    let c = cap(
        &[
            "[  0.001000] kernel: Vireo kernel",
            "[  0.010000] bench: [bench] null_ipc 400 instructions baseline=null_syscall",
        ],
        End::Exited(Some(0)),
    );
    let bench = Expected {
        timeout_s: 7,
        clean_exit_is_done: true,
        ..Expected::default()
    };
    let v = judge(&c, &bench);
    assert!(v.cases.is_empty(), "{:?}", v.cases);
    assert_eq!(v.benches.len(), 1);
    assert_eq!(v.benches[0].name, "null_ipc");
    // A test image that exits without `[test] done` fails, and so does a
    // bench image that exits with a failure status.
    assert_eq!(evaluate_test_image(&c, 7, &[], None).len(), 1);
    let failed = cap(&[], End::Exited(Some(1)));
    let v = judge(&failed, &bench);
    assert_eq!(v.cases.len(), 1);
    assert!(
        v.cases[0]
            .error
            .as_deref()
            .unwrap()
            .contains("QEMU exited with status 1"),
        "{:?}",
        v.cases
    );
}

/// A suite that faulted and was restarted ran its cases again and passed
/// them: its run is a failure, not twice as many passes (a user's suite
/// that crashed once passed 19 cases and failed none).
#[test]
fn a_suite_that_ran_its_cases_twice_fails() {
    let c = cap(
        &[
            "[ 0.1] suite: [test] case put_then_get ... ok",
            "[ 0.2] supervisor: task suite faulted: rejected by server (bad lease, by kv)",
            "[ 0.2] supervisor: task suite restarted as generation 1",
            "[ 0.3] suite: [test] case put_then_get ... ok",
            "[ 0.4] suite: [test] case not_found ... ok",
            "[ 0.5] suite: [test] done",
        ],
        End::Exited(Some(0)),
    );
    let cases = evaluate_test_image(&c, 10, &[], None);
    let failed: Vec<_> = cases
        .iter()
        .filter_map(|c| Some((&c.name, c.error.as_ref()?)))
        .collect();
    assert_eq!(failed.len(), 2, "{cases:?}");
    assert!(
        failed[0].0 == "put_then_get" && failed[0].1.contains("a second time"),
        "{cases:?}"
    );
    assert!(failed[1].1.contains("task suite faulted"), "{cases:?}");
    // Another task's fault (a server the suite faults on purpose) is not
    // the suite's.
    let c = cap(
        &[
            "[ 0.1] supervisor: task kv faulted: injected",
            "[ 0.2] suite: [test] case restart ... ok",
            "[ 0.3] suite: [test] done",
        ],
        End::Exited(Some(0)),
    );
    assert!(evaluate_test_image(&c, 10, &[], None)
        .iter()
        .all(|c| c.error.is_none()));
}

/// A timed-out image names the tasks that faulted: a suite whose stack
/// overflowed at every start was only "timed out after 60 s".
#[test]
fn a_timeout_names_the_tasks_that_faulted() {
    let mut lines = vec!["[ 0.1] kernel: Vireo kernel"];
    for _ in 0..3 {
        lines.push("[ 0.2] supervisor: task kv faulted: stack overflow at address 0x80037ffc");
        lines.push("[ 0.2] supervisor: task kv restarted as generation 1");
    }
    lines.push("[ 0.3] supervisor: faulting task blk0 at the request of suite");
    lines.push("[ 0.3] supervisor: task blk0 faulted: injected by supervisor");
    let c = cap(&lines, End::TimedOut);
    let cases = evaluate_test_image(&c, 60, &[], None);
    let done = cases.iter().find(|c| c.name == "[test] done").unwrap();
    let why = done.error.as_deref().unwrap();
    assert!(
        why.contains("timed out after 60 s without `[test] done`; faults: kv 3, blk0 1"),
        "{why}"
    );
}

/// Ways a broken suite once passed (a red team's findings): its restart
/// logged under the 16-byte name the supervisor uses, or with no fault at
/// all (the operator's); a `[test] done` from another task, before the
/// suite's failure; a failure whose line was cut before its verdict.
#[test]
fn a_broken_suite_cannot_pass_by_the_consoles_gaps() {
    let failed = |lines: &[&str], end: End| -> Vec<String> {
        evaluate_test_image(&cap(lines, end), 10, &[], None)
            .into_iter()
            .filter_map(|c| c.error.map(|e| format!("{}: {e}", c.name)))
            .collect()
    };
    let long = failed(
        &[
            "[ 0.1] supervisor: task a-very-long-name faulted: panic, pc 0x80029874",
            "[ 0.2] a-very-long-named-suite: [test] case first ... ok",
            "[ 0.3] a-very-long-named-suite: [test] done",
        ],
        End::Stopped,
    );
    assert!(
        long.len() == 1 && long[0].contains("faulted or was restarted"),
        "{long:?}"
    );
    let operator = failed(
        &[
            "[ 0.1] supervisor: task suite restarted as generation 1",
            "[ 0.2] suite: [test] case first ... ok",
            "[ 0.3] suite: [test] done",
        ],
        End::Stopped,
    );
    assert_eq!(operator.len(), 1, "{operator:?}");
    let early_done = failed(
        &[
            "[ 0.1] suite: [test] case before ... ok",
            "[ 0.2] chatter: [test] done",
            "[ 0.3] chatter: peer said: [test] done",
        ],
        End::TimedOut,
    );
    assert!(
        early_done.len() == 1 && early_done[0].contains("without `[test] done`"),
        "{early_done:?}"
    );
    let cut = failed(
        &[
            "[ 0.1] suite: [test] case short ... ok",
            "[ 0.2] suite: [test] case a_very_long_name_whose_verdict_was_cut .",
            "[ 0.3] suite: [test] done",
        ],
        End::Exited(Some(1)),
    );
    assert!(cut.len() == 1 && cut[0].contains("status 1"), "{cut:?}");
    // A clean suite passes, and a failure shown is not counted twice.
    let clean = failed(
        &[
            "[ 0.1] suite: [test] case a ... ok",
            "[ 0.2] suite: [test] done",
        ],
        End::Exited(Some(0)),
    );
    assert!(clean.is_empty(), "{clean:?}");
    let shown = failed(
        &[
            "[ 0.1] suite: [test] case a ... FAIL: no",
            "[ 0.2] suite: [test] done",
        ],
        End::Exited(Some(1)),
    );
    assert_eq!(shown.len(), 1, "{shown:?}");
}

/// What a run stopped by its script left: no lines, no stderr.
fn stopped() -> Capture {
    Capture {
        lines: vec![],
        end: End::Stopped,
        stderr: String::new(),
    }
}
#[test]
fn scratch_double() {
    let spec = console_spec(vec![step(None, Some("ready")), step(None, Some("ready"))]);
    let mut s = Script::new(&spec);
    let t = "[  0.1] x: ready\n".to_string();
    let r = s.advance_console(&t, secs(0));
    eprintln!("ONE CHUNK: {r:?}");
    let mut s = Script::new(&spec);
    let r1 = s.advance_console("[  0.1] x: rea", secs(0));
    let r2 = s.advance_console(&t, secs(0));
    eprintln!("TWO CHUNKS: {r1:?} {r2:?}");
    let spec = console_spec(vec![step(None, Some("ready")), step(None, Some("ready"))]);
    let mut s = Script::new(&spec);
    let r = s.advance_console("ready\n", secs(0));
    eprintln!("SHELL: {r:?}");
}
