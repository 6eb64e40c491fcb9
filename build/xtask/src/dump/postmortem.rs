//! Post-mortem dumps: when the kernel panics, or the supervisor faults and
//! the kernel is about to reboot, the kernel prints a last line and waits a
//! moment (`VIREO_DUMP_TAKEN`, sys/kern arch) before stopping the machine.
//! xtask, reading the console of every run, sees the line, captures the RAM
//! through the gdbstub, writes `target/<image>/dumps/<time>-<why>.dump`, and
//! sets the kernel's flag so that it stops waiting.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::{attach, capture, dumps_dir};

/// The kernel's flag, set to 1 once the dump is safe on disk.
const RELEASE: &str = "VIREO_DUMP_TAKEN";

/// The `id` of the gdbstub's chardev on the QEMU command line.
pub const CHARDEV_ID: &str = "vireo-gdb";

/// Dumps written by this process, oldest first, for test reports.
static WRITTEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// If a console line announces the end of the machine, the reason to name
/// the dump after.
pub fn trigger(line: &str) -> Option<&'static str> {
    if line.contains("KERNEL PANIC") {
        Some("kernel-panic")
    } else if line.contains("nobody can recover it; rebooting") {
        Some("supervisor-fault")
    } else {
        None
    }
}

/// `target/<image>/` of a QEMU command line, from its gdbstub socket.
pub fn out_dir_of(args: &[String]) -> Option<PathBuf> {
    args.iter().find_map(|a| {
        let rest = a.strip_prefix("socket,path=")?;
        let (path, tail) = rest.split_once(",server=on")?;
        tail.contains(&format!("id={CHARDEV_ID}")).then(|| {
            Path::new(&path.replace(",,", ","))
                .parent()
                .map(Path::to_path_buf)
        })?
    })
}

/// Takes the dump a trigger line asks for; says on stderr where it went, or
/// why there is none. Returns the file.
pub fn on_trigger(args: &[String], line: &str) -> Option<PathBuf> {
    let why = trigger(line)?;
    let out_dir = out_dir_of(args)?;
    // The console line may start with whatever was on it before (a prompt).
    let at = ["KERNEL PANIC", "supervisor '"]
        .iter()
        .filter_map(|m| line.find(m))
        .min()
        .unwrap_or(0);
    let reason = line[at..].trim();
    match take(&out_dir, why, reason) {
        Ok(path) => {
            eprintln!(
                "post-mortem dump: {} (read it with: cargo xtask dump --file {})",
                path.display(),
                path.display()
            );
            WRITTEN.lock().map(|mut w| w.push(path.clone())).ok();
            Some(path)
        }
        Err(e) => {
            eprintln!("post-mortem dump failed: {e:#}");
            None
        }
    }
}

/// Captures the image at `out_dir` and writes the dump file, then lets the
/// kernel stop the machine.
pub fn take(out_dir: &Path, why: &str, reason: &str) -> Result<PathBuf> {
    let (gdb, image) = attach(out_dir)?;
    let flag = image.kernel.debug.variable(RELEASE).map(|v| v.address);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let path = dumps_dir(out_dir).join(format!("{secs}-{why}.dump"));
    // The file is written while the machine is still stopped: once the
    // flag is set the kernel stops it, QEMU exits and the connection with
    // it, so nothing may be left to do after that but the detach.
    let mut saved = None;
    capture(gdb, &image, reason, |gdb, snap| {
        if let Some(snap) = snap {
            saved = Some(snap.write(&path));
        }
        match flag {
            Some(flag) => gdb.write_memory(flag, &1u32.to_le_bytes()),
            // The kernel just waits out its time.
            None => anyhow::bail!("the kernel has no {RELEASE} static"),
        }
    })?;
    saved.context("no snapshot to save")??;
    Ok(path)
}

/// The dumps written since the last call.
pub fn take_written() -> Vec<PathBuf> {
    WRITTEN
        .lock()
        .map(|mut w| std::mem::take(&mut *w))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{out_dir_of, trigger};
    use std::path::Path;

    #[test]
    fn the_kernels_last_words_trigger_a_dump() {
        assert_eq!(trigger("[  1.2] KERNEL PANIC: oops"), Some("kernel-panic"));
        assert_eq!(
            trigger("[ 1.6] kernel: supervisor 'supervisor' faulted (panic): nobody can recover it; rebooting"),
            Some("supervisor-fault")
        );
        assert_eq!(trigger("[ 1.6] kernel: task blk0 faulted"), None);
    }

    #[test]
    fn the_image_directory_comes_from_the_gdbstub_socket() {
        let args: Vec<String> = [
            "-chardev",
            "socket,path=/w/target/t,,x/gdb.sock,server=on,wait=off,id=vireo-gdb",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            out_dir_of(&args).as_deref(),
            Some(Path::new("/w/target/t,x"))
        );
        assert_eq!(out_dir_of(&["-kernel".to_string()]), None);
    }
}
