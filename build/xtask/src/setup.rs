//! Setting up a fresh machine for building: the RV32 Rust target.
//! (QEMU is set up in [`crate::qemu`], only when something is run.)

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::machine::TARGET;

/// Adds the riscv32 target with rustup when it is not installed. Without
/// rustup there is nothing to check; cargo will complain if it is missing.
pub fn ensure_target(root: &Path) -> Result<()> {
    // Run in the workspace so rustup picks the toolchain rust-toolchain.toml names.
    let Ok(out) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(root)
        .output()
    else {
        return Ok(());
    };
    if !out.status.success() {
        return Ok(());
    }
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == TARGET)
    {
        return Ok(());
    }
    eprintln!("the {TARGET} target is missing: running `rustup target add {TARGET}`");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .current_dir(root)
        .status()
        .context("cannot run rustup")?;
    if !status.success() {
        bail!("`rustup target add {TARGET}` failed ({status}); run it by hand and retry");
    }
    Ok(())
}
