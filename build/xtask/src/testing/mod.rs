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
mod lookout;
mod script;
pub use script::{lines_containing, LineCounts};
#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

use crate::campaign;
use crate::image::{Built, Lane};
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

/// Runs everything, the network checks' data drawn under `net_seed`
/// (`--net-seed`); returns whether all passed (and something ran).
pub fn run(root: &Path, net_seed: u64, verbose: bool) -> Result<bool> {
    let mut tally = Tally::default();

    println!("host tests (cargo test)");
    host::host_tests(root, verbose, &mut tally)?;
    host::api_docs(root, verbose, &mut tally);

    let boot_app = crate::image::resolve_app(root, None);
    // app.toml's image and disk are the ones `cargo xtask run` uses: held
    // from its build to the end of its boot test.
    let boot_lock = crate::image::load_app(root, &boot_app)
        .and_then(|app| qemu::lock_image(&root.join("target").join(&app.name), &app.name));
    let examples = app_files(&root.join("examples"))?;
    let images: Vec<PathBuf> = app_files(&root.join("test"))?
        .into_iter()
        .chain(examples)
        .collect();
    let benches = app_files(&root.join(crate::bench::BENCH_DIR))?;
    let mut all = vec![boot_app.clone()];
    all.extend(images.iter().cloned());
    all.extend(benches.iter().cloned());
    let mut built = match &boot_lock {
        Ok(_) => prebuild(root, &all, verbose),
        // The boot test says why; the others are built as they come.
        Err(_) => prebuild(root, &all[1..], verbose),
    };

    match qemu::ensure_installed() {
        Ok(qemu_bin) => {
            println!("boot test (app.toml)");
            let cases = match boot_lock {
                Ok(_lock) => boot::boot_test(root, &qemu_bin, verbose, built.remove(&boot_app)),
                Err(e) => Err(e),
            }
            .unwrap_or_else(|e| vec![Case::fail("build and boot", format!("{e:#}"))]);
            tally.report("boot", &cases);
            // The README's examples too, so that what it tells users to
            // write keeps building and working.
            run_built(
                root, &qemu_bin, &images, &mut built, net_seed, verbose, &mut tally,
            );
        }
        Err(e) => tally.report("qemu", &[Case::fail("find QEMU", format!("{e:#}"))]),
    }
    bench_builds(root, &benches, &mut built, &mut tally);

    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(tally.failed == 0 && tally.passed > 0)
}

/// Images built before any is run, keyed by app file.
type Prebuilt = HashMap<PathBuf, Result<Built>>;

/// Builds `images` before any runs, in as many lanes as the machine has
/// cores (two at most; one with `verbose`, whose cargo output would
/// interleave). A task's link is one single-threaded rustc (LTO, one
/// codegen unit), so one build at a time left a core idle for most of a
/// CI run; each lane has a target dir of its own
/// ([`crate::image::Lane`]). The runs then come one at a time, on a
/// machine no build is loading: some tests measure CPU shares. The
/// largest images go first, so that no lane is left with one at the end.
fn prebuild(root: &Path, images: &[PathBuf], verbose: bool) -> Prebuilt {
    let lanes = if verbose {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
    };
    if crate::setup::ensure_target(root).is_err() {
        // Each build says so.
        return Prebuilt::new();
    }
    let size = |p: &PathBuf| crate::image::load_app(root, p).map_or(usize::MAX, |a| a.tasks.len());
    let mut queue: Vec<&PathBuf> = images.iter().collect();
    queue.sort_by_key(|p| std::cmp::Reverse(size(p)));
    println!("building {} images, {lanes} at a time", queue.len());
    let queue = Mutex::new(queue.into_iter());
    let results = Mutex::new(Prebuilt::new());
    let target = crate::process::cargo_target_dir(root);
    std::thread::scope(|s| {
        for n in 0..lanes {
            let lane = Lane {
                target_dir: if n == 0 {
                    target.clone()
                } else {
                    target.join(format!("build-lane-{}", n + 1))
                },
                label: None,
            };
            let (queue, results) = (&queue, &results);
            // The queue's lock is taken in the closure, so that it is let
            // go before the build (a guard in `while let`'s scrutinee
            // would live through the loop's body).
            let next = move || queue.lock().ok().and_then(|mut q| q.next());
            s.spawn(move || {
                while let Some(path) = next() {
                    let lane = Lane {
                        label: (lanes > 1).then(|| {
                            path.strip_prefix(root)
                                .unwrap_or(path)
                                .display()
                                .to_string()
                        }),
                        ..lane.clone()
                    };
                    let built = crate::image::build_in(
                        root,
                        path,
                        &campaign::Params::default(),
                        verbose,
                        &lane,
                    );
                    if let Ok(mut r) = results.lock() {
                        r.insert(path.clone(), built);
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_default()
}

/// Reports every bench image's build (`cargo xtask bench` runs them; this
/// does not), one case each, so that the benchmarks keep building within
/// their budgets: the kernel's task records grew, and
/// `bench/scale-64-tasks.toml` went over its kernel RAM with nothing
/// noticing until the bench was run.
fn bench_builds(root: &Path, benches: &[PathBuf], built: &mut Prebuilt, tally: &mut Tally) {
    println!("bench images (built, not run)");
    for path in benches {
        let name = format!(
            "{} builds",
            path.strip_prefix(root).unwrap_or(path).display()
        );
        let result = match built.remove(path) {
            Some(result) => result,
            None => crate::image::build(root, path, false),
        };
        let case = match result {
            Ok(_) => Case::ok(name),
            Err(e) => Case::fail(name, format!("{e:#}")),
        };
        tally.report("bench", &[case]);
    }
}

/// Runs only the named test images (no host tests, no boot test), the
/// network checks' data drawn under `net_seed`.
pub fn run_images(root: &Path, images: &[PathBuf], net_seed: u64, verbose: bool) -> Result<bool> {
    let mut tally = Tally::default();
    let qemu_bin = qemu::ensure_installed()?;
    let paths: Vec<PathBuf> = images
        .iter()
        .map(|p| crate::image::resolve_app(root, Some(p)))
        .collect();
    let mut built = if paths.len() > 1 {
        prebuild(root, &paths, verbose)
    } else {
        Prebuilt::new()
    };
    run_built(
        root, &qemu_bin, &paths, &mut built, net_seed, verbose, &mut tally,
    );
    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(tally.failed == 0 && tally.passed > 0)
}

/// Runs each test image at `paths` in turn, as `built` has it or built
/// now.
fn run_built(
    root: &Path,
    qemu_bin: &Path,
    paths: &[PathBuf],
    built: &mut Prebuilt,
    net_seed: u64,
    verbose: bool,
    tally: &mut Tally,
) {
    for path in paths {
        let prebuilt = built.remove(path);
        run_one_image(
            root,
            qemu_bin,
            path,
            &campaign::Params::default(),
            net_seed,
            verbose,
            tally,
            prebuilt,
        );
    }
}

/// `--faults N --seed S`: builds the campaign image for that size and
/// seed, runs it, and prints its report. Its checks are cases as usual,
/// plus "no kernel failures" and "no client hangs".
pub fn run_campaign(root: &Path, params: &campaign::Params, verbose: bool) -> Result<bool> {
    let mut tally = Tally::default();
    let qemu_bin = qemu::ensure_installed()?;
    let path = root.join(campaign::APP);
    let net_seed = crate::nettest::DEFAULT_SEED;
    run_one_image(
        root, &qemu_bin, &path, params, net_seed, verbose, &mut tally, None,
    );
    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(tally.failed == 0 && tally.passed > 0)
}

/// Builds (unless `prebuilt`) and runs one test image and reports its
/// cases. `params`: the parameters the campaign image is built with, if
/// this is it; `net_seed`: the network checks' seed.
#[allow(clippy::too_many_arguments)]
fn run_one_image(
    root: &Path,
    qemu_bin: &Path,
    path: &Path,
    params: &campaign::Params,
    net_seed: u64,
    verbose: bool,
    tally: &mut Tally,
    prebuilt: Option<Result<Built>>,
) {
    let label = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    println!(
        "test image {}",
        path.strip_prefix(root).unwrap_or(path).display()
    );
    let cases = image::test_image(root, qemu_bin, path, params, net_seed, verbose, prebuilt)
        .unwrap_or_else(|e| vec![Case::fail("build and run", format!("{e:#}"))]);
    tally.report(&label, &cases);
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
