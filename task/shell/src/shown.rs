//! Text that other tasks wrote, made safe to put on the operator's
//! terminal.
//!
//! The shell writes to the UART itself, past the kernel's console filter,
//! and some of what it shows was written by tasks it does not trust: a
//! driver's trace rings (`ringbuf`) are text the driver put in the shell's
//! lease. A terminal acts on control characters — ESC and the C1 controls
//! (CSI, OSC) move the cursor, erase lines, set the title or the clipboard
//! — so a compromised driver could rewrite what the operator sees. The
//! bidirectional formatting characters (embeddings, overrides, isolates
//! and the marks) are no controls to Rust but a terminal that does bidi
//! reorders the text after them: "rng0 ok" could be shown as what a
//! driver spelled backwards. Every control character but newline and
//! every bidi format character is shown as `?`; in a field of one line
//! (a disk's serial, which its device reports) newline too, so that it
//! cannot start a line that looks like the shell's.
//!
//! It must never let a control character other than newline through, nor
//! a bidi format character, nor a newline from a field of one line.

use core::fmt::{self, Write};

use abi::acts_on_terminal as acts;

/// `text` as the shell shows it: control characters (C0 but newline, DEL,
/// C1) and bidi format characters as `?`, everything else as it is.
pub struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            f.write_char(if acts(c) && c != '\n' { '?' } else { c })?;
        }
        Ok(())
    }
}

/// A field of one line from another task or a device (a disk's serial)
/// as the shell shows it: every control character, newline too, and every
/// bidi format character as `?`.
pub struct ShownLine<'a>(pub &'a str);

impl fmt::Display for ShownLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            f.write_char(if acts(c) { '?' } else { c })?;
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
    fn bidi_formats_are_question_marks() {
        // RLO made "rng0: ok" after it show backwards; the marks and
        // isolates reorder too.
        let text = "a\u{202E}ko :0gnr\u{202C}b\u{2066}c\u{2069}\u{200E}\u{200F}\u{061C}\u{202A}\u{202B}\u{202D}\u{2067}\u{2068}";
        assert_eq!(Shown(text).to_string(), "a?ko :0gnr?b?c?????????");
        assert_eq!(ShownLine(text).to_string(), "a?ko :0gnr?b?c?????????");
        // Their neighbours that are none (ZWJ, U+2065 unassigned) are
        // shown as they are.
        assert_eq!(Shown("\u{200D}\u{2065}").to_string(), "\u{200D}\u{2065}");
    }

    #[test]
    fn controls_but_newline_are_question_marks() {
        let text = "a\x1b[2Jb\u{9b}1A\u{9d}52;c;x\x07\x7f\tend\nnext é—";
        assert_eq!(Shown(text).to_string(), "a?[2Jb?1A?52;c;x???end\nnext é—");
    }
}
