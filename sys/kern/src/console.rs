//! Kernel console lines: `[   1.234567] source: text`.
//!
//! Every line the kernel prints, its own or a task's `sys_log`, carries the
//! virtual time and who said it, so a test harness can check both. Task text
//! is printed byte for byte except that control characters other than
//! newline become `?`: a task must not be able to forge the start of a line.

use core::fmt::{self, Write};

use crate::machine::Machine;

struct Out<'a, M: Machine>(&'a mut M);

impl<M: Machine> Write for Out<'_, M> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.console_write(s.as_bytes());
        Ok(())
    }
}

/// Prints the `[time] source: ` prefix.
fn prefix<M: Machine>(m: &mut M, source: &str) {
    let now = m.now();
    let ticks_per_s = abi::TICKS_PER_MS * 1000;
    let secs = now / ticks_per_s;
    let micros = (now % ticks_per_s) / (ticks_per_s / 1_000_000);
    let _ = write!(Out(m), "[{secs:4}.{micros:06}] {source}: ");
}

/// Prints one kernel line built from format arguments.
pub fn kernel_line<M: Machine>(m: &mut M, args: fmt::Arguments<'_>) {
    prefix(m, "kernel");
    let _ = Out(m).write_fmt(args);
    m.console_write(b"\n");
}

/// Prints task text; each of its lines gets the prefix.
pub fn task_text<M: Machine>(m: &mut M, source: &str, text: &[u8]) {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    for line in text.split(|&b| b == b'\n') {
        prefix(m, source);
        for &b in line {
            let b = if b < 0x20 || b == 0x7f { b'?' } else { b };
            m.console_write(&[b]);
        }
        m.console_write(b"\n");
    }
}
