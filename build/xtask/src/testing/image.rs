//! Test images: build, run under QEMU, and judge the console. The judge
//! ([`judge`]) is shared with `cargo xtask bench`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use super::Case;
use crate::campaign;
use crate::config::{App, DumpCheck, TestKind};
use crate::console::{self, Bench, Line};
use crate::dump::{check, postmortem};
use crate::qemu::{self, Capture, End, Watch};

/// How long to keep reading after a kernel panic, for its message.
pub const PANIC_GRACE: Duration = Duration::from_secs(1);
/// How long to wait after `[test] done` for the suite's shutdown, whose
/// exit status is its failure count.
const EXIT_GRACE: Duration = Duration::from_millis(500);
/// Console lines quoted in a failure message.
const LAST_LINES: usize = 5;

/// What the judge must know about an image besides its console.
#[derive(Clone, Copy, Debug, Default)]
pub struct Expected<'a> {
    /// The run's wall-clock limit, named when it ran out.
    pub timeout_s: u64,
    /// Text that must appear somewhere on the console (`[test] expect`).
    pub expect: &'a [String],
    /// The one kernel panic the image must end in (`test.kernel-panic`).
    pub kernel_panic: Option<&'a str>,
    /// The one supervisor fault (and reboot) the image must end in
    /// (`test.supervisor-fault`); any other supervisor fault fails.
    pub supervisor_fault: Option<&'a str>,
    /// Whether QEMU exiting with status 0 (the test finisher) ends the run
    /// as `[test] done` does: a bench image may stop that way.
    pub clean_exit_is_done: bool,
}

/// A judged console: its cases and the `[bench]` figures it printed.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// Every case, passed or failed, in console order, then the expects,
    /// the expected panic and the missing `[test] done`.
    pub cases: Vec<Case>,
    /// The `[bench]` lines, in console order.
    pub benches: Vec<Bench>,
}

/// Judges a test or bench image's console (pure, so it can be tested).
pub fn judge(cap: &Capture, expected: &Expected) -> Verdict {
    let mut v = Verdict::default();
    let mut done = false;
    let mut expected_panic = false;
    let kernel_panic = expected.kernel_panic;
    let mut expected_supervisor_fault = false;
    // Tasks that reported cases, and what each reported.
    let mut reporters = std::collections::BTreeSet::new();
    let mut reported = std::collections::HashSet::new();
    // Ended by the suite's `[test] done` (not an expected panic or fault).
    let mut suite_done = false;
    for line in &cap.lines {
        if postmortem::trigger(line) == Some("supervisor-fault") {
            if expected.supervisor_fault.is_some_and(|t| line.contains(t))
                && !expected_supervisor_fault
            {
                expected_supervisor_fault = true;
                done = true;
            } else {
                v.cases.push(Case::fail(
                    "supervisor",
                    format!("supervisor fault: {}", line.trim()),
                ));
            }
            continue;
        }
        let parsed = console::parse(line);
        if let (Line::Pass(name) | Line::Fail(name, _), Some(task)) =
            (&parsed, console::reporter(line))
        {
            reporters.insert(task);
            if !reported.insert((task, *name)) {
                // A suite that faulted and was restarted runs its cases
                // again: the second run's passes would hide the fault.
                v.cases.push(Case::fail(
                    *name,
                    format!("reported a second time by `{task}`: it ran its cases again, so it was restarted (see its fault on the console)"),
                ));
                continue;
            }
        }
        match parsed {
            Line::Pass(name) => v.cases.push(Case::ok(name)),
            Line::Fail(name, why) => v.cases.push(Case::fail(
                name,
                if why.is_empty() { "failed" } else { why },
            )),
            Line::Panic if kernel_panic.is_some_and(|p| line.contains(p)) && !expected_panic => {
                expected_panic = true;
                done = true;
            }
            Line::Panic => v.cases.push(Case::fail(
                "kernel",
                format!("kernel panic: {}", line.trim()),
            )),
            // Once a task has reported cases, only such a task ends the run.
            Line::Done if ends_run(&reporters, line) => {
                done = true;
                suite_done = true;
            }
            Line::Done => {}
            Line::Bench(b) => v.benches.push(b),
            Line::Other => {}
        }
    }
    // A reporting task that faulted or was restarted lost whatever it was
    // checking, even if its next incarnation then passed every case. The
    // supervisor names a task by its first 16 bytes.
    for task in &reporters {
        let name = task.get(..16).unwrap_or(task);
        let lost = [
            format!("supervisor: task {name} faulted"),
            format!("supervisor: task {name} restarted as generation"),
        ];
        if let Some(line) = cap
            .lines
            .iter()
            .find(|l| lost.iter().any(|p| l.contains(p.as_str())))
        {
            v.cases.push(Case::fail(
                format!("{task} ran once"),
                format!(
                    "the task reporting the cases faulted or was restarted: {}",
                    line.trim()
                ),
            ));
        }
    }
    // A suite ends with its failure count as QEMU's exit status: failures
    // the console does not show (a line cut short, a case never printed)
    // still fail the run.
    if let End::Exited(Some(n @ 1..)) = cap.end {
        if suite_done && v.cases.iter().all(|c| c.error.is_none()) {
            v.cases.push(Case::fail(
                "exit status",
                format!("QEMU exited with status {n} (the suite's failure count), and the console shows no failed case"),
            ));
        }
    }
    v.cases.extend(expect_cases(&cap.lines, expected.expect));
    if let Some(t) = expected.supervisor_fault {
        v.cases.push(Case::check(
            format!("supervisor fault: {t}"),
            expected_supervisor_fault,
            "the kernel did not reboot with it",
        ));
    }
    if let Some(p) = kernel_panic {
        v.cases.push(Case::check(
            format!("kernel panic: {p}"),
            expected_panic,
            "the kernel did not stop with it",
        ));
    }
    let ended = done || (expected.clean_exit_is_done && cap.end == End::Exited(Some(0)));
    if !ended {
        v.cases.push(Case::fail(
            "[test] done",
            format!(
                "{} without `[test] done`{}; last lines: {}{}",
                how_it_ended(cap, expected.timeout_s),
                faults_seen(&cap.lines),
                last_lines(&cap.lines),
                qemu_said(cap)
            ),
        ));
    }
    v
}

/// Whether a `[test] done` line ends the run: from any task until one has
/// reported a case, then only from a task that has.
pub fn ends_run<S: std::borrow::Borrow<str> + Ord>(
    reporters: &std::collections::BTreeSet<S>,
    line: &str,
) -> bool {
    reporters.is_empty() || console::reporter(line).is_some_and(|t| reporters.contains(t))
}

/// The tasks the supervisor logged faults of, most first, as
/// "; faults: kv 56012, blk0 1" (a task that faults as it starts fills
/// the console until the timeout, and its last lines need not say so).
fn faults_seen(lines: &[String]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for line in lines {
        let Some(rest) = line.split_once("supervisor: task ").map(|(_, r)| r) else {
            continue;
        };
        let Some((task, _)) = rest.split_once(" faulted") else {
            continue;
        };
        match counts.iter_mut().find(|(t, _)| *t == task) {
            Some((_, n)) => *n += 1,
            None => counts.push((task, 1)),
        }
    }
    if counts.is_empty() {
        return String::new();
    }
    counts.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    let list: Vec<String> = counts
        .iter()
        .take(4)
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    format!("; faults: {}", list.join(", "))
}

/// One case per `expect` string: passed if some console line contains it.
pub fn expect_cases(lines: &[String], expects: &[String]) -> Vec<Case> {
    expects
        .iter()
        .map(|e| {
            let name = format!("expect: {e}");
            if super::lines_containing(lines, e) > 0 {
                Case::ok(name)
            } else {
                Case::fail(name, "not seen on the console")
            }
        })
        .collect()
}

/// How a run ended, for a failure message ("timed out after 30 s").
pub fn how_it_ended(cap: &Capture, timeout_s: u64) -> String {
    match &cap.end {
        End::TimedOut => format!("timed out after {timeout_s} s"),
        End::Exited(Some(code)) => format!("QEMU exited with status {code}"),
        End::Exited(None) => "QEMU was killed by a signal".to_string(),
        End::Stopped => "stopped".to_string(),
    }
}

/// What QEMU wrote on its stderr, on one line after "; qemu said: ", or
/// nothing.
pub fn qemu_said(cap: &Capture) -> String {
    let stderr = cap.stderr.trim();
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; qemu said: {}", stderr.replace('\n', " | "))
    }
}

/// The console's last lines on one line, for a failure message.
pub fn last_lines(lines: &[String]) -> String {
    let start = lines.len().saturating_sub(LAST_LINES);
    if lines.is_empty() {
        "(no console output)".into()
    } else {
        lines[start..].join(" | ")
    }
}

/// Prints a failed run's whole console and QEMU's stderr.
pub fn print_console(cap: &Capture) {
    println!("  --- console ---");
    for l in &cap.lines {
        println!("  | {l}");
    }
    if !cap.stderr.trim().is_empty() {
        println!("  --- qemu stderr ---");
        for l in cap.stderr.lines() {
            println!("  | {l}");
        }
    }
}

/// Builds and runs one test image; `params`: the parameters the
/// campaign image is built with; `net_seed`: the network checks' seed
/// (`--net-seed`).
pub fn test_image(
    root: &Path,
    qemu_bin: &Path,
    path: &Path,
    params: &campaign::Params,
    net_seed: u64,
    verbose: bool,
    prebuilt: Option<Result<crate::image::Built>>,
) -> Result<Vec<Case>> {
    let is_campaign = path.ends_with(campaign::APP);
    let built = match prebuilt {
        Some(built) => built?,
        None => crate::image::build_with(root, path, params, verbose)?,
    };
    let Some(mut spec) = built.app.test.clone() else {
        anyhow::bail!(
            "{} is not a test image (it has no [test] section); `cargo xtask test` with no \
             arguments boot-tests app.toml",
            path.display()
        );
    };
    if is_campaign {
        spec.timeout = params.timeout(spec.timeout);
    }
    if spec.kind == TestKind::Net {
        let mut app = built.app.clone();
        let _relays = crate::net::resolve_ports(&mut app)?;
        qemu::prepare_drives(&app, &built.out_dir, true)?;
        let args = qemu::command_line(&app, &built.image, &built.out_dir, false);
        return crate::nettest::run(qemu_bin, &args, &app, &spec, root, net_seed, verbose);
    }
    let args = qemu_args(&built.app, &built.image, &built.out_dir, false)?;
    if spec.kind == TestKind::Console {
        return super::script::console_test(qemu_bin, &args, &spec, verbose);
    }
    // Dumps left by earlier images are not this one's.
    let _ = postmortem::take_written();
    let mut dump_cases = Vec::new();
    let mut reporters = std::collections::BTreeSet::<String>::new();
    let live_dump = spec.dump.as_ref().filter(|d| d.when.is_some());
    let app_arg = path.display().to_string();
    let cap = qemu::run_capture(
        qemu_bin,
        &args,
        Duration::from_secs(spec.timeout),
        verbose,
        |line| {
            if let Some(d) = live_dump {
                if dump_cases.is_empty() && d.when.as_deref().is_some_and(|w| line.contains(w)) {
                    // The image waits for this: run `cargo xtask dump` now.
                    dump_cases = check::run(&[&app_arg], d);
                    if !d.gdb_bt.is_empty() {
                        dump_cases.push(check::run_gdb_bt(&[&app_arg], &d.gdb_bt));
                    }
                }
            }
            if spec.supervisor_fault.is_some()
                && postmortem::trigger(line) == Some("supervisor-fault")
            {
                // Its dump is already taken (`postmortem::on_trigger` runs
                // first); the machine reboots, and would start over.
                return Watch::Stop;
            }
            match console::parse(line) {
                Line::Pass(_) | Line::Fail(..) => {
                    if let Some(task) = console::reporter(line) {
                        reporters.insert(task.to_string());
                    }
                    Watch::Continue
                }
                // The suite's shutdown follows: its exit status is its
                // failure count, which the judge checks.
                Line::Done if ends_run(&reporters, line) => Watch::StopAfter(EXIT_GRACE),
                Line::Panic => Watch::StopAfter(PANIC_GRACE),
                _ => Watch::Continue,
            }
        },
    )?;
    let dumps = postmortem::take_written();
    let mut cases = judge(
        &cap,
        &Expected {
            timeout_s: spec.timeout,
            expect: &spec.expect,
            kernel_panic: spec.kernel_panic.as_deref(),
            supervisor_fault: spec.supervisor_fault.as_deref(),
            clean_exit_is_done: false,
        },
    )
    .cases;
    match &spec.dump {
        Some(d) if d.post_mortem => cases.extend(post_mortem_cases(&dumps, d)),
        Some(d) if d.when.is_some() && dump_cases.is_empty() => cases.push(Case::fail(
            "cargo xtask dump",
            format!(
                "{:?} never appeared on the console",
                d.when.as_deref().unwrap_or("")
            ),
        )),
        _ => {}
    }
    cases.extend(dump_cases);
    print_dumps_if_failed(&cases, &dumps);
    if is_campaign {
        cases.extend(params.cases(&cap));
    }
    if !verbose && cases.iter().any(|c| c.error.is_some()) {
        print_console(&cap);
    }
    Ok(cases)
}

/// `[test.dump] post-mortem`: a dump was written (the image ends in a
/// kernel panic, `kernel-panic`) and `cargo xtask dump --file` shows in it
/// what the check expects.
fn post_mortem_cases(dumps: &[PathBuf], check: &DumpCheck) -> Vec<Case> {
    match dumps.first() {
        Some(file) => {
            let mut out = vec![Case::ok("post-mortem dump written")];
            out.extend(check::run_file(file, check));
            out
        }
        None => vec![Case::fail(
            "post-mortem dump written",
            "no dump under target/<image>/dumps/",
        )],
    }
}

/// A failing image's post-mortem dumps, so that a person can look inside.
fn print_dumps_if_failed(cases: &[Case], dumps: &[PathBuf]) {
    if cases.iter().any(|c| c.error.is_some()) {
        for d in dumps {
            println!(
                "  post-mortem dump: {} (cargo xtask dump --file {})",
                d.display(),
                d.display()
            );
        }
    }
}

/// The QEMU command line of a test run. Test images get zeroed disks every
/// run, so no run sees another's data; the boot test of app.toml keeps the
/// user's disk.
pub fn qemu_args(app: &App, image: &Path, out_dir: &Path, icount: bool) -> Result<Vec<String>> {
    qemu::prepare_drives(app, out_dir, app.test.is_some())?;
    let mut app = app.clone();
    // Nothing on the host connects to these runs' forwards: the relays
    // can go at once.
    drop(crate::net::resolve_ports(&mut app)?);
    Ok(qemu::command_line(&app, image, out_dir, icount))
}
