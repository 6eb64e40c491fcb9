//! `cargo xtask dump`: see inside a running or crashed image.
//!
//! A dump is a [`Snapshot`] of the image's RAM — taken live through the
//! gdbstub every run opens at `target/<image>/gdb.sock`, or read back from a
//! file a post-mortem left in `target/<image>/dumps/` — decoded with the
//! DWARF of the kernel and of every task: the task table, stack high-water
//! marks, every ringbuf by its entry type, the supervisor's bus table.
//!
//! Modules: [`rsp`] talks to the gdbstub, [`snapshot`] holds captured
//! memory and the dump file format, [`dwarf`] reads types, [`value`] decodes
//! bytes by type, [`programs`] finds the image's ELFs and regions,
//! [`report`] builds what is shown, [`postmortem`] writes dumps when the
//! kernel panics or the supervisor dies.
//!
//! It must never change the target beyond stopping it while it reads (and,
//! for a post-mortem, releasing the kernel's wait for the dump).

pub mod check;
pub mod dwarf;
pub mod postmortem;
pub mod programs;
pub mod report;
pub mod rsp;
pub mod snapshot;
pub mod value;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use programs::Image;
use report::{Filter, Report};
use snapshot::{Header, Snapshot, Span};

/// The gdbstub's Unix socket of an image's runs.
pub fn socket_path(out_dir: &Path) -> PathBuf {
    out_dir.join("gdb.sock")
}

/// Where post-mortem dumps of an image go.
pub fn dumps_dir(out_dir: &Path) -> PathBuf {
    out_dir.join("dumps")
}

/// Captures the image's RAM through a gdbstub connection (the machine is
/// stopped from the moment `gdb` connected) and lets the machine go;
/// `before_detach` sees the snapshot (when reading worked) and may write to
/// the machine first: the post-mortem saves the dump, then releases the
/// kernel's wait that way — in that order, since a released kernel stops
/// the machine at once.
///
/// After a panic ([`attach`]), connect first, then load the image's ELFs:
/// reading DWARF takes a while, and a machine that is stopped cannot run
/// out of the time the kernel waits for its dump. A live dump loads first
/// ([`report_for`]): the machine is stopped only while its RAM is read.
pub fn capture(
    mut gdb: rsp::Gdb,
    image: &Image,
    reason: &str,
    before_detach: impl FnOnce(&mut rsp::Gdb, Option<&Snapshot>) -> Result<()>,
) -> Result<Snapshot> {
    let result = (|| -> Result<Snapshot> {
        let registers = gdb.registers().unwrap_or_default();
        let mut spans = Vec::new();
        for (base, size) in image.ram_regions() {
            let data = gdb.read_memory(base, size as usize)?;
            spans.push(Span { base, data });
        }
        Ok(Snapshot {
            header: Header {
                image: image.name.clone(),
                reason: reason.to_string(),
                taken_at: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                registers,
                regions: Vec::new(),
            },
            spans,
        })
    })();
    // Let the machine go even when reading failed halfway.
    let released = before_detach(&mut gdb, result.as_ref().ok());
    let detached = gdb.detach();
    let snap = result?;
    released?;
    detached?;
    Ok(snap)
}

/// Stops the machine through its gdbstub, then loads its image: see
/// [`capture`] for why in this order. A failed load still lets it go.
pub fn attach(out_dir: &Path) -> Result<(rsp::Gdb, Image)> {
    let gdb = rsp::Gdb::connect(&socket_path(out_dir))?;
    match load_image(out_dir) {
        Ok(image) => Ok((gdb, image)),
        Err(e) => {
            let _ = gdb.detach();
            Err(e)
        }
    }
}

/// What `cargo xtask dump` was asked.
pub struct Options {
    /// `target/<image>/` of the image named on the command line.
    pub out_dir: PathBuf,
    /// Read this dump file instead of the running image.
    pub file: Option<PathBuf>,
    /// Narrowing.
    pub filter: Filter,
    /// Print JSON.
    pub json: bool,
}

/// Runs `cargo xtask dump`: prints the report.
pub fn run(root: &Path, opts: &Options) -> Result<()> {
    use std::io::Write as _;
    let report = report_for(root, opts)?;
    let text = if opts.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        report.text()
    };
    // A reader that went away (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(())
}

/// Builds the report `cargo xtask dump` prints.
pub fn report_for(root: &Path, opts: &Options) -> Result<Report> {
    let (snap, image) = match &opts.file {
        Some(file) => {
            let snap = Snapshot::read(file)?;
            // A dump names its image; its ELFs are in target/<image>/dist.
            let image = load_image(&root.join("target").join(&snap.header.image))?;
            check_task_filter(&image, &opts.filter)?;
            (snap, image)
        }
        None => {
            // A live machine is stopped only while its RAM is read: its
            // ELFs are loaded (seconds of DWARF) and the names asked for
            // checked first. Stopped for all that, it lost datagrams and
            // kept pages waiting 3 s — for a typo, too. (After a panic the
            // kernel waits for its dump: `postmortem` connects first.)
            let image = load_image(&opts.out_dir)?;
            check_task_filter(&image, &opts.filter)?;
            let gdb = rsp::Gdb::connect(&socket_path(&opts.out_dir))?;
            let snap = capture(gdb, &image, "live", |_, _| Ok(()))?;
            (snap, image)
        }
    };
    let report = Report::build(&image, &snap, &opts.filter);
    if let Some(r) = &opts.filter.ringbuf {
        if report.ringbufs.is_empty() {
            let all = Report::build(&image, &snap, &Filter::default());
            let names: Vec<String> = all
                .ringbufs
                .iter()
                .map(|ring| format!("{}:{}", ring.task, ring.name))
                .collect();
            bail!(
                "no ringbuf of image {} has `{r}` in its name; the ringbufs are: {}",
                image.name,
                names.join(", ")
            );
        }
    }
    Ok(report)
}

/// A task name that matches nothing is a typo, not an empty answer.
fn check_task_filter(image: &Image, filter: &Filter) -> Result<()> {
    if let Some(t) = &filter.task {
        if !image.tasks.iter().any(|(l, _)| &l.name == t) {
            let names: Vec<&str> = image.tasks.iter().map(|(l, _)| l.name.as_str()).collect();
            bail!(
                "no task named `{t}` in image {}; the tasks are: {}",
                image.name,
                names.join(", ")
            );
        }
    }
    Ok(())
}

/// Loads `target/<name>/` as an [`Image`].
pub fn load_image(out_dir: &Path) -> Result<Image> {
    let name = out_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .context("image directory has no name")?;
    Image::load(out_dir, &name)
}
