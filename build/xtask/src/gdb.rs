//! `cargo xtask gdb`: attaches `gdb-multiarch` to a running image through
//! its gdbstub socket, with the kernel's and every task's symbols loaded.
//! Each program is linked at its own addresses, so every ELF's symbols are
//! loaded where they already say they are; `bt` in any task shows its
//! frames by name.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::dump::{self, programs::Image};
use crate::setup;

/// Debian's multi-architecture gdb.
const GDB: &str = "gdb-multiarch";

/// The gdb commands that load every program and attach.
pub fn script(image: &Image, socket: &Path) -> String {
    let mut s = String::from(
        "set confirm off\nset pagination off\nset architecture riscv:rv32\n",
    );
    s.push_str(&format!("file {}\n", image.kernel.path.display()));
    for (_, task) in &image.tasks {
        // No address: gdb places each section at the address the ELF
        // gives it, which is where the task was linked to run.
        s.push_str(&format!("add-symbol-file {}\n", task.path.display()));
    }
    s.push_str(&format!("target remote {}\n", socket.display()));
    s
}

/// Writes the script to `target/<image>/gdb-init` and runs gdb on it,
/// with this terminal.
pub fn run(out_dir: &Path, batch: &[String]) -> Result<bool> {
    let image = dump::load_image(out_dir)?;
    let socket = dump::socket_path(out_dir);
    if !socket.exists() {
        bail!(
            "{} does not exist: start the image first (cargo xtask run)",
            socket.display()
        );
    }
    let gdb = setup::ensure_tool(
        GDB,
        "gdb-multiarch",
        "sudo apt-get install -y gdb-multiarch (or any gdb built with RISC-V support)",
    )?;
    let init: PathBuf = out_dir.join("gdb-init");
    std::fs::write(&init, script(&image, &socket))
        .with_context(|| format!("cannot write {}", init.display()))?;
    let mut cmd = Command::new(gdb);
    cmd.arg("-q").arg("-x").arg(&init);
    if !batch.is_empty() {
        // Non-interactive use (scripts, tests): run these and detach.
        cmd.arg("-batch");
        for c in batch {
            cmd.arg("-ex").arg(c);
        }
        cmd.arg("-ex").arg("detach");
    }
    eprintln!("gdb: symbols from {} programs, attaching to {}", image.tasks.len() + 1, socket.display());
    let status = cmd.status().context("cannot start gdb-multiarch")?;
    Ok(status.success())
}
