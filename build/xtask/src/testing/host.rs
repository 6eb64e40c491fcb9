//! The host part of `cargo xtask test`: `cargo test` at the workspace root,
//! its output parsed into one case per test; and the API crates' docs,
//! built with warnings denied.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use super::{Case, Tally};
use crate::process;

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

/// Parses `cargo test` output (stdout and stderr merged).
pub fn parse_cargo_test(output: &str) -> Vec<HostResult> {
    let mut results = Vec::new();
    let mut binary = String::from("(unknown)");
    let mut failures = Vec::new();
    for line in output.lines() {
        let line = crate::process::strip_ansi(line);
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

/// Runs `cargo test` and reports every test binary's results.
pub fn host_tests(root: &Path, verbose: bool, tally: &mut Tally) -> Result<()> {
    let mut cmd = Command::new(process::cargo());
    cmd.arg("test").current_dir(root);
    // Captured even with `verbose`, so the result lines can be parsed.
    let (output, ok) = match process::run_captured(&mut cmd, false) {
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

/// The crates tasks, drivers and tools are written against: their docs must
/// build without a warning (every public item documented, every link
/// resolving to an item that exists in the build documented).
pub const API_CRATES: [&str; 13] = [
    "abi",
    "block-api",
    "entropy-api",
    "ethernet-api",
    "fault-inject",
    "idol-runtime",
    "net-api",
    "ringbuf",
    "supervisor-api",
    "supervisor-core",
    "userlib",
    "virtio",
    "virtio-bus-api",
];

/// Runs `cargo doc` over [`API_CRATES`] with warnings denied, as one case.
pub fn api_docs(root: &Path, verbose: bool, tally: &mut Tally) {
    let mut cmd = Command::new(process::cargo());
    cmd.args(["doc", "--no-deps"])
        .current_dir(root)
        .env("RUSTDOCFLAGS", "-D warnings");
    for c in API_CRATES {
        cmd.args(["-p", c]);
    }
    let name = format!("docs of the {} API crates", API_CRATES.len());
    let case = match process::run_captured(&mut cmd, verbose) {
        Ok(_) => Case::ok(name),
        Err(e) => Case::fail(name, format!("`cargo doc` with warnings denied: {e:#}")),
    };
    tally.report("host", &[case]);
}
