//! `cargo xtask build`: from an app file to `target/<name>/dist/image.elf`.
//!
//! The steps, in order: load and validate the app file, allocate regions,
//! link each task at its addresses and measure it, generate `kconfig.rs`,
//! link and measure the kernel, pack everything into one ELF, print the
//! memory map. Outputs under `target/<name>/`:
//!
//! ```text
//! link/<task>/memory.x, link/kernel/memory.x   linker inputs
//! kconfig.rs                                   the kernel's task table
//! dist/<task>.elf, dist/kernel.elf             each program, for debuggers
//! dist/image.elf                               what QEMU boots
//! ```

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::{App, Task};
use crate::elf::Elf;
use crate::layout::{allocate, Region};
use crate::link::{self, check_budget, link_region, CargoBuild, Owner};
use crate::map::{self, Row};
use crate::pack::{write_image, OutSegment};
use crate::progress::Progress;
use crate::{campaign, kconfig, process, setup};

/// A finished build.
pub struct Built {
    /// The app file it came from.
    pub app: App,
    /// `target/<name>/`.
    pub out_dir: PathBuf,
    /// `target/<name>/dist/image.elf`.
    pub image: PathBuf,
    /// Measured use of the kernel's text region in bytes: its code and
    /// its constants (`.rodata`, which holds the image's task descriptors).
    pub kernel_text_used: u64,
    /// Bytes of kernel instructions (`.text` alone).
    pub kernel_code: u64,
}

/// Finds the app file: `None` is `<root>/app.toml`; a path is taken as given
/// if it exists, else relative to the workspace root.
pub fn resolve_app(root: &Path, arg: Option<&Path>) -> PathBuf {
    match arg {
        None => root.join("app.toml"),
        Some(p) if p.exists() || p.is_absolute() => p.to_path_buf(),
        Some(p) => root.join(p),
    }
}

/// Loads an app file, naming it relative to the workspace root in messages.
pub fn load_app(root: &Path, path: &Path) -> Result<App> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read app file {}", path.display()))?;
    let abs = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let shown = abs.strip_prefix(root).map(Path::to_path_buf).unwrap_or(abs);
    App::parse(&text, &shown)
}

/// What was measured of one program.
struct Measured {
    entry: u64,
    text_used: u64,
    ram_used: u64,
    segments: Vec<OutSegment>,
}

/// The spans measured for a program's text and RAM: what the linker was
/// given (huge), but each stopping where the other begins so that bytes are
/// attributed to the region whose base they follow.
fn measure_regions(text: Region, ram: Region) -> (Region, Region) {
    let bound = |r: Region, other: Region| {
        let link = link_region(r.base);
        if other.base > r.base {
            Region::new(r.base, link.size.min(other.base - r.base))
        } else {
            link
        }
    };
    (bound(text, ram), bound(ram, text))
}

fn measure(
    path: &Path,
    origin: &str,
    text: Region,
    ram: Region,
    stack: u64,
) -> Result<(Elf, Measured)> {
    let elf = Elf::read(path)?;
    let (text, ram) = measure_regions(text, ram);
    let m = Measured {
        entry: elf.entry,
        text_used: elf.text_used(text),
        ram_used: elf.ram_used(ram, stack),
        segments: elf
            .segments
            .iter()
            .map(|s| OutSegment {
                paddr: s.paddr,
                flags: s.flags,
                data: s.data.clone(),
                origin: origin.to_string(),
            })
            .collect(),
    };
    Ok((elf, m))
}

/// Fails unless every loadable segment of a program starts in one of
/// `allowed` (how far it extends is the budget check's business).
fn check_segments(who: &str, m: &Measured, allowed: &[(&str, Region)], hint: &str) -> Result<()> {
    for s in &m.segments {
        let end = s.paddr + s.data.len() as u64;
        if !allowed
            .iter()
            .any(|(_, r)| s.paddr >= r.base && s.paddr < r.end())
        {
            let names: Vec<String> = allowed
                .iter()
                .map(|(n, r)| format!("{n} [{:#x}, {:#x})", r.base, r.end()))
                .collect();
            bail!(
                "{who} has loadable bytes at [{:#x}, {end:#x}) outside its {}; {hint}",
                s.paddr,
                names.join(" and ")
            );
        }
    }
    Ok(())
}

/// A task's program against its allocation: its budget problems (for the
/// build to list together), or an error if it fits but is misplaced.
///
/// The budgets are judged first. A program over its budget ran into its
/// next region (lld is told not to stop on the overlap), so where its
/// bytes landed says nothing about the linker script: the budget is what
/// to report, with the key to raise.
fn judge_task(
    file: &Path,
    task: &Task,
    text: Region,
    ram: Region,
    m: &Measured,
    who: &str,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for (what, used, budget) in [
        ("text", m.text_used, text.size),
        ("ram", m.ram_used, ram.size),
    ] {
        if let Err(e) = check_budget(
            file,
            Owner::Task(&task.name),
            what,
            used,
            budget,
            task.stack,
        ) {
            problems.push(e.to_string());
        }
    }
    if !problems.is_empty() {
        return Ok(problems);
    }
    check_segments(
        who,
        m,
        &[("text", measure_regions(text, ram).0)],
        "the linker script must place every initialiser in TEXT (`AT> TEXT`)",
    )?;
    if m.entry < text.base || m.entry >= text.end() {
        bail!(
            "{who}: entry point {:#x} is outside its text region [{:#x}, {:#x})",
            m.entry,
            text.base,
            text.end()
        );
    }
    Ok(problems)
}

fn write_if_changed(path: &Path, contents: &str) -> Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(contents) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// Each task's restart policy, in task order, for userlib's build script
/// (which makes them `userlib::tasks::RESTART`, read by the supervisor):
/// `policy:backoff-ms:limit:window-ms`, comma-separated, 0 for "not set".
fn restart_policies(app: &crate::config::App) -> String {
    use crate::config::RestartPolicy;
    let policies: Vec<String> = app
        .tasks
        .iter()
        .map(|t| {
            let r = &t.restart;
            let policy = match r.policy {
                RestartPolicy::Immediate => "immediate",
                RestartPolicy::Backoff => "backoff",
                RestartPolicy::Never => "never",
            };
            let n = |v: Option<u32>| v.unwrap_or(0);
            format!(
                "{policy}:{}:{}:{}",
                n(r.backoff_ms),
                n(r.limit),
                n(r.window_ms)
            )
        })
        .collect();
    policies.join(",")
}

/// `VIREO_AUTHORITY`: what each task may ask of the supervisor, in task
/// order, comma-separated: `operator` (0 or 1) `:` `observer` (0 or 1) `:`
/// the virtio device ids it may drive, `+`-separated (empty for a task that
/// drives nothing) `:` the interface its crate serves (`served`, in task
/// order; empty for none), by which the supervisor judges its refusals.
fn authority(app: &App, served: &[String]) -> String {
    app.tasks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let ids: Vec<String> = t.device_ids().iter().map(u32::to_string).collect();
            format!(
                "{}:{}:{}:{}",
                u8::from(t.operator),
                u8::from(t.observer),
                ids.join("+"),
                served.get(i).map_or("", String::as_str)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The kernel's cargo features: `image`, those app.toml names, and
/// `test-control` exactly when the app is a test image (a `[test]`
/// section), so only test kernels can fault a task on request or stop the
/// machine.
fn kernel_features(app: &App) -> Vec<String> {
    let mut f = vec!["image".to_string()];
    f.extend(app.kernel.features.iter().cloned());
    if app.test.is_some() && !f.iter().any(|x| x == "test-control") {
        f.push("test-control".into());
    }
    f
}

/// `VIREO_DRIVES`: the image's disks as the app file sizes them,
/// `serial:sectors` for each `[[qemu.drives]]` entry in the file's order,
/// joined by ','; the serial is the device's `serial=` option, empty
/// without one. For a test task that must know a disk's size without
/// asking the disk's driver, which is what it tests (test/blk/suite): with
/// the size written into the suite, a disk resized in the app file failed
/// cases that blamed the driver ("read past the end: Ok(())").
fn drives(app: &crate::config::App) -> String {
    let entries: Vec<String> = app
        .qemu
        .drives
        .iter()
        .map(|d| {
            let serial = d
                .device
                .split(',')
                .find_map(|o| o.strip_prefix("serial="))
                .unwrap_or("");
            format!("{serial}:{}", d.size / 512)
        })
        .collect();
    entries.join(",")
}

/// The environment of one task's build: the image's task names, restart
/// policies and disks (for userlib and test tasks), the task's own settings
/// (`userlib::config`), and the fault campaign's parameters (read only by
/// the campaign task).
fn task_env(
    task: &crate::config::Task,
    app_path: &Path,
    vireo_tasks: &str,
    vireo_restart: &str,
    vireo_authority: &str,
    vireo_drives: &str,
    params: &campaign::Params,
) -> Vec<(String, String)> {
    let mut env = vec![
        ("VIREO_TASKS".into(), vireo_tasks.to_string()),
        ("VIREO_RESTART".into(), vireo_restart.to_string()),
        ("VIREO_AUTHORITY".into(), vireo_authority.to_string()),
        ("VIREO_DRIVES".into(), vireo_drives.to_string()),
        ("VIREO_CONFIG".into(), task_config(task)),
        // For a build script's messages about the task's `config`: the
        // file and the line of the key (`test/net.toml:37`), as xtask's
        // own messages name them.
        (
            "VIREO_APP".into(),
            match task.config_line {
                Some(line) => format!("{}:{line}", app_path.display()),
                None => app_path.display().to_string(),
            },
        ),
        (campaign::Params::ENV.into(), params.spec()),
    ];
    if let Some(ms) = task.deadline() {
        env.push(("VIREO_DEADLINE_MS".into(), ms.to_string()));
    }
    env
}

/// Builds the image described by the app file at `app_path`.
pub fn build(root: &Path, app_path: &Path, verbose: bool) -> Result<Built> {
    build_with(root, app_path, &campaign::Params::default(), verbose)
}

/// Builds the image at `app_path`; a campaign task in it is built with
/// `params`.
pub fn build_with(
    root: &Path,
    app_path: &Path,
    params: &campaign::Params,
    verbose: bool,
) -> Result<Built> {
    let lane = Lane {
        target_dir: process::cargo_target_dir(root),
        label: None,
    };
    build_in(root, app_path, params, verbose, &lane)
}

/// Where a build's cargo works, when builds run side by side
/// (`cargo xtask test`): each lane has a target dir of its own, since
/// cargo lets one build at a time use a target dir.
#[derive(Clone, Debug)]
pub struct Lane {
    /// Cargo's target dir for this lane.
    pub target_dir: PathBuf,
    /// The image's name in progress lines, when lanes run side by side.
    pub label: Option<String>,
}

/// [`build_with`] in a given [`Lane`].
pub fn build_in(
    root: &Path,
    app_path: &Path,
    params: &campaign::Params,
    verbose: bool,
    lane: &Lane,
) -> Result<Built> {
    let app = load_app(root, app_path)?;
    let layout = allocate(&app)?;
    let served = crates::check(root, &app, app_path)?;
    for note in crates::unjudged(&app, &served) {
        println!("{note}");
    }
    setup::ensure_target(root)?;

    let out_dir = root.join("target").join(&app.name);
    let dist = out_dir.join("dist");
    std::fs::create_dir_all(&dist).with_context(|| format!("cannot create {}", dist.display()))?;
    let cargo_target = &lane.target_dir;
    let task_names: Vec<&str> = app.tasks.iter().map(|t| t.name.as_str()).collect();
    let vireo_tasks = task_names.join(",");
    let vireo_restart = restart_policies(&app);
    let vireo_authority = authority(&app, &served);
    let vireo_drives = drives(&app);

    let mut progress = Progress::new(app.tasks.len() + 2, verbose, lane.label.as_deref());
    let mut rows = Vec::new();
    let mut segments = Vec::new();
    let mut entries = Vec::new();
    let mut over_budget = Vec::new();

    for (task, tl) in app.tasks.iter().zip(&layout.tasks) {
        progress.step(&format!("building task {} ({})", task.name, task.krate));
        let link_dir = out_dir.join("link").join(&task.name);
        write_if_changed(
            &link_dir.join("memory.x"),
            &link::task_memory_x(tl.text, tl.ram, task.stack),
        )?;
        let build = CargoBuild {
            package: task.krate.clone(),
            bin: task.krate.clone(),
            features: task.features.clone(),
            link_dir,
            script: root.join("sys/userlib/task-link.x"),
            env: task_env(
                task,
                app_path,
                &vireo_tasks,
                &vireo_restart,
                &vireo_authority,
                &vireo_drives,
                params,
            ),
            llvm_args: &[],
        };
        let built = build
            .run(root, cargo_target, verbose)
            .inspect_err(|_| progress.finish())?;
        let elf_path = dist.join(format!("{}.elf", task.name));
        copy(&built, &elf_path)?;

        let (_, m) = measure(&elf_path, &task.name, tl.text, tl.ram, task.stack)?;
        let who = format!("task '{}' ({})", task.name, elf_path.display());
        over_budget.extend(judge_task(&app.file, task, tl.text, tl.ram, &m, &who)?);
        rows.push(Row {
            owner: task.name.clone(),
            region: "text".into(),
            base: tl.text.base,
            size: tl.text.size,
            used: Some(m.text_used),
        });
        rows.push(Row {
            owner: task.name.clone(),
            region: "ram".into(),
            base: tl.ram.base,
            size: tl.ram.size,
            used: Some(m.ram_used),
        });
        if let Some(r) = tl.rings {
            rows.push(Row {
                owner: task.name.clone(),
                region: "rings (kernel-written)".into(),
                base: r.base,
                size: r.size,
                used: None,
            });
        }
        for d in &tl.devices {
            rows.push(Row {
                owner: task.name.clone(),
                region: format!("device {}", d.name),
                base: d.region.base,
                size: d.region.size,
                used: None,
            });
        }
        entries.push(m.entry);
        segments.extend(m.segments);
    }
    if !over_budget.is_empty() {
        progress.finish();
        bail!(
            "{} region(s) over budget:\n  - {}",
            over_budget.len(),
            over_budget.join("\n  - ")
        );
    }

    progress.step("building the kernel");
    let kconfig_path = out_dir.join("kconfig.rs");
    write_if_changed(&kconfig_path, &kconfig::generate(&app, &layout, &entries))?;
    let klink_dir = out_dir.join("link").join("kernel");
    write_if_changed(
        &klink_dir.join("memory.x"),
        &link::kernel_memory_x(layout.kernel_text, layout.kernel_ram, app.kernel.stack),
    )?;
    let kbuild = CargoBuild {
        package: "kern".into(),
        bin: "kernel".into(),
        features: kernel_features(&app),
        link_dir: klink_dir,
        script: root.join("sys/kern/kernel-link.x"),
        env: vec![
            ("VIREO_KCONFIG".into(), kconfig_path.display().to_string()),
            ("VIREO_TASKS".into(), vireo_tasks.clone()),
        ],
        llvm_args: link::KERNEL_LLVM_ARGS,
    };
    let built = kbuild
        .run(root, cargo_target, verbose)
        .inspect_err(|_| progress.finish())?;
    let kernel_path = dist.join("kernel.elf");
    copy(&built, &kernel_path)?;
    // The kernel prints without `core::fmt`: a panic that formats numbers
    // (an index the compiler cannot prove in bounds) brings a kilobyte of
    // it back, which this catches when it happens rather than in the
    // bench's code row.
    let fmt = Elf::fmt_functions(&kernel_path)?;
    if !fmt.is_empty() {
        progress.finish();
        bail!(
            "the kernel contains core::fmt ({}): something in it can panic with a formatted \
             message, most often an index or slice the compiler cannot prove in bounds; find the \
             caller with `llvm-objdump -d {}` (look for panic_bounds_check) and use `get`, or \
             the task table's own indexing (kern::table)",
            fmt.join(", "),
            kernel_path.display()
        );
    }
    let (kelf, km) = measure(
        &kernel_path,
        "kernel",
        layout.kernel_text,
        layout.kernel_ram,
        app.kernel.stack,
    )?;
    let mut kproblems = Vec::new();
    for (what, used, budget) in [
        ("text", km.text_used, app.kernel.text),
        ("ram", km.ram_used, app.kernel.ram),
    ] {
        if let Err(e) = check_budget(
            &app.file,
            Owner::Kernel,
            what,
            used,
            budget,
            app.kernel.stack,
        ) {
            kproblems.push(e.to_string());
        }
    }
    if !kproblems.is_empty() {
        progress.finish();
        bail!("{}", kproblems.join("\n"));
    }
    // Only now: a kernel over its budget ran into its next region.
    check_segments(
        &format!("the kernel ({})", kernel_path.display()),
        &km,
        &{
            let (t, r) = measure_regions(layout.kernel_text, layout.kernel_ram);
            [("KTEXT", t), ("KRAM", r)]
        },
        "check sys/kern/kernel-link.x",
    )?;
    let mut all_rows = vec![
        Row {
            owner: "kernel".into(),
            region: "text".into(),
            base: layout.kernel_text.base,
            size: layout.kernel_text.size,
            used: Some(km.text_used),
        },
        Row {
            owner: "kernel".into(),
            region: "ram".into(),
            base: layout.kernel_ram.base,
            size: layout.kernel_ram.size,
            used: Some(km.ram_used),
        },
    ];
    all_rows.extend(rows);
    let kernel_text_used = km.text_used;
    segments.splice(0..0, km.segments);

    progress.step("packing the image");
    let bytes = write_image(kelf.entry, kelf.flags, &segments)?;
    let image = dist.join("image.elf");
    std::fs::write(&image, bytes).with_context(|| format!("cannot write {}", image.display()))?;
    progress.finish();

    // One `println!`, so that a lane's table is not cut by another's.
    println!(
        "{}\nimage: {}",
        map::format(&all_rows).trim_end(),
        image.strip_prefix(root).unwrap_or(&image).display()
    );
    Ok(Built {
        app,
        out_dir,
        image,
        kernel_text_used,
        kernel_code: kelf.code_bytes(),
    })
}

/// A task's `config` table as the `VIREO_CONFIG` its build sees:
/// `key=value` pairs joined by `;`.
fn task_config(task: &crate::config::Task) -> String {
    task.config
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

mod crates;
#[cfg(test)]
mod tests;
