//! `cargo xtask mutants`: mutation testing of the host-testable crates.
//!
//! cargo-mutants changes one thing in the code at a time (a `<` into `<=`,
//! a function body into `Default::default()`…) and runs the tests; a mutant
//! that no test notices ("missed") is behaviour nothing pins down. This
//! module decides which crates are mutated and whose tests judge them
//! ([`GROUPS`]), runs cargo-mutants once per crate into
//! `target/mutants/<crate>/`, and reads its `outcomes.json` back into a
//! per-file table. What may be skipped is in `.cargo/mutants.toml`, each
//! exclusion with its reason.
//!
//! Too slow for CI (the kernel alone is several hundred mutants): a person
//! runs it and the README records the scores.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::process;

/// A crate to mutate, the test packages whose tests judge it, and the score
/// it must reach (caught ÷ (caught + missed), in percent).
#[derive(Debug)]
pub struct Group {
    /// Package to mutate.
    pub package: &'static str,
    /// Packages whose tests run against each mutant: the crate's own and
    /// those of the crates built on it, which exercise it the way it is
    /// really used.
    pub tests: &'static [&'static str],
    /// Lowest acceptable score, percent.
    pub target: f64,
}

/// Every host-testable crate, in the order they are run.
pub const GROUPS: &[Group] = &[
    Group {
        package: "supervisor-core",
        tests: &["supervisor-core"],
        target: 95.0,
    },
    Group {
        package: "virtio-bus",
        tests: &["virtio-bus"],
        target: 95.0,
    },
    Group {
        package: "idol-runtime",
        tests: &["idol-runtime", "idol", "virtio-blk", "virtio-rng"],
        target: 95.0,
    },
    Group {
        package: "virtio",
        tests: &["virtio", "virtio-blk", "virtio-rng", "virtio-net"],
        target: 95.0,
    },
    Group {
        package: "kern",
        tests: &["kern"],
        target: 98.0,
    },
    Group {
        package: "abi",
        tests: &["abi", "kern"],
        target: 0.0,
    },
    Group {
        package: "ringbuf",
        tests: &["ringbuf"],
        target: 0.0,
    },
    Group {
        package: "virtio-blk",
        tests: &["virtio-blk"],
        target: 0.0,
    },
    Group {
        package: "virtio-rng",
        tests: &["virtio-rng"],
        target: 0.0,
    },
    Group {
        package: "fault-workload",
        tests: &["fault-workload"],
        target: 0.0,
    },
    Group {
        package: "task-net",
        tests: &["task-net"],
        target: 95.0,
    },
    Group {
        package: "task-http",
        tests: &["task-http"],
        target: 0.0,
    },
    Group {
        package: "task-echo",
        tests: &["task-echo"],
        target: 0.0,
    },
    Group {
        package: "task-shell",
        tests: &["task-shell"],
        target: 0.0,
    },
];

/// Options from the command line.
pub struct Options {
    /// Crates to mutate (empty: every group).
    pub crates: Vec<String>,
    /// Parallel build/test jobs for cargo-mutants.
    pub jobs: Option<usize>,
    /// Only files matching these globs (cargo-mutants `--file`).
    pub files: Vec<String>,
    /// Pass cargo-mutants' output through.
    pub verbose: bool,
}

/// Runs cargo-mutants over the chosen crates and prints the table. `Ok(false)`
/// when a crate scores below its target.
pub fn run(root: &Path, opts: &Options) -> Result<bool> {
    let groups = select(&opts.crates)?;
    ensure_installed()?;
    let out_root = process::cargo_target_dir(root).join("mutants");
    let mut tables = Vec::new();
    for (i, &group) in groups.iter().enumerate() {
        eprintln!(
            "[{}/{}] mutating {} (tests: {})",
            i + 1,
            groups.len(),
            group.package,
            group.tests.join(", ")
        );
        let out = out_root.join(group.package);
        std::fs::create_dir_all(&out)
            .with_context(|| format!("cannot create {}", out.display()))?;
        run_one(root, group, &out, opts)?;
        let outcomes = out.join("mutants.out/outcomes.json");
        let text = std::fs::read_to_string(&outcomes)
            .with_context(|| format!("cannot read {}", outcomes.display()))?;
        tables.push((group, tally(&text)?));
    }
    let (report, ok) = render(&tables);
    print!("{report}");
    std::fs::write(out_root.join("summary.txt"), &report)?;
    let missed: String = tables
        .iter()
        .flat_map(|(_, t)| t.missed.iter())
        .map(|m| format!("{m}\n"))
        .collect();
    std::fs::write(out_root.join("missed.txt"), missed)?;
    println!(
        "surviving mutants: {} (each crate's diffs: target/mutants/<crate>/mutants.out/diff)",
        out_root.join("missed.txt").display()
    );
    Ok(ok)
}

fn select(names: &[String]) -> Result<Vec<&'static Group>> {
    if names.is_empty() {
        return Ok(GROUPS.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            GROUPS.iter().find(|g| g.package == n).with_context(|| {
                let known: Vec<_> = GROUPS.iter().map(|g| g.package).collect();
                format!(
                    "`{n}` is not a host-testable crate; choose from {}",
                    known.join(", ")
                )
            })
        })
        .collect()
}

/// Installs cargo-mutants with `cargo install --locked` when it is missing.
fn ensure_installed() -> Result<()> {
    let found = Command::new(process::cargo())
        .args(["mutants", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Ok(());
    }
    eprintln!("cargo-mutants is missing: installing it (cargo install --locked cargo-mutants)");
    let status = Command::new(process::cargo())
        .args(["install", "--locked", "cargo-mutants"])
        .status()
        .context("cannot run cargo install")?;
    if !status.success() {
        bail!("`cargo install --locked cargo-mutants` failed ({status}); install it by hand");
    }
    Ok(())
}

fn run_one(root: &Path, group: &Group, out: &Path, opts: &Options) -> Result<()> {
    let mut cmd = Command::new(process::cargo());
    cmd.current_dir(root)
        .args(["mutants", "--no-shuffle", "--package", group.package])
        .arg("--test-package")
        .arg(group.tests.join(","))
        .arg("--output")
        .arg(out);
    if let Some(j) = opts.jobs {
        cmd.arg("--jobs").arg(j.to_string());
    }
    for f in &opts.files {
        cmd.arg("--file").arg(f);
    }
    if !opts.verbose {
        cmd.arg("--colors=never");
    }
    // cargo-mutants exits 2 when mutants were missed, 3 on timeouts: both
    // are results, read from outcomes.json. Anything else is a failure to run.
    let status = cmd.status().context("cannot run cargo mutants")?;
    match status.code() {
        Some(0 | 2 | 3) => Ok(()),
        _ => bail!(
            "cargo mutants for {} failed ({status}): see {}",
            group.package,
            out.join("mutants.out/debug.log").display()
        ),
    }
}

#[derive(Deserialize)]
struct Outcomes {
    outcomes: Vec<Outcome>,
}

#[derive(Deserialize)]
struct Outcome {
    scenario: Scenario,
    summary: String,
}

#[derive(Deserialize)]
enum Scenario {
    Baseline,
    Mutant(Mutant),
}

#[derive(Deserialize)]
struct Mutant {
    name: String,
    file: String,
}

/// Counts for one file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Mutants some test failed on.
    pub caught: u32,
    /// Mutants every test passed with.
    pub missed: u32,
    /// Mutants that made the tests hang (caught, by the timeout).
    pub timeout: u32,
    /// Mutants that did not compile.
    pub unviable: u32,
}

impl Counts {
    /// caught ÷ (caught + missed), percent; timeouts and unviable mutants
    /// count on neither side. `None` when there is nothing to score.
    pub fn score(&self) -> Option<f64> {
        let judged = self.caught + self.missed;
        (judged > 0).then(|| 100.0 * f64::from(self.caught) / f64::from(judged))
    }

    fn add(&mut self, o: &Counts) {
        self.caught += o.caught;
        self.missed += o.missed;
        self.timeout += o.timeout;
        self.unviable += o.unviable;
    }
}

/// One crate's results: counts per file and the missed mutants' names.
#[derive(Debug, Default)]
pub struct Tally {
    /// Counts per source file.
    pub files: BTreeMap<String, Counts>,
    /// Names of the mutants no test caught.
    pub missed: Vec<String>,
}

impl Tally {
    /// The crate's counts, all files together.
    pub fn total(&self) -> Counts {
        let mut t = Counts::default();
        for c in self.files.values() {
            t.add(c);
        }
        t
    }
}

/// Reads cargo-mutants' `outcomes.json`.
pub fn tally(json: &str) -> Result<Tally> {
    let parsed: Outcomes =
        serde_json::from_str(json).context("outcomes.json is not what cargo-mutants 27 writes")?;
    let mut t = Tally::default();
    for o in parsed.outcomes {
        let Scenario::Mutant(m) = o.scenario else {
            if o.summary != "Success" {
                bail!(
                    "the unmutated baseline failed ({}): fix the tests first",
                    o.summary
                );
            }
            continue;
        };
        let c = t.files.entry(m.file).or_default();
        match o.summary.as_str() {
            "CaughtMutant" => c.caught += 1,
            "MissedMutant" => {
                c.missed += 1;
                t.missed.push(m.name);
            }
            "Timeout" => c.timeout += 1,
            "Unviable" => c.unviable += 1,
            other => bail!("unknown outcome `{other}` for {}", m.name),
        }
    }
    Ok(t)
}

fn pct(score: Option<f64>) -> String {
    score.map_or_else(|| "-".into(), |s| format!("{s:.1}%"))
}

/// The table people read: one row per file, a total per crate with its
/// target. Returns the text and whether every crate met its target.
pub fn render(tables: &[(&Group, Tally)]) -> (String, bool) {
    let mut s = String::new();
    let mut ok = true;
    let _ = writeln!(
        s,
        "{:<48} {:>6} {:>6} {:>7} {:>8} {:>7}",
        "file", "caught", "missed", "timeout", "unviable", "score"
    );
    for (group, t) in tables {
        for (file, c) in &t.files {
            let _ = writeln!(
                s,
                "{:<48} {:>6} {:>6} {:>7} {:>8} {:>7}",
                file,
                c.caught,
                c.missed,
                c.timeout,
                c.unviable,
                pct(c.score())
            );
        }
        let total = t.total();
        let met = total.score().is_none_or(|sc| sc >= group.target);
        ok &= met;
        let verdict = match (group.target > 0.0, met) {
            (false, _) => String::new(),
            (true, true) => format!("  (target {:.0}%: met)", group.target),
            (true, false) => format!("  (target {:.0}%: BELOW)", group.target),
        };
        let _ = writeln!(
            s,
            "{:<48} {:>6} {:>6} {:>7} {:>8} {:>7}{verdict}\n",
            format!("== {} total", group.package),
            total.caught,
            total.missed,
            total.timeout,
            total.unviable,
            pct(total.score())
        );
    }
    (s, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"outcomes":[
        {"scenario":"Baseline","summary":"Success"},
        {"scenario":{"Mutant":{"name":"a.rs:1:1: replace f with ()","file":"a.rs","package":"p"}},"summary":"CaughtMutant"},
        {"scenario":{"Mutant":{"name":"a.rs:2:1: replace g with ()","file":"a.rs","package":"p"}},"summary":"MissedMutant"},
        {"scenario":{"Mutant":{"name":"a.rs:3:1: replace < with <=","file":"a.rs","package":"p"}},"summary":"CaughtMutant"},
        {"scenario":{"Mutant":{"name":"b.rs:1:1: replace h with 0","file":"b.rs","package":"p"}},"summary":"Timeout"},
        {"scenario":{"Mutant":{"name":"b.rs:2:1: replace h with 1","file":"b.rs","package":"p"}},"summary":"Unviable"}
    ],"total_mutants":5}"#;

    #[test]
    fn outcomes_are_counted_per_file_and_missed_ones_named() {
        let t = tally(SAMPLE).unwrap();
        assert_eq!(
            t.files["a.rs"],
            Counts {
                caught: 2,
                missed: 1,
                timeout: 0,
                unviable: 0
            }
        );
        assert_eq!(
            t.files["b.rs"],
            Counts {
                caught: 0,
                missed: 0,
                timeout: 1,
                unviable: 1
            }
        );
        assert_eq!(t.missed, vec!["a.rs:2:1: replace g with ()".to_string()]);
        assert_eq!(t.total().caught, 2);
        assert_eq!(t.total().missed, 1);
    }

    #[test]
    fn the_score_ignores_timeouts_and_unviable_mutants() {
        let t = tally(SAMPLE).unwrap();
        let s = t.total().score().unwrap();
        assert!((s - 200.0 / 3.0).abs() < 1e-9, "{s}");
        assert_eq!(t.files["b.rs"].score(), None);
    }

    #[test]
    fn a_crate_below_its_target_fails_the_run() {
        let g = Group {
            package: "p",
            tests: &["p"],
            target: 95.0,
        };
        let t = tally(SAMPLE).unwrap();
        let (text, ok) = render(&[(&g, t)]);
        assert!(!ok);
        assert!(text.contains("== p total"), "{text}");
        assert!(text.contains("66.7%"), "{text}");
        assert!(text.contains("BELOW"), "{text}");

        let all_caught = SAMPLE.replace("MissedMutant", "CaughtMutant");
        let (text, ok) = render(&[(&g, tally(&all_caught).unwrap())]);
        assert!(ok, "{text}");
        assert!(text.contains("100.0%"), "{text}");
    }

    #[test]
    fn a_failed_baseline_or_unknown_outcome_is_an_error() {
        let bad = SAMPLE.replace("\"Success\"", "\"Failure\"");
        let e = tally(&bad).unwrap_err().to_string();
        assert!(e.contains("baseline"), "{e}");
        let odd = SAMPLE.replace("\"Unviable\"", "\"Exploded\"");
        let e = tally(&odd).unwrap_err().to_string();
        assert!(e.contains("Exploded"), "{e}");
    }

    #[test]
    fn unknown_crates_are_refused_with_the_list_of_known_ones() {
        let e = select(&["nope".into()]).unwrap_err().to_string();
        assert!(e.contains("`nope`") && e.contains("virtio-bus"), "{e}");
        assert_eq!(select(&[]).unwrap().len(), GROUPS.len());
        assert_eq!(select(&["kern".into()]).unwrap()[0].package, "kern");
    }

    #[test]
    fn every_group_names_workspace_packages() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for g in GROUPS
            .iter()
            .flat_map(|g| g.tests.iter().chain([&g.package]))
        {
            // Crates sit one level down (`sys/kern`) or, for test and
            // bench crates, two (`test/faults/workload`).
            let dirs = ["sys", "drv", "task", "build", "test", "bench"]
                .iter()
                .flat_map(|top| std::fs::read_dir(root.join(top)).into_iter().flatten())
                .flatten()
                .map(|e| e.path())
                .flat_map(|d| {
                    let below = std::fs::read_dir(&d).into_iter().flatten().flatten();
                    std::iter::once(d.clone()).chain(below.map(|e| e.path()))
                });
            let found = dirs.into_iter().any(|d| {
                std::fs::read_to_string(d.join("Cargo.toml"))
                    .is_ok_and(|t| t.contains(&format!("name = \"{g}\"")))
            });
            assert!(found, "{g} is not a workspace package");
        }
    }
}
