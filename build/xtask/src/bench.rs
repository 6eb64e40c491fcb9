//! `cargo xtask bench`: boots bench images (app files with
//! `[test] kind = "bench"`; by default every `bench/*.toml`) under
//! `-icount shift=0`, so figures are exact instruction counts, and prints
//! each `[bench]` figure next to its baseline from the same run, plus the
//! kernel's measured size: its code (`.text`, the instructions) against the
//! goal of 19.7 KiB and the limit of 24 KiB that every image must stay
//! under, and the use of its text region (code plus `.rodata`, whose task
//! descriptors grow with the number of tasks) against the app file's
//! budget.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};

use crate::console::{self, Bench, Line};
use crate::image;
use crate::qemu::{self, Watch};
use crate::testing::image as judge;

/// Where bench images live, relative to the workspace root.
pub const BENCH_DIR: &str = "bench";

/// Formats a figure: integers without decimals.
fn figure(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// Goal for the kernel's code (`.text`) in bytes: 19.7 KiB.
pub const KERNEL_CODE_GOAL: u64 = 20_172;
/// Limit for the kernel's code in bytes, in every image: 24 KiB.
pub const KERNEL_CODE_LIMIT: u64 = 24 * 1024;

/// What the bench table shows of the kernel's size.
#[derive(Clone, Copy, Debug)]
pub struct KernelSize {
    /// Bytes of instructions (`.text`).
    pub code: u64,
    /// Bytes of the text region in use (code and `.rodata`).
    pub text_used: u64,
    /// The app file's `[kernel] text` budget.
    pub text_budget: u64,
}

/// The results table (pure, so it can be tested).
#[cfg(test)]
pub fn table(benches: &[Bench], kernel: KernelSize) -> String {
    table_with(benches, &[], kernel)
}

/// The results table, where a baseline may also name a figure printed by an
/// earlier image of the same run (`earlier`): the scale images compare
/// their task count's figures with the 8-task image's.
pub fn table_with(benches: &[Bench], earlier: &[Bench], kernel: KernelSize) -> String {
    let rows: Vec<[String; 5]> = benches
        .iter()
        .map(|b| {
            let base = b.baseline.as_ref().map(|name| {
                let named = |o: &&Bench| &o.name == name;
                (
                    name,
                    benches
                        .iter()
                        .find(named)
                        .or_else(|| earlier.iter().find(named)),
                )
            });
            let (base_s, ratio) = match base {
                None => ("-".to_string(), "-".to_string()),
                Some((name, None)) => (format!("{name}: missing"), "-".to_string()),
                Some((name, Some(o))) => (
                    format!("{} ({name})", figure(o.value)),
                    if o.value == 0.0 {
                        "-".to_string()
                    } else {
                        format!("{:.2}x", b.value / o.value)
                    },
                ),
            };
            [
                b.name.clone(),
                figure(b.value),
                b.unit.clone(),
                base_s,
                ratio,
            ]
        })
        .chain([
            [
                "kernel code (.text)".to_string(),
                kernel.code.to_string(),
                "bytes".to_string(),
                format!("goal {KERNEL_CODE_GOAL}, limit {KERNEL_CODE_LIMIT}"),
                format!("{:.2}x", kernel.code as f64 / KERNEL_CODE_GOAL as f64),
            ],
            [
                "kernel text region (.text+.rodata)".to_string(),
                kernel.text_used.to_string(),
                "bytes".to_string(),
                format!("budget {}", kernel.text_budget),
                format!(
                    "{}%",
                    (kernel.text_used * 100)
                        .checked_div(kernel.text_budget)
                        .unwrap_or(0)
                ),
            ],
        ])
        .collect();
    let header = ["benchmark", "value", "unit", "baseline", "ratio"];
    let mut w = header.map(str::len);
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let mut s = String::new();
    let line = |s: &mut String, r: &[String; 5]| {
        let _ = writeln!(
            s,
            "{:<a$}  {:>b$}  {:<c$}  {:<d$}  {:>e$}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            a = w[0],
            b = w[1],
            c = w[2],
            d = w[3],
            e = w[4]
        );
    };
    line(&mut s, &header.map(String::from));
    for r in &rows {
        line(&mut s, r);
    }
    s
}

/// The campaign's figures against their goals: faults per host second
/// (goal 100), and recovery time, fault to the next successful request in
/// virtual time (median under 1 ms, p99 under 50 ms).
pub fn campaign_figures(report: &crate::campaign::Summary, rate: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "campaign_faults_per_host_second  {rate:.1}  faults/s  goal 100  {:.2}x",
        rate / 100.0
    );
    match report.recovery_us {
        Some([_, median, p99, _]) => {
            let _ = writeln!(
                s,
                "campaign_recovery_median_us  {median}  us (virtual)  goal < 1000  {}",
                if median < 1000 { "met" } else { "NOT met" }
            );
            let _ = writeln!(
                s,
                "campaign_recovery_p99_us  {p99}  us (virtual)  goal < 50000  {}",
                if p99 < 50_000 { "met" } else { "NOT met" }
            );
        }
        None => s.push_str("campaign recovery times: not reported\n"),
    }
    s
}

/// Faults in the campaign `cargo xtask bench` runs for its speed and
/// recovery times: two full runs, on two jobs, as a long campaign runs
/// them (so QEMU's start is a small part of the time, as it is there).
const BENCH_CAMPAIGN_FAULTS: u32 = 2 * crate::campaign_runs::RUN_FAULTS;
/// QEMU runs at once for it (this machine has two cores).
const BENCH_CAMPAIGN_JOBS: usize = 2;

/// Runs the named bench images in order (each image's rows are compared
/// with the earlier images' figures, so name a baseline's image before the
/// image measured against it), or every `bench/*.toml` and then the fault
/// campaign; returns whether all produced figures and no failures.
pub fn run(root: &Path, apps: &[PathBuf], verbose: bool) -> Result<bool> {
    let images = if apps.is_empty() {
        crate::testing::app_files(&root.join(BENCH_DIR))?
    } else {
        apps.iter()
            .map(|p| image::resolve_app(root, Some(p)))
            .collect()
    };
    if images.is_empty() {
        bail!("no bench images: write an app file with `[test] kind = \"bench\"` in {BENCH_DIR}/");
    }
    let mut all_ok = true;
    let mut earlier = Vec::new();
    for path in images {
        println!(
            "bench image {}",
            path.strip_prefix(root).unwrap_or(&path).display()
        );
        all_ok &= run_one(root, &path, verbose, &mut earlier)?;
    }
    if apps.is_empty() {
        // The fault campaign's speed and recovery times are figures too.
        let (report, rate) = crate::campaign_runs::run_campaign(
            root,
            BENCH_CAMPAIGN_FAULTS,
            1,
            BENCH_CAMPAIGN_JOBS,
            verbose,
        )?;
        print!("{}", campaign_figures(&report, rate));
        all_ok &= crate::campaign_runs::clean(&report);
    }
    Ok(all_ok)
}

/// The guest port of the echo service a network bench image forwards.
const ECHO_PORT: u16 = 7;
/// What the echo task prints once its sockets are open.
const ECHO_LISTENING: &str = "listening on TCP and UDP port 7";
/// Bytes the host pushes through a network bench image's echo.
const ECHO_BYTES: usize = 1 << 20;

/// Starts the host side of a network bench: a thread that, once told the
/// echo listens (the sender), pushes [`ECHO_BYTES`] through `addr` and
/// checks they came back exactly. Dropping the sender before that makes
/// the thread give up (the image never got that far).
fn echo_transfer(
    addr: std::net::SocketAddr,
) -> (
    std::sync::mpsc::Sender<()>,
    std::thread::JoinHandle<Result<()>>,
) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let done = std::thread::spawn(move || {
        rx.recv()
            .map_err(|_| anyhow::anyhow!("the echo task never said it was listening"))?;
        crate::nettest::bench_transfer(addr, ECHO_BYTES)
    });
    (tx, done)
}

/// Runs one bench image; its figures are added to `earlier` for the
/// images after it.
fn run_one(root: &Path, path: &Path, verbose: bool, earlier: &mut Vec<Bench>) -> Result<bool> {
    if !path.exists() {
        bail!("no bench image at {}", path.display());
    }
    let built = image::build(root, path, verbose)?;
    if !built.app.is_bench() {
        bail!(
            "{} is not a bench image: add `[test]` with `kind = \"bench\"`",
            built.app.file.display()
        );
    }
    let spec = built.app.test.clone().unwrap_or_default();
    let qemu_bin = qemu::ensure_installed()?;
    qemu::prepare_drives(&built.app, &built.out_dir, true)?;
    let mut app = built.app.clone();
    let _relays = crate::net::resolve_ports(&mut app)?;
    let args = qemu::command_line(&app, &built.image, &built.out_dir, true);
    // An image that forwards the TCP echo port gets the host's transfer
    // once its echo listens (see `echo_transfer`).
    let echo = crate::net::host_port(&app, "tcp", ECHO_PORT)
        .map(|port| echo_transfer(std::net::SocketAddr::from((crate::net::LOOPBACK, port))));
    let cap = qemu::run_capture(
        &qemu_bin,
        &args,
        Duration::from_secs(spec.timeout),
        verbose,
        |line| {
            if let Some((start, _)) = &echo {
                if line.contains(ECHO_LISTENING) {
                    let _ = start.send(());
                }
            }
            match console::parse(line) {
                Line::Done => Watch::Stop,
                Line::Panic => Watch::StopAfter(judge::PANIC_GRACE),
                _ => Watch::Continue,
            }
        },
    )?;
    let transfer = echo.map(|(start, done)| {
        drop(start);
        done.join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the transfer thread panicked")))
    });

    // The same judge as test images', except that a bench image may also
    // just exit through the test finisher.
    let verdict = judge::judge(
        &cap,
        &judge::Expected {
            timeout_s: spec.timeout,
            expect: &spec.expect,
            kernel_panic: spec.kernel_panic.as_deref(),
            supervisor_fault: None,
            clean_exit_is_done: true,
        },
    );
    let benches = verdict.benches;
    let mut problems: Vec<String> = verdict
        .cases
        .into_iter()
        .filter_map(|c| Some(format!("{}: {}", c.name, c.error?)))
        .collect();
    if let Some(Err(e)) = transfer {
        problems.push(format!("TCP echo transfer: {e:#}"));
    }
    if benches.is_empty() {
        problems.push("no `[bench]` lines on the console".into());
    }
    if !problems.is_empty() || verbose {
        for l in &cap.lines {
            println!("  | {l}");
        }
    }
    if built.kernel_code >= KERNEL_CODE_LIMIT {
        problems.push(format!(
            "kernel code is {} bytes, over the {KERNEL_CODE_LIMIT}-byte limit: see what grew with \
             `llvm-nm --size-sort -S {}/dist/kernel.elf`",
            built.kernel_code,
            built.out_dir.display()
        ));
    }
    let kernel = KernelSize {
        code: built.kernel_code,
        text_used: built.kernel_text_used,
        text_budget: built.app.kernel.text,
    };
    print!("{}", table_with(&benches, earlier, kernel));
    earlier.extend(benches);
    for p in &problems {
        println!("FAIL: {p}");
    }
    Ok(problems.is_empty())
}

#[cfg(test)]
mod tests {
    use super::{table, KernelSize};
    use crate::console::{parse, Line};

    const SIZE: KernelSize = KernelSize {
        code: 18000,
        text_used: 20000,
        text_budget: 65536,
    };

    #[test]
    fn baselines_may_name_an_earlier_image() {
        let bench = |l: &str| match parse(l) {
            Line::Bench(b) => b,
            other => panic!("{other:?}"),
        };
        let earlier = [bench("[bench] rt_8_tasks 400 instructions")];
        let now = [bench(
            "[bench] rt_64_tasks 410 instructions baseline=rt_8_tasks",
        )];
        let t = super::table_with(&now, &earlier, SIZE);
        let row = t.lines().nth(1).unwrap();
        assert!(
            row.contains("400 (rt_8_tasks)") && row.ends_with("1.02x"),
            "{t}"
        );
        // Without the earlier image the baseline is missing, as before.
        let t = table(&now, SIZE);
        assert!(t.contains("rt_8_tasks: missing"), "{t}");
    }

    #[test]
    fn table_with_baselines() {
        let benches: Vec<_> = [
            "[bench] null_syscall 50 instructions",
            "[bench] null_ipc 400 instructions baseline=null_syscall",
            "[bench] other 3 instructions baseline=ghost",
        ]
        .iter()
        .map(|l| match parse(l) {
            Line::Bench(b) => b,
            other => panic!("{other:?}"),
        })
        .collect();
        let t = table(&benches, SIZE);
        let lines: Vec<&str> = t.lines().collect();
        let want = [
            "benchmark                           value  unit          baseline                 ratio",
            "null_syscall                           50  instructions  -                            -",
            "null_ipc                              400  instructions  50 (null_syscall)        8.00x",
            "other                                   3  instructions  ghost: missing               -",
            "kernel code (.text)                 18000  bytes         goal 20172, limit 24576  0.89x",
            "kernel text region (.text+.rodata)  20000  bytes         budget 65536               30%",
        ];
        assert_eq!(lines, want);
    }
}
