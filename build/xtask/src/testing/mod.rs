//! `cargo xtask test`: host tests, every QEMU test image, and a boot test of
//! the default image, ending with one line `N passed, N failed`.
//!
//! One module per part of a run:
//! - [`host`]: `cargo test` at the workspace root (its `default-members`);
//!   every `test result:` line is summed.
//! - [`image`]: every `test/*.toml`, sorted, then every
//!   `examples/*.toml`, and the judge of a test (and bench) image's
//!   console. Each `[test] case` line is a case, each `expect` string is a
//!   case, a `KERNEL PANIC` is a failed case, and an image that ends
//!   without `[test] done` gets one more failed case.
//! - [`script`]: console test images (`kind = "console"`): a person's
//!   session, scripted. Each `[[test.steps]]` line is typed on QEMU's stdin
//!   once the prompt has appeared, and is a case that passes when its
//!   `expect` text appears after the line's echo within the step's timeout.
//! - [`boot`]: `app.toml` under `-icount shift=0`; the banner and every
//!   started task must appear within 2 s of virtual time.
//!
//! The fault campaign's own cases and parameters are in `crate::campaign`.

mod boot;
mod host;
pub mod image;
mod script;
pub use script::lines_containing;
#[cfg(test)]
pub(crate) mod tests;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::campaign;
use crate::qemu;

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
    /// Passed if `held`, else failed with `why`.
    pub fn check(name: impl Into<String>, held: bool, why: &str) -> Case {
        if held {
            Case::ok(name)
        } else {
            Case::fail(name, why)
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

/// Runs everything; returns whether all passed (and something ran).
pub fn run(root: &Path, verbose: bool) -> Result<bool> {
    let mut tally = Tally::default();

    println!("host tests (cargo test)");
    host::host_tests(root, verbose, &mut tally)?;
    host::api_docs(root, verbose, &mut tally);

    match qemu::ensure_installed() {
        Ok(qemu_bin) => qemu_tests(root, &qemu_bin, verbose, &mut tally)?,
        Err(e) => tally.report("qemu", &[Case::fail("find QEMU", format!("{e:#}"))]),
    }
    bench_builds(root, verbose, &mut tally)?;

    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(tally.failed == 0 && tally.passed > 0)
}

/// Builds every bench image (`cargo xtask bench` runs them; this does
/// not), one case each, so that the benchmarks keep building within their
/// budgets: the kernel's task records grew, and `bench/scale-64-tasks.toml`
/// went over its kernel RAM with nothing noticing until the bench was run.
fn bench_builds(root: &Path, verbose: bool, tally: &mut Tally) -> Result<()> {
    println!("bench images (built, not run)");
    for path in app_files(&root.join(crate::bench::BENCH_DIR))? {
        let name = format!(
            "{} builds",
            path.strip_prefix(root).unwrap_or(&path).display()
        );
        let case = match crate::image::build(root, &path, verbose) {
            Ok(_) => Case::ok(name),
            Err(e) => Case::fail(name, format!("{e:#}")),
        };
        tally.report("bench", &[case]);
    }
    Ok(())
}

/// Runs only the named test images (no host tests, no boot test).
pub fn run_images(root: &Path, images: &[PathBuf], verbose: bool) -> Result<bool> {
    let mut tally = Tally::default();
    let qemu_bin = qemu::ensure_installed()?;
    for path in images {
        let path = crate::image::resolve_app(root, Some(path));
        run_one_image(
            root,
            &qemu_bin,
            &path,
            &campaign::Params::default(),
            verbose,
            &mut tally,
        );
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(tally.failed == 0 && tally.passed > 0)
}

/// `--faults N --seed S`: builds the campaign image for that size and
/// seed, runs it, and prints its report. Its checks are cases as usual,
/// plus "no kernel failures" and "no client hangs".
pub fn run_campaign(root: &Path, params: &campaign::Params, verbose: bool) -> Result<bool> {
    let mut tally = Tally::default();
    let qemu_bin = qemu::ensure_installed()?;
    let path = root.join(campaign::APP);
    run_one_image(root, &qemu_bin, &path, params, verbose, &mut tally);
    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(tally.failed == 0 && tally.passed > 0)
}

/// Builds and runs one test image and reports its cases. `params`: the
/// parameters the campaign image is built with, if this is it.
fn run_one_image(
    root: &Path,
    qemu_bin: &Path,
    path: &Path,
    params: &campaign::Params,
    verbose: bool,
    tally: &mut Tally,
) {
    let label = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    println!(
        "test image {}",
        path.strip_prefix(root).unwrap_or(path).display()
    );
    let cases = image::test_image(root, qemu_bin, path, params, verbose)
        .unwrap_or_else(|e| vec![Case::fail("build and run", format!("{e:#}"))]);
    tally.report(&label, &cases);
}

/// The boot test, then every test image, then every example image.
fn qemu_tests(root: &Path, qemu_bin: &Path, verbose: bool, tally: &mut Tally) -> Result<()> {
    println!("boot test (app.toml)");
    let cases = boot::boot_test(root, qemu_bin, verbose)
        .unwrap_or_else(|e| vec![Case::fail("build and boot", format!("{e:#}"))]);
    tally.report("boot", &cases);

    // The README's examples too, so that what it tells users to write keeps
    // building and working.
    let examples = app_files(&root.join("examples"))?;
    for path in app_files(&root.join("test"))?.into_iter().chain(examples) {
        run_one_image(
            root,
            qemu_bin,
            &path,
            &campaign::Params::default(),
            verbose,
            tally,
        );
    }
    Ok(())
}

/// The app files (`*.toml`) directly in `dir`, sorted; none if there is no
/// such directory. The crates of the images sit in its subfolders.
pub fn app_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}
