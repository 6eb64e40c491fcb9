//! Which characters of a task's or a device's text reach a terminal as
//! they are: the rule the kernel's console and the shell share.
//!
//! A terminal acts on control characters — ESC and the C1 controls (CSI,
//! OSC) move the cursor, erase lines, set the title or the clipboard — and
//! one that does bidi reorders the text after a bidirectional format
//! character, so text from a task could rewrite or disguise lines it did
//! not print. Both the kernel (task log lines and panic messages) and the
//! shell (trace rings, a disk's serial) show these as `?`.

/// Whether `c` is a Unicode bidirectional format character (UAX #9,
/// table 1: ALM, LRM, RLM, LRE..RLO, LRI..PDI).
pub fn is_bidi_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Whether a terminal acts on `c` rather than showing it: a control
/// character (C0, DEL, C1; newline too, which a caller that keeps lines
/// lets through itself) or a bidi format character.
pub fn acts_on_terminal(c: char) -> bool {
    c.is_control() || is_bidi_format(c)
}
