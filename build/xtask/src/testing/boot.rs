//! The boot test: `app.toml` under `-icount shift=0`; the kernel's banner
//! and every started task must appear within 2 s of virtual time.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::image;
use super::Case;
use crate::config::App;
use crate::console::{self, Line};
use crate::qemu::{self, Capture, End, Watch};

/// Virtual-time limit for the boot test.
const BOOT_LIMIT_S: f64 = 2.0;
/// Wall-clock limit for the boot test.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);

/// The lines the boot test waits for: the banner and one per started task.
pub fn boot_expectations(app: &App) -> Vec<String> {
    let mut v = vec!["Vireo kernel".to_string()];
    v.extend(
        app.tasks
            .iter()
            .filter(|t| t.start)
            .map(|t| format!("kernel: task {} started", t.name)),
    );
    v
}

/// Judges the boot test's console (pure, so it can be tested).
pub fn evaluate_boot(cap: &Capture, expectations: &[String]) -> Vec<Case> {
    let mut cases = Vec::new();
    for e in expectations {
        let name = format!("`{e}` within {BOOT_LIMIT_S} s");
        let Some(line) = cap.lines.iter().find(|l| l.contains(e.as_str())) else {
            let how = match &cap.end {
                End::TimedOut => format!("not seen in {} s of wall time", BOOT_TIMEOUT.as_secs()),
                End::Exited(code) => format!("not seen before QEMU exited ({code:?})"),
                End::Stopped => "not seen".to_string(),
            };
            cases.push(Case::fail(
                name,
                format!("{how}; last lines: {}", image::last_lines(&cap.lines)),
            ));
            continue;
        };
        match console::timestamp(line) {
            Some(t) if t < BOOT_LIMIT_S => cases.push(Case::ok(name)),
            Some(t) => cases.push(Case::fail(
                name,
                format!("seen only at {t} s of virtual time: {line}"),
            )),
            None => cases.push(Case::fail(
                name,
                format!("line has no `[ seconds]` timestamp: {line}"),
            )),
        }
    }
    for line in &cap.lines {
        if console::parse(line) == Line::Panic {
            cases.push(Case::fail("no kernel panic", line.trim().to_string()));
        }
    }
    cases
}

/// Boots `app.toml` under icount and judges it. `prebuilt`: its image,
/// built with its lock held (`qemu::lock_image`), which the caller holds
/// still.
pub fn boot_test(
    root: &Path,
    qemu_bin: &Path,
    verbose: bool,
    prebuilt: Option<Result<crate::image::Built>>,
) -> Result<Vec<Case>> {
    let built = match prebuilt {
        Some(built) => built?,
        None => crate::image::build(root, &crate::image::resolve_app(root, None), verbose)?,
    };
    let expectations = boot_expectations(&built.app);
    let args = image::qemu_args(&built.app, &built.image, &built.out_dir, true)?;
    let mut pending = expectations.clone();
    let cap = qemu::run_capture(qemu_bin, &args, BOOT_TIMEOUT, verbose, |line| {
        if console::parse(line) == Line::Panic {
            return Watch::StopAfter(image::PANIC_GRACE);
        }
        pending.retain(|e| !line.contains(e.as_str()));
        if pending.is_empty() {
            Watch::Stop
        } else {
            Watch::Continue
        }
    })?;
    let cases = evaluate_boot(&cap, &expectations);
    if !verbose && cases.iter().any(|c| c.error.is_some()) {
        image::print_console(&cap);
    }
    Ok(cases)
}
