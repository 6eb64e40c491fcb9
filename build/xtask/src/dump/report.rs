//! What `cargo xtask dump` shows, built from an image and a snapshot: the
//! kernel's task table, each task's stack high-water mark, every ringbuf
//! decoded by its entry type, and the supervisor's bus table — as text for
//! a person or as JSON.

use std::fmt::Write as _;

use abi::{FaultKind, TaskId, STACK_PAINT};
use serde::Serialize;

use super::programs::{Image, Program, TaskLayout};
use super::snapshot::Snapshot;
use super::value::{Decoder, Value};

/// Prefix of every ringbuf's exported symbol (sys/ringbuf).
const RINGBUF_PREFIX: &str = "__RINGBUF_";
/// The supervisor's state, kept in a static so that its bus table can be
/// found (task/supervisor).
const SUPERVISOR_STATE: &str = "SUPERVISOR_STATE";

/// One task's row of the task table.
#[derive(Clone, Debug, Serialize)]
pub struct TaskRow {
    /// Index in the task table.
    pub index: usize,
    /// Name from app.toml.
    pub name: String,
    /// `stopped`, `runnable`, `send`, `reply`, `recv`, `faulted`.
    pub state: String,
    /// What it waits for and for whom (`send to blk0`), if blocked.
    pub blocked: Option<String>,
    /// Priority (0 is the most important).
    pub priority: u64,
    /// The current generation.
    pub generation: u64,
    /// Faults since boot.
    pub faults: u64,
    /// The last fault, if any.
    pub last_fault: Option<FaultRow>,
    /// The saved program counter.
    pub pc: u64,
    /// Stack use.
    pub stack: StackRow,
}

/// A fault record.
#[derive(Clone, Debug, Serialize)]
pub struct FaultRow {
    /// The kind, as the kernel logs it (`store access fault`).
    pub kind: String,
    /// The faulting address.
    pub address: u64,
    /// The faulting instruction.
    pub pc: u64,
    /// Kind-specific detail.
    pub detail: u64,
    /// Whether `address` means something for this kind (a panic or an
    /// injected fault has none: it is 0).
    #[serde(skip)]
    pub names_address: bool,
}

/// A stack's high-water mark against its budget.
#[derive(Clone, Debug, Serialize)]
pub struct StackRow {
    /// Deepest use seen, in bytes (from the paint `_start` left).
    pub used: u64,
    /// The budget (app.toml `stack`).
    pub budget: u64,
}

/// One ringbuf, decoded.
#[derive(Clone, Debug, Serialize)]
pub struct RingRow {
    /// The task that owns it.
    pub task: String,
    /// Its symbol without the prefix (`virtio_blk::TRACE`).
    pub name: String,
    /// Slots in the ring.
    pub slots: usize,
    /// Entries, oldest first.
    pub entries: Vec<RingEntry>,
}

/// One ringbuf entry.
#[derive(Clone, Debug, Serialize)]
pub struct RingEntry {
    /// Slot index.
    pub index: usize,
    /// Consecutive repeats.
    pub count: u64,
    /// The payload, as text.
    pub text: String,
    /// The payload, as JSON.
    pub payload: serde_json::Value,
}

/// One restart from the supervisor's log (`supervisor_core::restart_log`).
#[derive(Clone, Debug, Serialize)]
pub struct RestartRow {
    /// Its number: restarts made since boot before it.
    pub seq: u64,
    /// The task's name.
    pub task: String,
    /// The generation it was restarted as.
    pub generation: u64,
    /// When, in ms since boot.
    pub at_ms: u64,
    /// Why (`abi::RestartCause`, in words).
    pub cause: String,
}

/// Everything a dump shows.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Image name.
    pub image: String,
    /// Why the snapshot was taken.
    pub reason: String,
    /// The hart's pc at the moment of capture, when known.
    pub pc: Option<u64>,
    /// The function holding that pc (kernel or task), from the ELF symbols.
    pub pc_function: Option<String>,
    /// The task table.
    pub tasks: Vec<TaskRow>,
    /// Every ringbuf.
    pub ringbufs: Vec<RingRow>,
    /// The supervisor's bus table, one line per entry.
    pub bus: Vec<String>,
    /// The supervisor's log of the restarts it made (the last few),
    /// oldest first.
    pub restarts: Vec<RestartRow>,
    /// Things that could not be read, and why.
    pub problems: Vec<String>,
}

/// What to show.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this task (its row, stack and ringbufs).
    pub task: Option<String>,
    /// Only ringbufs whose name contains this.
    pub ringbuf: Option<String>,
}

impl Report {
    /// Builds the report.
    pub fn build(image: &Image, snap: &Snapshot, filter: &Filter) -> Report {
        let memory = image.memory(snap);
        let mut problems = Vec::new();
        let tasks = task_table(image, &memory, &mut problems);
        let mut ringbufs = Vec::new();
        for (_, program) in &image.tasks {
            ringbufs.extend(rings(program, &memory, &mut problems));
        }
        ringbufs.extend(rings(&image.kernel, &memory, &mut problems));
        let (bus, restarts) = match supervisor_state(image, &memory, &mut problems) {
            Some(state) => (
                bus_table(&state, &mut problems),
                restart_log(
                    &|i| {
                        image
                            .tasks
                            .get(i)
                            .map_or(format!("task {i}"), |(l, _)| l.name.clone())
                    },
                    &state,
                    &mut problems,
                ),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let mut r = Report {
            image: image.name.clone(),
            reason: snap.header.reason.clone(),
            pc: snap.header.registers.get(32).map(|&pc| u64::from(pc)),
            pc_function: snap
                .header
                .registers
                .get(32)
                .and_then(|&pc| image.function_at(u64::from(pc))),
            tasks,
            ringbufs,
            bus,
            restarts,
            problems,
        };
        if let Some(t) = &filter.task {
            r.tasks.retain(|row| &row.name == t);
            r.ringbufs.retain(|ring| &ring.task == t);
            if t != "supervisor" {
                r.bus.clear();
            }
            r.restarts.retain(|row| &row.task == t);
        }
        if let Some(name) = &filter.ringbuf {
            r.ringbufs.retain(|ring| ring.name.contains(name.as_str()));
            r.tasks.clear();
            r.bus.clear();
            r.restarts.clear();
        }
        r
    }

    /// The report as text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "image {}: {}", self.image, self.reason);
        if let Some(pc) = self.pc {
            let _ = write!(out, " (hart pc {pc:#010x}");
            if let Some(f) = &self.pc_function {
                let _ = write!(out, " in {f}");
            }
            out.push(')');
        }
        out.push('\n');
        if !self.tasks.is_empty() {
            out.push_str("\ntasks\n");
            let _ = writeln!(
                out,
                "  {:>2} {:<12} {:<9} {:>4} {:>4} {:>6} {:<10}  {:<30} last fault",
                "id", "name", "state", "prio", "gen", "faults", "pc", "blocked"
            );
            for t in &self.tasks {
                let fault = t.last_fault.as_ref().map_or("-".to_string(), |f| {
                    if f.names_address {
                        format!("{} at {:#010x}, pc {:#010x}", f.kind, f.address, f.pc)
                    } else {
                        format!("{}, pc {:#010x}", f.kind, f.pc)
                    }
                });
                let _ = writeln!(
                    out,
                    "  {:>2} {:<12} {:<9} {:>4} {:>4} {:>6} {:#010x}  {:<30} {}",
                    t.index,
                    t.name,
                    t.state,
                    t.priority,
                    t.generation,
                    t.faults,
                    t.pc,
                    t.blocked.as_deref().unwrap_or("-"),
                    fault
                );
            }
            out.push_str("\nstacks (high-water mark / budget)\n");
            for t in &self.tasks {
                let pct = (t.stack.used * 100)
                    .checked_div(t.stack.budget)
                    .unwrap_or(0);
                let _ = writeln!(
                    out,
                    "  {:<12} {:>6} / {:<6} bytes  {:>3}%",
                    t.name, t.stack.used, t.stack.budget, pct
                );
            }
        }
        if !self.ringbufs.is_empty() {
            out.push_str("\nringbufs\n");
            for r in &self.ringbufs {
                let _ = writeln!(
                    out,
                    "  {}: {} ({} of {} slots used, oldest first)",
                    r.task,
                    r.name,
                    r.entries.len(),
                    r.slots
                );
                for e in &r.entries {
                    // The layout of ringbuf's `Show` (the shell's `ringbuf`).
                    let _ = writeln!(out, "  {:>5} {:>5}x {}", e.index, e.count, e.text);
                }
            }
        }
        if !self.bus.is_empty() {
            out.push_str("\nbus (supervisor)\n");
            for line in &self.bus {
                let _ = writeln!(out, "  {line}");
            }
        }
        if !self.restarts.is_empty() {
            out.push_str("\nrestarts (supervisor, oldest first)\n");
            for r in &self.restarts {
                let (sec, ms) = (r.at_ms / 1000, r.at_ms % 1000);
                let _ = writeln!(
                    out,
                    "  #{:<4} {sec:>5}.{ms:03} s  {:<12} gen {:<4} {}",
                    r.seq, r.task, r.generation, r.cause
                );
            }
        }
        for p in &self.problems {
            let _ = writeln!(out, "warning: {p}");
        }
        out
    }
}

fn task_table(
    image: &Image,
    memory: &dyn super::snapshot::Memory,
    problems: &mut Vec<String>,
) -> Vec<TaskRow> {
    let debug = &image.kernel.debug;
    let Some(var) = debug.variable("TASK_TABLE") else {
        problems.push("the kernel has no TASK_TABLE static in its DWARF".into());
        return Vec::new();
    };
    let decoder = Decoder { debug, memory };
    let Value::Array(tasks) = decoder.decode(var.ty, var.address) else {
        problems.push("the kernel's TASK_TABLE is not an array".into());
        return Vec::new();
    };
    let name_of = |i: usize| {
        image
            .tasks
            .get(i)
            .map_or(format!("task {i}"), |(l, _)| l.name.clone())
    };
    let describe_id = |v: Option<&Value>| -> String {
        match v.and_then(Value::as_u64) {
            Some(raw) => {
                let id = TaskId(raw as u32);
                if id == TaskId::KERNEL {
                    "kernel".into()
                } else {
                    format!("{} (gen {})", name_of(id.index()), id.generation().0)
                }
            }
            None => "?".into(),
        }
    };
    let mut rows = Vec::new();
    for (index, t) in tasks.iter().enumerate() {
        let Some((layout, _)) = image.tasks.get(index) else {
            problems.push(format!("task table entry {index} has no TASK_DESCS entry"));
            continue;
        };
        if let Value::Unreadable(why) = t {
            problems.push(format!("task {}: {why}", layout.name));
            continue;
        }
        let num = |path: &str| t.path(path).and_then(Value::as_u64).unwrap_or(0);
        let state = t.field("state");
        let (state_name, blocked) = match state.and_then(Value::variant) {
            Some("Stopped") => ("stopped".to_string(), None),
            Some("Faulted") => ("faulted".to_string(), None),
            Some("Healthy") => {
                let sched = state.and_then(|s| s.field("__0"));
                match sched.and_then(Value::variant) {
                    Some("Runnable") => ("runnable".into(), None),
                    Some("Throttled") => (
                        "throttled".into(),
                        Some(format!("CPU share spent until tick {}", num("share.end"))),
                    ),
                    Some("InSend") => (
                        "send".into(),
                        Some(format!(
                            "send to {}",
                            describe_id(sched.and_then(|s| s.field("__0")))
                        )),
                    ),
                    Some("InReply") => (
                        "reply".into(),
                        Some(format!(
                            "reply from {}",
                            describe_id(sched.and_then(|s| s.field("__0")))
                        )),
                    ),
                    Some("InRecv") => {
                        let from = sched.and_then(|s| s.field("__0"));
                        let who = match from.and_then(Value::variant) {
                            Some("Some") => describe_id(from.and_then(|f| f.field("__0"))),
                            _ => "anyone".into(),
                        };
                        let mask = num("notification_mask");
                        let what = if who == "kernel" {
                            format!("notifications {mask:#x}")
                        } else {
                            format!("recv from {who}, notif {mask:#x}")
                        };
                        ("recv".into(), Some(what))
                    }
                    other => (format!("{other:?}"), None),
                }
            }
            _ => ("?".into(), None),
        };
        let kind = num("last_fault.kind") as u32;
        let last_fault = (kind != 0).then(|| FaultRow {
            kind: FaultKind::from_u32(kind).map_or(format!("unknown fault kind {kind}"), |k| {
                k.describe().to_string()
            }),
            address: num("last_fault.address"),
            pc: num("last_fault.pc"),
            detail: num("last_fault.detail"),
            names_address: FaultKind::from_u32(kind).is_none_or(FaultKind::names_address),
        });
        let pc = match t.path("save.regs") {
            Some(Value::Array(regs)) => regs.first().and_then(Value::as_u64).unwrap_or(0),
            _ => 0,
        };
        rows.push(TaskRow {
            index,
            name: layout.name.clone(),
            state: state_name,
            blocked,
            priority: layout.priority,
            generation: num("generation"),
            faults: num("fault_count"),
            last_fault,
            pc,
            stack: stack_use(layout, memory),
        });
    }
    rows
}

/// The deepest the stack went: it grows down from `initial_sp`, and
/// `_start` painted every word of it first, so the lowest word that lost
/// its paint marks the high-water line.
pub fn stack_use(layout: &TaskLayout, memory: &dyn super::snapshot::Memory) -> StackRow {
    let budget = layout.initial_sp.saturating_sub(layout.stack_base);
    let mut used = budget;
    let mut addr = layout.stack_base;
    while addr + 4 <= layout.initial_sp {
        match memory.read(addr, 4) {
            Some(w) if u32::from_le_bytes([w[0], w[1], w[2], w[3]]) == STACK_PAINT => {
                addr += 4;
                used = layout.initial_sp - addr;
            }
            _ => break,
        }
    }
    StackRow { used, budget }
}

fn rings(
    program: &Program,
    memory: &dyn super::snapshot::Memory,
    problems: &mut Vec<String>,
) -> Vec<RingRow> {
    let decoder = Decoder {
        debug: &program.debug,
        memory,
    };
    let mut out = Vec::new();
    for var in program.debug.variables_with_prefix(RINGBUF_PREFIX) {
        let name = var.linkage.trim_start_matches(RINGBUF_PREFIX).to_string();
        let ring = decoder.decode(var.ty, var.address);
        match ring_entries(&ring) {
            Ok((slots, entries)) => out.push(RingRow {
                task: program.name.clone(),
                name,
                slots,
                entries,
            }),
            Err(why) => problems.push(format!("{} ringbuf {name}: {why}", program.name)),
        }
    }
    out
}

/// Orders a decoded `Ringbuf<T, N>` oldest first (sys/ringbuf's layout:
/// `newest`, `busy`, `entries[N]` of `{count, payload}`; slots after
/// `newest` are older, a count of zero was never written).
pub fn ring_entries(ring: &Value) -> Result<(usize, Vec<RingEntry>), String> {
    let newest = ring
        .field("newest")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("no readable `newest` in {ring}"))?;
    let slots = match ring.field("entries") {
        Some(Value::Struct(_, f)) if f.len() == 1 => match &f[0].1 {
            Value::Array(items) => items,
            _ => return Err("`entries` is not an array".into()),
        },
        Some(Value::Array(items)) => items,
        _ => return Err("no readable `entries`".into()),
    };
    let n = slots.len();
    let mut entries = Vec::new();
    if newest == u64::from(u32::MAX) || n == 0 {
        return Ok((n, entries));
    }
    for k in 1..=n {
        let i = (newest as usize + k) % n;
        let slot = &slots[i];
        let count = slot.field("count").and_then(Value::as_u64).unwrap_or(0);
        if count == 0 {
            continue;
        }
        let payload = slot.field("payload").cloned().unwrap_or(Value::Unit);
        entries.push(RingEntry {
            index: i,
            count,
            text: payload.to_string(),
            payload: payload.to_json(),
        });
    }
    Ok((n, entries))
}

/// The supervisor's state (its `SUPERVISOR_STATE` static), decoded.
fn supervisor_state(
    image: &Image,
    memory: &dyn super::snapshot::Memory,
    problems: &mut Vec<String>,
) -> Option<Value> {
    let (_, sup) = image.tasks.first()?;
    let Some(var) = sup.debug.variable(SUPERVISOR_STATE) else {
        problems.push(format!(
            "task {} has no {SUPERVISOR_STATE} static: no bus table or restarts",
            sup.name
        ));
        return None;
    };
    let decoder = Decoder {
        debug: &sup.debug,
        memory,
    };
    Some(decoder.decode(var.ty, var.address))
}

/// The supervisor's restart log, oldest first: `records` is a ring
/// indexed by `seq % len`, holding the last `kept` of `count`; tasks named
/// by `name_of`.
pub(super) fn restart_log(
    name_of: &dyn Fn(usize) -> String,
    state: &Value,
    problems: &mut Vec<String>,
) -> Vec<RestartRow> {
    let log = state.field("log");
    let (Some(Value::Array(records)), Some(count), Some(kept)) = (
        log.and_then(|l| l.field("records")),
        log.and_then(|l| l.field("count")).and_then(Value::as_u64),
        log.and_then(|l| l.field("kept")).and_then(Value::as_u64),
    ) else {
        problems.push(format!("{SUPERVISOR_STATE} has no readable restart `log`"));
        return Vec::new();
    };
    let len = records.len() as u64;
    let kept = kept.min(len);
    (0..kept)
        .filter_map(|k| {
            // The oldest kept first; `count` wraps at 2^32 as the log's does.
            let seq = count.wrapping_sub(kept - k) & u64::from(u32::MAX);
            let r = records.get((seq % len.max(1)) as usize)?;
            let num = |name: &str| r.field(name).and_then(Value::as_u64).unwrap_or(0);
            let task = num("task") as usize;
            let cause = abi::RestartCause::from_u32(num("cause") as u32).map_or_else(
                || format!("cause {}", num("cause")),
                |c| c.describe().to_string(),
            );
            Some(RestartRow {
                seq: num("seq"),
                task: name_of(task),
                generation: num("generation"),
                at_ms: num("at_ms"),
                cause,
            })
        })
        .collect()
}

fn bus_table(state: &Value, problems: &mut Vec<String>) -> Vec<String> {
    let Some(bus) = state.field("bus") else {
        problems.push(format!("{SUPERVISOR_STATE} has no readable `bus`: {state}"));
        return Vec::new();
    };
    let mut lines = Vec::new();
    if let Some(Value::Array(slots)) = bus.field("slots") {
        for (i, s) in slots.iter().enumerate() {
            // A slot QEMU left empty has nothing to say.
            if s.field("device").and_then(Value::variant) != Some("None") {
                lines.push(format!("slot {i}: {s}"));
            }
        }
    }
    if let Some(Value::Array(drivers)) = bus.field("drivers") {
        for (i, d) in drivers.iter().enumerate() {
            if d.variant() == Some("None") {
                continue;
            }
            let d = match d.field("__0") {
                Some(inner) => inner,
                None => d,
            };
            lines.push(format!("driver {i}: {d}"));
        }
    }
    if lines.is_empty() {
        // Nothing to list is the answer: no devices and no drivers. (The
        // whole table on one line said the same in 2 KiB.) A table this
        // code cannot walk is still shown whole.
        let walked = matches!(bus.field("slots"), Some(Value::Array(_)))
            && matches!(bus.field("drivers"), Some(Value::Array(_)));
        lines.push(if walked {
            "no devices in any slot, no drivers registered".to_string()
        } else {
            bus.to_string()
        });
    }
    lines
}
