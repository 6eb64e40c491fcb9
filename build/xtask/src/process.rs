//! Running the programs xtask drives: cargo (the one that runs xtask) and
//! any command whose output is shown only when it fails. QEMU has its own
//! runner (`qemu.rs`), which reads the console as it comes.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The cargo that runs xtask (`$CARGO`), or `cargo` from PATH.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Runs a command with stdout and stderr merged and captured; when it
/// fails, the error is its output. With `verbose` the output is passed
/// through instead.
pub fn run_captured(cmd: &mut Command, verbose: bool) -> Result<String> {
    if verbose {
        let status = cmd.status().context("cannot start command")?;
        if !status.success() {
            bail!("exited with {status}");
        }
        return Ok(String::new());
    }
    let (mut reader, writer) = std::io::pipe().context("cannot create a pipe")?;
    let writer2 = writer.try_clone().context("cannot clone a pipe")?;
    cmd.stdin(Stdio::null()).stdout(writer).stderr(writer2);
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        cmd.env("CARGO_TERM_COLOR", "always");
    }
    let child = cmd.spawn();
    // Drop our copies of the write end so the read ends at the child's exit.
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = child.context("cannot start command")?;
    let mut output = String::new();
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .context("cannot read output")?;
    output.push_str(&String::from_utf8_lossy(&bytes));
    let status = child.wait().context("cannot wait for command")?;
    if !status.success() {
        bail!("exited with {status}; its output:\n{}", output.trim_end());
    }
    Ok(output)
}

/// Where cargo puts its output: `$CARGO_TARGET_DIR` or `<root>/target`.
pub fn cargo_target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        }
        None => root.join("target"),
    }
}

/// `line` without ANSI colour sequences (`ESC [ ... letter`), as cargo
/// writes them when its output is a terminal.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
