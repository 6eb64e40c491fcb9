//! `cargo xtask test`: host tests, every QEMU test image, and a boot test of
//! the default image, ending with one line `N passed, N failed`.
//!
//! - Host tests: `cargo test` at the workspace root (its `default-members`);
//!   every `test result:` line is summed.
//! - Test images: every `test/*.toml`, sorted. Each `[test] case` line is a
//!   case, each `expect` string is a case, a `KERNEL PANIC` is a failed case,
//!   and an image that ends without `[test] done` gets one more failed case.
//! - Console test images (`kind = "console"`): a person's session, scripted.
//!   Each `[[test.steps]]` line is typed on QEMU's stdin once the prompt has
//!   appeared, and is a case that passes when its `expect` text appears
//!   after the line's echo within the step's timeout ([`Script`]).
//! - Boot test: `app.toml` under `-icount shift=0`; the banner and every
//!   started task must appear within 2 s of virtual time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::campaign;
use crate::config::{App, DumpCheck, Step, TestKind, TestSpec, DEFAULT_STEP_TIMEOUT};
use crate::console::{self, Line};
use crate::dump::{check, postmortem};
use crate::image;
use crate::link;
use crate::qemu::{self, Capture, End, Interact, Watch};

/// One case's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// What was tested.
    pub name: String,
    /// None if it passed, else why not.
    pub error: Option<String>,
}

impl Case {
    /// A passed case.
    pub fn ok(name: impl Into<String>) -> Case {
        Case {
            name: name.into(),
            error: None,
        }
    }
    /// A failed case and why.
    pub fn fail(name: impl Into<String>, why: impl Into<String>) -> Case {
        Case {
            name: name.into(),
            error: Some(why.into()),
        }
    }
}

/// Running totals and per-case lines.
#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
}

impl Tally {
    fn report(&mut self, group: &str, cases: &[Case]) {
        for c in cases {
            match &c.error {
                None => {
                    self.passed += 1;
                    println!("  ok    {group}: {}", c.name);
                }
                Some(why) => {
                    self.failed += 1;
                    println!("  FAIL  {group}: {}: {why}", c.name);
                }
            }
        }
    }
}

/// Virtual-time limit for the boot test.
const BOOT_LIMIT_S: f64 = 2.0;
/// Wall-clock limit for the boot test.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to keep reading after a kernel panic, for its message.
const PANIC_GRACE: Duration = Duration::from_secs(1);
/// Console lines quoted in a failure message.
const LAST_LINES: usize = 5;

/// Runs everything; returns whether all passed (and something ran).
pub fn run(root: &Path, verbose: bool) -> Result<bool> {
    let mut tally = Tally::default();

    println!("host tests (cargo test)");
    host_tests(root, verbose, &mut tally)?;

    match qemu::ensure_installed() {
        Ok(qemu_bin) => qemu_tests(root, &qemu_bin, verbose, &mut tally)?,
        Err(e) => tally.report("qemu", &[Case::fail("find QEMU", format!("{e:#}"))]),
    }

    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(tally.failed == 0 && tally.passed > 0)
}

/// Runs only the named test images (no host tests, no boot test).
pub fn run_images(root: &Path, images: &[PathBuf], verbose: bool) -> Result<bool> {
    let mut tally = Tally::default();
    let qemu_bin = qemu::ensure_installed()?;
    for path in images {
        let path = image::resolve_app(root, Some(path));
        run_one_image(root, &qemu_bin, &path, verbose, &mut tally);
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(tally.failed == 0 && tally.passed > 0)
}

/// `--faults N --seed S`: builds the campaign image for that size and
/// seed, runs it, and prints its report. Its checks are cases as usual,
/// plus "no kernel failures" and "no client hangs".
pub fn run_campaign(
    root: &Path,
    faults: u32,
    seed: u64,
    only: Option<u32>,
    verbose: bool,
) -> Result<bool> {
    let tally = campaign_tally(root, faults, seed, only, verbose)?;
    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(tally.failed == 0 && tally.passed > 0)
}

fn campaign_tally(
    root: &Path,
    faults: u32,
    seed: u64,
    only: Option<u32>,
    verbose: bool,
) -> Result<Tally> {
    let mut tally = Tally::default();
    let qemu_bin = qemu::ensure_installed()?;
    // Read by the campaign task's build script (and only there).
    std::env::set_var("VIREO_CAMPAIGN", campaign::spec(faults, seed, only));
    let path = root.join(campaign::APP);
    run_one_image(root, &qemu_bin, &path, verbose, &mut tally);
    Ok(tally)
}

/// Builds and runs one test image and reports its cases.
fn run_one_image(root: &Path, qemu_bin: &Path, path: &Path, verbose: bool, tally: &mut Tally) {
    let label = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    println!(
        "test image {}",
        path.strip_prefix(root).unwrap_or(path).display()
    );
    let cases = test_image(root, qemu_bin, path, verbose)
        .unwrap_or_else(|e| vec![Case::fail("build and run", format!("{e:#}"))]);
    tally.report(&label, &cases);
}

/// The boot test, then every test image.
fn qemu_tests(root: &Path, qemu_bin: &Path, verbose: bool, tally: &mut Tally) -> Result<()> {
    println!("boot test (app.toml)");
    let cases = boot_test(root, qemu_bin, verbose)
        .unwrap_or_else(|e| vec![Case::fail("build and boot", format!("{e:#}"))]);
    tally.report("boot", &cases);

    for path in test_images(root)? {
        run_one_image(root, qemu_bin, &path, verbose, tally);
    }
    Ok(())
}

/// The `test/*.toml` files, sorted; none if there is no `test/` directory.
fn test_images(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join("test");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// One test binary's results from `cargo test` output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostResult {
    /// What cargo said it was running ("unittests src/lib.rs (…/abi-…)", "Doc-tests abi").
    pub binary: String,
    /// Tests passed.
    pub passed: usize,
    /// Tests failed.
    pub failed: usize,
    /// Names of the failed tests.
    pub failures: Vec<String>,
}

/// Removes ANSI colour sequences (`ESC [ ... letter`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses `cargo test` output (stdout and stderr merged).
pub fn parse_cargo_test(output: &str) -> Vec<HostResult> {
    let mut results = Vec::new();
    let mut binary = String::from("(unknown)");
    let mut failures = Vec::new();
    for line in output.lines() {
        let line = strip_ansi(line);
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Running ") {
            binary = rest.to_string();
        } else if t.starts_with("Doc-tests ") {
            binary = t.to_string();
        } else if let Some(name) = t
            .strip_prefix("test ")
            .and_then(|r| r.strip_suffix(" ... FAILED"))
        {
            failures.push(name.to_string());
        } else if let Some(rest) = t.strip_prefix("test result: ") {
            let count = |word: &str| -> usize {
                rest.split(';')
                    .filter_map(|part| {
                        let part = part
                            .trim()
                            .trim_start_matches("ok.")
                            .trim_start_matches("FAILED.")
                            .trim();
                        let (n, w) = part.split_once(' ')?;
                        (w == word).then(|| n.parse().ok()).flatten()
                    })
                    .next()
                    .unwrap_or(0)
            };
            results.push(HostResult {
                binary: binary.clone(),
                passed: count("passed"),
                failed: count("failed"),
                failures: std::mem::take(&mut failures),
            });
        }
    }
    results
}

fn host_tests(root: &Path, verbose: bool, tally: &mut Tally) -> Result<()> {
    let mut cmd = Command::new(link::cargo());
    cmd.arg("test").current_dir(root);
    // Captured even with `verbose`, so the result lines can be parsed.
    let (output, ok) = match link::run_captured(&mut cmd, false) {
        Ok(out) => (out, true),
        Err(e) => (format!("{e:#}"), false),
    };
    if verbose {
        println!("{output}");
    }
    let results = parse_cargo_test(&output);
    let mut cases = Vec::new();
    for r in &results {
        if r.passed == 0 && r.failed == 0 {
            continue;
        }
        let name = format!("{} ({} tests)", r.binary, r.passed + r.failed);
        if r.failed == 0 {
            tally.passed += r.passed;
            println!("  ok    host: {name}");
        } else {
            tally.passed += r.passed;
            tally.failed += r.failed;
            println!(
                "  FAIL  host: {name}: {} failed: {}",
                r.failed,
                r.failures.join(", ")
            );
        }
    }
    let failed_tests: usize = results.iter().map(|r| r.failed).sum();
    if !ok && failed_tests == 0 {
        // Did not compile, or crashed: one failure so it cannot go unnoticed.
        cases.push(Case::fail(
            "cargo test",
            "cargo test failed before reporting results (output above)",
        ));
    }
    if (!ok || failed_tests > 0) && !verbose {
        println!("  --- cargo test output ---");
        println!("{}", output.trim_end());
        println!("  --- end of cargo test output ---");
    }
    tally.report("host", &cases);
    Ok(())
}

fn last_lines(lines: &[String]) -> String {
    let start = lines.len().saturating_sub(LAST_LINES);
    if lines.is_empty() {
        "(no console output)".into()
    } else {
        lines[start..].join(" | ")
    }
}

fn print_console(cap: &Capture) {
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

/// Judges a test image's console (pure, so it can be tested).
/// `kernel_panic`: the text of the one kernel panic the image must end in
/// (`test.kernel-panic`), if any.
pub fn evaluate_test_image(
    cap: &Capture,
    timeout_s: u64,
    expects: &[String],
    kernel_panic: Option<&str>,
) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut done = false;
    let mut expected_panic = false;
    for line in &cap.lines {
        match console::parse(line) {
            Line::Pass(name) => cases.push(Case::ok(name)),
            Line::Fail(name, why) => cases.push(Case::fail(
                name,
                if why.is_empty() { "failed" } else { why },
            )),
            Line::Panic if kernel_panic.is_some_and(|p| line.contains(p)) && !expected_panic => {
                expected_panic = true;
                done = true;
            }
            Line::Panic => cases.push(Case::fail(
                "kernel",
                format!("kernel panic: {}", line.trim()),
            )),
            Line::Done => done = true,
            Line::Bench(_) | Line::Other => {}
        }
    }
    for e in expects {
        let name = format!("expect: {e}");
        if cap.lines.iter().any(|l| l.contains(e.as_str())) {
            cases.push(Case::ok(name));
        } else {
            cases.push(Case::fail(name, "not seen on the console"));
        }
    }
    if let Some(p) = kernel_panic {
        let name = format!("kernel panic: {p}");
        if expected_panic {
            cases.push(Case::ok(name));
        } else {
            cases.push(Case::fail(name, "the kernel did not stop with it"));
        }
    }
    if !done {
        let how = match &cap.end {
            End::TimedOut => format!("timed out after {timeout_s} s"),
            End::Exited(Some(code)) => format!("QEMU exited with status {code}"),
            End::Exited(None) => "QEMU was killed by a signal".to_string(),
            End::Stopped => "stopped".to_string(),
        };
        let stderr = cap.stderr.trim();
        let stderr = if stderr.is_empty() {
            String::new()
        } else {
            format!("; qemu said: {}", stderr.replace('\n', " | "))
        };
        cases.push(Case::fail(
            "[test] done",
            format!(
                "{how} without `[test] done`; last lines: {}{stderr}",
                last_lines(&cap.lines)
            ),
        ));
    }
    cases
}

fn test_image(root: &Path, qemu_bin: &Path, path: &Path, verbose: bool) -> Result<Vec<Case>> {
    let built = image::build(root, path, verbose)?;
    let Some(mut spec) = built.app.test.clone() else {
        anyhow::bail!(
            "{} is not a test image (it has no [test] section); `cargo xtask test` with no \
             arguments boot-tests app.toml",
            path.display()
        );
    };
    if path.ends_with(campaign::APP) {
        // A long campaign may take longer than the file's timeout: allow a
        // second per fault on top.
        spec.timeout = spec
            .timeout
            .max(60 + u64::from(campaign::faults_and_seed().0));
    }
    if spec.kind == TestKind::Net {
        let mut app = built.app.clone();
        crate::net::resolve_ports(&mut app)?;
        qemu::prepare_drives(&app, &built.out_dir, true)?;
        let args = qemu::command_line(&app, &built.image, &built.out_dir, false);
        return crate::nettest::run(qemu_bin, &args, &app, &spec, root, verbose);
    }
    let args = qemu_args(&built.app, &built.image, &built.out_dir, false)?;
    if spec.kind == TestKind::Console {
        return console_test(qemu_bin, &args, &spec, verbose);
    }
    // Dumps left by earlier images are not this one's.
    let _ = postmortem::take_written();
    let mut dump_cases = Vec::new();
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
                }
            }
            match console::parse(line) {
                Line::Done => Watch::Stop,
                Line::Panic => Watch::StopAfter(PANIC_GRACE),
                _ => Watch::Continue,
            }
        },
    )?;
    let dumps = postmortem::take_written();
    let mut cases = evaluate_test_image(
        &cap,
        spec.timeout,
        &spec.expect,
        spec.kernel_panic.as_deref(),
    );
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
    if path.ends_with(campaign::APP) {
        cases.extend(campaign_cases(&cap));
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

/// Prints the campaign's report and judges what only the whole console
/// shows: kernel failures and a hung client.
fn campaign_cases(cap: &qemu::Capture) -> Vec<Case> {
    let (faults, seed) = campaign::faults_and_seed();
    let s = campaign::summarize(cap);
    campaign::print(&s, faults, seed);
    let case = |name: &str, n: u64| match n {
        0 => Case::ok(name),
        n => Case::fail(name, format!("{n}")),
    };
    vec![
        case("campaign_no_kernel_failures", s.kernel_failures),
        case("campaign_no_client_hangs", s.hangs),
        case(
            "campaign_loaders_saw_no_wrong_answer",
            campaign::loader_problems(&s),
        ),
    ]
}

/// A scripted console session: the state of a `kind = "console"` test as
/// output arrives (pure, so it can be tested with made-up transcripts).
///
/// For each step: if it has a line to send, wait for the prompt (after the
/// previous step's answer), then send the line and a newline; then wait
/// for the line's echo followed by a newline, and for `expect` after it.
/// Each step has its own deadline, counted from when the previous one
/// ended. The first step that fails ends the session; the steps after it
/// fail as not run.
pub struct Script<'a> {
    steps: &'a [Step],
    prompt: &'a str,
    /// The step under way.
    step: usize,
    phase: Phase,
    /// Where in the transcript the current phase starts looking.
    from: usize,
    /// When the current step started.
    started: Duration,
    cases: Vec<Case>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the prompt before sending the step's line.
    Prompt,
    /// The line was sent: waiting for its echo.
    Echo,
    /// Waiting for the step's expectation.
    Expect,
    /// Every step has a verdict.
    Done,
}

impl<'a> Script<'a> {
    /// A session that runs `spec`'s steps.
    pub fn new(spec: &'a TestSpec) -> Self {
        let mut s = Script {
            steps: &spec.steps,
            prompt: &spec.prompt,
            step: 0,
            phase: Phase::Prompt,
            from: 0,
            started: Duration::ZERO,
            cases: Vec::new(),
        };
        s.begin_step(0, Duration::ZERO);
        s
    }

    /// The case name of step `i`.
    pub fn step_name(step: &Step, i: usize) -> String {
        match (&step.send, &step.expect) {
            (Some(send), Some(expect)) => format!("step {}: `{send}` shows `{expect}`", i + 1),
            (Some(send), None) => format!("step {}: `{send}`", i + 1),
            (None, Some(expect)) => format!("step {}: `{expect}` appears", i + 1),
            (None, None) => format!("step {}", i + 1),
        }
    }

    fn begin_step(&mut self, from: usize, now: Duration) {
        self.from = from;
        self.started = now;
        self.phase = match self.steps.get(self.step) {
            None => Phase::Done,
            Some(step) if step.send.is_some() => Phase::Prompt,
            Some(_) => Phase::Expect,
        };
    }

    fn timeout(&self) -> Duration {
        let step = &self.steps[self.step];
        Duration::from_secs(step.timeout.unwrap_or(DEFAULT_STEP_TIMEOUT))
    }

    /// Ends the current step with `error` (None: passed) and starts the
    /// next one at transcript offset `from`.
    fn finish_step(&mut self, error: Option<String>, from: usize, now: Duration) {
        let name = Self::step_name(&self.steps[self.step], self.step);
        let failed = error.is_some();
        self.cases.push(Case { name, error });
        self.step += 1;
        if failed {
            self.abandon("not run: an earlier step failed");
        } else {
            self.begin_step(from, now);
        }
    }

    /// Fails every step without a verdict yet.
    fn abandon(&mut self, why: &str) {
        while self.step < self.steps.len() {
            let name = Self::step_name(&self.steps[self.step], self.step);
            self.cases.push(Case::fail(name, why));
            self.step += 1;
        }
        self.phase = Phase::Done;
    }

    /// What to do, given the whole output so far and the time since start.
    pub fn advance(&mut self, transcript: &str, now: Duration) -> Interact {
        loop {
            if self.phase == Phase::Done {
                return Interact::Stop;
            }
            let step = &self.steps[self.step];
            let seen = transcript.get(self.from..).unwrap_or("");
            match self.phase {
                Phase::Prompt => {
                    if let Some(at) = seen.find(self.prompt) {
                        self.from += at + self.prompt.len();
                        self.phase = Phase::Echo;
                        let line = step.send.clone().unwrap_or_default();
                        return Interact::Send(format!("{line}\n"));
                    }
                }
                Phase::Echo => {
                    let line = step.send.as_deref().unwrap_or_default();
                    if let Some(at) = seen.find(line) {
                        let after = &seen[at + line.len()..];
                        if let Some(nl) = after.find('\n') {
                            self.from += at + line.len() + nl + 1;
                            self.phase = Phase::Expect;
                            continue;
                        }
                    }
                }
                Phase::Expect => match &step.expect {
                    Some(expect) => {
                        if let Some(at) = seen.find(expect.as_str()) {
                            let from = self.from + at + expect.len();
                            self.finish_step(None, from, now);
                            continue;
                        }
                    }
                    // Nothing to look for: done once the line was taken.
                    None => {
                        let from = self.from;
                        self.finish_step(None, from, now);
                        continue;
                    }
                },
                Phase::Done => unreachable!("handled above"),
            }
            if now.saturating_sub(self.started) >= self.timeout() {
                let waited = match self.phase {
                    Phase::Prompt => format!("the prompt {:?} did not appear", self.prompt),
                    Phase::Echo => "the line was not echoed".to_string(),
                    _ => format!("{:?} did not appear", step.expect.as_deref().unwrap_or("")),
                };
                let secs = self.timeout().as_secs();
                let output = tail(transcript.get(self.from..).unwrap_or(""));
                self.finish_step(
                    Some(format!("{waited} within {secs} s; output since: {output}")),
                    self.from,
                    now,
                );
                continue;
            }
            return Interact::Wait;
        }
    }

    /// The verdicts, once the session is over: steps still without one fail
    /// with how the run ended; a kernel panic anywhere is a failed case.
    pub fn finish(mut self, cap: &Capture, timeout_s: u64) -> Vec<Case> {
        let how = match &cap.end {
            End::TimedOut => format!("the image timed out after {timeout_s} s"),
            End::Exited(Some(code)) => format!("QEMU exited with status {code}"),
            End::Exited(None) => "QEMU was killed by a signal".to_string(),
            End::Stopped => "stopped".to_string(),
        };
        let stderr = cap.stderr.trim();
        let how = if stderr.is_empty() {
            how
        } else {
            format!("{how}; qemu said: {}", stderr.replace('\n', " | "))
        };
        self.abandon(&format!("not reached: {how}"));
        for line in &cap.lines {
            if console::parse(line) == Line::Panic {
                self.cases.push(Case::fail(
                    "kernel",
                    format!("kernel panic: {}", line.trim()),
                ));
            }
        }
        self.cases
    }
}

/// The end of `text` on one line, for a failure message.
fn tail(text: &str) -> String {
    const MAX: usize = 200;
    let t = text.trim();
    let start = t.char_indices().rev().nth(MAX - 1).map_or(0, |(i, _)| i);
    let t = &t[start..];
    if t.is_empty() {
        "(nothing)".to_string()
    } else {
        format!("{:?}", t.replace('\r', ""))
    }
}

fn console_test(
    qemu_bin: &Path,
    args: &[String],
    spec: &TestSpec,
    verbose: bool,
) -> Result<Vec<Case>> {
    let mut script = Script::new(spec);
    let cap = qemu::run_console(
        qemu_bin,
        args,
        Duration::from_secs(spec.timeout),
        verbose,
        |transcript, now| script.advance(&without_log_lines(transcript), now),
    )?;
    let mut cases = script.finish(&cap, spec.timeout);
    for e in &spec.expect {
        let name = format!("expect: {e}");
        if cap.lines.iter().any(|l| l.contains(e.as_str())) {
            cases.push(Case::ok(name));
        } else {
            cases.push(Case::fail(name, "not seen on the console"));
        }
    }
    if !verbose && cases.iter().any(|c| c.error.is_some()) {
        print_console(&cap);
    }
    Ok(cases)
}

/// The console without the kernel's log lines (`[   1.234567] source:
/// text` up to its newline). Tasks log through the kernel at any moment —
/// a task starting, a fault — and such a line can land in the middle of the
/// shell echoing what was typed; the script must see only the shell.
pub fn without_log_lines(transcript: &str) -> String {
    let mut out = String::with_capacity(transcript.len());
    let mut rest = transcript;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let is_log = after.split_once(']').is_some_and(|(stamp, tail)| {
            let stamp = stamp.trim();
            stamp.contains('.')
                && stamp.chars().all(|c| c.is_ascii_digit() || c == '.')
                && tail.starts_with(' ')
                && tail
                    .find(':')
                    .is_some_and(|c| c > 1 && !tail[1..c].contains(' '))
        });
        match (is_log, after.find('\n')) {
            (true, Some(nl)) => {
                out.push_str(&rest[..open]);
                rest = &after[nl + 1..];
            }
            // An unfinished log line is hidden until its newline arrives
            // (and then removed whole): shown now and removed later, it
            // would let a step match text inside it ("task blk0 restarted"
            // in the supervisor's "task blk0 restarted as generation 2")
            // and then shift everything after it.
            (true, None) => {
                out.push_str(&rest[..open]);
                rest = "";
                break;
            }
            (false, None) if could_be_log(after) => {
                out.push_str(&rest[..open]);
                rest = "";
                break;
            }
            (false, _) => {
                out.push_str(&rest[..open + 1]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether an unfinished line after `[` may still turn out to be a log
/// line (`[   1.234567] source: text`): a timestamp so far, then perhaps
/// the start of one word.
fn could_be_log(after: &str) -> bool {
    let (stamp, tail) = after.split_once(']').unwrap_or((after, ""));
    let stamp_ok = stamp
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == ' ');
    let tail_ok = tail.is_empty()
        || (tail.starts_with(' ') && !tail[1..].split(':').next().unwrap_or("").contains(' '));
    stamp_ok && tail_ok
}

/// The QEMU command line of a test run. Test images get zeroed disks every
/// run, so no run sees another's data; the boot test of app.toml keeps the
/// user's disk.
fn qemu_args(app: &App, image: &Path, out_dir: &Path, icount: bool) -> Result<Vec<String>> {
    qemu::prepare_drives(app, out_dir, app.test.is_some())?;
    let mut app = app.clone();
    crate::net::resolve_ports(&mut app)?;
    Ok(qemu::command_line(&app, image, out_dir, icount))
}

/// The lines the boot test waits for: the banner and one per started task.
pub fn boot_expectations(app: &App) -> Vec<String> {
    let mut v = vec!["Vireo kernel".to_string()];
    v.extend(
        app.tasks
            .iter()
            .filter(|t| t.start)
            .map(|t| format!("kernel: task {} started", t.name)),
    );
    v
}

/// Judges the boot test's console (pure, so it can be tested).
pub fn evaluate_boot(cap: &Capture, expectations: &[String]) -> Vec<Case> {
    let mut cases = Vec::new();
    for e in expectations {
        let name = format!("`{e}` within {BOOT_LIMIT_S} s");
        let Some(line) = cap.lines.iter().find(|l| l.contains(e.as_str())) else {
            let how = match &cap.end {
                End::TimedOut => format!("not seen in {} s of wall time", BOOT_TIMEOUT.as_secs()),
                End::Exited(code) => format!("not seen before QEMU exited ({code:?})"),
                End::Stopped => "not seen".to_string(),
            };
            cases.push(Case::fail(
                name,
                format!("{how}; last lines: {}", last_lines(&cap.lines)),
            ));
            continue;
        };
        match console::timestamp(line) {
            Some(t) if t < BOOT_LIMIT_S => cases.push(Case::ok(name)),
            Some(t) => cases.push(Case::fail(
                name,
                format!("seen only at {t} s of virtual time: {line}"),
            )),
            None => cases.push(Case::fail(
                name,
                format!("line has no `[ seconds]` timestamp: {line}"),
            )),
        }
    }
    for line in &cap.lines {
        if console::parse(line) == Line::Panic {
            cases.push(Case::fail("no kernel panic", line.trim().to_string()));
        }
    }
    cases
}

fn boot_test(root: &Path, qemu_bin: &Path, verbose: bool) -> Result<Vec<Case>> {
    let built = image::build(root, &image::resolve_app(root, None), verbose)?;
    let expectations = boot_expectations(&built.app);
    let args = qemu_args(&built.app, &built.image, &built.out_dir, true)?;
    let mut pending = expectations.clone();
    let cap = qemu::run_capture(qemu_bin, &args, BOOT_TIMEOUT, verbose, |line| {
        if console::parse(line) == Line::Panic {
            return Watch::StopAfter(PANIC_GRACE);
        }
        pending.retain(|e| !line.contains(e.as_str()));
        if pending.is_empty() {
            Watch::Stop
        } else {
            Watch::Continue
        }
    })?;
    let cases = evaluate_boot(&cap, &expectations);
    if !verbose && cases.iter().any(|c| c.error.is_some()) {
        print_console(&cap);
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::{
        boot_expectations, evaluate_boot, evaluate_test_image, parse_cargo_test, Case, HostResult,
        Script,
    };
    use crate::config::tests::fixture_app;
    use crate::config::{Step, TestSpec};
    use crate::qemu::{Capture, End, Interact};
    use std::time::Duration;

    fn step(send: Option<&str>, expect: Option<&str>) -> Step {
        Step {
            send: send.map(str::to_string),
            expect: expect.map(str::to_string),
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
        t.push_str("fault blk0\n[ 2.0] supervisor: task blk0 faulted: injected; restarting as generation 1\n");
        // Step 2 (no expect) passes at its echo, step 3 finds its text in
        // the same output, step 4 waits for the prompt.
        assert_eq!(s.advance(&t, secs(2)), Interact::Wait);
        t.push_str("task blk0 faulted\nvireo> ");
        assert_eq!(s.advance(&t, secs(3)), Interact::Send("rng 4\n".into()));
        t.push_str("rng 4\n00000000  12 34 56 78  |.4Vx|\nvireo> ");
        assert_eq!(s.advance(&t, secs(3)), Interact::Stop);
        let cap = Capture {
            lines: t.lines().map(str::to_string).collect(),
            end: End::Stopped,
            stderr: String::new(),
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
        let cap = Capture {
            lines: vec![],
            end: End::Stopped,
            stderr: String::new(),
        };
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

    #[test]
    fn console_script_reports_a_missing_prompt_or_echo_and_how_qemu_ended() {
        // No prompt within the default 10 s.
        let spec = console_spec(vec![step(Some("help"), Some("commands"))]);
        let mut s = Script::new(&spec);
        assert_eq!(s.advance("booting\n", secs(10)), Interact::Stop);
        let cap = Capture {
            lines: vec![],
            end: End::Stopped,
            stderr: String::new(),
        };
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

    fn cap(lines: &[&str], end: End) -> Capture {
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
            why.starts_with(
                "timed out after 7 s without `[test] done`; last lines: [  0.01] runner"
            ),
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
            super::without_log_lines(t),
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
            assert_eq!(super::without_log_lines(partial), "vireo> restart blk0\n");
        }
        let done = "vireo> restart blk0\n[   0.080531] supervisor: task blk0 restarted as generation 2\ntask blk0 restarted\nvireo> ";
        assert_eq!(
            super::without_log_lines(done),
            "vireo> restart blk0\ntask blk0 restarted\nvireo> "
        );
        // Shell text with brackets that no log line starts like stays.
        assert_eq!(
            super::without_log_lines("vireo> [test] x"),
            "vireo> [test] x"
        );
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
}
