//! `cargo xtask campaign --faults N --seed S [--jobs J]`: a long fault
//! campaign, split into QEMU runs of at most [`RUN_FAULTS`] faults.
//!
//! The campaign image is built once; each run gets a copy with its own
//! fault count and seed patched in (the campaign task's
//! `VIREO_CAMPAIGN_PARAMS`, and the seed in each loader's
//! `VIREO_CAMPAIGN_LOADER`), its own fresh disk, and runs under
//! `-icount shift=0,sleep=on` (an instruction a nanosecond of virtual time;
//! idle time at the host's pace, so that QEMU's disk I/O, done in host
//! time, is not jumped over). `J` runs go at once. The runs' reports are summed —
//! recovery percentiles from every fault's own time, not averaged — and
//! written to `target/campaign/report.json`.
//!
//! Run `r`'s seed is derived from the campaign seed (run 0 keeps it), so a
//! problem line's seed and fault index replay it alone:
//! `cargo xtask test --faults 2000 --seed <that seed> --only <index>`.

use std::collections::VecDeque;
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use crate::campaign::{self, Summary};
use crate::qemu::{self, Watch};
use crate::{console, image};

/// Faults per QEMU run: the campaign task's table of recovery times.
pub const RUN_FAULTS: u32 = 2000;
/// The words the campaign task puts before its parameters in the image
/// ("VIRE", "CMCP").
const PARAMS_MAGIC: [u32; 2] = [0x4552_4956, 0x5043_4d43];
/// The words each loader (`fault-test-loader`) puts before the campaign
/// seed it derives its sector choices from ("VIRE", "LOAD").
const LOADER_MAGIC: [u32; 2] = [0x4552_4956, 0x4441_4f4c];

/// One QEMU run of a split campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Run {
    /// Its number, from 0.
    pub index: u32,
    /// Faults it injects.
    pub faults: u32,
    /// Its seed.
    pub seed: u64,
}

/// The seed of run `run` of a campaign of seed `seed`: the seed itself for
/// run 0, then a splitmix64 of both, so every run differs and the split is
/// reproducible.
pub fn run_seed(seed: u64, run: u32) -> u64 {
    if run == 0 {
        return seed;
    }
    let mut z = seed.wrapping_add(u64::from(run).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Splits `faults` into runs of at most [`RUN_FAULTS`].
pub fn split(faults: u32, seed: u64) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut left = faults;
    while left > 0 {
        let n = left.min(RUN_FAULTS);
        let index = runs.len() as u32;
        runs.push(Run {
            index,
            faults: n,
            seed: run_seed(seed, index),
        });
        left -= n;
    }
    runs
}

/// A copy of the packed campaign image with `faults`, `seed` and `only`
/// written over the parameters it was built with.
pub fn patch_params(image: &[u8], faults: u32, seed: u64, only: Option<u32>) -> Result<Vec<u8>> {
    let magic: Vec<u8> = PARAMS_MAGIC.iter().flat_map(|w| w.to_le_bytes()).collect();
    let at: Vec<usize> = image
        .windows(magic.len())
        .enumerate()
        .filter(|(_, w)| *w == magic.as_slice())
        .map(|(i, _)| i)
        .collect();
    let [at] = at[..] else {
        bail!(
            "the campaign image holds its parameters' magic words {} times, not once: \
             is it the campaign image (fault-test with feature `campaign`)?",
            at.len()
        );
    };
    let words = [
        faults,
        seed as u32,
        (seed >> 32) as u32,
        only.unwrap_or(u32::MAX),
    ];
    let mut out = image.to_vec();
    let start = at + magic.len();
    let end = start + 4 * words.len();
    if end > out.len() {
        bail!("the campaign image ends inside its parameters");
    }
    for (i, w) in words.iter().enumerate() {
        out[start + 4 * i..start + 4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    patch_loaders(&mut out, seed)?;
    Ok(out)
}

/// Writes `seed` into every loader's seed block (after
/// [`LOADER_MAGIC`]): the loaders derive their sector choices from the
/// run's seed, as the campaign task its faults.
fn patch_loaders(image: &mut [u8], seed: u64) -> Result<()> {
    let magic: Vec<u8> = LOADER_MAGIC.iter().flat_map(|w| w.to_le_bytes()).collect();
    let at: Vec<usize> = image
        .windows(magic.len())
        .enumerate()
        .filter(|(_, w)| *w == magic.as_slice())
        .map(|(i, _)| i + magic.len())
        .collect();
    if at.is_empty() {
        bail!(
            "the campaign image holds no loader seed block (magic words \"VIRE\" \"LOAD\" of \
             `fault-test-loader`): its loaders would not follow the runs' seeds"
        );
    }
    for start in at {
        let Some(block) = image.get_mut(start..start + 8) else {
            bail!("the campaign image ends inside a loader's seed block");
        };
        block[..4].copy_from_slice(&(seed as u32).to_le_bytes());
        block[4..].copy_from_slice(&((seed >> 32) as u32).to_le_bytes());
    }
    Ok(())
}

/// What one run produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunResult {
    /// The run.
    pub run: Run,
    /// Its report.
    pub summary: Summary,
    /// Every recovered fault's recovery time, virtual µs.
    #[serde(skip)]
    pub recovery_us: Vec<u64>,
    /// Host time it took, seconds.
    pub host_seconds: f64,
}

/// The recovery time on a `[campaign] done K us N` line (`None` for an
/// unrecovered fault, -1, or another line).
pub fn recovery_of(line: &str) -> Option<u64> {
    let rest = line.split_once("[campaign] done ")?.1;
    let mut w = rest.split_whitespace();
    w.next()?;
    (w.next()? == "us").then_some(())?;
    w.next()?.parse().ok()
}

/// Min, median, p99 and max of `times` (sorted here).
pub fn percentiles(times: &mut [u64]) -> Option<[u64; 4]> {
    times.sort_unstable();
    let n = times.len();
    if n == 0 {
        return None;
    }
    Some([
        times[0],
        times[n / 2],
        times[(n * 99 / 100).min(n - 1)],
        times[n - 1],
    ])
}

/// The sum of the runs' reports.
pub fn total(results: &[RunResult]) -> Summary {
    let mut t = Summary::default();
    let add = |a: &mut Option<u64>, b: Option<u64>| {
        if let Some(b) = b {
            *a = Some(a.unwrap_or(0) + b);
        }
    };
    for r in results {
        let s = &r.summary;
        for (kind, n) in &s.injected {
            match t.injected.iter_mut().find(|(k, _)| k == kind) {
                Some((_, m)) => *m += n,
                None => t.injected.push((kind.clone(), *n)),
            }
        }
        add(&mut t.confirmed, s.confirmed);
        add(&mut t.latent, s.latent);
        add(&mut t.unconfirmed, s.unconfirmed);
        add(&mut t.must_restart, s.must_restart);
        add(&mut t.restarts, s.restarts);
        add(&mut t.in_flight, s.in_flight);
        add(&mut t.lost_or_corrupted, s.lost_or_corrupted);
        add(&mut t.wrong_answers, s.wrong_answers);
        add(&mut t.unrecovered, s.unrecovered);
        add(&mut t.operator_restarts, s.operator_restarts);
        add(&mut t.before_kick, s.before_kick);
        add(&mut t.before_reply, s.before_reply);
        t.clock_deadlines += s.clock_deadlines;
        t.kernel_failures += s.kernel_failures;
        t.hangs += s.hangs;
        t.problems.extend(s.problems.iter().map(|p| {
            format!(
                "run {} (seed {}): {p} (console: target/campaign/run-{}/console.log)",
                r.run.index, r.run.seed, r.run.index
            )
        }));
    }
    // The loaders' seeds are each run's own: named on each run's line
    // (and in report.json's runs); the total names them for one run.
    if let [one] = results {
        t.loader_seeds = one.summary.loader_seeds.clone();
    }
    let mut all: Vec<u64> = results.iter().flat_map(|r| r.recovery_us.clone()).collect();
    t.recovery_us = percentiles(&mut all);
    t
}

/// Whether a report shows nothing wrong.
pub fn clean(s: &Summary) -> bool {
    let zero = |v: Option<u64>| v == Some(0);
    s.kernel_failures == 0
        && s.hangs == 0
        && s.problems.is_empty()
        && zero(s.lost_or_corrupted)
        && zero(s.wrong_answers)
        && zero(s.unrecovered)
        && zero(s.unconfirmed)
        && s.restarts.unwrap_or(0) >= s.must_restart.unwrap_or(u64::MAX)
}

/// The whole report, as `target/campaign/report.json` holds it.
#[derive(serde::Serialize)]
struct Report<'a> {
    faults: u32,
    seed: u64,
    jobs: usize,
    host_seconds: f64,
    faults_per_host_second: f64,
    total: &'a Summary,
    runs: &'a [RunResult],
}

/// Runs the campaign and prints the summed report; true if it is clean.
pub fn run(root: &Path, faults: u32, seed: u64, jobs: usize, verbose: bool) -> Result<bool> {
    let (report, _) = run_campaign(root, faults, seed, jobs, verbose)?;
    Ok(clean(&report))
}

/// Runs the campaign; returns the summed report and its faults per host
/// second.
pub fn run_campaign(
    root: &Path,
    faults: u32,
    seed: u64,
    jobs: usize,
    verbose: bool,
) -> Result<(Summary, f64)> {
    if faults == 0 {
        bail!("--faults must be at least 1");
    }
    let qemu_bin = qemu::ensure_installed()?;
    let built = image::build(root, &root.join(campaign::APP), verbose)?;
    let base = std::fs::read(&built.image)
        .with_context(|| format!("cannot read {}", built.image.display()))?;
    let dir = root.join("target/campaign");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let runs = split(faults, seed);
    let jobs = jobs.clamp(1, runs.len());
    println!(
        "fault campaign: {faults} faults, seed {seed}: {} run(s) of at most {RUN_FAULTS}, {jobs} at once",
        runs.len()
    );

    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(u64::from(faults));
        let style = ProgressStyle::with_template(
            "{bar:30} {pos}/{len} faults  {per_sec}  ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    } else {
        ProgressBar::hidden()
    };
    let start = Instant::now();
    let queue = Arc::new(Mutex::new(runs.iter().copied().collect::<VecDeque<Run>>()));
    let results = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let queue = Arc::clone(&queue);
            let results = Arc::clone(&results);
            let errors = Arc::clone(&errors);
            let (bar, base, built, dir, qemu_bin) = (&bar, &base, &built, &dir, &qemu_bin);
            let next = move || queue.lock().ok().and_then(|mut q| q.pop_front());
            scope.spawn(move || {
                while let Some(run) = next() {
                    match one_run(qemu_bin, built, base, dir, run, bar) {
                        Ok(r) => {
                            let done = start.elapsed().as_secs_f64();
                            let line = format!(
                                "run {} (seed {}, loaders {}): {} faults in {:.0} s{}",
                                run.index,
                                run.seed,
                                r.summary.loader_seeds.join("; "),
                                run.faults,
                                r.host_seconds,
                                if clean(&r.summary) {
                                    ""
                                } else {
                                    ", with problems"
                                }
                            );
                            if bar.is_hidden() {
                                eprintln!("{line} ({done:.0} s since the start)");
                            } else {
                                bar.println(line);
                            }
                            if let Ok(mut v) = results.lock() {
                                v.push(r);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut v) = errors.lock() {
                                v.push(format!("run {} (seed {}): {e:#}", run.index, run.seed));
                            }
                        }
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    let host_seconds = start.elapsed().as_secs_f64();
    let errors = std::mem::take(&mut *errors.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    let mut results =
        std::mem::take(&mut *results.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    results.sort_by_key(|r| r.run.index);
    let summary = total(&results);
    let rate = f64::from(faults) / host_seconds.max(1e-9);
    campaign::print(&summary, faults, seed);
    println!("  host time: {host_seconds:.1} s, {rate:.1} faults per host second ({jobs} job(s))");
    let report = Report {
        faults,
        seed,
        jobs,
        host_seconds,
        faults_per_host_second: rate,
        total: &summary,
        runs: &results,
    };
    let path = dir.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("  report: {}", path.display());
    Ok((summary, rate))
}

/// One run: its image and disk in `target/campaign/run-<n>/`, QEMU under
/// icount, the report read from the console.
fn one_run(
    qemu_bin: &Path,
    built: &image::Built,
    base: &[u8],
    dir: &Path,
    run: Run,
    bar: &ProgressBar,
) -> Result<RunResult> {
    let run_dir = dir.join(format!("run-{}", run.index));
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let image = run_dir.join("image.elf");
    std::fs::write(&image, patch_params(base, run.faults, run.seed, None)?)
        .with_context(|| format!("cannot write {}", image.display()))?;
    qemu::prepare_drives(&built.app, &run_dir, true)?;
    let mut args = qemu::command_line(&built.app, &image, &run_dir, false);
    // test/campaign.toml asks for it itself (so `cargo xtask test` runs the
    // image the same way); a campaign runs under it whatever the file says.
    if !args.iter().any(|a| a == "-icount") {
        args.extend(["-icount".to_string(), "shift=0,sleep=on".to_string()]);
    }
    let start = Instant::now();
    // Generous: a run that takes longer has hung.
    let timeout = Duration::from_secs(120 + u64::from(run.faults));
    let cap = qemu::run_capture(qemu_bin, &args, timeout, false, |line| {
        if line.contains("[campaign] done ") {
            bar.inc(1);
        }
        match console::parse(line) {
            console::Line::Done => Watch::Stop,
            console::Line::Panic => Watch::StopAfter(Duration::from_secs(2)),
            _ => Watch::Continue,
        }
    })?;
    // The run's console, kept for a problem's post-mortem: the lines before
    // a PROBLEM name the fault that preceded it (index, kind, target).
    let log = run_dir.join("console.log");
    let mut text = cap.lines.join("\n");
    text.push('\n');
    std::fs::write(&log, text).with_context(|| format!("cannot write {}", log.display()))?;
    let summary = campaign::summarize(&cap);
    let recovery_us = cap.lines.iter().filter_map(|l| recovery_of(l)).collect();
    Ok(RunResult {
        run,
        summary,
        recovery_us,
        host_seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaigns_split_into_runs_of_at_most_2000_with_distinct_seeds() {
        let runs = split(4500, 9);
        assert_eq!(
            runs.iter().map(|r| r.faults).collect::<Vec<_>>(),
            [2000, 2000, 500]
        );
        assert_eq!(runs[0].seed, 9);
        assert!(runs[1].seed != runs[2].seed && runs[1].seed != 9);
        assert_eq!(split(4500, 9), runs);
        assert!(split(0, 1).is_empty());
    }

    #[test]
    fn parameters_are_patched_after_their_magic_words_once() {
        let mut image = vec![0xaau8; 64];
        image[20..24].copy_from_slice(&PARAMS_MAGIC[0].to_le_bytes());
        image[24..28].copy_from_slice(&PARAMS_MAGIC[1].to_le_bytes());
        // A loader's seed block, which the campaign image always holds.
        image[0..4].copy_from_slice(&LOADER_MAGIC[0].to_le_bytes());
        image[4..8].copy_from_slice(&LOADER_MAGIC[1].to_le_bytes());
        let out = patch_params(&image, 1234, 0x1_0000_0002, Some(7)).unwrap();
        let word = |i: usize| u32::from_le_bytes(out[i..i + 4].try_into().unwrap());
        assert_eq!([word(28), word(32), word(36), word(40)], [1234, 2, 1, 7]);
        assert_eq!(&out[16..20], &image[16..20]);
        assert_eq!(&out[44..], &image[44..]);
        // Twice (or never) is refused: it would patch the wrong place.
        let mut twice = image.clone();
        twice[44..52].copy_from_slice(&image[20..28]);
        assert!(patch_params(&twice, 1, 1, None).is_err());
        assert!(patch_params(&[0u8; 64], 1, 1, None).is_err());
    }

    /// The loaders (`fault-test-loader`) derive their sector choices from
    /// the run's seed: every copy of their seed block gets it, or each run
    /// of a split campaign would replay the build's loader choices.
    #[test]
    fn the_loaders_seed_is_patched_with_the_run_seed() {
        let mut image = vec![0xaau8; 96];
        image[20..24].copy_from_slice(&PARAMS_MAGIC[0].to_le_bytes());
        image[24..28].copy_from_slice(&PARAMS_MAGIC[1].to_le_bytes());
        for at in [48, 72] {
            image[at..at + 4].copy_from_slice(&LOADER_MAGIC[0].to_le_bytes());
            image[at + 4..at + 8].copy_from_slice(&LOADER_MAGIC[1].to_le_bytes());
        }
        let out = patch_params(&image, 1234, 0x1_0000_0002, None).unwrap();
        let word = |i: usize| u32::from_le_bytes(out[i..i + 4].try_into().unwrap());
        for at in [48, 72] {
            assert_eq!(
                [word(at + 8), word(at + 12)],
                [2, 1],
                "loader block at {at}"
            );
            assert_eq!(out[at..at + 8], image[at..at + 8]);
        }
        assert_eq!(out[64..72], image[64..72]);
        assert_eq!(out[88..], image[88..]);
        // An image without loaders is refused: its loaders would not follow.
        image[48..52].fill(0);
        image[72..76].fill(0);
        let err = patch_params(&image, 1, 1, None).unwrap_err().to_string();
        assert!(err.contains("loader"), "{err}");
    }

    #[test]
    fn reports_sum_and_percentiles_come_from_every_fault() {
        let run = |index, times: Vec<u64>, confirmed| RunResult {
            run: Run {
                index,
                faults: times.len() as u32,
                seed: index.into(),
            },
            summary: Summary {
                injected: vec![("panic".into(), times.len() as u64)],
                confirmed: Some(confirmed),
                unconfirmed: Some(0),
                must_restart: Some(confirmed),
                restarts: Some(confirmed),
                lost_or_corrupted: Some(0),
                wrong_answers: Some(0),
                unrecovered: Some(0),
                ..Summary::default()
            },
            recovery_us: times,
            host_seconds: 1.0,
        };
        let results = [run(0, vec![5, 1, 3], 3), run(1, (10..=110).collect(), 101)];
        let t = total(&results);
        assert_eq!(t.injected, [("panic".to_string(), 104)]);
        assert_eq!(t.confirmed, Some(104));
        assert_eq!(t.recovery_us, Some([1, 59, 109, 110]));
        assert!(clean(&t));
        let mut hung = results[1].clone();
        hung.summary.hangs = 1;
        hung.summary.problems.push("hung in fault 17".into());
        let t = total(&[results[0].clone(), hung]);
        assert!(!clean(&t));
        assert_eq!(
            t.problems,
            ["run 1 (seed 1): hung in fault 17 (console: target/campaign/run-1/console.log)"]
        );
    }

    #[test]
    fn recovery_lines_are_read() {
        assert_eq!(
            recovery_of("[ 1.0] suite: [campaign] done 12 us 345"),
            Some(345)
        );
        assert_eq!(recovery_of("[ 1.0] suite: [campaign] done 12 us -1"), None);
    }
}
