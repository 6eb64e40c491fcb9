//! The app.toml schema and its validation.
//!
//! An app file describes one system image: the kernel's budgets, every task
//! (in task-table order: the first task is index 0), the QEMU command line
//! and, for test images, what the test harness expects. Parsing is strict
//! (`deny_unknown_fields` everywhere) and validation collects every problem
//! it finds, each naming the file, the key and what to do about it, so a
//! person can fix an app file in one go.
//!
//! Checks that need addresses (does everything fit in the machine's RAM?)
//! live with the allocator in [`crate::layout`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use indexmap::IndexMap;
use serde::Deserialize;

use crate::machine;

/// One parsed and validated app file.
#[derive(Debug, Clone)]
pub struct App {
    /// The file it came from, as given (used in every message).
    pub file: PathBuf,
    /// Image name: outputs go to `target/<name>/`.
    pub name: String,
    /// The kernel's budgets.
    pub kernel: Kernel,
    /// Tasks in task-table order (file order).
    pub tasks: Vec<Task>,
    /// The QEMU command line.
    pub qemu: Qemu,
    /// Present in test and bench images.
    pub test: Option<TestSpec>,
}

/// The file as serde sees it; turned into [`App`] after validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: String,
    kernel: Kernel,
    tasks: IndexMap<String, Task>,
    #[serde(default)]
    qemu: Qemu,
    test: Option<TestSpec>,
}

/// `[kernel]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    /// Budget for code and read-only data (power of two, bytes).
    pub text: u64,
    /// Budget for data, bss and stack (power of two, bytes).
    pub ram: u64,
    /// The kernel stack (bytes, multiple of 16, less than `ram`).
    pub stack: u64,
    /// Cargo features of the kernel crate, e.g. `fault-injection` (test
    /// images only: lets the supervisor corrupt a task's registers or RAM).
    #[serde(default)]
    pub features: Vec<String>,
}

/// `[tasks.<name>]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// The table key; filled in after parsing.
    #[serde(skip)]
    pub name: String,
    /// Package (and bin) name of the task crate.
    #[serde(rename = "crate")]
    pub krate: String,
    /// 0 is the most important.
    pub priority: u8,
    /// Text budget (power of two, bytes).
    pub text: u64,
    /// RAM budget, stack included (power of two, bytes).
    pub ram: u64,
    /// Stack size (bytes, multiple of 16, less than `ram`).
    pub stack: u64,
    /// Started at boot.
    #[serde(default = "yes")]
    pub start: bool,
    /// The one task that receives faults and may use kipc.
    #[serde(default)]
    pub supervisor: bool,
    /// Tasks this one may send to.
    #[serde(default)]
    pub slots: Vec<String>,
    /// Notification names; the i-th name is bit i.
    #[serde(default)]
    pub notifications: Vec<String>,
    /// Notification name → PLIC source.
    #[serde(default)]
    pub interrupts: IndexMap<String, u32>,
    /// Cargo features for the task crate.
    #[serde(default)]
    pub features: Vec<String>,
    /// Device windows mapped into the task (see [`machine::DEVICE_WINDOWS`]).
    #[serde(default)]
    pub uses: Vec<String>,
    /// What the supervisor does when the task faults.
    #[serde(default)]
    pub restart: Restart,
    /// Virtio device classes this task may drive (`virtio::class` names,
    /// or device ids as decimal strings). Present exactly on driver tasks:
    /// the supervisor refuses a registration for any other device.
    #[serde(default)]
    pub drives: Option<Vec<String>>,
    /// Operator rights on the supervisor: bind and unbind any slot, restart
    /// or fault a task, read task status. For the shell, never a driver.
    #[serde(default)]
    pub operator: bool,
    /// Observer rights on the supervisor: read any task's status, nothing
    /// more (the status page). Implied by `operator`.
    #[serde(default)]
    pub observer: bool,
    /// Tasks beyond its `slots` that this task may `post` to.
    #[serde(default)]
    pub posts: Vec<String>,
    /// Notifications of this task that others may `post` (by name). Never
    /// an interrupt's, nor the supervisor's fault bit.
    #[serde(default)]
    pub postable: Vec<String>,
    /// Settings for the task itself, handed to its build as `VIREO_CONFIG`
    /// (`key=value` pairs joined by `;`); the task checks them.
    #[serde(default)]
    pub config: IndexMap<String, String>,
    /// Whether the task's clients believe its `reply_fault` (it faults them)
    /// or take it as an error code; default: trusted unless a driver
    /// (`drives`).
    pub trusted: Option<bool>,
    /// Longest the task may run without blocking before the kernel faults
    /// it (ms); default [`DEFAULT_DRIVER_BUDGET_MS`] for drivers, no limit
    /// for other tasks.
    #[serde(rename = "budget-ms")]
    pub budget_ms: Option<u32>,
    /// Drivers: how long the device may take over a request (without
    /// completing anything) before the driver fails what is in flight and
    /// resets it (ms); default [`DEFAULT_DEADLINE_MS`].
    #[serde(rename = "deadline-ms")]
    pub deadline_ms: Option<u32>,
}

/// A driver's request deadline when app.toml does not set one.
pub const DEFAULT_DEADLINE_MS: u32 = 1000;

/// The longest request deadline accepted: the supervisor restarts a driver
/// whose callers have waited 1.5 s without a reply (its watchdog), and a
/// driver must get to fail and reset a wedged device itself first.
pub const MAX_DEADLINE_MS: u32 = 1400;

/// The CPU budget of a driver that does not declare one: far above what a
/// driver needs between two blocking calls (a 64 KiB bounce-buffer copy
/// takes well under 1 ms), with room for a loaded host stealing time from
/// QEMU (the budget is measured in `mtime`, which is host time unless QEMU
/// runs with `-icount`: at 50 ms a 2-core host shared by several builds
/// stalled a driver past its budget now and then), and still below the
/// supervisor's watchdog (two 100 ms samples plus the time to notice).
/// Images under `-icount` can afford a few ms (`budget-ms`).
pub const DEFAULT_DRIVER_BUDGET_MS: u32 = 200;

/// The largest `budget-ms` accepted.
pub const MAX_BUDGET_MS: u32 = 60_000;

impl Task {
    /// Whether the task is a device driver (it declares `drives`).
    pub fn is_driver(&self) -> bool {
        self.drives.is_some()
    }

    /// Whether clients take the task's `reply_fault` as a fault of their own.
    pub fn is_trusted(&self) -> bool {
        self.trusted.unwrap_or(!self.is_driver())
    }

    /// A driver's request deadline, in ms (`None` for other tasks).
    pub fn deadline(&self) -> Option<u32> {
        self.deadline_ms
            .or(self.is_driver().then_some(DEFAULT_DEADLINE_MS))
    }

    /// The CPU budget the kernel enforces, in ms.
    pub fn budget(&self) -> Option<u32> {
        self.budget_ms
            .or(self.is_driver().then_some(DEFAULT_DRIVER_BUDGET_MS))
    }
}

impl Task {
    /// The virtio device ids of `drives` (unknown names are left out:
    /// validation reports them).
    pub fn device_ids(&self) -> Vec<u32> {
        self.drives
            .iter()
            .flatten()
            .filter_map(|c| device_id(c))
            .collect()
    }

    /// The bits of `postable`.
    pub fn postable_bits(&self) -> u32 {
        self.postable
            .iter()
            .filter_map(|n| self.notifications.iter().position(|m| m == n))
            .fold(0, |b, i| b | 1u32.checked_shl(i as u32).unwrap_or(0))
    }
}

/// A `drives` entry as a virtio device id: a class name or a decimal id
/// (1..64, so the supervisor can keep a task's classes in one `u64`).
pub fn device_id(class: &str) -> Option<u32> {
    virtio::class::id(class).or_else(|| class.parse().ok().filter(|&i| (1..64).contains(&i)))
}

/// Crate-name prefix of the virtio driver tasks (`drv/virtio-*`): each
/// must declare the classes it drives.
const DRIVER_CRATE_PREFIX: &str = "virtio-";

/// Cargo features that exist only for test images (an app file with a
/// `[test]` section): they let a task be faulted, corrupted or the machine
/// stopped on request.
pub const TEST_ONLY_FEATURES: [&str; 3] = ["test-control", "fault-injection", "bench-probes"];

fn yes() -> bool {
    true
}

/// `restart = { policy = ..., ... }`: parsed and checked now, used by the
/// supervisor later.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restart {
    /// What to do.
    pub policy: RestartPolicy,
    /// First delay before a restart (policy "backoff").
    #[serde(rename = "backoff-ms")]
    pub backoff_ms: Option<u32>,
    /// Most restarts within `window-ms` before giving up.
    pub limit: Option<u32>,
    /// The window `limit` counts over.
    #[serde(rename = "window-ms")]
    pub window_ms: Option<u32>,
}

/// `restart.policy`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Restart at once.
    #[default]
    Immediate,
    /// Restart after a delay that grows with each fault.
    Backoff,
    /// Leave the task stopped.
    Never,
}

/// `[qemu]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Qemu {
    /// Machine RAM in MiB.
    #[serde(default = "default_memory")]
    pub memory: u64,
    /// Extra arguments, appended as they are.
    #[serde(default)]
    pub args: Vec<String>,
    /// Backing files for block devices.
    #[serde(default)]
    pub drives: Vec<Drive>,
    /// Network cards on QEMU's user network, after the drives on the
    /// command line (so they take the next lower virtio-mmio slots).
    #[serde(default)]
    pub nics: Vec<Nic>,
}

impl Default for Qemu {
    fn default() -> Qemu {
        Qemu {
            memory: default_memory(),
            args: Vec::new(),
            drives: Vec::new(),
            nics: Vec::new(),
        }
    }
}

fn default_memory() -> u64 {
    128
}

/// `[[qemu.drives]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drive {
    /// Path relative to `target/<name>/`.
    pub file: String,
    /// Size in bytes; the file is created zero-filled when absent.
    pub size: u64,
    /// The QEMU device it backs, e.g. "virtio-blk-device".
    pub device: String,
    /// Extra `-drive` options, e.g. "throttling.iops-total=20" to keep
    /// requests in flight long enough for a test to catch them there.
    #[serde(default)]
    pub options: Option<String>,
}

/// `[[qemu.nics]]`: a virtio-net device on QEMU's user network (the guest
/// side is 10.0.2.0/24 inside QEMU), reachable from the host only through
/// its forwards, which listen on 127.0.0.1 and nowhere else.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    /// Host ports forwarded to the guest.
    #[serde(default)]
    pub forwards: Vec<Forward>,
}

/// One `hostfwd`: 127.0.0.1:`host` on the host to `guest` in the image.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    /// "tcp" or "udp".
    pub proto: String,
    /// The port in the image.
    pub guest: u16,
    /// The port on 127.0.0.1; 0 (the default) picks a free one at run time.
    #[serde(default)]
    pub host: u16,
    /// What the port is, for the line `cargo xtask run` prints ("http",
    /// "echo").
    #[serde(default)]
    pub name: String,
}

/// `[test]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    /// Wall-clock seconds before the image is killed and failed.
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// Substrings that must each appear on the console.
    #[serde(default)]
    pub expect: Vec<String>,
    /// A test image or a benchmark image.
    #[serde(default)]
    pub kind: TestKind,
    /// Console tests: what the shell prints when it is ready for a line.
    #[serde(default = "default_prompt")]
    pub prompt: String,
    /// Console tests: the lines to type and what must answer each.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Images that test one of the kernel's own last-resort checks (the
    /// kernel stack guard): the image must end in a kernel panic whose line
    /// contains this text. That panic is then a passing case, and the image
    /// is not expected to reach `[test] done`; any other panic still fails.
    #[serde(default, rename = "kernel-panic")]
    pub kernel_panic: Option<String>,
    /// What `cargo xtask dump` must show of this image (`[test.dump]`).
    #[serde(default)]
    pub dump: Option<DumpCheck>,
    /// Net tests: the host-side checks to run, in order (see
    /// `nettest::CHECKS`).
    #[serde(default)]
    pub net: Vec<String>,
}

/// `[test.dump]`: checks of what `cargo xtask dump` shows, on the live
/// image when `when` appears on the console, or (`post-mortem = true`) on
/// the dump file left by a kernel panic the image commits on purpose.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DumpCheck {
    /// Console text after which the live image is dumped.
    pub when: Option<String>,
    /// Check the post-mortem dump the image leaves (with `kernel-panic`,
    /// for a kernel that panics on purpose).
    #[serde(default)]
    pub post_mortem: bool,
    /// Substrings of the text report, each one case.
    #[serde(default)]
    pub text: Vec<String>,
    /// JSON pointers into the `--json` report and the value each must
    /// hold, each one case.
    #[serde(default)]
    pub json: std::collections::BTreeMap<String, toml::Value>,
}

impl Default for TestSpec {
    fn default() -> TestSpec {
        TestSpec {
            timeout: default_timeout(),
            expect: Vec::new(),
            kind: TestKind::default(),
            prompt: default_prompt(),
            steps: Vec::new(),
            kernel_panic: None,
            dump: None,
            net: Vec::new(),
        }
    }
}

fn default_timeout() -> u64 {
    60
}

fn default_prompt() -> String {
    "vireo> ".to_string()
}

/// `test.kind`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestKind {
    /// Cases reported on the console, checked by `cargo xtask test`.
    #[default]
    Qemu,
    /// Figures reported on the console, tabulated by `cargo xtask bench`.
    Bench,
    /// A person's session, scripted: `cargo xtask test` types each step's
    /// line on QEMU's stdin and checks what the console answers.
    Console,
    /// Network services driven from the host through the forwards: once
    /// every `expect` line is on the console, `cargo xtask test` runs the
    /// checks named in `net`, one case each.
    Net,
}

/// `[[test.steps]]`: one line typed at the console, and its answer. Each
/// step is one case of the test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The line to type (without the newline). Sent once the prompt has
    /// appeared after the previous step's answer. Without it the step only
    /// waits for `expect`.
    pub send: Option<String>,
    /// Text that must appear on the console after the line (and after its
    /// echo, so the typed line itself never matches).
    pub expect: Option<String>,
    /// Seconds the step may take, the prompt included (default 10).
    pub timeout: Option<u64>,
}

/// Seconds a console step may take when it does not say.
pub const DEFAULT_STEP_TIMEOUT: u64 = 10;

impl App {
    /// Parses and validates app file text; `file` is only used in messages.
    pub fn parse(text: &str, file: &Path) -> Result<App> {
        let raw: RawApp = toml::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "{}: {}\n(see the commented app.toml at the workspace root for every key)",
                file.display(),
                e.to_string().trim_end()
            )
        })?;
        let tasks = raw
            .tasks
            .into_iter()
            .map(|(name, mut task)| {
                task.name = name;
                task
            })
            .collect();
        let app = App {
            file: file.to_path_buf(),
            name: raw.name,
            kernel: raw.kernel,
            tasks,
            qemu: raw.qemu,
            test: raw.test,
        };
        let problems = app.problems();
        if !problems.is_empty() {
            let mut msg = format!("{}: {} problem(s):", file.display(), problems.len());
            for p in &problems {
                match line_of_problem(text, p) {
                    Some(line) => {
                        let _ = write!(msg, "\n  - {}:{line}: {p}", file.display());
                    }
                    None => {
                        let _ = write!(msg, "\n  - {p}");
                    }
                }
            }
            bail!(msg);
        }
        Ok(app)
    }

    /// Index of a task by name.
    pub fn task_index(&self, name: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t.name == name)
    }

    /// Index of the supervisor (validation guarantees exactly one).
    pub fn supervisor(&self) -> usize {
        self.tasks.iter().position(|t| t.supervisor).unwrap_or(0)
    }

    /// Whether this is a benchmark image.
    pub fn is_bench(&self) -> bool {
        self.test
            .as_ref()
            .is_some_and(|t| t.kind == TestKind::Bench)
    }

    /// Every problem with the file, in file order.
    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        self.check_name(&mut p);
        self.check_kernel(&mut p);
        if self.tasks.is_empty() {
            p.push("no tasks: add at least one `[tasks.<name>]` table (and an idle task)".into());
        }
        for task in &self.tasks {
            self.check_task(task, &mut p);
        }
        self.check_supervisor(&mut p);
        self.check_irqs(&mut p);
        self.check_authority(&mut p);
        self.check_qemu(&mut p);
        self.check_nics(&mut p);
        self.check_test(&mut p);
        p
    }

    fn check_name(&self, p: &mut Vec<String>) {
        if !is_identifier(&self.name) {
            p.push(format!(
                "`name` = {:?}: the image name becomes a directory under target/; use letters, digits, '-' and '_', starting with a letter",
                self.name
            ));
        }
    }

    fn check_kernel(&self, p: &mut Vec<String>) {
        let k = &self.kernel;
        check_pow2(p, "kernel.text", k.text);
        check_pow2(p, "kernel.ram", k.ram);
        check_stack(p, "kernel", k.stack, k.ram);
    }

    fn check_task(&self, task: &Task, p: &mut Vec<String>) {
        for (k, v) in &task.config {
            if k.is_empty() || k.contains(['=', ';']) || v.contains(';') {
                p.push(format!(
                    "`tasks.{}.config.{k}` = {v:?}: keys may not be empty or hold '=' or ';', values may not hold ';'",
                    task.name
                ));
            }
        }
        let key = format!("tasks.{}", task.name);
        if !is_identifier(&task.name) {
            p.push(format!(
                "`{key}`: task names are used as file and constant names; use letters, digits, '-' and '_', starting with a letter"
            ));
        }
        if task.krate.is_empty() {
            p.push(format!("`{key}.crate` is empty: name the task's package"));
        }
        check_pow2(p, &format!("{key}.text"), task.text);
        check_pow2(p, &format!("{key}.ram"), task.ram);
        for (what, size) in [("text", task.text), ("ram", task.ram)] {
            if size < machine::MIN_TASK_REGION {
                p.push(format!(
                    "`{key}.{what}` = {size} is below the smallest task region ({} bytes); raise it",
                    machine::MIN_TASK_REGION
                ));
            }
        }
        check_stack(p, &key, task.stack, task.ram);

        // Slots: known, not duplicated, and only uphill in importance.
        for target in self.named_tasks(&format!("{key}.slots"), &task.slots, p) {
            if target.priority >= task.priority {
                p.push(format!(
                    "`{key}.slots`: task '{}' (priority {}) may not send to '{}' (priority {}): IPC only flows to more important tasks; remove '{}' from the slots or give it a priority number below {}",
                    task.name, task.priority, target.name, target.priority, target.name, task.priority
                ));
            }
        }

        // Notifications and interrupts.
        if task.notifications.len() > machine::MAX_NOTIFICATIONS {
            p.push(format!(
                "`{key}.notifications` has {} names but a task has {} notification bits; remove some",
                task.notifications.len(),
                machine::MAX_NOTIFICATIONS
            ));
        }
        for (i, n) in task.notifications.iter().enumerate() {
            if n.is_empty() {
                p.push(format!("`{key}.notifications`: entry {i} is an empty name"));
            } else if task.notifications[..i].contains(n) {
                p.push(format!(
                    "`{key}.notifications` names '{n}' twice; each name is one bit, list it once"
                ));
            }
        }
        for (note, &irq) in &task.interrupts {
            if !task.notifications.contains(note) {
                p.push(format!(
                    "`{key}.interrupts.{note}`: '{note}' is not one of `{key}.notifications` ({}); add it there (its position is its bit)",
                    if task.notifications.is_empty() { "none declared".to_string() } else { task.notifications.join(", ") }
                ));
            }
            if !(1..=machine::MAX_IRQ).contains(&irq) {
                p.push(format!(
                    "`{key}.interrupts.{note}` = {irq}: PLIC sources are numbered 1 to {}",
                    machine::MAX_IRQ
                ));
            }
        }

        // Device windows and the PMP budget.
        for (i, u) in task.uses.iter().enumerate() {
            if machine::device_window(u).is_none() {
                p.push(format!(
                    "`{key}.uses`: no device window named '{u}'; the windows are: {}",
                    machine::device_window_names()
                ));
            } else if task.uses[..i].contains(u) {
                p.push(format!("`{key}.uses` names '{u}' twice; list it once"));
            }
        }
        let regions = 2 + task.uses.len();
        if regions > machine::MAX_TASK_REGIONS {
            p.push(format!(
                "`{key}.uses`: task '{}' would hold {regions} regions (text, ram and {} device windows) but a task may hold at most {} (one PMP entry each); drop {} of its `uses`",
                task.name,
                task.uses.len(),
                machine::MAX_TASK_REGIONS,
                regions - machine::MAX_TASK_REGIONS
            ));
        }

        for (i, f) in task.features.iter().enumerate() {
            if f.is_empty() || f.contains(',') || f.contains(char::is_whitespace) {
                p.push(format!(
                    "`{key}.features`: entry {i} ({f:?}) is not a cargo feature name"
                ));
            }
        }

        self.check_restart(task, &key, p);
        self.check_trust(task, &key, p);
    }

    fn check_trust(&self, task: &Task, key: &str, p: &mut Vec<String>) {
        if task.supervisor {
            if task.is_driver() {
                p.push(format!(
                    "`{key}.drives`: the supervisor is trusted by every task and cannot be a driver; remove the key"
                ));
            }
            if task.trusted == Some(false) {
                p.push(format!(
                    "`{key}.trusted` = false: the supervisor is trusted by definition; remove the key"
                ));
            }
            if task.budget_ms.is_some() {
                p.push(format!(
                    "`{key}.budget-ms`: the supervisor cannot have a CPU budget (a fault of the supervisor reboots the machine); remove the key"
                ));
            }
        }
        match task.deadline_ms {
            Some(_) if !task.is_driver() => p.push(format!(
                "`{key}.deadline-ms` only applies to drivers (the request deadline of a device); declare the classes it `drives` or remove it"
            )),
            Some(ms) if ms == 0 || ms > MAX_DEADLINE_MS => p.push(format!(
                "`{key}.deadline-ms` = {ms}: use 1 to {MAX_DEADLINE_MS} ms (the supervisor restarts a driver whose callers wait 1.5 s without a reply, and the driver must fail a wedged device itself first)"
            )),
            _ => {}
        }
        match task.budget_ms {
            Some(0) => p.push(format!(
                "`{key}.budget-ms` = 0: a task must be allowed to run; give at least 1 ms, or remove the key{}",
                if task.is_driver() {
                    format!(" for the drivers' default of {DEFAULT_DRIVER_BUDGET_MS} ms")
                } else {
                    " for no limit".to_string()
                }
            )),
            Some(ms) if ms > MAX_BUDGET_MS => p.push(format!(
                "`{key}.budget-ms` = {ms} is above the largest budget, {MAX_BUDGET_MS} ms; use a smaller one{}",
                if task.is_driver() { "" } else { ", or remove the key for no limit" }
            )),
            _ => {}
        }
    }

    fn check_restart(&self, task: &Task, key: &str, p: &mut Vec<String>) {
        let r = &task.restart;
        if r.backoff_ms.is_some() && r.policy != RestartPolicy::Backoff {
            p.push(format!(
                "`{key}.restart.backoff-ms` only applies to policy \"backoff\"; remove it or set `policy = \"backoff\"`"
            ));
        }
        if r.policy == RestartPolicy::Backoff && r.backoff_ms == Some(0) {
            p.push(format!(
                "`{key}.restart.backoff-ms` = 0: a backoff needs a delay of at least 1 ms"
            ));
        }
        if r.policy == RestartPolicy::Never && (r.limit.is_some() || r.window_ms.is_some()) {
            p.push(format!(
                "`{key}.restart`: `limit` and `window-ms` mean nothing with policy \"never\"; remove them"
            ));
        }
        if r.window_ms.is_some() && r.limit.is_none() {
            p.push(format!(
                "`{key}.restart.window-ms` needs `limit` (how many restarts within the window)"
            ));
        }
        if r.window_ms == Some(0) {
            p.push(format!(
                "`{key}.restart.window-ms` = 0: use a window of at least 1 ms"
            ));
        }
    }

    fn check_supervisor(&self, p: &mut Vec<String>) {
        let sups: Vec<&str> = self
            .tasks
            .iter()
            .filter(|t| t.supervisor)
            .map(|t| t.name.as_str())
            .collect();
        match sups.len() {
            1 => {}
            0 => p.push(
                "no task has `supervisor = true`: mark exactly one task (the one that handles faults and may use kipc) as the supervisor".into(),
            ),
            _ => p.push(format!(
                "tasks {} all have `supervisor = true`: exactly one task may be the supervisor; remove the flag from all but one",
                sups.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    fn check_irqs(&self, p: &mut Vec<String>) {
        let mut seen: Vec<(u32, &str, &str)> = Vec::new();
        for task in &self.tasks {
            for (note, &irq) in &task.interrupts {
                if let Some((_, other, other_note)) = seen.iter().find(|(i, _, _)| *i == irq) {
                    p.push(format!(
                        "`tasks.{}.interrupts.{note}`: IRQ {irq} is claimed by both task '{other}' (notification '{other_note}') and task '{}' (notification '{note}'); an interrupt goes to exactly one task, remove one of them",
                        task.name, task.name
                    ));
                } else {
                    seen.push((irq, &task.name, note));
                }
            }
        }
    }

    /// Authority: driver classes, operator rights, post grants and
    /// test-only features (see the README's "Authority" section).
    fn check_authority(&self, p: &mut Vec<String>) {
        let test_image = self.test.is_some();
        for f in &self.kernel.features {
            if !test_image && TEST_ONLY_FEATURES.contains(&f.as_str()) {
                p.push(format!(
                    "`kernel.features`: '{f}' is for test images only (it lets tasks be faulted or the machine stopped on request); remove it, or add a [test] section if this is a test image"
                ));
            }
        }
        let any_driver = self.tasks.iter().any(|t| t.drives.is_some());
        for task in &self.tasks {
            let key = format!("tasks.{}", task.name);
            for f in &task.features {
                if !test_image && TEST_ONLY_FEATURES.contains(&f.as_str()) {
                    p.push(format!(
                        "`{key}.features`: '{f}' is for test images only; task '{}' must not get it in an image without a [test] section",
                        task.name
                    ));
                }
            }
            match &task.drives {
                Some(classes) if classes.is_empty() => p.push(format!(
                    "`{key}.drives` is empty: task '{}' is declared a driver of no class; name the classes it drives (one of: {}) or remove the key",
                    task.name,
                    class_names()
                )),
                Some(classes) => {
                    for c in classes {
                        if device_id(c).is_none() {
                            p.push(format!(
                                "`{key}.drives`: task '{}' names unknown device class '{c}'; the classes are: {} (or a device id from 1 to 63)",
                                task.name,
                                class_names()
                            ));
                        }
                    }
                }
                None if task.krate.starts_with(DRIVER_CRATE_PREFIX) => p.push(format!(
                    "`{key}`: task '{}' runs driver crate '{}' but declares no class; add `drives = [\"<class>\"]` (one of: {}) so the bus lets it register",
                    task.name,
                    task.krate,
                    class_names()
                )),
                None => {}
            }
            if task.operator && task.drives.is_some() {
                p.push(format!(
                    "`{key}.operator`: task '{}' is a driver (`drives`); a driver may not hold operator rights (bind, unbind, restart, fault, status of other tasks); give them to the shell instead",
                    task.name
                ));
            }
            if task.observer && task.drives.is_some() {
                p.push(format!(
                    "`{key}.observer`: task '{}' is a driver (`drives`); a driver may not read other tasks' status; give the right to a service such as the status page instead",
                    task.name
                ));
            }
            if task.operator && task.supervisor {
                p.push(format!(
                    "`{key}.operator`: the supervisor does not call itself; remove the key"
                ));
            }
            if any_driver {
                for (note, &irq) in &task.interrupts {
                    if (1..=machine::VIRTIO_SLOTS).contains(&irq) {
                        p.push(format!(
                            "`{key}.interrupts.{note}` = {irq}: IRQ {irq} belongs to virtio-mmio slot {} and the bus grants it to whichever driver it binds there; task '{}' may not route it statically",
                            irq - 1,
                            task.name
                        ));
                    }
                }
            }
            self.check_posts(task, &key, p);
        }
    }

    fn check_posts(&self, task: &Task, key: &str, p: &mut Vec<String>) {
        for (i, n) in task.postable.iter().enumerate() {
            if task.postable[..i].contains(n) {
                p.push(format!("`{key}.postable` names '{n}' twice; list it once"));
                continue;
            }
            let Some(bit) = task.notifications.iter().position(|m| m == n) else {
                p.push(format!(
                    "`{key}.postable`: '{n}' is not one of `{key}.notifications` ({}); add it there or remove it here",
                    if task.notifications.is_empty() { "none declared".to_string() } else { task.notifications.join(", ") }
                ));
                continue;
            };
            if task.interrupts.contains_key(n) {
                p.push(format!(
                    "`{key}.postable`: '{n}' is an interrupt's bit (`{key}.interrupts.{n}`); interrupt bits are the kernel's alone, so task '{}' cannot let others post it",
                    task.name
                ));
            }
            if task.supervisor && bit == 0 {
                p.push(format!(
                    "`{key}.postable`: '{n}' is bit 0, the supervisor's fault bit, which only the kernel posts; remove it"
                ));
            }
        }
        for t in self.named_tasks(&format!("{key}.posts"), &task.posts, p) {
            if t.name == task.name {
                p.push(format!(
                    "`{key}.posts`: task '{}' names itself; remove it",
                    task.name
                ));
            } else if t.supervisor {
                p.push(format!(
                    "`{key}.posts`: task '{}' may not post to the supervisor '{}': its only notification others could set would fake a fault; call it instead",
                    task.name, t.name
                ));
            } else if t.postable.is_empty() {
                p.push(format!(
                    "`{key}.posts`: task '{}' is granted posts to '{}', but '{}' declares no `postable` notification, so every post would be refused; add `postable = [...]` to `tasks.{}` or remove '{}' here",
                    task.name, t.name, t.name, t.name, t.name
                ));
            }
        }
    }

    fn check_qemu(&self, p: &mut Vec<String>) {
        let q = &self.qemu;
        if q.memory == 0 || q.memory > machine::MAX_MEMORY_MIB {
            p.push(format!(
                "`qemu.memory` = {}: RAM starts at 0x8000_0000 in a 32-bit address space, so use 1 to {} (MiB)",
                q.memory,
                machine::MAX_MEMORY_MIB
            ));
        }
        for (i, d) in q.drives.iter().enumerate() {
            let key = format!("qemu.drives[{i}]");
            let path = Path::new(&d.file);
            if d.file.is_empty()
                || path.is_absolute()
                || path
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                p.push(format!(
                    "`{key}.file` = {:?}: give a plain path relative to target/{}/ (no '..', not absolute)",
                    d.file, self.name
                ));
            }
            if d.size == 0 {
                p.push(format!("`{key}.size` is 0: give the disk size in bytes"));
            }
            if d.device.is_empty() {
                p.push(format!(
                    "`{key}.device` is empty: name the QEMU device, e.g. \"virtio-blk-device\""
                ));
            }
        }
    }

    fn check_nics(&self, p: &mut Vec<String>) {
        for (i, nic) in self.qemu.nics.iter().enumerate() {
            for (j, f) in nic.forwards.iter().enumerate() {
                let key = format!("qemu.nics[{i}].forwards[{j}]");
                if f.proto != "tcp" && f.proto != "udp" {
                    p.push(format!(
                        "`{key}.proto` = {:?}: QEMU forwards \"tcp\" or \"udp\"",
                        f.proto
                    ));
                }
                if f.guest == 0 {
                    p.push(format!("`{key}.guest` is 0: give the port in the image"));
                }
            }
        }
    }

    fn check_test(&self, p: &mut Vec<String>) {
        let Some(t) = &self.test else { return };
        if t.timeout == 0 {
            p.push("`test.timeout` is 0: give the wall-clock limit in seconds".into());
        }
        if t.kernel_panic.as_deref() == Some("") {
            p.push("`test.kernel-panic` is empty and would match any panic: give the text the panic must contain".into());
        }
        for (i, e) in t.expect.iter().enumerate() {
            if e.is_empty() {
                p.push(format!(
                    "`test.expect`: entry {i} is empty and would match anything"
                ));
            }
        }
        if t.kind == TestKind::Net {
            if t.net.is_empty() {
                p.push(format!(
                    "`test.kind` = \"net\" but `test.net` names no checks: list some of {:?}",
                    crate::nettest::CHECKS
                ));
            }
            for c in &t.net {
                if !crate::nettest::CHECKS.contains(&c.as_str()) {
                    p.push(format!(
                        "`test.net` names `{c}`, which is no check: use {:?}",
                        crate::nettest::CHECKS
                    ));
                }
            }
            if self.qemu.nics.is_empty() {
                p.push("`test.kind` = \"net\" but the image has no `[[qemu.nics]]`".into());
            }
        } else if !t.net.is_empty() {
            p.push("`test.net` is only for net tests: add `kind = \"net\"` to [test]".into());
        }
        if t.kind != TestKind::Console {
            if !t.steps.is_empty() {
                p.push(
                    "`test.steps` is only for console tests: add `kind = \"console\"` to [test] or remove the steps".into(),
                );
            }
            return;
        }
        if t.prompt.is_empty() {
            p.push("`test.prompt` is empty: give the text the shell prints when it is ready, e.g. \"vireo> \"".into());
        }
        if t.steps.is_empty() {
            p.push("`test.kind` = \"console\" but there are no steps: add `[[test.steps]]` tables with `send` and `expect`".into());
        }
        for (i, step) in t.steps.iter().enumerate() {
            let key = format!("`test.steps[{i}]`");
            if step.send.is_none() && step.expect.is_none() {
                p.push(format!(
                    "{key} has neither `send` nor `expect`: give at least one"
                ));
            }
            if step
                .send
                .as_deref()
                .is_some_and(|s| s.contains(['\n', '\r']))
            {
                p.push(format!("{key}.send contains a line break: give one line per step (xtask adds the newline)"));
            }
            if step.expect.as_deref() == Some("") {
                p.push(format!("{key}.expect is empty and would match anything"));
            }
            if step.timeout == Some(0) {
                p.push(format!(
                    "{key}.timeout is 0: give the step's limit in seconds"
                ));
            }
        }
    }

    /// The tasks a list of task names (`slots`, `posts`) names, each once;
    /// a name given twice or naming no task is reported under `list_key`.
    fn named_tasks<'a>(
        &'a self,
        list_key: &str,
        names: &[String],
        p: &mut Vec<String>,
    ) -> Vec<&'a Task> {
        let mut found = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                p.push(format!(
                    "`{list_key}` names '{name}' twice; list each task once"
                ));
                continue;
            }
            match self.tasks.iter().find(|t| &t.name == name) {
                Some(t) => found.push(t),
                None => p.push(format!(
                    "`{list_key}`: there is no task named '{name}'; the tasks are: {}",
                    self.task_names()
                )),
            }
        }
        found
    }

    fn task_names(&self) -> String {
        self.tasks
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn class_names() -> String {
    virtio::class::CLASSES
        .iter()
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The line (1-based) of the app file a problem is about, when it names a
/// task key: "`tasks.<task>.<key>...`" finds `<key> =` inside the task's
/// table, or the `[tasks.<task>]` header itself.
fn line_of_problem(text: &str, problem: &str) -> Option<usize> {
    let quoted = problem.strip_prefix('`')?;
    let path = &quoted[..quoted.find('`')?];
    let mut parts = path.split('.');
    if parts.next()? != "tasks" {
        return None;
    }
    let task = parts.next()?;
    let key = parts.next();
    line_of_task_key(text, task, key)
}

/// The line of `key = ...` in the `[tasks.<task>]` table, or of the table
/// header if `key` is `None` or not written there.
pub fn line_of_task_key(text: &str, task: &str, key: Option<&str>) -> Option<usize> {
    let header = |l: &str| {
        let l = l.trim();
        let inner = l.strip_prefix('[')?.split(']').next()?.trim();
        Some(inner.to_string())
    };
    let mut lines = text.lines().enumerate();
    let want = [format!("tasks.{task}"), format!("tasks.\"{task}\"")];
    let (start, _) = lines.find(|(_, l)| header(l).is_some_and(|h| want.contains(&h)))?;
    if let Some(key) = key {
        for (i, l) in text.lines().enumerate().skip(start + 1) {
            if header(l).is_some() && l.trim_start().starts_with('[') {
                break;
            }
            let l = l.trim_start();
            if let Some(rest) = l.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return Some(i + 1);
                }
            }
        }
    }
    Some(start + 1)
}

/// Names that are safe as directory names, in `VIREO_TASKS` and as the
/// basis of Rust constants.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_pow2(p: &mut Vec<String>, key: &str, size: u64) {
    if !size.is_power_of_two() {
        let below = if size < 2 {
            1
        } else {
            1u64 << (63 - size.leading_zeros())
        };
        p.push(format!(
            "`{key}` = {size} is not a power of two (one PMP entry covers a power-of-two region aligned to its size); use {} or {}",
            below,
            below.saturating_mul(2)
        ));
    }
}

fn check_stack(p: &mut Vec<String>, key: &str, stack: u64, ram: u64) {
    if stack == 0 || !stack.is_multiple_of(16) {
        p.push(format!(
            "`{key}.stack` = {stack}: the stack must be a non-zero multiple of 16 bytes (the RISC-V ABI aligns sp to 16)"
        ));
    }
    if stack >= ram {
        p.push(format!(
            "`{key}.stack` = {stack} must be smaller than `{key}.ram` = {ram} (the stack shares the RAM region with data and bss); lower the stack or raise ram to {}",
            ram.max(1).next_power_of_two().saturating_mul(2).max(stack.next_power_of_two() * 2)
        ));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{App, RestartPolicy, TestKind};
    use std::path::Path;

    /// The default image shipped at the workspace root.
    pub(crate) fn default_app() -> App {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../app.toml");
        let text = std::fs::read_to_string(path).expect("the workspace has an app.toml");
        App::parse(&text, Path::new("app.toml")).expect("the workspace app.toml is valid")
    }

    /// A frozen four-task app (the first default image) for snapshot tests
    /// of layout and kconfig, which must not move when app.toml changes.
    pub(crate) fn fixture_app() -> App {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/layout-fixture.toml");
        let text = std::fs::read_to_string(path).expect("the layout fixture exists");
        App::parse(&text, Path::new("layout-fixture.toml")).expect("the layout fixture is valid")
    }

    /// A small valid app to mutate in tests.
    pub(crate) const BASE: &str = r#"
name = "t"
[kernel]
text = 65536
ram = 32768
stack = 4096

[tasks.super]
crate = "task-supervisor"
priority = 0
supervisor = true
text = 16384
ram = 4096
stack = 2048
notifications = ["fault"]

[tasks.pong]
crate = "pong"
priority = 1
text = 8192
ram = 2048
stack = 1024

[tasks.ping]
crate = "task-ping"
priority = 2
text = 8192
ram = 2048
stack = 1024
slots = ["pong"]

[tasks.idle]
crate = "task-idle"
priority = 255
text = 4096
ram = 1024
stack = 512
"#;

    pub(crate) fn parse(text: &str) -> anyhow::Result<App> {
        App::parse(text, Path::new("test.toml"))
    }

    /// Parses, expecting failure, and returns the whole message.
    fn error(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => format!("{e:#}"),
        }
    }

    fn assert_error(text: &str, needles: &[&str]) {
        let msg = error(text);
        for n in needles {
            assert!(msg.contains(n), "message lacks {n:?}:\n{msg}");
        }
        assert!(
            msg.starts_with("test.toml:"),
            "message does not name the file:\n{msg}"
        );
    }

    #[test]
    fn parses_the_default_app() {
        // The real app.toml changes as the system grows: check only what
        // must always hold of it.
        let app = default_app();
        assert_eq!(app.name, "default");
        assert_eq!(app.supervisor(), 0);
        assert!(app.test.is_none());
    }

    #[test]
    fn parses_the_fixture_app() {
        let app = fixture_app();
        let names: Vec<_> = app.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["supervisor", "pong", "ping", "idle"]);
        assert_eq!(app.supervisor(), 0);
        assert_eq!(app.tasks[1].restart.policy, RestartPolicy::Immediate);
        assert_eq!(app.tasks[2].slots, ["pong"]);
        assert!(app.tasks.iter().all(|t| t.start));
        assert_eq!(app.qemu.memory, 128);
    }

    #[test]
    fn parses_optional_sections() {
        let text = BASE.replace(
            "slots = [\"pong\"]",
            r#"slots = ["pong"]
features = ["fast"]
uses = ["uart", "virtio3"]
notifications = ["timer", "rx"]
interrupts = { rx = 10 }
start = false
restart = { policy = "backoff", backoff-ms = 10, limit = 3, window-ms = 1000 }"#,
        ) + r#"
[qemu]
memory = 64
args = ["-global", "virtio-mmio.force-legacy=false"]
[[qemu.drives]]
file = "disk.img"
size = 1048576
device = "virtio-blk-device"
[test]
timeout = 5
expect = ["hello"]
kind = "bench"
"#;
        let app = parse(&text).unwrap();
        let ping = &app.tasks[2];
        assert_eq!(ping.uses, ["uart", "virtio3"]);
        assert_eq!(ping.interrupts["rx"], 10);
        assert!(!ping.start);
        assert_eq!(ping.restart.policy, RestartPolicy::Backoff);
        assert_eq!(ping.restart.window_ms, Some(1000));
        assert_eq!(app.qemu.drives[0].size, 1 << 20);
        assert_eq!(app.test.as_ref().unwrap().kind, TestKind::Bench);
        assert!(app.is_bench());
    }

    #[test]
    fn parses_a_console_test() {
        let text = format!(
            r#"{BASE}
[test]
kind = "console"
timeout = 30
steps = [
    {{ send = "devices", expect = "entropy" }},
    {{ send = "help" }},
    {{ expect = "restarted", timeout = 3 }},
]
"#
        );
        let app = parse(&text).unwrap();
        let t = app.test.as_ref().unwrap();
        assert_eq!(t.kind, TestKind::Console);
        assert_eq!(t.prompt, "vireo> ");
        assert_eq!(t.steps.len(), 3);
        assert_eq!(t.steps[0].send.as_deref(), Some("devices"));
        assert_eq!(t.steps[0].expect.as_deref(), Some("entropy"));
        assert_eq!(t.steps[1].expect, None);
        assert_eq!(t.steps[2].send, None);
        assert_eq!(t.steps[2].timeout, Some(3));
        assert!(!app.is_bench());

        // The table-array form and a custom prompt.
        let text = format!(
            "{BASE}\n[test]\nkind = \"console\"\nprompt = \"$ \"\n[[test.steps]]\nsend = \"x\"\nexpect = \"y\"\n"
        );
        let t = parse(&text).unwrap().test.unwrap();
        assert_eq!(t.prompt, "$ ");
        assert_eq!(t.steps[0].send.as_deref(), Some("x"));
    }

    #[test]
    fn console_test_mistakes_are_named() {
        let console = |body: &str| format!("{BASE}\n[test]\nkind = \"console\"\n{body}");
        assert_error(&console(""), &["no steps", "[[test.steps]]"]);
        assert_error(
            &console("prompt = \"\"\nsteps = [{ send = \"a\" }]"),
            &["`test.prompt` is empty"],
        );
        assert_error(
            &console("steps = [{ timeout = 2 }]"),
            &["`test.steps[0]` has neither"],
        );
        assert_error(
            &console("steps = [{ send = \"a\\nb\" }]"),
            &["`test.steps[0]`.send contains a line break"],
        );
        assert_error(
            &console("steps = [{ send = \"a\" }, { expect = \"\" }]"),
            &["`test.steps[1]`.expect is empty"],
        );
        assert_error(
            &console("steps = [{ send = \"a\", timeout = 0 }]"),
            &["`test.steps[0]`.timeout is 0"],
        );
        assert_error(&console("steps = [{ sned = \"a\" }]"), &["sned"]);
        assert_error(
            &format!("{BASE}\n[test]\nsteps = [{{ send = \"a\" }}]\n"),
            &["only for console tests", "kind = \"console\""],
        );
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        assert_error(
            &BASE.replace("priority = 1", "priority = 1\nprio = 3"),
            &["prio", "unknown field"],
        );
        assert_error(&format!("{BASE}\n[qemu]\nmemroy = 3\n"), &["memroy"]);
        assert_error(&format!("colour = 1\n{BASE}"), &["colour"]);
    }

    #[test]
    fn duplicate_task_names() {
        let text = format!("{BASE}\n[tasks.pong]\ncrate = \"x\"\n");
        assert_error(&text, &["duplicate", "pong"]);
    }

    #[test]
    fn duplicate_notifications_slots_uses() {
        assert_error(
            &BASE.replace(
                "notifications = [\"fault\"]",
                "notifications = [\"fault\", \"fault\"]",
            ),
            &["`tasks.super.notifications` names 'fault' twice"],
        );
        assert_error(
            &BASE.replace("slots = [\"pong\"]", "slots = [\"pong\", \"pong\"]"),
            &["`tasks.ping.slots` names 'pong' twice"],
        );
        assert_error(
            &BASE.replace(
                "slots = [\"pong\"]",
                "slots = [\"pong\"]\nuses = [\"uart\", \"uart\"]",
            ),
            &["`tasks.ping.uses` names 'uart' twice"],
        );
    }

    #[test]
    fn unknown_slot() {
        assert_error(
            &BASE.replace("slots = [\"pong\"]", "slots = [\"pongg\"]"),
            &[
                "`tasks.ping.slots`",
                "no task named 'pongg'",
                "super, pong, ping, idle",
            ],
        );
    }

    #[test]
    fn slot_to_less_important_task() {
        assert_error(
            &BASE.replace("slots = [\"pong\"]", "slots = [\"idle\"]"),
            &["task 'ping' (priority 2) may not send to 'idle' (priority 255): IPC only flows to more important tasks"],
        );
        // Equal priority is refused as well (and so is sending to oneself).
        assert_error(
            &BASE.replace("slots = [\"pong\"]", "slots = [\"ping\"]"),
            &["task 'ping' (priority 2) may not send to 'ping' (priority 2)"],
        );
    }

    #[test]
    fn too_many_regions() {
        assert_error(
            &BASE.replace(
                "slots = [\"pong\"]",
                "uses = [\"uart\", \"virtio0\", \"virtio1\", \"virtio2\", \"virtio3\", \"virtio4\", \"virtio5\"]",
            ),
            &["task 'ping' would hold 9 regions", "at most 8", "drop 1 of its `uses`"],
        );
    }

    #[test]
    fn unknown_device_window() {
        assert_error(
            &BASE.replace("slots = [\"pong\"]", "uses = [\"virtio9\"]"),
            &["`tasks.ping.uses`", "'virtio9'", "uart, virtio0"],
        );
    }

    #[test]
    fn two_tasks_claim_one_irq() {
        let text = BASE
            .replace(
                "notifications = [\"fault\"]",
                "notifications = [\"fault\", \"uart\"]\ninterrupts = { uart = 10 }",
            )
            .replace(
                "slots = [\"pong\"]",
                "notifications = [\"rx\"]\ninterrupts = { rx = 10 }",
            );
        assert_error(
            &text,
            &["IRQ 10 is claimed by both task 'super' (notification 'uart') and task 'ping' (notification 'rx')"],
        );
    }

    #[test]
    fn interrupt_names_unknown_notification() {
        assert_error(
            &BASE.replace(
                "slots = [\"pong\"]",
                "notifications = [\"timer\"]\ninterrupts = { rx = 10 }",
            ),
            &["`tasks.ping.interrupts.rx`: 'rx' is not one of `tasks.ping.notifications` (timer)"],
        );
    }

    #[test]
    fn irq_out_of_range() {
        assert_error(
            &BASE.replace(
                "slots = [\"pong\"]",
                "notifications = [\"rx\"]\ninterrupts = { rx = 128 }",
            ),
            &["`tasks.ping.interrupts.rx` = 128", "1 to 127"],
        );
    }

    #[test]
    fn too_many_notifications() {
        let names: Vec<String> = (0..33).map(|i| format!("\"n{i}\"")).collect();
        assert_error(
            &BASE.replace(
                "slots = [\"pong\"]",
                &format!("notifications = [{}]", names.join(",")),
            ),
            &[
                "`tasks.ping.notifications` has 33 names",
                "32 notification bits",
            ],
        );
    }

    #[test]
    fn non_power_of_two() {
        assert_error(
            &BASE.replace(
                "text = 8192\nram = 2048\nstack = 1024\nslots",
                "text = 5000\nram = 2048\nstack = 1024\nslots",
            ),
            &[
                "`tasks.ping.text` = 5000 is not a power of two",
                "use 4096 or 8192",
            ],
        );
        assert_error(
            &BASE.replace("ram = 32768", "ram = 30000"),
            &["`kernel.ram` = 30000 is not a power of two"],
        );
    }

    #[test]
    fn region_too_small() {
        assert_error(
            &BASE.replace("ram = 1024\nstack = 512", "ram = 128\nstack = 64"),
            &["`tasks.idle.ram` = 128 is below the smallest task region (256 bytes)"],
        );
    }

    #[test]
    fn supervisor_count() {
        assert_error(
            &BASE.replace("supervisor = true\n", ""),
            &["no task has `supervisor = true`"],
        );
        assert_error(
            &BASE.replace("priority = 255", "priority = 255\nsupervisor = true"),
            &[
                "tasks 'super', 'idle' all have `supervisor = true`",
                "exactly one",
            ],
        );
    }

    #[test]
    fn stack_not_below_ram() {
        assert_error(
            &BASE.replace("ram = 1024\nstack = 512", "ram = 1024\nstack = 1024"),
            &["`tasks.idle.stack` = 1024 must be smaller than `tasks.idle.ram` = 1024"],
        );
        assert_error(
            &BASE.replace("stack = 4096", "stack = 32768"),
            &["`kernel.stack` = 32768 must be smaller"],
        );
    }

    #[test]
    fn stack_alignment() {
        assert_error(
            &BASE.replace("ram = 1024\nstack = 512", "ram = 1024\nstack = 500"),
            &["`tasks.idle.stack` = 500: the stack must be a non-zero multiple of 16"],
        );
    }

    #[test]
    fn restart_policy_checks() {
        assert_error(
            &BASE.replace(
                "priority = 1",
                "priority = 1\nrestart = { policy = \"sometimes\" }",
            ),
            &["unknown variant `sometimes`"],
        );
        assert_error(
            &BASE.replace(
                "priority = 1",
                "priority = 1\nrestart = { policy = \"immediate\", backoff-ms = 5 }",
            ),
            &["`tasks.pong.restart.backoff-ms` only applies to policy \"backoff\""],
        );
        assert_error(
            &BASE.replace(
                "priority = 1",
                "priority = 1\nrestart = { policy = \"never\", limit = 5 }",
            ),
            &["mean nothing with policy \"never\""],
        );
    }

    #[test]
    fn drivers_are_untrusted_and_budgeted_by_default() {
        let app =
            parse(&BASE.replace("priority = 1", "priority = 1\ndrives = [\"block\"]")).unwrap();
        let pong = &app.tasks[1];
        assert!(!pong.is_trusted());
        assert_eq!(pong.budget(), Some(super::DEFAULT_DRIVER_BUDGET_MS));
        let ping = &app.tasks[2];
        assert!(ping.is_trusted());
        assert_eq!(ping.budget(), None);

        let app = parse(&BASE.replace(
            "priority = 1",
            "priority = 1\ndrives = [\"block\"]\ntrusted = true\nbudget-ms = 7",
        ))
        .unwrap();
        assert!(app.tasks[1].is_trusted());
        assert_eq!(app.tasks[1].budget(), Some(7));
        let app = parse(&BASE.replace(
            "priority = 2\n",
            "priority = 2\ntrusted = false\nbudget-ms = 300\n",
        ))
        .unwrap();
        assert!(!app.tasks[2].is_trusted());
        assert_eq!(app.tasks[2].budget(), Some(300));
    }

    #[test]
    fn drivers_have_a_request_deadline() {
        let app =
            parse(&BASE.replace("priority = 1", "priority = 1\ndrives = [\"block\"]")).unwrap();
        assert_eq!(app.tasks[1].deadline(), Some(super::DEFAULT_DEADLINE_MS));
        assert_eq!(app.tasks[2].deadline(), None);
        let app = parse(&BASE.replace(
            "priority = 1",
            "priority = 1\ndrives = [\"block\"]\ndeadline-ms = 250",
        ))
        .unwrap();
        assert_eq!(app.tasks[1].deadline(), Some(250));
        assert_error(
            &BASE.replace("priority = 2\n", "priority = 2\ndeadline-ms = 250\n"),
            &["`tasks.ping.deadline-ms` only applies to drivers"],
        );
        for bad in ["0", "1401"] {
            assert_error(
                &BASE.replace(
                    "priority = 1",
                    &format!("priority = 1\ndrives = [\"block\"]\ndeadline-ms = {bad}"),
                ),
                &[&format!(
                    "`tasks.pong.deadline-ms` = {bad}: use 1 to 1400 ms"
                )],
            );
        }
    }

    #[test]
    fn trust_and_budget_mistakes_are_named() {
        assert_error(
            &BASE.replace(
                "supervisor = true",
                "supervisor = true\ndrives = [\"block\"]\ntrusted = false\nbudget-ms = 5",
            ),
            &[
                "3 problem(s)",
                "`tasks.super.drives`: the supervisor is trusted by every task and cannot be a driver",
                "`tasks.super.trusted` = false: the supervisor is trusted by definition",
                "`tasks.super.budget-ms`: the supervisor cannot have a CPU budget",
            ],
        );
        assert_error(
            &BASE.replace("priority = 1", "priority = 1\ndrives = [\"block\"]\nbudget-ms = 0"),
            &["`tasks.pong.budget-ms` = 0: a task must be allowed to run; give at least 1 ms, or remove the key for the drivers' default of 200 ms"],
        );
        assert_error(
            &BASE.replace("priority = 2\n", "priority = 2\nbudget-ms = 0\n"),
            &[
                "`tasks.ping.budget-ms` = 0",
                "or remove the key for no limit",
            ],
        );
        assert_error(
            &BASE.replace("priority = 2\n", "priority = 2\nbudget-ms = 60001\n"),
            &["`tasks.ping.budget-ms` = 60001 is above the largest budget, 60000 ms"],
        );
        assert_error(
            &BASE.replace("priority = 2\n", "priority = 2\ntrusted = \"no\"\n"),
            &["trusted", "invalid type"],
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = BASE.replace("slots = [\"pong\"]", "slots = [\"idle\", \"nobody\"]");
        let msg = error(&text);
        assert!(msg.contains("2 problem(s)"), "{msg}");
    }

    #[test]
    fn bad_names() {
        assert_error(
            &BASE.replace("name = \"t\"", "name = \"a/b\""),
            &["`name` = \"a/b\""],
        );
        assert_error(
            &BASE
                .replace("[tasks.pong]", "[tasks.\"po,ng\"]")
                .replace("[\"pong\"]", "[\"po,ng\"]"),
            &["`tasks.po,ng`"],
        );
    }

    /// The 1-based line of the first line of `text` that starts with `start`.
    fn line(text: &str, start: &str) -> usize {
        text.lines().position(|l| l.starts_with(start)).unwrap() + 1
    }

    /// BASE with pong as an entropy driver.
    fn with_driver(extra: &str) -> String {
        BASE.replace(
            "crate = \"pong\"",
            &format!("crate = \"pong\"\ndrives = [\"entropy\"]{extra}"),
        )
    }

    #[test]
    fn authority_declarations_parse() {
        let text = with_driver("")
            .replace(
                "slots = [\"pong\"]",
                "slots = [\"pong\"]\noperator = true\nposts = [\"idle\"]",
            )
            .replace(
                "priority = 255",
                "priority = 255\nnotifications = [\"x\", \"wake\"]\npostable = [\"wake\"]",
            );
        let app = parse(&text).unwrap();
        assert_eq!(app.tasks[1].device_ids(), [4]);
        assert!(app.tasks[2].operator);
        assert_eq!(app.tasks[3].postable_bits(), 0b10);
        assert_eq!(app.tasks[2].posts, ["idle"]);
    }

    #[test]
    fn unknown_class_names_task_and_line() {
        let text = BASE.replace("crate = \"pong\"", "crate = \"pong\"\ndrives = [\"blok\"]");
        let line = text.lines().position(|l| l.starts_with("drives")).unwrap() + 1;
        assert_error(
            &text,
            &[
                &format!("test.toml:{line}: `tasks.pong.drives`"),
                "task 'pong' names unknown device class 'blok'",
                "block, console, entropy",
            ],
        );
        // Ids are accepted as numbers, within 1..64.
        assert!(
            parse(&BASE.replace("crate = \"pong\"", "crate = \"pong\"\ndrives = [\"2\"]")).is_ok()
        );
        assert_error(
            &BASE.replace("crate = \"pong\"", "crate = \"pong\"\ndrives = [\"64\"]"),
            &["unknown device class '64'"],
        );
    }

    #[test]
    fn driver_with_no_class() {
        let text = BASE.replace("crate = \"pong\"", "crate = \"virtio-rng\"");
        assert_error(
            &text,
            &[
                &format!("test.toml:{}: `tasks.pong`", line(&text, "[tasks.pong]")),
                "task 'pong' runs driver crate 'virtio-rng' but declares no class",
                "drives = [",
            ],
        );
        let text = BASE.replace("crate = \"pong\"", "crate = \"pong\"\ndrives = []");
        assert_error(
            &text,
            &[
                &format!(
                    "test.toml:{}: `tasks.pong.drives` is empty",
                    line(&text, "drives")
                ),
                "task 'pong'",
            ],
        );
    }

    #[test]
    fn operator_rights_for_a_driver() {
        let text = with_driver("\noperator = true");
        assert_error(
            &text,
            &[
                &format!(
                    "test.toml:{}: `tasks.pong.operator`",
                    line(&text, "operator")
                ),
                "task 'pong' is a driver",
                "may not hold operator rights",
            ],
        );
    }

    #[test]
    fn observer_rights_for_a_driver() {
        let text = with_driver("\nobserver = true");
        assert_error(
            &text,
            &[
                &format!(
                    "test.toml:{}: `tasks.pong.observer`",
                    line(&text, "observer")
                ),
                "task 'pong' is a driver",
                "may not read other tasks' status",
            ],
        );
    }

    #[test]
    fn two_tasks_owning_one_irq_name_the_line() {
        let text = BASE
            .replace(
                "notifications = [\"fault\"]",
                "notifications = [\"fault\", \"uart\"]\ninterrupts = { uart = 10 }",
            )
            .replace(
                "slots = [\"pong\"]",
                "notifications = [\"rx\"]\ninterrupts = { rx = 10 }",
            );
        let line = text.lines().position(|l| l.contains("rx = 10")).unwrap() + 1;
        assert_error(
            &text,
            &[
                &format!("test.toml:{line}: `tasks.ping.interrupts.rx`"),
                "IRQ 10 is claimed by both",
            ],
        );
        // A static route to a virtio slot's IRQ would collide with the
        // bus's grant in an image with drivers.
        let text = with_driver("").replace(
            "slots = [\"pong\"]",
            "notifications = [\"rx\"]\ninterrupts = { rx = 7 }",
        );
        assert_error(
            &text,
            &[
                "`tasks.ping.interrupts.rx` = 7",
                "virtio-mmio slot 6",
                "task 'ping' may not route it statically",
            ],
        );
    }

    #[test]
    fn conflicting_post_grants() {
        // Posts to a task that accepts none.
        let text = BASE.replace(
            "slots = [\"pong\"]",
            "slots = [\"pong\"]\nposts = [\"idle\"]",
        );
        assert_error(
            &text,
            &[
                &format!("test.toml:{}: `tasks.ping.posts`", line(&text, "posts")),
                "task 'ping' is granted posts to 'idle', but 'idle' declares no `postable`",
            ],
        );
        // Posts to an unknown task, itself, or the supervisor.
        assert_error(
            &BASE.replace(
                "slots = [\"pong\"]",
                "slots = [\"pong\"]\nposts = [\"nobody\"]",
            ),
            &["`tasks.ping.posts`: there is no task named 'nobody'"],
        );
        assert_error(
            &BASE.replace("slots = [\"pong\"]", "slots = [\"pong\"]\nnotifications = [\"a\"]\npostable = [\"a\"]\nposts = [\"ping\"]"),
            &["task 'ping' names itself"],
        );
        assert_error(
            &BASE.replace(
                "slots = [\"pong\"]",
                "slots = [\"pong\"]\nposts = [\"super\"]",
            ),
            &["may not post to the supervisor 'super'"],
        );
        // Postable interrupt bits, the fault bit, unknown names.
        assert_error(
            &BASE.replace(
                "slots = [\"pong\"]",
                "notifications = [\"rx\"]\ninterrupts = { rx = 10 }\npostable = [\"rx\"]",
            ),
            &[
                "`tasks.ping.postable`: 'rx' is an interrupt's bit",
                "task 'ping'",
            ],
        );
        assert_error(
            &BASE.replace(
                "notifications = [\"fault\"]",
                "notifications = [\"fault\"]\npostable = [\"fault\"]",
            ),
            &["`tasks.super.postable`: 'fault' is bit 0, the supervisor's fault bit"],
        );
        assert_error(
            &BASE.replace("slots = [\"pong\"]", "postable = [\"wake\"]"),
            &["`tasks.ping.postable`: 'wake' is not one of `tasks.ping.notifications`"],
        );
    }

    #[test]
    fn test_only_features_need_a_test_image() {
        let text = BASE
            .replace(
                "notifications = [\"fault\"]",
                "notifications = [\"fault\"]\nfeatures = [\"test-control\"]",
            )
            .replace(
                "stack = 4096",
                "stack = 4096\nfeatures = [\"fault-injection\"]",
            );
        let msg = error(&text);
        assert!(
            msg.contains("`kernel.features`: 'fault-injection' is for test images only"),
            "{msg}"
        );
        assert!(
            msg.contains("`tasks.super.features`: 'test-control' is for test images only"),
            "{msg}"
        );
        assert!(parse(&format!("{text}\n[test]\ntimeout = 5\n")).is_ok());
    }

    #[test]
    fn drive_paths_stay_inside_target() {
        let text = format!("{BASE}\n[[qemu.drives]]\nfile = \"../x.img\"\nsize = 512\ndevice = \"virtio-blk-device\"\n");
        assert_error(&text, &["`qemu.drives[0].file` = \"../x.img\""]);
    }
}
