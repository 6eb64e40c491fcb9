//! A built image as the dump sees it: the kernel's and every task's ELF
//! (symbols and DWARF) from `target/<name>/dist/`, the image's read-only
//! bytes, and the RAM regions worth capturing — all learnt from the image
//! itself (the kernel's `TASK_DESCS`), so no app file is needed to read a
//! dump.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use object::{Object as _, ObjectSymbol as _};

use super::dwarf::DebugInfo;
use super::snapshot::{Layered, Snapshot, Span};
use super::value::{Decoder, Value};
use crate::elf::Elf;

/// One program of the image.
pub struct Program {
    /// `kernel` or the task's name.
    pub name: String,
    /// Its ELF under `dist/`.
    pub path: PathBuf,
    /// Its types and statics.
    pub debug: DebugInfo,
}

/// What the kernel was built to run, per task (from `TASK_DESCS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskLayout {
    /// The task's name.
    pub name: String,
    /// Priority (0 is the most important).
    pub priority: u64,
    /// Top of the stack (the initial stack pointer).
    pub initial_sp: u64,
    /// Lowest stack address.
    pub stack_base: u64,
    /// Writable, non-device regions: `(base, size)`.
    pub ram: Vec<(u64, u64)>,
}

/// A built image.
pub struct Image {
    /// The image's name.
    pub name: String,
    /// The kernel.
    pub kernel: Program,
    /// Every task, in task-table order.
    pub tasks: Vec<(TaskLayout, Program)>,
    /// The image's loadable bytes (text, read-only data, .data initialisers).
    pub rom: Vec<Span>,
    /// The kernel's RAM: data, bss and its stack.
    pub kernel_ram: (u64, u64),
}

fn read_program(name: &str, path: &Path) -> Result<Program> {
    let data = std::fs::read(path).with_context(|| {
        format!(
            "cannot read {} (build the image first: cargo xtask build)",
            path.display()
        )
    })?;
    let debug = DebugInfo::parse(&data)
        .with_context(|| format!("cannot read the DWARF of {}", path.display()))?;
    Ok(Program {
        name: name.to_string(),
        path: path.to_path_buf(),
        debug,
    })
}

/// The address of the ELF symbol `name` in the ELF `data`, if it has one.
pub fn symbol(data: &[u8], name: &str) -> Option<u64> {
    let file = object::File::parse(data).ok()?;
    file.symbols()
        .find(|s| s.name() == Ok(name))
        .map(|s| s.address())
}

/// The function of the ELF `data` whose symbol covers `pc`, demangled
/// without its hash.
pub fn function_at(data: &[u8], pc: u64) -> Option<String> {
    let file = object::File::parse(data).ok()?;
    file.symbols()
        .find(|s| {
            s.kind() == object::SymbolKind::Text
                && s.size() > 0
                && (s.address()..s.address() + s.size()).contains(&pc)
        })
        .and_then(|s| {
            s.name()
                .ok()
                .map(|n| format!("{:#}", rustc_demangle::demangle(n)))
        })
}

impl Image {
    /// The function at `pc`, in the kernel or in whichever task's text
    /// holds it (each program is linked at its own addresses).
    pub fn function_at(&self, pc: u64) -> Option<String> {
        std::iter::once(&self.kernel)
            .chain(self.tasks.iter().map(|(_, p)| p))
            .find_map(|p| function_at(&std::fs::read(&p.path).ok()?, pc))
    }

    /// Loads `target/<name>/dist/`.
    pub fn load(dir: &Path, name: &str) -> Result<Image> {
        let dist = dir.join("dist");
        let kernel = read_program("kernel", &dist.join("kernel.elf"))?;
        let image = Elf::read(&dist.join("image.elf"))?;
        let rom: Vec<Span> = image
            .segments
            .iter()
            .map(|s| Span {
                base: s.paddr,
                data: s.data.clone(),
            })
            .collect();
        let kernel_bytes = std::fs::read(&kernel.path)?;
        let (Some(bottom), Some(end)) = (
            symbol(&kernel_bytes, "_kstack_bottom"),
            symbol(&kernel_bytes, "_ebss"),
        ) else {
            bail!(
                "{} lacks _kstack_bottom/_ebss: not a Vireo kernel",
                kernel.path.display()
            );
        };
        let layouts = task_layouts(&kernel, &rom)?;
        let mut tasks = Vec::new();
        for l in layouts {
            let p = read_program(&l.name, &dist.join(format!("{}.elf", l.name)))?;
            tasks.push((l, p));
        }
        Ok(Image {
            name: name.to_string(),
            kernel,
            tasks,
            rom,
            kernel_ram: (bottom, end.saturating_sub(bottom)),
        })
    }

    /// The RAM spans a snapshot captures: the kernel's, then each task's.
    pub fn ram_regions(&self) -> Vec<(u64, u64)> {
        let mut v = vec![self.kernel_ram];
        for (l, _) in &self.tasks {
            v.extend(l.ram.iter().copied());
        }
        v
    }

    /// A decoder for `program` over `ram` (and the image's own bytes).
    pub fn memory<'a>(&'a self, ram: &'a Snapshot) -> Layered<'a> {
        Layered {
            ram,
            image: &self.rom,
        }
    }
}

/// Reads the kernel's `TASK_DESCS` out of the image's read-only data.
fn task_layouts(kernel: &Program, rom: &[Span]) -> Result<Vec<TaskLayout>> {
    let var = kernel
        .debug
        .variable("TASK_DESCS")
        .context("the kernel has no TASK_DESCS static in its DWARF")?;
    let empty = Snapshot::default();
    let memory = Layered {
        ram: &empty,
        image: rom,
    };
    let decoder = Decoder {
        debug: &kernel.debug,
        memory: &memory,
    };
    let Value::Array(descs) = decoder.decode(var.ty, var.address) else {
        bail!("the kernel's TASK_DESCS is not an array");
    };
    descs
        .iter()
        .map(|d| {
            let num = |f: &str| {
                d.field(f)
                    .and_then(Value::as_u64)
                    .with_context(|| format!("TASK_DESCS entry without a readable `{f}`: {d}"))
            };
            let name = match d.field("name") {
                Some(Value::Str(s)) => s.clone(),
                _ => bail!("TASK_DESCS entry without a readable name: {d}"),
            };
            let mut ram = Vec::new();
            if let Some(Value::Array(regions)) = d.field("regions") {
                for r in regions {
                    let get = |f: &str| r.field(f).and_then(Value::as_u64).unwrap_or(0);
                    let attrs = get("attributes");
                    // REGION_WRITE (1 << 1) without REGION_DEVICE (1 << 3):
                    // the task's own RAM (sys/kern/src/descs.rs).
                    if attrs & 0b10 != 0 && attrs & 0b1000 == 0 {
                        ram.push((get("base"), get("size")));
                    }
                }
            }
            Ok(TaskLayout {
                name,
                priority: num("priority")?,
                initial_sp: num("initial_sp")?,
                stack_base: num("stack_base")?,
                ram,
            })
        })
        .collect()
}
