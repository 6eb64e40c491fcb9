//! Setting up a fresh machine: the RV32 Rust target for building, and the
//! host tools that running and debugging need (QEMU, gdb-multiarch),
//! installed from Debian's packages when missing and we are root.

use std::path::{Path, PathBuf};
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

/// Finds an executable on `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Returns the path of `binary`, installing Debian's `package` first when
/// it is missing and we are root with apt; otherwise fails with `how` (the
/// command a person should run).
pub fn ensure_tool(binary: &str, package: &str, how: &str) -> Result<PathBuf> {
    if let Some(p) = on_path(binary) {
        return Ok(p);
    }
    if on_path("apt-get").is_some() && is_root() {
        eprintln!("{binary} not found: installing {package} with apt-get");
        for args in [&["update"][..], &["install", "-y", package][..]] {
            let status = Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .context("cannot run apt-get")?;
            if !status.success() {
                bail!(
                    "`apt-get {}` failed ({status}); install {package} by hand and retry",
                    args.join(" ")
                );
            }
        }
        return on_path(binary)
            .with_context(|| format!("installed {package} but {binary} is still not on PATH"));
    }
    bail!("{binary} is not on PATH; install it with:\n    {how}\nthen run the command again")
}
