//! The fault campaign's report: what `cargo xtask test --faults N --seed S`
//! (and `cargo xtask bench`) print after the campaign image ran.
//!
//! The campaign task prints `[campaign] …` lines (faults injected by kind,
//! restarts, lost or corrupted acknowledged writes, unrecovered faults,
//! recovery times); the kernel's health and the client's liveness are
//! judged here from the whole console: a `KERNEL PANIC` or a supervisor
//! reboot is a kernel failure, and a campaign that never finished is a hang.

use crate::qemu::Capture;
use crate::testing::Case;

/// The app file of the campaign image.
pub const APP: &str = "test/campaign.toml";
/// Faults in a plain `cargo xtask test` run (and in CI). The one place the
/// default is written: every image build passes [`Params`] to the campaign
/// task's build script, which has no default of its own.
pub const DEFAULT_FAULTS: u32 = 200;
/// The seed of a plain `cargo xtask test` run.
pub const DEFAULT_SEED: u64 = 1;

/// The campaign image's size, seed and replayed fault, built into the
/// campaign task (`test/faults/suite`'s build script reads them from
/// [`Params::ENV`], which xtask sets on the build command).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Faults to inject (`--faults`).
    pub faults: u32,
    /// The campaign's seed (`--seed`).
    pub seed: u64,
    /// Replay only this fault (`--only`).
    pub only: Option<u32>,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            faults: DEFAULT_FAULTS,
            seed: DEFAULT_SEED,
            only: None,
        }
    }
}

/// Refuses a `cargo xtask test --faults N` that one QEMU run cannot
/// inject: the campaign task holds the recovery times of at most
/// [`RUN_FAULTS`](crate::campaign_runs::RUN_FAULTS) faults, and quietly
/// injected only that many when asked for more.
pub fn check_single_run(faults: u32, only: Option<u32>) -> anyhow::Result<()> {
    let most = crate::campaign_runs::RUN_FAULTS;
    if faults == 0 {
        anyhow::bail!("--faults must be at least 1");
    }
    if let Some(k) = only.filter(|&k| k >= faults) {
        anyhow::bail!(
            "--only {k}: a campaign of {faults} faults numbers them 0 to {}; replay one of those",
            faults - 1
        );
    }
    if faults > most {
        anyhow::bail!(
            "`cargo xtask test --faults` is one QEMU run of at most {most} faults, and {faults} \
             were asked for: run `cargo xtask campaign --faults {faults}` (with the same --seed), \
             which splits them into runs of at most {most}"
        );
    }
    Ok(())
}

impl Params {
    /// The environment variable the campaign task's build script reads.
    pub const ENV: &'static str = "VIREO_CAMPAIGN";

    /// The value of [`Params::ENV`]: `<faults>:<seed>[:<only>]`.
    pub fn spec(&self) -> String {
        match self.only {
            Some(k) => format!("{}:{}:{k}", self.faults, self.seed),
            None => format!("{}:{}", self.faults, self.seed),
        }
    }

    /// The campaign image's wall-clock limit: a long campaign may take
    /// longer than the file's `timeout`, so allow a second per fault on top.
    pub fn timeout(&self, file_timeout: u64) -> u64 {
        file_timeout.max(60 + u64::from(self.faults))
    }

    /// Prints the campaign's report and judges what only the whole console
    /// shows: kernel failures, a hung client, and wrong answers the loaders
    /// saw.
    pub fn cases(&self, cap: &Capture) -> Vec<Case> {
        let s = summarize(cap);
        print(&s, self.faults, self.seed);
        if let (Some(_), Some(fault)) = (self.only, &s.last_fault) {
            println!("  replayed: {fault}");
        }
        let case = |name: &str, n: u64| match n {
            0 => Case::ok(name),
            n => Case::fail(name, format!("{n}")),
        };
        vec![
            case("campaign_no_kernel_failures", s.kernel_failures),
            case("campaign_no_client_hangs", s.hangs),
            case("campaign_loaders_saw_no_wrong_answer", loader_problems(&s)),
        ]
    }
}

/// What the campaign reported.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// `(kind, count)` in the order printed.
    pub injected: Vec<(String, u64)>,
    /// Faults whose evidence showed they took effect.
    pub confirmed: Option<u64>,
    /// Bit flips with no observable effect.
    pub latent: Option<u64>,
    /// Faults without the evidence they must leave (each a failure).
    pub unconfirmed: Option<u64>,
    /// Confirmed faults of kinds that must end the driver's incarnation.
    pub must_restart: Option<u64>,
    /// Driver restarts observed (generation changes).
    pub restarts: Option<u64>,
    /// Faults that hit the target with requests outstanding on it.
    pub in_flight: Option<u64>,
    /// Driver faults armed to fire after a request's descriptors were
    /// written and before the kick.
    pub before_kick: Option<u64>,
    /// Driver faults armed to fire between a device completion and the
    /// reply.
    pub before_reply: Option<u64>,
    /// Acknowledged writes lost or corrupted.
    pub lost_or_corrupted: Option<u64>,
    /// Workload reads answered with other data while the sector was sound
    /// (a driver a fault left confused), caught by the checksums.
    pub wrong_answers: Option<u64>,
    /// Faults after which no request succeeded in time.
    pub unrecovered: Option<u64>,
    /// Faults after which the driver still served nothing 100 ms later,
    /// alive with corrupted state, and the campaign asked the supervisor
    /// to restart it, as an operator would.
    pub operator_restarts: Option<u64>,
    /// Recovery time min / median / p99 / max, virtual µs.
    pub recovery_us: Option<[u64; 4]>,
    /// Disk requests that outlived their deadline (blk's "outlived" line)
    /// in a fault aimed at another task: not the fault's doing but the
    /// host's, a disk slower than the campaign image's 10 ms deadline.
    /// Under `-icount sleep=off` (the campaign's clock before), virtual
    /// time jumped to the next timer whenever the machine waited, over
    /// QEMU's disk I/O (done in host time) too, and a loaded host showed
    /// hundreds. A figure to read, not a failure: each such reset is
    /// recovered from like any other, but one that falls in a
    /// ring-corruption fault of the same driver would count as that
    /// fault's evidence.
    pub clock_deadlines: u64,
    /// Kernel panics and supervisor reboots seen on the console.
    pub kernel_failures: u64,
    /// 1 if the campaign did not finish (the client hung), else 0.
    pub hangs: u64,
    /// The campaign's problem lines (fault index, kind, target, seed, what).
    pub problems: Vec<String>,
    /// The last fault the campaign announced (`fault K kind ... seed S`):
    /// with `--only`, the one replayed.
    pub last_fault: Option<String>,
    /// Each loader's sectors and the seed of its sector choices
    /// (`sectors 128..136 seed 0x…`), derived from the campaign's seed.
    pub loader_seeds: Vec<String>,
}

fn number_after<'a>(words: &mut impl Iterator<Item = &'a str>, key: &str) -> Option<u64> {
    words.find(|w| *w == key)?;
    words.next()?.parse().ok()
}

/// Reads the report out of the console.
pub fn summarize(cap: &Capture) -> Summary {
    let mut s = Summary::default();
    let mut finished = false;
    // The fault the campaign was in: a hang names it.
    let mut current: Option<String> = None;
    // The task that fault aimed at.
    let mut target: Option<String> = None;
    for line in &cap.lines {
        if let Some((task, _)) = line.split_once(": blk: a request outlived its ") {
            let task = task.rsplit(' ').next().unwrap_or(task);
            if target.as_deref().is_some_and(|t| t != task) {
                s.clock_deadlines += 1;
            }
        }
        if line.contains("KERNEL PANIC") || line.contains("nobody can recover it; rebooting") {
            s.kernel_failures += 1;
        }
        if line.contains("[test] done") {
            finished = true;
        }
        let Some(rest) = line.split_once("[campaign] ").map(|(_, r)| r) else {
            continue;
        };
        if let Some(fault) = rest.strip_prefix("fault ") {
            current = Some(format!("fault {fault}"));
            target = fault
                .split_once(" target ")
                .and_then(|(_, t)| t.split_whitespace().next())
                .map(str::to_string);
        }
        let mut words = rest.split_whitespace();
        let number = |w: &mut std::str::SplitWhitespace<'_>| w.next().and_then(|n| n.parse().ok());
        match words.next() {
            Some("injected") => {
                if let Some(n) = words.next().and_then(|n| n.parse().ok()) {
                    s.injected.push((words.collect::<Vec<_>>().join(" "), n));
                }
            }
            Some("confirmed") => s.confirmed = number(&mut words),
            Some("latent") => s.latent = number(&mut words),
            Some("unconfirmed") => s.unconfirmed = number(&mut words),
            Some("must_restart") => s.must_restart = number(&mut words),
            Some("restarts") => s.restarts = number(&mut words),
            Some("in_flight") => s.in_flight = number(&mut words),
            Some("lost_or_corrupted") => s.lost_or_corrupted = number(&mut words),
            Some("wrong_answers") => s.wrong_answers = number(&mut words),
            Some("unrecovered") => s.unrecovered = number(&mut words),
            Some("operator_restarts") => s.operator_restarts = number(&mut words),
            Some("before_kick") => s.before_kick = number(&mut words),
            Some("before_reply") => s.before_reply = number(&mut words),
            // `loader sectors A..B seed X`: once per loader (a restarted
            // one says it again).
            Some("loader") => {
                let seed = words.collect::<Vec<_>>().join(" ");
                if !s.loader_seeds.contains(&seed) {
                    s.loader_seeds.push(seed);
                }
            }
            Some("PROBLEM") => s
                .problems
                .push(rest.trim_start_matches("PROBLEM ").to_string()),
            // A problem's detail lines (indented) belong to it.
            _ if rest.starts_with("  ") => {
                if let Some(last) = s.problems.last_mut() {
                    last.push_str("; ");
                    last.push_str(rest.trim());
                }
            }
            Some("recovery_us") => {
                let mut w = words.clone();
                let min = number_after(&mut w, "min");
                let median = number_after(&mut w, "median");
                let p99 = number_after(&mut w, "p99");
                let max = number_after(&mut w, "max");
                if let (Some(a), Some(b), Some(c), Some(d)) = (min, median, p99, max) {
                    s.recovery_us = Some([a, b, c, d]);
                }
            }
            _ => {}
        }
    }
    s.hangs = u64::from(!finished);
    if !finished {
        if let Some(fault) = &current {
            s.problems.push(format!("hung in {fault}"));
        }
    }
    s.last_fault = current;
    s
}

/// Wrong answers the campaign's loaders (other clients of the driver under
/// fire) reported.
pub fn loader_problems(s: &Summary) -> u64 {
    s.problems
        .iter()
        .filter(|p| p.starts_with("loader"))
        .count() as u64
}

fn show(v: Option<u64>) -> String {
    v.map_or_else(|| "not reported".to_string(), |n| n.to_string())
}

/// Prints the report.
pub fn print(s: &Summary, faults: u32, seed: u64) {
    println!("fault campaign: {faults} faults, seed {seed}");
    let total: u64 = s.injected.iter().map(|(_, n)| n).sum();
    println!("  faults injected: {total}");
    for (kind, n) in &s.injected {
        println!("    {n:>5}  {kind}");
    }
    println!("  faults confirmed: {}", show(s.confirmed));
    println!("  latent (no observable effect): {}", show(s.latent));
    println!(
        "  unconfirmed (no evidence the fault happened): {}",
        show(s.unconfirmed)
    );
    println!(
        "  restarts: {} (confirmed faults that must restart: {})",
        show(s.restarts),
        show(s.must_restart)
    );
    println!("  faults with requests in flight: {}", show(s.in_flight));
    println!(
        "  fired inside the request path: {} before the kick, {} between completion and reply",
        show(s.before_kick),
        show(s.before_reply)
    );
    println!("  kernel failures: {}", s.kernel_failures);
    println!("  client hangs: {}", s.hangs);
    println!(
        "  acknowledged writes lost or corrupted: {}",
        show(s.lost_or_corrupted)
    );
    println!(
        "  reads answered with other data, the sector sound when read again (caught by the checksums): {}",
        show(s.wrong_answers)
    );
    println!("  faults not recovered from: {}", show(s.unrecovered));
    println!(
        "  drivers alive but serving nothing 100 ms after a fault, restarted on the campaign's request: {}",
        show(s.operator_restarts)
    );
    println!(
        "  disk requests past their deadline in faults aimed at other tasks (the host's disk, not a fault): {}",
        s.clock_deadlines
    );
    match s.recovery_us {
        Some([min, median, p99, max]) => println!(
            "  recovery time (fault to next successful request, virtual µs): min {min} / median {median} / p99 {p99} / max {max}"
        ),
        None => println!("  recovery time: not reported"),
    }
    if !s.loader_seeds.is_empty() {
        println!(
            "  loaders (seeded from the campaign's seed): {}",
            s.loader_seeds.join("; ")
        );
    }
    for p in &s.problems {
        println!("  problem: {p}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::End;
    use crate::testing::tests::cap;

    #[test]
    fn a_single_run_of_more_faults_than_it_can_hold_is_refused() {
        assert!(check_single_run(1, None).is_ok());
        assert!(check_single_run(2000, None).is_ok());
        let e = check_single_run(3000, None).unwrap_err().to_string();
        assert!(
            e.contains("at most 2000") && e.contains("cargo xtask campaign --faults 3000"),
            "{e}"
        );
        assert!(check_single_run(0, None).is_err());
    }

    /// `--only K` replays fault K of the campaign `--faults` and `--seed`
    /// name: one past its end is no fault of it (a user's `--faults 10
    /// --only 99` "replayed" fault 99).
    #[test]
    fn only_a_fault_of_the_campaign_is_replayed() {
        assert!(check_single_run(10, Some(9)).is_ok());
        let e = check_single_run(10, Some(99)).unwrap_err().to_string();
        assert!(e.contains("--only 99") && e.contains("0 to 9"), "{e}");
        assert!(check_single_run(10, Some(10)).is_err());
    }

    #[test]
    fn reads_a_finished_campaign() {
        let c = cap(
            &[
                "[   1.0] suite: [campaign] faults 3 seed 7",
                "[   1.0] load0: [campaign] loader sectors 128..136 seed 0x1234abcd",
                "[   1.0] load1: [campaign] loader sectors 192..200 seed 0x0badcafe",
                // A restarted loader says it again.
                "[   1.5] load0: [campaign] loader sectors 128..136 seed 0x1234abcd",
                "[   2.0] suite: [campaign] injected 2 panic",
                "[   2.0] suite: [campaign] injected 1 wild descriptor addresses",
                "[   2.0] suite: [campaign] restarts 2",
                "[   2.0] suite: [campaign] before_kick 1",
                "[   2.0] suite: [campaign] before_reply 0",
                "[   2.0] suite: [campaign] lost_or_corrupted 0",
                "[   2.0] suite: [campaign] wrong_answers 3",
                "[   2.0] suite: [campaign] unrecovered 0",
                "[   2.0] suite: [campaign] confirmed 2",
                "[   2.0] suite: [campaign] latent 1",
                "[   2.0] suite: [campaign] PROBLEM fault 7 kind panic target blk0 arg 0x00000000 seed 7",
                "[   2.0] suite: [campaign]   NoFault",
                "[   2.0] suite: [campaign] recovery_us min 10 median 40 p99 900 max 1000",
                "[   2.1] suite: [test] done",
            ],
            End::Stopped,
        );
        let s = summarize(&c);
        assert_eq!(
            s.injected,
            [("panic".into(), 2), ("wild descriptor addresses".into(), 1)]
        );
        assert_eq!(
            (s.restarts, s.lost_or_corrupted, s.unrecovered),
            (Some(2), Some(0), Some(0))
        );
        assert_eq!(s.wrong_answers, Some(3));
        assert_eq!(s.recovery_us, Some([10, 40, 900, 1000]));
        assert_eq!((s.before_kick, s.before_reply), (Some(1), Some(0)));
        assert_eq!(
            (s.confirmed, s.latent, s.unconfirmed),
            (Some(2), Some(1), None)
        );
        assert_eq!(
            s.problems,
            ["fault 7 kind panic target blk0 arg 0x00000000 seed 7; NoFault"]
        );
        assert_eq!((s.kernel_failures, s.hangs), (0, 0));
        assert_eq!(
            s.loader_seeds,
            [
                "sectors 128..136 seed 0x1234abcd",
                "sectors 192..200 seed 0x0badcafe"
            ]
        );
    }

    #[test]
    fn disk_deadlines_in_faults_aimed_elsewhere_are_counted() {
        let c = cap(
            &[
                "[   1.0] suite: [campaign] faults 3 seed 7",
                // Before any fault: not counted.
                "[   1.1] blk0: blk: a request outlived its 10 ms deadline; reset and re-init",
                "[   1.2] suite: [campaign] fault 0 kind bogus avail index target blk0 arg 0x00000001 seed 7",
                // The fault's own doing.
                "[   1.3] blk0: blk: a request outlived its 10 ms deadline; reset and re-init",
                "[   1.4] suite: [campaign] done 0 us 40",
                "[   1.5] suite: [campaign] fault 1 kind panic target net0 arg 0x00000000 seed 7",
                // Not net0's doing: the clock's.
                "[   1.6] blk0: blk: a request outlived its 10 ms deadline; reset and re-init",
                "[   1.7] blk1: blk: a request outlived its 10 ms deadline; reset and re-init",
                "[   1.8] suite: [campaign] done 1 us 40",
                "[   1.9] suite: [test] done",
            ],
            End::Stopped,
        );
        assert_eq!(summarize(&c).clock_deadlines, 2);
    }

    #[test]
    fn a_campaign_that_never_finished_is_a_hang_and_panics_count() {
        let c = cap(
            &[
                "[   1.0] suite: [campaign] faults 3 seed 7",
                "[   1.5] kernel: KERNEL PANIC: oops",
                "[   1.6] kernel: supervisor 'supervisor' faulted (panic, ...): nobody can recover it; rebooting",
            ],
            End::TimedOut,
        );
        let s = summarize(&c);
        assert_eq!((s.kernel_failures, s.hangs), (2, 1));
        assert!(s.problems.is_empty());
        // A hang names the fault it happened in.
        let c = cap(
            &[
                "[   1.0] suite: [campaign] faults 3 seed 7 only -1",
                "[   1.1] suite: [campaign] fault 0 kind panic target blk0 arg 0x00000000 seed 7",
                "[   1.2] suite: [campaign] done 0 us 40",
                "[   1.3] suite: [campaign] fault 1 kind wild jump before the kick target rng0 arg 0x00000010 seed 7",
            ],
            End::TimedOut,
        );
        let s = summarize(&c);
        assert_eq!(s.hangs, 1);
        assert_eq!(
            s.problems,
            ["hung in fault 1 kind wild jump before the kick target rng0 arg 0x00000010 seed 7"]
        );
        assert_eq!(s.restarts, None);
    }
}
