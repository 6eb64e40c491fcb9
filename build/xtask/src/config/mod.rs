//! The app.toml schema and its validation.
//!
//! An app file describes one system image: the kernel's budgets, every task
//! (in task-table order: the first task is index 0), the QEMU command line
//! and, for test images, what the test harness expects. Parsing is strict
//! (`deny_unknown_fields` everywhere) and validation collects every problem
//! it finds, each naming the file, the key and what to do about it, so a
//! person can fix an app file in one go.
//!
//! One module per part: the schema here, `[test]` in [`test_spec`], the
//! checks of tasks, regions, IRQs, QEMU and tests in `check`, and what an
//! app file may grant (trust, authority, posts) in `authority`. Checks that
//! need addresses (does everything fit in the machine's RAM?) live with the
//! allocator in [`crate::layout`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use indexmap::IndexMap;
use serde::Deserialize;

use crate::machine;

mod authority;
mod check;
mod task_config;
mod test_spec;
#[cfg(test)]
pub(crate) mod tests;

pub use test_spec::{DumpCheck, Step, TestKind, TestSpec, DEFAULT_STEP_TIMEOUT};

use check::line_of_problem;

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
    /// (`key=value` pairs joined by `;`); the keys and values each crate
    /// accepts are checked in `task_config` (`task-net`'s by its build).
    #[serde(default)]
    pub config: IndexMap<String, String>,
    /// The app file's line of `config` in the task's table (of its header
    /// if the table is written otherwise), for a build script's messages
    /// about it: filled in by [`App::parse`].
    #[serde(skip)]
    pub config_line: Option<usize>,
    /// Whether the task's clients believe its `reply_fault` (it faults them)
    /// or take it as an error code; default: trusted unless a driver
    /// (`drives`).
    pub trusted: Option<bool>,
    /// Longest the task may run without waiting for work before the kernel faults
    /// it (ms); default [`DEFAULT_DRIVER_BUDGET_MS`] for drivers, no limit
    /// for other tasks.
    #[serde(rename = "budget-ms")]
    pub budget_ms: Option<u32>,
    /// Tasks with a budget: the percentage of every CPU share period
    /// (`abi::CPU_SHARE_PERIOD_MS`) the task may run before the kernel
    /// holds it off the CPU until the period ends; default: an even split
    /// of what the others leave of [`BUDGETED_SHARE_PERCENT`]
    /// ([`App::cpu_share`]).
    #[serde(rename = "cpu-share")]
    pub cpu_share: Option<u32>,
    /// Drivers: how long the device may take over a request (without
    /// completing anything) before the driver fails what is in flight and
    /// resets it (ms); default [`DEFAULT_DEADLINE_MS`].
    #[serde(rename = "deadline-ms")]
    pub deadline_ms: Option<u32>,
    /// Drivers: how many virtqueues the device may have. Each gets
    /// [`RING_BYTES_PER_QUEUE`] of the driver's ring region, memory the
    /// kernel and the device write and the driver may only read (its
    /// descriptor tables: see `sys/kern/src/dma.rs`); default 1.
    pub queues: Option<u32>,
}

/// Ring region bytes per queue (`abi::DMA_RING_STRIDE`).
pub const RING_BYTES_PER_QUEUE: u64 = 8192;

/// The most `queues` a driver may declare.
pub const MAX_QUEUES: u32 = 8;

/// PMP entries a granted virtio window takes: its own and three around the
/// queue registers (`sys/kern/src/arch/pmp.rs`).
pub const GRANTED_WINDOW_ENTRIES: usize = 4;

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

/// The part of every CPU share period that the tasks with a budget may
/// have between them, in percent: whatever they do, the tasks without one
/// (the network stack, the shell, the services) get the rest.
pub const BUDGETED_SHARE_PERCENT: u32 = 80;

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

    /// The size of the task's DMA ring region (`queues`), if it has one:
    /// drivers only, a power of two.
    pub fn ring_bytes(&self) -> Option<u64> {
        let queues = self.queues.unwrap_or(if self.is_driver() { 1 } else { 0 });
        (self.is_driver() && queues > 0)
            .then(|| (u64::from(queues) * RING_BYTES_PER_QUEUE).next_power_of_two())
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

/// `[qemu]`. A missing key takes its value from [`Qemu::default`], the
/// one place the defaults are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Qemu {
    /// Machine RAM in MiB.
    pub memory: u64,
    /// Extra arguments, appended as they are.
    pub args: Vec<String>,
    /// Backing files for block devices.
    pub drives: Vec<Drive>,
    /// Network cards on QEMU's user network, after the drives on the
    /// command line (so they take the next lower virtio-mmio slots).
    pub nics: Vec<Nic>,
}

impl Default for Qemu {
    fn default() -> Qemu {
        Qemu {
            memory: 128,
            args: Vec::new(),
            drives: Vec::new(),
            nics: Vec::new(),
        }
    }
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
/// its forwards, which listen on 127.0.0.1 and nowhere else — or, with
/// `wire = true`, on a bare Ethernet link to the test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    /// Host ports forwarded to the guest.
    #[serde(default)]
    pub forwards: Vec<Forward>,
    /// Test images: instead of the user network, a bare Ethernet link
    /// whose other end is the test (QEMU's UDP socket backend, on
    /// 127.0.0.1): no DHCP server, no gateway, nobody but the test, which
    /// sees every frame the image sends and plays every other host.
    #[serde(default)]
    pub wire: bool,
    /// For `wire`: the 127.0.0.1 UDP ports of the link, (QEMU's end, the
    /// test's end), chosen free at run time.
    #[serde(skip)]
    pub wire_ports: Option<(u16, u16)>,
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
    /// TCP, at run time: the 127.0.0.1 port QEMU's `hostfwd` listens on,
    /// behind xtask's relay on `host` (see `relay.rs`); 0 until then.
    #[serde(skip)]
    pub qemu_port: u16,
}

/// Where a person finds the keys of the table at byte `at` of an app file:
/// app.toml has no `[test]` table, so a mistake in one was sent to a file
/// that does not show its keys.
fn where_keys_are_told(text: &str, at: Option<usize>) -> &'static str {
    let before = at.and_then(|a| text.get(..a)).unwrap_or("");
    let table = before
        .lines()
        .rev()
        .map(str::trim_start)
        .find(|l| l.starts_with('['))
        .unwrap_or("");
    let table = table.trim_start_matches('[').trim_start();
    if table.starts_with("test]") || table.starts_with("test.") {
        "see README, \"Writing a task\", step 5, for the [test] keys, each documented in build/xtask/src/config/test_spec.rs"
    } else {
        "see the commented app.toml at the workspace root for every key"
    }
}

impl App {
    /// Parses and validates app file text; `file` is only used in messages.
    pub fn parse(text: &str, file: &Path) -> Result<App> {
        let raw: RawApp = toml::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "{}: {}\n({})",
                file.display(),
                e.to_string().trim_end(),
                where_keys_are_told(text, e.span().map(|s| s.start))
            )
        })?;
        let tasks = raw
            .tasks
            .into_iter()
            .map(|(name, mut task): (String, Task)| {
                if !task.config.is_empty() {
                    task.config_line = check::line_of_task_key(text, &name, Some("config"));
                }
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

    /// The CPU share the kernel holds task `task` to, in percent (100: none).
    /// A task with a budget gets its `cpu-share`, or else an even split of
    /// what the explicit shares leave of [`BUDGETED_SHARE_PERCENT`] (at
    /// least 1 %: validation refuses a file that leaves less); a task
    /// without a budget is held to none.
    pub fn cpu_share(&self, task: &Task) -> u8 {
        if task.budget().is_none() {
            return 100;
        }
        if let Some(share) = task.cpu_share {
            return share.min(100) as u8;
        }
        let (explicit, defaults) = self.budgeted_shares();
        let left = BUDGETED_SHARE_PERCENT.saturating_sub(explicit);
        (left / defaults.max(1)).clamp(1, 100) as u8
    }

    /// The sum of the explicit `cpu-share`s of tasks with a budget, and the
    /// count of those with a budget and no `cpu-share`.
    fn budgeted_shares(&self) -> (u32, u32) {
        let budgeted = self.tasks.iter().filter(|t| t.budget().is_some());
        budgeted.fold((0, 0), |(sum, n), t| match t.cpu_share {
            Some(share) => (sum.saturating_add(share), n),
            None => (sum, n + 1),
        })
    }

    /// Whether this is a benchmark image.
    pub fn is_bench(&self) -> bool {
        self.test
            .as_ref()
            .is_some_and(|t| t.kind == TestKind::Bench)
    }
}
