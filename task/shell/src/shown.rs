//! Text that other tasks wrote, made safe to put on the operator's
//! terminal.
//!
//! The shell writes to the UART itself, past the kernel's console filter,
//! and some of what it shows was written by tasks it does not trust: a
//! driver's trace rings (`ringbuf`) are text the driver put in the shell's
//! lease. A terminal acts on control characters — ESC and the C1 controls
//! (CSI, OSC) move the cursor, erase lines, set the title or the clipboard
//! — so a compromised driver could rewrite what the operator sees. Every
//! control character but newline is shown as `?`; in a field of one line
//! (a disk's serial, which its device reports) newline too, so that it
//! cannot start a line that looks like the shell's.
//!
//! It must never let a control character other than newline through, nor
//! a newline from a field of one line.

use core::fmt::{self, Write};

/// `text` as the shell shows it: control characters (C0 but newline, DEL,
/// C1) as `?`, everything else as it is.
pub struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            f.write_char(if c.is_control() && c != '\n' { '?' } else { c })?;
        }
        Ok(())
    }
}

/// A field of one line from another task or a device (a disk's serial)
/// as the shell shows it: every control character, newline too, as `?`.
pub struct ShownLine<'a>(pub &'a str);

impl fmt::Display for ShownLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            f.write_char(if c.is_control() { '?' } else { c })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Shown, ShownLine};

    #[test]
    fn a_line_has_no_controls_at_all() {
        // A disk's serial (from its device) set the terminal's colour and
        // title: `blk 0 info` printed it as it was.
        let serial = "blk0\x1b[31m\x1b]0;t\x07\nvireo> \u{9b}2J";
        assert_eq!(ShownLine(serial).to_string(), "blk0?[31m?]0;t??vireo> ?2J");
    }

    #[test]
    fn controls_but_newline_are_question_marks() {
        let text = "a\x1b[2Jb\u{9b}1A\u{9d}52;c;x\x07\x7f\tend\nnext é—";
        assert_eq!(Shown(text).to_string(), "a?[2Jb?1A?52;c;x???end\nnext é—");
    }
}
