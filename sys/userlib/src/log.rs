//! `sys_log!`: `format!`-style console output through the kernel.
//!
//! Text is formatted into a fixed buffer on the stack (long lines are cut,
//! never an error) and printed with one `Log` syscall, so lines from
//! different tasks never interleave.

use core::fmt::{self, Write};

/// Longest line `sys_log!` prints; the rest is cut.
pub const LINE_MAX: usize = 160;

/// A fixed buffer that formats text, dropping what does not fit.
pub struct LineBuf {
    buf: [u8; LINE_MAX],
    len: usize,
}

impl LineBuf {
    /// An empty line.
    pub const fn new() -> Self {
        LineBuf {
            buf: [0; LINE_MAX],
            len: 0,
        }
    }

    /// The text so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Default for LineBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(LINE_MAX - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Formats and prints one line (used by `sys_log!`).
pub fn log_fmt(args: fmt::Arguments<'_>) {
    let mut line = LineBuf::new();
    let _ = line.write_fmt(args);
    crate::sys_log(line.as_bytes());
}

/// Prints a formatted line on the console, prefixed by the kernel with the
/// time and the task's name.
#[macro_export]
macro_rules! sys_log {
    ($($arg:tt)*) => {
        $crate::log::log_fmt(format_args!($($arg)*))
    };
}
