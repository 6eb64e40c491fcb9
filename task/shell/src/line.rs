//! The line editor: turns keystrokes into a command line and says what to
//! echo.
//!
//! A terminal in raw mode (QEMU's `-nographic` console) sends Enter as CR;
//! a pipe (the console tests) sends LF; CR LF is one Enter. Backspace
//! arrives as DEL (0x7f) or BS (0x08). Ctrl-C drops the line, Ctrl-U erases
//! it. An escape sequence (an arrow or function key: ESC, then `[` or `O`
//! and the sequence's bytes) is swallowed whole, so it does not leave
//! `[A` on the line. Anything else that is not printable ASCII is ignored.
//! A printable byte once the line is full rings the bell and is not
//! stored, so the buffer can never overflow; and a line that overflowed
//! is not run at Enter (a pasted `blk 0 write` would otherwise write a
//! silently cut text): it is answered with [`Key::Overlong`].

/// What a keystroke did, i.e. what to echo.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// A byte was added to the line: echo it.
    Echo(u8),
    /// The last byte was erased: move back, blank it, move back.
    Erase,
    /// Erase `n` bytes (Ctrl-U).
    EraseAll(usize),
    /// The line is complete: echo a newline and run [`LineEditor::line`],
    /// then [`LineEditor::clear`].
    Submit,
    /// The line was dropped (Ctrl-C): echo `^C`, a newline and a prompt.
    Cancel,
    /// The line is full: ring the bell.
    Full,
    /// Enter, on a line that lost bytes to [`Key::Full`]: echo a newline,
    /// say the line was too long, do not run it.
    Overlong,
    /// Nothing happened.
    Ignore,
}

const BS: u8 = 0x08;
const DEL: u8 = 0x7f;
const CTRL_C: u8 = 0x03;
const CTRL_U: u8 = 0x15;
const CR: u8 = b'\r';
const LF: u8 = b'\n';
const ESC: u8 = 0x1b;

/// Where the editor is in an escape sequence (ECMA-48: ESC `[`, parameter
/// and intermediate bytes 0x20-0x3F, a final byte 0x40-0x7E; or ESC `O`
/// and one byte, as terminals send F1-F4 and, in application mode, the
/// arrows).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Start,
    /// After ESC `[`: until a final byte.
    Csi,
    /// After ESC `O`: one more byte.
    Ss3,
}

/// A command line of at most `N` bytes being typed.
pub struct LineEditor<const N: usize> {
    buf: [u8; N],
    len: usize,
    /// The previous byte was a CR, so an LF right after it is the same
    /// Enter.
    after_cr: bool,
    /// A printable byte was refused since the line began.
    overflowed: bool,
    escape: Escape,
}

impl<const N: usize> LineEditor<N> {
    /// An empty line.
    pub const fn new() -> Self {
        LineEditor {
            buf: [0; N],
            len: 0,
            after_cr: false,
            overflowed: false,
            escape: Escape::None,
        }
    }

    /// Feeds one received byte.
    pub fn feed(&mut self, byte: u8) -> Key {
        let after_cr = core::mem::replace(&mut self.after_cr, byte == CR);
        // Enter and Ctrl-C end a sequence cut short; anything else in one
        // is part of it.
        if !matches!(byte, CR | LF | CTRL_C) {
            match self.escape {
                Escape::None => {}
                Escape::Start => {
                    self.escape = match byte {
                        b'[' => Escape::Csi,
                        b'O' => Escape::Ss3,
                        _ => Escape::None,
                    };
                    return Key::Ignore;
                }
                Escape::Csi => {
                    if !(0x20..=0x3f).contains(&byte) {
                        self.escape = Escape::None;
                    }
                    return Key::Ignore;
                }
                Escape::Ss3 => {
                    self.escape = Escape::None;
                    return Key::Ignore;
                }
            }
        }
        self.escape = Escape::None;
        // CR, or an LF not right after one: the line is entered.
        let enter = byte == CR || (byte == LF && !after_cr);
        match byte {
            _ if enter && self.overflowed => {
                self.len = 0;
                self.overflowed = false;
                Key::Overlong
            }
            CR => Key::Submit,
            LF if after_cr => Key::Ignore,
            LF => Key::Submit,
            ESC => {
                self.escape = Escape::Start;
                Key::Ignore
            }
            BS | DEL => {
                if self.len == 0 {
                    Key::Ignore
                } else {
                    self.len -= 1;
                    Key::Erase
                }
            }
            CTRL_C => {
                self.len = 0;
                self.overflowed = false;
                Key::Cancel
            }
            CTRL_U => {
                self.overflowed = false;
                let n = core::mem::take(&mut self.len);
                if n == 0 {
                    Key::Ignore
                } else {
                    Key::EraseAll(n)
                }
            }
            b' '..=b'~' => {
                if self.len == N {
                    self.overflowed = true;
                    Key::Full
                } else {
                    self.buf[self.len] = byte;
                    self.len += 1;
                    Key::Echo(byte)
                }
            }
            _ => Key::Ignore,
        }
    }

    /// The line typed so far (printable ASCII only, so always UTF-8).
    pub fn line(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    /// Starts a new line.
    pub fn clear(&mut self) {
        self.len = 0;
        self.overflowed = false;
    }
}

impl<const N: usize> Default for LineEditor<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Key::{Cancel, Echo, Erase, EraseAll, Full, Ignore, Overlong, Submit};
    use super::{Key, LineEditor};

    fn typed<const N: usize>(ed: &mut LineEditor<N>, bytes: &[u8]) -> Vec<Key> {
        bytes.iter().map(|&b| ed.feed(b)).collect()
    }

    /// Typing `bytes` into a fresh editor of `N` bytes answers `keys` and
    /// leaves `line`.
    fn types_as<const N: usize>(bytes: &[u8], keys: &[Key], line: &str) {
        let mut ed = LineEditor::<N>::new();
        assert_eq!(typed(&mut ed, bytes), keys);
        assert_eq!(ed.line(), line);
    }

    #[test]
    fn echo_and_submit_on_cr_lf_or_both() {
        for enter in [&b"\r"[..], b"\n", b"\r\n"] {
            let mut ed = LineEditor::<16>::new();
            let mut bytes = b"help".to_vec();
            bytes.extend_from_slice(enter);
            let keys = typed(&mut ed, &bytes);
            assert_eq!(
                &keys[..4],
                &[Echo(b'h'), Echo(b'e'), Echo(b'l'), Echo(b'p')]
            );
            assert_eq!(keys[4], Submit);
            assert!(
                keys[5..].iter().all(|&k| k == Ignore),
                "{enter:?}: {keys:?}"
            );
            assert_eq!(ed.line(), "help");
            ed.clear();
            assert_eq!(ed.line(), "");
        }
        // Two LFs are two Enters; a CR, then text, then LF is a line too.
        let mut ed = LineEditor::<16>::new();
        assert_eq!(typed(&mut ed, b"\n\n"), [Submit, Submit]);
        assert_eq!(typed(&mut ed, b"\ra\n"), [Submit, Echo(b'a'), Submit]);
    }

    #[test]
    fn backspace_erases_and_stops_at_the_start() {
        let keys = [Echo(b'a'), Echo(b'b'), Erase, Erase, Ignore, Echo(b'c')];
        types_as::<16>(b"ab\x7f\x08\x7fc", &keys, "c");
    }

    #[test]
    fn ctrl_c_and_ctrl_u_drop_the_line() {
        let mut ed = LineEditor::<16>::new();
        typed(&mut ed, b"abc");
        assert_eq!(ed.feed(0x15), EraseAll(3));
        assert_eq!(ed.line(), "");
        assert_eq!(ed.feed(0x15), Ignore);
        typed(&mut ed, b"xy");
        assert_eq!(ed.feed(0x03), Cancel);
        assert_eq!(ed.line(), "");
    }

    #[test]
    fn a_full_line_rings_and_control_bytes_are_ignored() {
        let keys = [
            Echo(b'a'),
            Ignore,
            Ignore,
            Echo(b'b'),
            Echo(b'c'),
            Full,
            Ignore,
        ];
        types_as::<3>(b"a\x1b\x00bcd\xff", &keys, "abc");
    }

    #[test]
    fn an_overflowed_line_is_not_run() {
        let mut ed = LineEditor::<3>::new();
        assert_eq!(
            typed(&mut ed, b"abcd"),
            [Echo(b'a'), Echo(b'b'), Echo(b'c'), Full]
        );
        // Erasing does not bring the lost byte back: still not run.
        assert_eq!(typed(&mut ed, b"\x7f\r\n"), [Erase, Overlong, Ignore]);
        assert_eq!(ed.line(), "");
        // The next line is judged on its own.
        assert_eq!(typed(&mut ed, b"ab\n"), [Echo(b'a'), Echo(b'b'), Submit]);
        assert_eq!(ed.line(), "ab");
        ed.clear();
        // Ctrl-C and Ctrl-U start afresh; so does clear().
        for fresh in [&b"\x03"[..], b"\x15"] {
            typed(&mut ed, b"abcd");
            ed.feed(fresh[0]);
            assert_eq!(typed(&mut ed, b"x\r"), [Echo(b'x'), Submit]);
            ed.clear();
        }
        typed(&mut ed, b"abcd");
        ed.clear();
        assert_eq!(ed.feed(b'\r'), Submit);
    }

    #[test]
    fn escape_sequences_are_swallowed_whole() {
        // Up arrow, Ctrl-Right (parameters), F1 (SS3), Alt-x, Delete.
        types_as::<32>(
            b"\x1b[Aa\x1b[1;5Cb\x1bOPc\x1bxd\x1b[3~e",
            &[Ignore, Ignore, Ignore, Echo(b'a')]
                .into_iter()
                .chain([Ignore; 6])
                .chain([Echo(b'b'), Ignore, Ignore, Ignore, Echo(b'c')])
                .chain([Ignore, Ignore, Echo(b'd'), Ignore, Ignore, Ignore, Ignore])
                .chain([Echo(b'e')])
                .collect::<Vec<_>>(),
            "abcde",
        );
        // Enter and Ctrl-C cut a sequence short and still act.
        let mut ed = LineEditor::<8>::new();
        assert_eq!(
            typed(&mut ed, b"a\x1b[\r"),
            [Echo(b'a'), Ignore, Ignore, Submit]
        );
        ed.clear();
        assert_eq!(typed(&mut ed, b"\x1b\x03b"), [Ignore, Cancel, Echo(b'b')]);
    }

    #[test]
    fn no_byte_sequence_panics_or_leaves_ascii() {
        let mut ed = LineEditor::<8>::new();
        let mut x: u32 = 12345;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            ed.feed(x as u8);
            assert!(ed.line().len() <= 8);
            assert!(ed.line().bytes().all(|b| (b' '..=b'~').contains(&b)));
        }
    }
}
