//! `cargo xtask gdb`: attaches `gdb-multiarch` to a running image through
//! its gdbstub socket, with the kernel's and every task's symbols loaded.
//! Each program is linked at its own addresses, so every ELF's symbols are
//! loaded where they already say they are.
//!
//! An idle image is stopped in the kernel (waiting for an interrupt, or
//! handling a trap), below its trap entry. The entry is hand-written
//! assembly without unwind tables, so gdb alone stops there; xtask loads a
//! Python unwinder ([`TRAP_UNWINDER`]) that continues from the trap entry
//! into the task the trap interrupted, whose registers the entry saved, so
//! plain `bt` shows the kernel's frames and then that task's stack.
//! `vireo-bt-<task>` shows any other task's stack from the registers the
//! kernel saved for it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::dump::{self, dwarf, programs::Image};
use crate::setup;

/// Debian's multi-architecture gdb.
const GDB: &str = "gdb-multiarch";

/// A gdb unwinder (gdb's Python API, "Unwinding Frames in Python") for
/// frames in the kernel's trap entry, `vireo_trap_entry` up to
/// `vireo_resume` (sys/kern/src/arch/trap.rs). Once the entry has saved the
/// trapped task's caller-saved registers, its sp and its pc (`mepc`, in
/// the x0 slot) to that task's `SavedState`, `mscratch` points at it; the
/// callee-saved registers are still the task's own (the Rust handler
/// preserves them, and gdb has already unwound them through the handler's
/// frames). So the frame "calling" the trap entry is the task at its
/// trapping pc. In the entry's first instructions (only seen when
/// single-stepping it) the `SavedState` is not complete yet.
const TRAP_UNWINDER: &str = r#"python
import gdb
from gdb.unwinder import Unwinder, register_unwinder

class VireoFrameId:
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc

class VireoTrapEntry(Unwinder):
    # x1, x2 and the caller-saved registers: saved by the entry.
    SAVED = [1, 2, 5, 6, 7] + list(range(10, 18)) + list(range(28, 32))

    def __init__(self, start, end):
        super().__init__("vireo-trap-entry")
        self.start = start
        self.end = end

    def __call__(self, pending):
        pc = int(pending.read_register("pc")) & 0xffffffff
        if not (self.start <= pc < self.end):
            return None
        state = int(pending.read_register("mscratch")) & 0xffffffff
        words = gdb.selected_inferior().read_memory(state, 128).tobytes()
        word = lambda n: int.from_bytes(words[4 * n:4 * n + 4], "little")
        # gdb 13 wants the frame id's parts as gdb.Value.
        pc_type = pending.read_register("pc").type
        frame = VireoFrameId(pending.read_register("sp"), gdb.Value(self.start).cast(pc_type))
        info = pending.create_unwind_info(frame)
        for n in range(1, 32):
            if n in self.SAVED:
                kind = pending.read_register(n).type
                info.add_saved_register(n, gdb.Value(word(n)).cast(kind))
            else:
                info.add_saved_register(n, pending.read_register(n))
        info.add_saved_register("pc", gdb.Value(word(0)).cast(pc_type))
        return info
"#;

/// The gdb commands that register [`TRAP_UNWINDER`] for the kernel's
/// trap entry, or nothing if the kernel lacks its symbols.
fn trap_unwinder(image: &Image) -> String {
    let Ok(bytes) = std::fs::read(&image.kernel.path) else {
        return String::new();
    };
    let symbol = |name| dump::programs::symbol(&bytes, name);
    let (Some(start), Some(end)) = (symbol("vireo_trap_entry"), symbol("vireo_resume")) else {
        return String::new();
    };
    format!(
        "{TRAP_UNWINDER}register_unwinder(None, VireoTrapEntry({start:#x}, {end:#x}), replace=True)\nend\n"
    )
}

/// The gdb commands that attach and load every program. Attaching comes
/// right after the kernel's symbols: it stops the machine, which then
/// cannot run past what the user wanted to see (nor a test image past its
/// wait) while gdb reads the tasks' symbols.
pub fn script(image: &Image, socket: &Path) -> String {
    let mut s = String::from("set confirm off\nset pagination off\nset architecture riscv:rv32\n");
    s.push_str(&format!("file {}\n", image.kernel.path.display()));
    s.push_str(&format!("target remote {}\n", socket.display()));
    for (_, task) in &image.tasks {
        // No address: gdb places each section at the address the ELF
        // gives it, which is where the task was linked to run.
        s.push_str(&format!("add-symbol-file {}\n", task.path.display()));
    }
    s.push_str(&trap_unwinder(image));
    s.push_str(&task_commands(image));
    s
}

/// One gdb command per task, `vireo-bt-<task>`: the hart is usually in the
/// kernel, and a stopped task's registers are in its `SavedState` in the
/// kernel's `TASK_TABLE` (`regs[0]` the pc, `regs[n]` xn). The command puts
/// them in the hart's registers, prints the backtrace, and puts the hart's
/// own registers back — in a Python `finally`, so even a backtrace that
/// fails half-way never leaves the machine with a task's registers.
/// (A task's saved `x0` slot holds its pc; the hart's x0 is always 0.)
pub fn task_commands(image: &Image) -> String {
    let debug = &image.kernel.debug;
    let Some(table) = debug.variable("TASK_TABLE") else {
        return String::new();
    };
    let Some(dwarf::Type::Array { elem, .. }) = debug.ty(table.ty) else {
        return String::new();
    };
    let stride = debug.size_of(*elem);
    let Some((regs, _)) = debug.member_path(*elem, "save.regs") else {
        return String::new();
    };
    // Registers go in and out with raw `g`/`G` packets (x0..x31, then the
    // pc): assigning them one by one through `$reg` makes gdb unwind a
    // half-changed frame and give up.
    let mut s = String::from(
        r#"python
import gdb
def vireo_regs():
    out = gdb.execute("maint packet g", to_string=True)
    return out.split('received: "')[1].split('"')[0]
def vireo_set_regs(hexregs):
    gdb.execute("maint packet G" + hexregs, to_string=True)
    gdb.execute("maint flush register-cache")
def vireo_task_bt(base):
    saved = vireo_regs()
    words = gdb.selected_inferior().read_memory(base, 128).tobytes()
    regs = bytes(4) + words[4:128] + words[0:4]
    try:
        vireo_set_regs(regs.hex() + saved[len(regs) * 2:])
        try:
            gdb.execute("bt")
        except gdb.error as e:
            # _start has no caller: gdb says so when it gets there.
            print("(end of the stack: {})".format(e))
    finally:
        vireo_set_regs(saved)
end
"#,
    );
    for (i, (layout, _)) in image.tasks.iter().enumerate() {
        let base = table.address + i as u64 * stride + regs;
        let _ = writeln!(
            s,
            "define vireo-bt-{}\n  python vireo_task_bt({base:#x})\nend",
            layout.name
        );
        let _ = writeln!(
            s,
            "document vireo-bt-{}\nBacktrace of task {} from its saved registers (the hart's own are restored after).\nend",
            layout.name, layout.name
        );
    }
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
    eprintln!(
        "gdb: symbols from {} programs, attaching to {}",
        image.tasks.len() + 1,
        socket.display()
    );
    let status = cmd.status().context("cannot start gdb-multiarch")?;
    Ok(status.success())
}
