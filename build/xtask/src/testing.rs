//! `cargo xtask test`: host tests, every QEMU test image, and a boot test of
//! the default image, ending with one line `N passed, N failed`.
//!
//! - Host tests: `cargo test` at the workspace root (its `default-members`);
//!   every `test result:` line is summed.
//! - Test images: every `test/*.toml`, sorted. Each `[test] case` line is a
//!   case, each `expect` string is a case, a `KERNEL PANIC` is a failed case,
//!   and an image that ends without `[test] done` gets one more failed case.
//! - Boot test: `app.toml` under `-icount shift=0`; the banner and every
//!   started task must appear within 2 s of virtual time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::config::App;
use crate::console::{self, Line};
use crate::image;
use crate::link;
use crate::qemu::{self, Capture, End, Watch};

/// One case's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// What was tested.
    pub name: String,
    /// None if it passed, else why not.
    pub error: Option<String>,
}

impl Case {
    fn ok(name: impl Into<String>) -> Case {
        Case {
            name: name.into(),
            error: None,
        }
    }
    fn fail(name: impl Into<String>, why: impl Into<String>) -> Case {
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

/// The boot test, then every test image.
fn qemu_tests(root: &Path, qemu_bin: &Path, verbose: bool, tally: &mut Tally) -> Result<()> {
    println!("boot test (app.toml)");
    let cases = boot_test(root, qemu_bin, verbose)
        .unwrap_or_else(|e| vec![Case::fail("build and boot", format!("{e:#}"))]);
    tally.report("boot", &cases);

    for path in test_images(root)? {
        let label = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!(
            "test image {}",
            path.strip_prefix(root).unwrap_or(&path).display()
        );
        let cases = test_image(root, qemu_bin, &path, verbose)
            .unwrap_or_else(|e| vec![Case::fail("build and run", format!("{e:#}"))]);
        tally.report(&label, &cases);
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
pub fn evaluate_test_image(cap: &Capture, timeout_s: u64, expects: &[String]) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut done = false;
    for line in &cap.lines {
        match console::parse(line) {
            Line::Pass(name) => cases.push(Case::ok(name)),
            Line::Fail(name, why) => cases.push(Case::fail(
                name,
                if why.is_empty() { "failed" } else { why },
            )),
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
    let spec = built.app.test.clone().unwrap_or_default();
    let args = qemu_args(&built.app, &built.image, &built.out_dir, false)?;
    let cap = qemu::run_capture(
        qemu_bin,
        &args,
        Duration::from_secs(spec.timeout),
        verbose,
        |line| match console::parse(line) {
            Line::Done => Watch::Stop,
            Line::Panic => Watch::StopAfter(PANIC_GRACE),
            _ => Watch::Continue,
        },
    )?;
    let cases = evaluate_test_image(&cap, spec.timeout, &spec.expect);
    if !verbose && cases.iter().any(|c| c.error.is_some()) {
        print_console(&cap);
    }
    Ok(cases)
}

fn qemu_args(app: &App, image: &Path, out_dir: &Path, icount: bool) -> Result<Vec<String>> {
    qemu::prepare_drives(app, out_dir)?;
    Ok(qemu::command_line(app, image, out_dir, icount))
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
    };
    use crate::config::tests::fixture_app;
    use crate::qemu::{Capture, End};

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
        let cases = evaluate_test_image(&c, 60, &["Vireo kernel".to_string(), "nope".to_string()]);
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
        let cases = evaluate_test_image(&c, 7, &[]);
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
        let cases = evaluate_test_image(&c, 7, &[]);
        assert_eq!(
            cases,
            vec![Case::fail(
                "[test] done",
                "QEMU exited with status 1 without `[test] done`; last lines: (no console output)"
            )]
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
