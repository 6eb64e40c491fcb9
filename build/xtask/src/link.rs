//! Linking the kernel and each task at its allocated addresses.
//!
//! For each program xtask writes a `memory.x` naming the allocated bases,
//! with a deliberately huge LENGTH so the link never fails on size (nor on
//! sections that overlap because one outgrew its budget), builds it
//! with `cargo rustc` (extra linker arguments go to the final crate only, so
//! dependencies stay cached), copies the ELF out of cargo's target dir at
//! once (two tasks may share a crate), then measures what it really uses and
//! compares that with its budget.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::layout::Region;
use crate::machine;
use crate::process;

/// LENGTH of every linker region: large enough that no link fails on size,
/// so the real size can be measured and reported against the budget.
pub const LINK_LENGTH: u64 = 0x100_0000;

/// The region the linker sees for an allocated base (capped at the top of the
/// 32-bit address space).
pub fn link_region(base: u64) -> Region {
    Region {
        base,
        size: LINK_LENGTH.min((1 << 32) - base.min(1 << 32)),
    }
}

/// `memory.x` for a task: `TEXT`, `RAM` and `_stack_size`.
pub fn task_memory_x(text: Region, ram: Region, stack: u64) -> String {
    format!(
        "MEMORY\n{{\n  TEXT (rx) : ORIGIN = {:#x}, LENGTH = {:#x}\n  RAM (rw)  : ORIGIN = {:#x}, LENGTH = {:#x}\n}}\n_stack_size = {stack:#x};\n",
        text.base,
        link_region(text.base).size,
        ram.base,
        link_region(ram.base).size,
    )
}

/// `memory.x` for the kernel: `KTEXT`, `KRAM` and `_kstack_size`.
pub fn kernel_memory_x(text: Region, ram: Region, stack: u64) -> String {
    format!(
        "MEMORY\n{{\n  KTEXT (rx) : ORIGIN = {:#x}, LENGTH = {:#x}\n  KRAM (rw)  : ORIGIN = {:#x}, LENGTH = {:#x}\n}}\n_kstack_size = {stack:#x};\n",
        text.base,
        link_region(text.base).size,
        ram.base,
        link_region(ram.base).size,
    )
}

/// Who a budget belongs to, for messages.
#[derive(Clone, Copy, Debug)]
pub enum Owner<'a> {
    /// The kernel (`kernel.*` keys).
    Kernel,
    /// A task (`tasks.<name>.*` keys).
    Task(&'a str),
}

/// Fails with a message saying by how much and what to raise when `used`
/// exceeds `budget`. `what` is "text" or "ram"; `file` is the app file.
pub fn check_budget(
    file: &Path,
    owner: Owner,
    what: &str,
    used: u64,
    budget: u64,
    stack: u64,
) -> Result<()> {
    if used <= budget {
        return Ok(());
    }
    let (who, key) = match owner {
        Owner::Kernel => ("kernel".to_string(), format!("kernel.{what}")),
        Owner::Task(name) => (format!("task '{name}'"), format!("tasks.{name}.{what}")),
    };
    let stack_note = if what == "ram" {
        format!(" (including its {stack}-byte stack)")
    } else {
        String::new()
    };
    bail!(
        "{who} {what} uses {used} bytes{stack_note} but its budget is {budget}: over by {} bytes; raise `{key}` to {} in {}",
        used - budget,
        used.next_power_of_two(),
        file.display()
    )
}

/// FNV-1a, 64-bit: a stable fingerprint of the linker inputs.
fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// One `cargo rustc` build of a kernel or task binary.
#[derive(Debug, Clone)]
pub struct CargoBuild {
    /// Package (`-p`).
    pub package: String,
    /// Binary (`--bin`).
    pub bin: String,
    /// Cargo features.
    pub features: Vec<String>,
    /// Directory holding `memory.x` (`-L`).
    pub link_dir: PathBuf,
    /// The linker script (`-T`).
    pub script: PathBuf,
    /// Extra environment for the build.
    pub env: Vec<(String, String)>,
    /// Options for LLVM's code generation of this binary alone (`-C
    /// llvm-args`, given to the final crate, where the LTO build makes
    /// all the code: its dependencies are built as before).
    pub llvm_args: &'static [&'static str],
}

/// The kernel's [`CargoBuild::llvm_args`]: LLVM's machine outliner, which
/// puts a sequence of instructions repeated across functions (mostly the
/// saving and restoring of the callee-saved registers in prologues and
/// epilogues) in one place and calls it with `jal t0` (issue 14: the
/// kernel must stay under 24 KiB). 364 bytes of kernel code
/// (`bench/kernel.toml`), for 5 instructions on `raw_send_8b_4k_lease`
/// and 13 on the blk read through IPC; the null round trip and the
/// interrupt path did not change. Tasks are built without it.
pub const KERNEL_LLVM_ARGS: &[&str] = &["-enable-machine-outliner"];

impl CargoBuild {
    /// The arguments after `cargo`.
    ///
    /// Cargo does not know the linker scripts are inputs, so a changed
    /// `memory.x` alone would not relink. The last argument defines an unused
    /// absolute symbol whose value is a fingerprint of both scripts: when
    /// either changes the rustc arguments change and cargo relinks.
    pub fn args(&self) -> Result<Vec<String>> {
        let memory_x = self.link_dir.join("memory.x");
        let memory = std::fs::read(&memory_x)
            .with_context(|| format!("cannot read {}", memory_x.display()))?;
        let script = std::fs::read(&self.script).with_context(|| {
            format!(
                "cannot read the linker script {} (it belongs to the kernel/userlib crate)",
                self.script.display()
            )
        })?;
        let id = fingerprint(&[&memory, &script]);
        Ok(self.args_with_id(id))
    }

    fn args_with_id(&self, id: u64) -> Vec<String> {
        let mut args: Vec<String> = [
            "rustc",
            "--release",
            "--target",
            machine::TARGET,
            "-p",
            &self.package,
            "--bin",
            &self.bin,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if !self.features.is_empty() {
            args.push("--features".into());
            args.push(self.features.join(","));
        }
        args.push("--".into());
        for a in self.llvm_args {
            args.push("-C".into());
            args.push(format!("llvm-args={a}"));
        }
        args.push("-C".into());
        args.push(format!("link-arg=-L{}", self.link_dir.display()));
        args.push("-C".into());
        args.push(format!("link-arg=-T{}", self.script.display()));
        // A program larger than its budget runs into its own next region
        // (a task's text into its RAM): lld would fail on the overlap with
        // its addresses, before `check_budget` could say what to raise.
        args.push("-C".into());
        args.push("link-arg=--no-check-sections".into());
        args.push("-C".into());
        args.push(format!(
            "link-arg=--defsym=__vireo_link_id={:#x}",
            id as u32
        ));
        args
    }

    /// Runs the build in `root`; on failure the error carries cargo's
    /// output. With `verbose`, cargo's output goes to the terminal as it
    /// comes. Returns the path of the built ELF inside `target_dir`.
    pub fn run(&self, root: &Path, target_dir: &Path, verbose: bool) -> Result<PathBuf> {
        let args = self.args()?;
        let mut cmd = Command::new(process::cargo());
        // Said explicitly: a second build lane has a target dir of its own
        // (`testing::prebuild`), and cargo takes the one it is told.
        cmd.args(&args)
            .current_dir(root)
            .env("CARGO_TARGET_DIR", target_dir);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let output = match process::run_captured(&mut cmd, verbose) {
            Ok(output) => output,
            Err(e) => {
                let output = format!("{e:#}");
                // A build script that refused app.toml (the net task's config)
                // said what is wrong: that goes first, not under the command.
                let app = self
                    .env
                    .iter()
                    .find(|(k, _)| k == "VIREO_APP")
                    .map_or("app.toml", |(_, v)| v.as_str());
                if let Some(problem) = app_toml_problem(&output, app) {
                    bail!(
                        "{problem}\n(building {}; cargo's output: {output})",
                        self.bin
                    );
                }
                if lacks_main(&output) {
                    bail!(
                        "building {} failed: it has no `main` for the task's entry to call; \
                         a task's crate needs `#[export_name = \"main\"] fn main() -> !` \
                         (README, \"Writing a task\")\n(cargo's output: {output})",
                        self.bin
                    );
                }
                let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
                bail!(
                    "building {} failed: {} cargo {}: {output}",
                    self.bin,
                    env.join(" "),
                    args.join(" ")
                );
            }
        };
        // A build that succeeded keeps its output to itself, but not the
        // compiler's warnings about the code: those would otherwise go
        // unseen in every task crate (only the host crates get clippy).
        for warning in source_warnings(&output) {
            if SHOWN
                .lock()
                .is_ok_and(|mut shown| shown.insert(warning.clone()))
            {
                eprintln!("{warning}\n");
            }
        }
        Ok(target_dir
            .join(machine::TARGET)
            .join("release")
            .join(&self.bin))
    }
}

/// The warnings already printed by this process: cargo replays a crate's
/// warnings in every build that uses it (each task of an image).
static SHOWN: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());

/// The compiler's warnings about source code in cargo's output, each as
/// cargo printed it (colours kept): a block from a line that begins with
/// `warning` to the next blank line, that points at a place (`-->`).
/// Cargo's own notes (the summary counts, an unstable target feature)
/// point nowhere and are left out.
fn source_warnings(output: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut block: Option<Vec<&str>> = None;
    for line in output.lines().chain([""]) {
        let plain = process::strip_ansi(line);
        if plain.trim().is_empty() || plain.starts_with("warning") {
            if let Some(lines) = block.take() {
                let text = lines.join("\n");
                if process::strip_ansi(&text).contains("--> ") {
                    warnings.push(text);
                }
            }
        }
        if plain.starts_with("warning") {
            block = Some(vec![line]);
        } else if let Some(lines) = block.as_mut() {
            lines.push(line);
        }
    }
    warnings
}

/// Whether a failed link says the program has no `main` (the symbol
/// userlib's `_start` calls): a task crate that forgot
/// `#[export_name = "main"]`.
fn lacks_main(output: &str) -> bool {
    output
        .lines()
        .any(|l| l.contains("undefined symbol: main") && !l.contains("undefined symbol: main_"))
}

/// The message of a build script that refused the app file `app` (the
/// net task's config): cargo prints its `Err` as `Error: "<app>: …"` (the
/// string's `Debug` form), where `<app>` is the path given to xtask
/// (`VIREO_APP`): `test/net.toml`, `./app.toml`, not only `app.toml`.
fn app_toml_problem(output: &str, app: &str) -> Option<String> {
    let want = format!("{}:", app.escape_debug());
    let quoted = output.lines().find_map(|l| {
        l.trim_start()
            .strip_prefix("Error: \"")
            .filter(|rest| rest.starts_with(&want))
    })?;
    let quoted = quoted.strip_suffix('"')?;
    let mut text = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => text.push('\n'),
                Some('t') => text.push('\t'),
                Some(e) => text.push(e),
                None => {}
            },
            c => text.push(c),
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::{
        app_toml_problem, check_budget, fingerprint, kernel_memory_x, lacks_main, link_region,
        source_warnings, task_memory_x, CargoBuild, Owner, KERNEL_LLVM_ARGS,
    };

    #[test]
    fn a_task_without_main_is_told_what_to_add() {
        let lld = "warning: function `main` is never used\n\
                   rust-lld: error: undefined symbol: main\n\
                   >>> referenced by example.rcgu.o:(.text.start+0x62)\n";
        assert!(lacks_main(lld));
        assert!(!lacks_main(
            "rust-lld: error: undefined symbol: main_loop\n"
        ));
        assert!(!lacks_main("error[E0425]: cannot find value `x`\n"));
    }
    use crate::layout::Region;
    use std::path::{Path, PathBuf};

    #[test]
    fn task_memory_x_text() {
        let text = Region::new(0x8001_0000, 0x2000);
        let ram = Region::new(0x8002_0000, 0x800);
        assert_eq!(
            task_memory_x(text, ram, 0x400),
            "MEMORY\n{\n  TEXT (rx) : ORIGIN = 0x80010000, LENGTH = 0x1000000\n  RAM (rw)  : ORIGIN = 0x80020000, LENGTH = 0x1000000\n}\n_stack_size = 0x400;\n"
        );
    }

    #[test]
    fn kernel_memory_x_text() {
        let text = Region::new(0x8000_0000, 0x10000);
        let ram = Region::new(0x8001_0000, 0x8000);
        assert_eq!(
            kernel_memory_x(text, ram, 4096),
            "MEMORY\n{\n  KTEXT (rx) : ORIGIN = 0x80000000, LENGTH = 0x1000000\n  KRAM (rw)  : ORIGIN = 0x80010000, LENGTH = 0x1000000\n}\n_kstack_size = 0x1000;\n"
        );
    }

    #[test]
    fn link_length_stops_at_4g() {
        assert_eq!(link_region(0xfff8_0000).size, 0x8_0000);
        assert_eq!(link_region(0x8000_0000).size, 0x100_0000);
    }

    #[test]
    fn budget_messages() {
        let file = Path::new("app.toml");
        check_budget(file, Owner::Task("ping"), "text", 8192, 8192, 0).unwrap();
        let msg = check_budget(file, Owner::Task("ping"), "text", 9012, 8192, 0)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "task 'ping' text uses 9012 bytes but its budget is 8192: over by 820 bytes; raise `tasks.ping.text` to 16384 in app.toml"
        );
        let msg = check_budget(file, Owner::Task("ping"), "ram", 2100, 2048, 1024)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("task 'ping' ram uses 2100 bytes (including its 1024-byte stack) but its budget is 2048: over by 52 bytes; raise `tasks.ping.ram` to 4096"), "{msg}");
        let msg = check_budget(file, Owner::Kernel, "text", 70000, 65536, 0)
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("kernel text uses 70000 bytes"), "{msg}");
        assert!(msg.contains("raise `kernel.text` to 131072"), "{msg}");
    }

    #[test]
    fn cargo_command_line() {
        let b = CargoBuild {
            package: "task-ping".into(),
            bin: "task-ping".into(),
            features: vec!["a".into(), "b".into()],
            link_dir: PathBuf::from("/w/target/default/link/ping"),
            script: PathBuf::from("/w/sys/userlib/task-link.x"),
            env: vec![],
            llvm_args: &[],
        };
        assert_eq!(
            b.args_with_id(0x1_2345_6789).join(" "),
            "rustc --release --target riscv32imac-unknown-none-elf -p task-ping --bin task-ping --features a,b -- \
             -C link-arg=-L/w/target/default/link/ping -C link-arg=-T/w/sys/userlib/task-link.x \
             -C link-arg=--no-check-sections -C link-arg=--defsym=__vireo_link_id=0x23456789"
        );
    }

    #[test]
    fn the_kernel_alone_is_built_with_the_machine_outliner() {
        let b = CargoBuild {
            package: "kern".into(),
            bin: "kernel".into(),
            features: vec!["image".into()],
            link_dir: PathBuf::from("/w/target/default/link/kernel"),
            script: PathBuf::from("/w/sys/kern/kernel-link.x"),
            env: vec![],
            llvm_args: KERNEL_LLVM_ARGS,
        };
        assert_eq!(
            b.args_with_id(0x1_2345_6789).join(" "),
            "rustc --release --target riscv32imac-unknown-none-elf -p kern --bin kernel --features image -- \
             -C llvm-args=-enable-machine-outliner \
             -C link-arg=-L/w/target/default/link/kernel -C link-arg=-T/w/sys/kern/kernel-link.x \
             -C link-arg=--no-check-sections -C link-arg=--defsym=__vireo_link_id=0x23456789"
        );
    }

    #[test]
    fn fingerprint_sees_changes() {
        assert_ne!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"a", b"bc"]));
        assert_eq!(fingerprint(&[b"x"]), fingerprint(&[b"x"]));
    }

    #[test]
    fn a_build_script_refusing_app_toml_is_quoted_first() {
        let output = "exited with exit status: 101; its output:\n\
            error: failed to run custom build command for `task-net v0.1.0`\n\
            \x20 Error: \"app.toml: the net task's config `ports` grants 5 UDP ports, \\\"x\\\"\"\n";
        assert_eq!(
            app_toml_problem(output, "app.toml").as_deref(),
            Some("app.toml: the net task's config `ports` grants 5 UDP ports, \"x\"")
        );
        assert_eq!(
            app_toml_problem("error[E0425]: cannot find value", "app.toml"),
            None
        );
        // Any app file, not only one named app.toml (test/*.toml,
        // examples/*.toml, ./app.toml): its problem came under cargo's
        // whole output.
        let output = "  Error: \"test/net.toml: the net task's `config`: `gateway` = \\\"1\\\\nX\\\" is bad\"\n";
        assert_eq!(
            app_toml_problem(output, "test/net.toml").as_deref(),
            Some("test/net.toml: the net task's `config`: `gateway` = \"1\\nX\" is bad")
        );
        assert_eq!(app_toml_problem(output, "app.toml"), None);
    }

    #[test]
    fn only_warnings_about_source_are_kept() {
        let output = "\u{1b}[1m\u{1b}[33mwarning\u{1b}[0m: unstable feature specified for `-Ctarget-feature`: `relax`
  |
  = note: this feature is not stably supported

   Compiling task-x v0.1.0 (/w/task/x)
warning: unused variable: `c`
   --> task/x/src/main.rs:4:9
    |
4   |     let c = 1;
    |         ^ help: if this is intentional, prefix it with an underscore: `_c`

warning: `task-x` (bin \"task-x\") generated 1 warning
    Finished `release` profile [optimized] target(s) in 0.50s
";
        let kept = source_warnings(output);
        assert_eq!(kept.len(), 1, "{kept:#?}");
        assert!(kept[0].starts_with("warning: unused variable: `c`"));
        assert!(kept[0].ends_with("prefix it with an underscore: `_c`"));
        // In colour, as cargo prints it on a terminal.
        let coloured = "\u{1b}[1m\u{1b}[33mwarning\u{1b}[0m\u{1b}[1m: unused import\u{1b}[0m
  \u{1b}[1m\u{1b}[94m--> \u{1b}[0mtask/x/src/main.rs:1:5";
        assert_eq!(source_warnings(coloured).len(), 1);
        assert!(source_warnings("   Compiling a\n    Finished").is_empty());
    }
}
