//! The line editor: turns keystrokes into a command line and says what to
//! echo.
//!
//! A terminal in raw mode (QEMU's `-nographic` console) sends Enter as CR;
//! a pipe (the console tests) sends LF; CR LF is one Enter. Backspace
//! arrives as DEL (0x7f) or BS (0x08). Ctrl-C drops the line, Ctrl-U erases
//! it. An escape sequence (an arrow or function key: ESC, then `[` or `O`
//! and the sequence's bytes; the Linux console's F1-F5, ESC `[` `[` and a
//! letter) is swallowed whole, so it does not leave
//! `[A` on the line; so is an OSC string (ESC `]` up to BEL or ESC `\`, as
//! a terminal's answer to a title or colour query). ESC followed by any
//! other byte (a lone Escape key, Alt-x) drops only the ESC: the byte is
//! taken as typed, so `ESC t a s k s` is `tasks`. Tab is a space (pasted commands are often
//! tab-separated). Other control characters (Ctrl-D, U+0080 to U+009F, …)
//! are ignored.
//!
//! Text is UTF-8, as terminals send it: `blk 0 write 3 héllo` stores the
//! six bytes typed, and Backspace erases a whole character. (It moves the
//! cursor back one column, so a double-width character is half erased on
//! screen; the line itself is right.) A byte that cannot be part of UTF-8
//! is not stored and rings the bell (once a line, as below). A sequence cut short (a Latin-1
//! terminal's `é` followed by `t`) is not stored either, but rings no bell:
//! the byte that cut it is taken on its own, and one key a byte has room
//! for its echo only. Either way the line is refused at Enter.
//!
//! The rule for both that and a full line: a line that lost a byte is
//! never run cut short. A byte once the line is full is not stored, so
//! the buffer can never overflow; and the bell rings for the first byte a
//! line refuses, full or not UTF-8, the rest are silent (pasted, 5,000
//! bytes rang it 4,880 times, and 200 bytes that are not UTF-8 200 times:
//! a terminal beeping or flashing for seconds after the error); and at
//! Enter a line that
//! lost bytes is answered with [`Key::Overlong`] or [`Key::NotUtf8`], not
//! run (a pasted `blk 0 write` would otherwise write a silently changed
//! text).

/// What a keystroke did, i.e. what to echo.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// An ASCII byte was added to the line: echo it.
    Echo(u8),
    /// A character outside ASCII was added to the line (its last byte
    /// completed it): echo its UTF-8 bytes.
    EchoChar(char),
    /// The last character was erased: move back, blank it, move back.
    Erase,
    /// Erase `n` characters (Ctrl-U).
    EraseAll(usize),
    /// The line is complete: echo a newline and run [`LineEditor::line`],
    /// then [`LineEditor::clear`].
    Submit,
    /// The line was dropped (Ctrl-C): echo `^C`, a newline and a prompt.
    Cancel,
    /// The line is full: ring the bell (for the first byte the line
    /// refuses; the rest of the line's are [`Key::Ignore`]).
    Full,
    /// Enter, on a line that lost bytes to [`Key::Full`]: echo a newline,
    /// say the line was too long, do not run it.
    Overlong,
    /// A byte that is not UTF-8 was refused: ring the bell (for the
    /// first byte the line refuses; the rest of the line's are
    /// [`Key::Ignore`]).
    Invalid,
    /// Enter, on a line that lost bytes to [`Key::Invalid`] (and none to
    /// [`Key::Full`]): echo a newline, say the line was not UTF-8, do not
    /// run it.
    NotUtf8,
    /// Nothing happened.
    Ignore,
}

const BS: u8 = 0x08;
const DEL: u8 = 0x7f;
const TAB: u8 = b'\t';
const CTRL_C: u8 = 0x03;
const CTRL_U: u8 = 0x15;
const CR: u8 = b'\r';
const LF: u8 = b'\n';
const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;

/// Where the editor is in an escape sequence (ECMA-48: ESC `[`, parameter
/// and intermediate bytes 0x20-0x3F, a final byte 0x40-0x7E; or ESC `O`
/// and one byte, as terminals send F1-F4 and, in application mode, the
/// arrows; or ESC `]`, an operating system command, up to BEL or the
/// string terminator ESC `\`). The Linux console's F1-F5 are ESC `[` `[`
/// and one byte: a `[` right after ESC `[` takes one more byte, as SS3.
///
/// Enter (CR, LF) and Ctrl-C end any sequence and still act. An OSC string
/// is also bounded: after [`OSC_MAX`] bytes without its terminator it is
/// taken as ended and the bytes after it are typed, so a terminator that
/// never comes costs at most that many keystrokes, never the session.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Start,
    /// Right after ESC `[`: a `[` here is the Linux console's function
    /// key (one more byte); anything else is as in [`Escape::Csi`].
    CsiStart,
    /// After ESC `[` and a byte of it: until a final byte.
    Csi,
    /// After ESC `O`: one more byte.
    Ss3,
    /// After ESC `]` and this many bytes of the string: until BEL or ESC
    /// `\` (or [`OSC_MAX`] bytes).
    Osc(u8),
    /// After an ESC inside an OSC string: `\` ends it (ST); any other byte
    /// ends it too and is taken as after a fresh ESC.
    OscEsc,
}

/// Most bytes of an OSC string swallowed (after ESC `]`) before it is
/// taken as ended.
const OSC_MAX: u8 = 64;

/// A command line of at most `N` bytes being typed.
pub struct LineEditor<const N: usize> {
    buf: [u8; N],
    len: usize,
    /// The previous byte was a CR, so an LF right after it is the same
    /// Enter.
    after_cr: bool,
    /// A byte was refused for want of room since the line began.
    overflowed: bool,
    /// The bell rang for a refused byte (no room, or not UTF-8) since the
    /// line began.
    rang: bool,
    /// A byte was refused as not UTF-8 since the line began.
    garbled: bool,
    escape: Escape,
    /// The bytes so far of a character outside ASCII, and how many it
    /// takes (0: not in one).
    pending: [u8; 4],
    pending_len: usize,
    pending_need: usize,
}

/// How many bytes the UTF-8 sequence that `lead` begins takes, or `None`
/// if no sequence begins so (RFC 3629 §4: C0, C1 and F5-FF never appear;
/// 80-BF only continue one).
fn sequence_length(lead: u8) -> Option<usize> {
    match lead {
        0xc2..=0xdf => Some(2),
        0xe0..=0xef => Some(3),
        0xf0..=0xf4 => Some(4),
        _ => None,
    }
}

fn is_continuation(byte: u8) -> bool {
    byte & 0xc0 == 0x80
}

impl<const N: usize> LineEditor<N> {
    /// An empty line.
    pub const fn new() -> Self {
        LineEditor {
            buf: [0; N],
            len: 0,
            after_cr: false,
            overflowed: false,
            rang: false,
            garbled: false,
            escape: Escape::None,
            pending: [0; 4],
            pending_len: 0,
            pending_need: 0,
        }
    }

    /// Feeds one received byte.
    pub fn feed(&mut self, byte: u8) -> Key {
        if self.pending_need != 0 {
            if is_continuation(byte) {
                return self.continue_char(byte);
            }
            // A character cut short: lost, and this byte is judged on its
            // own (it may begin the next one, or be Enter).
            self.pending_need = 0;
            self.garbled = true;
        }
        let after_cr = core::mem::replace(&mut self.after_cr, byte == CR);
        // Enter and Ctrl-C end a sequence cut short; anything else in one
        // is part of it.
        if !matches!(byte, CR | LF | CTRL_C) {
            match self.escape {
                Escape::None => {}
                Escape::Start | Escape::OscEsc => {
                    let st = self.escape == Escape::OscEsc && byte == b'\\';
                    self.escape = match byte {
                        b'[' => Escape::CsiStart,
                        b'O' => Escape::Ss3,
                        b']' => Escape::Osc(0),
                        _ => Escape::None,
                    };
                    if st || self.escape != Escape::None {
                        return Key::Ignore;
                    }
                    // A lone ESC (the Escape key, Alt-x) before this
                    // byte: only the ESC is dropped; the byte is taken as
                    // typed below (another ESC starts a new sequence).
                }
                Escape::CsiStart if byte == b'[' => {
                    self.escape = Escape::Ss3;
                    return Key::Ignore;
                }
                Escape::CsiStart | Escape::Csi => {
                    self.escape = if (0x20..=0x3f).contains(&byte) {
                        Escape::Csi
                    } else {
                        Escape::None
                    };
                    return Key::Ignore;
                }
                Escape::Ss3 => {
                    self.escape = Escape::None;
                    return Key::Ignore;
                }
                Escape::Osc(n) => {
                    self.escape = match byte {
                        BEL => Escape::None,
                        ESC => Escape::OscEsc,
                        _ if n + 1 >= OSC_MAX => Escape::None,
                        _ => Escape::Osc(n + 1),
                    };
                    return Key::Ignore;
                }
            }
        }
        self.escape = Escape::None;
        // CR, or an LF not right after one: the line is entered.
        let enter = byte == CR || (byte == LF && !after_cr);
        match byte {
            _ if enter && self.overflowed => {
                self.clear();
                Key::Overlong
            }
            _ if enter && self.garbled => {
                self.clear();
                Key::NotUtf8
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
                    // The line is UTF-8: a character's last byte is
                    // preceded by its continuation bytes and its lead.
                    self.len = self.buf[..self.len]
                        .iter()
                        .rposition(|&b| !is_continuation(b))
                        .unwrap_or(0);
                    Key::Erase
                }
            }
            CTRL_C => {
                self.clear();
                Key::Cancel
            }
            CTRL_U => {
                let n = self.line().chars().count();
                self.clear();
                if n == 0 {
                    Key::Ignore
                } else {
                    Key::EraseAll(n)
                }
            }
            b' '..=b'~' | TAB => {
                let byte = if byte == TAB { b' ' } else { byte };
                if self.store(&[byte]) {
                    Key::Echo(byte)
                } else {
                    self.ring(Key::Full)
                }
            }
            0x80..=0xff => match sequence_length(byte) {
                Some(need) => {
                    self.pending[0] = byte;
                    self.pending_len = 1;
                    self.pending_need = need;
                    Key::Ignore
                }
                None => {
                    self.garbled = true;
                    self.ring(Key::Invalid)
                }
            },
            _ => Key::Ignore,
        }
    }

    /// A continuation byte of the character begun in `pending`.
    fn continue_char(&mut self, byte: u8) -> Key {
        self.pending[self.pending_len] = byte;
        self.pending_len += 1;
        if self.pending_len < self.pending_need {
            return Key::Ignore;
        }
        self.pending_need = 0;
        let bytes = &self.pending[..self.pending_len];
        // The lead byte's range lets through overlong forms (E0 80..9F),
        // surrogates (ED A0..BF) and values over U+10FFFF (F4 90..BF):
        // core's decoder refuses those.
        let Some(c) = core::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.chars().next())
        else {
            self.garbled = true;
            return self.ring(Key::Invalid);
        };
        // C1 controls (U+0080-U+009F; U+009B is an 8-bit CSI to a
        // terminal) are ignored like the C0 ones.
        if c.is_control() {
            return Key::Ignore;
        }
        let (pending, n) = (self.pending, self.pending_len);
        if self.store(&pending[..n]) {
            Key::EchoChar(c)
        } else {
            self.ring(Key::Full)
        }
    }

    /// A byte the line refused (`key`: [`Key::Full`] or [`Key::Invalid`]):
    /// the bell, once a line (module doc).
    fn ring(&mut self, key: Key) -> Key {
        if core::mem::replace(&mut self.rang, true) {
            Key::Ignore
        } else {
            key
        }
    }

    /// Appends `bytes` (one whole character) if they fit; else notes the
    /// overflow.
    fn store(&mut self, bytes: &[u8]) -> bool {
        if N - self.len < bytes.len() {
            self.overflowed = true;
            return false;
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        true
    }

    /// The line typed so far. Only whole characters are ever stored, so
    /// it is always UTF-8.
    pub fn line(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    /// Starts a new line.
    pub fn clear(&mut self) {
        self.len = 0;
        self.overflowed = false;
        self.rang = false;
        self.garbled = false;
        self.pending_need = 0;
    }
}

impl<const N: usize> Default for LineEditor<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Key::{
        Cancel, Echo, EchoChar, Erase, EraseAll, Full, Ignore, Invalid, NotUtf8, Overlong, Submit,
    };
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
        types_as::<3>(b"a\x1b\x00bcd\x04", &keys, "abc");
    }

    #[test]
    fn a_full_line_rings_the_bell_once() {
        // A pasted line of 5,000 bytes rang it 4,880 times.
        let mut ed = LineEditor::<4>::new();
        let keys = typed(&mut ed, "abcdefgh€ij".as_bytes());
        assert_eq!(keys.iter().filter(|k| **k == Full).count(), 1, "{keys:?}");
        assert_eq!(keys[4], Full, "the first byte with no room rings");
        assert_eq!(ed.feed(b'\r'), Overlong);
        // The next line rings again.
        assert_eq!(
            typed(&mut ed, b"wxyz!?"),
            [Echo(b'w'), Echo(b'x'), Echo(b'y'), Echo(b'z'), Full, Ignore]
        );
        ed.feed(0x03); // Ctrl-C starts afresh too
        assert_eq!(typed(&mut ed, b"abcde")[4], Full);
    }

    #[test]
    fn a_tab_is_a_space() {
        // A pasted `blk<TAB>0<TAB>info` ran as `blk0info`.
        let mut ed = LineEditor::<16>::new();
        typed(&mut ed, b"blk\t0\tinfo");
        assert_eq!(ed.line(), "blk 0 info");
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
        // A lone LF ends an overflowed line the same way.
        typed(&mut ed, b"abcd");
        assert_eq!(ed.feed(b'\n'), Overlong);
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
        // Up arrow, Ctrl-Right (parameters), F1 (SS3), Alt-x (only the ESC
        // is dropped), Delete.
        types_as::<32>(
            b"\x1b[Aa\x1b[1;5Cb\x1bOPc\x1bxd\x1b[3~e",
            &[Ignore, Ignore, Ignore, Echo(b'a')]
                .into_iter()
                .chain([Ignore; 6])
                .chain([Echo(b'b'), Ignore, Ignore, Ignore, Echo(b'c')])
                .chain([
                    Ignore,
                    Echo(b'x'),
                    Echo(b'd'),
                    Ignore,
                    Ignore,
                    Ignore,
                    Ignore,
                ])
                .chain([Echo(b'e')])
                .collect::<Vec<_>>(),
            "abcxde",
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

    /// Types `bytes` into a fresh editor and says the lines entered.
    fn lines_entered(bytes: &[u8]) -> Vec<String> {
        let mut ed = LineEditor::<120>::new();
        let mut lines = Vec::new();
        for &b in bytes {
            if ed.feed(b) == Submit {
                lines.push(ed.line().to_string());
                ed.clear();
            }
        }
        lines
    }

    #[test]
    fn a_lone_escape_drops_only_itself() {
        // A lone ESC swallowed the next key: `tasks` ran as `asks`, and
        // `rng 2` as `rng2`.
        assert_eq!(lines_entered(b"\x1btasks\r"), ["tasks"]);
        assert_eq!(lines_entered(b"rng\x1b 2\r"), ["rng 2"]);
        let mut ed = LineEditor::<16>::new();
        assert_eq!(typed(&mut ed, b"\x1bt\r"), [Ignore, Echo(b't'), Submit]);
        // A second ESC starts a sequence of its own.
        assert_eq!(lines_entered(b"\x1b\x1b[Aab\x1b\x1bOPc\r"), ["abc"]);
        // Only after `[`, `O` or `]` is a sequence swallowed.
        assert_eq!(lines_entered(b"\x1b\\a\x1bPb\x1b~c\r"), ["\\aPb~c"]);
    }

    #[test]
    fn a_linux_console_function_key_is_swallowed_whole() {
        // The Linux console sends F1-F5 as ESC `[` `[` and a letter: the
        // second `[` ended the sequence as its final byte, and the letter
        // was typed (F1, then `tasks`, ran `Atasks`).
        assert_eq!(lines_entered(b"\x1b[[Atasks\r"), ["tasks"]);
        assert_eq!(lines_entered(b"rng\x1b[[E 8\r"), ["rng 8"]);
        // A `[` later in a sequence is its final byte, as before.
        assert_eq!(lines_entered(b"\x1b[1[ab\r"), ["ab"]);
    }

    #[test]
    fn an_osc_string_is_swallowed_whole() {
        // A title ended by BEL leaked as `0;titletasks`.
        assert_eq!(lines_entered(b"\x1b]0;title\x07tasks\r"), ["tasks"]);
        // Ended by ST (ESC `\`).
        assert_eq!(lines_entered(b"\x1b]0;title\x1b\\tasks\r"), ["tasks"]);
        // A colour query's answer in the middle of a line.
        assert_eq!(
            lines_entered(b"rng \x1b]11;rgb:0000/0000/0000\x1b\\16\r"),
            ["rng 16"]
        );
        // An ESC in the string that is not ST ends it and begins a new
        // sequence.
        assert_eq!(lines_entered(b"\x1b]0;t\x1b[Aab\x1b]0;t\x1bxc\r"), ["abxc"]);
        // Enter ends an unterminated string and still acts.
        assert_eq!(lines_entered(b"\x1b]0;title\rtasks\n"), ["", "tasks"]);
        // A string with no end is taken as ended after OSC_MAX bytes: what
        // comes after it is typed.
        let mut bytes = b"\x1b]".to_vec();
        bytes.extend([b'x'; super::OSC_MAX as usize]);
        bytes.extend(b"tasks\r");
        assert_eq!(lines_entered(&bytes), ["tasks"]);
        let mut bytes = b"\x1b]".to_vec();
        bytes.extend([b'x'; super::OSC_MAX as usize - 1]);
        bytes.extend(b"\x07tasks\r");
        assert_eq!(lines_entered(&bytes), ["tasks"]);
    }

    #[test]
    fn utf8_is_stored_whole_and_erased_by_character() {
        // é (2 bytes), € (3), 😀 (4): echoed when their last byte arrives.
        types_as::<32>(
            "hé€😀".as_bytes(),
            &[Echo(b'h'), Ignore, EchoChar('é'), Ignore, Ignore]
                .into_iter()
                .chain([EchoChar('€'), Ignore, Ignore, Ignore, EchoChar('😀')])
                .collect::<Vec<_>>(),
            "hé€😀",
        );
        let mut ed = LineEditor::<32>::new();
        typed(&mut ed, "aé€😀".as_bytes());
        assert_eq!(typed(&mut ed, b""), [Erase, Erase]);
        assert_eq!(ed.line(), "aé");
        assert_eq!(ed.feed(0x15), EraseAll(2));
        assert_eq!(
            typed(&mut ed, "ü\r".as_bytes()),
            [Ignore, EchoChar('ü'), Submit]
        );
        assert_eq!(ed.line(), "ü");
    }

    #[test]
    fn bytes_that_are_not_utf8_ring_and_the_line_is_not_run() {
        for bad in [
            &b"\x80"[..],        // a continuation byte with no lead
            b"\xc0\xaf",         // C0 and C1 never appear
            b"\xf5\x80\x80\x80", // beyond U+10FFFF by its lead
            b"\xe0\x80\x80",     // overlong
            b"\xed\xa0\x80",     // a surrogate
            b"\xf4\x90\x80\x80", // beyond U+10FFFF
            b"\xe9t",            // Latin-1 `é`: a lead cut short by `t`
            b"\xc3",             // cut short by Enter itself
        ] {
            let mut ed = LineEditor::<16>::new();
            let mut bytes = b"blk 0 write 3 h".to_vec();
            bytes.extend_from_slice(bad);
            let keys = typed(&mut ed, &bytes);
            assert!(!keys.contains(&Submit), "{bad:x?}: {keys:?}");
            assert_eq!(ed.feed(b'\r'), NotUtf8, "{bad:x?}");
            assert_eq!(ed.line(), "", "{bad:x?}");
            // The next line is judged on its own.
            assert_eq!(typed(&mut ed, b"a\r"), [Echo(b'a'), Submit], "{bad:x?}");
        }
        let mut ed = LineEditor::<16>::new();
        assert_eq!(typed(&mut ed, b"\xffa"), [Invalid, Echo(b'a')]);
        // Ctrl-U (and Ctrl-C) start afresh.
        assert_eq!(
            typed(&mut ed, b"\x15b\r"),
            [EraseAll(1), Echo(b'b'), Submit]
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_ring_the_bell_once_a_line() {
        // 200 bytes of 0xff pasted rang the bell 200 times (a full line
        // already rang it once).
        let mut ed = LineEditor::<16>::new();
        let keys = typed(&mut ed, &[0xff; 200]);
        assert_eq!(keys[0], Invalid);
        assert!(keys[1..].iter().all(|&k| k == Ignore), "{keys:?}");
        // Sequences that go wrong later ring no more.
        assert_eq!(typed(&mut ed, b"\xe0\x80\x80\x80"), [Ignore; 4]);
        assert_eq!(ed.feed(b'\r'), NotUtf8);
        // The next line rings again, once, for whichever comes first: a
        // bad byte or a byte with no room.
        assert_eq!(typed(&mut ed, b"\xff\xc0"), [Invalid, Ignore]);
        ed.feed(0x03);
        let keys = typed(&mut ed, &[b'a'; 20]);
        assert_eq!(keys.iter().filter(|k| **k == Full).count(), 1);
        assert_eq!(ed.feed(0xff), Ignore);
    }

    #[test]
    fn a_character_that_does_not_fit_is_not_stored_in_part() {
        let mut ed = LineEditor::<4>::new();
        assert_eq!(
            typed(&mut ed, "ab€".as_bytes()),
            [Echo(b'a'), Echo(b'b'), Ignore, Ignore, Full]
        );
        assert_eq!(ed.line(), "ab");
        assert_eq!(ed.feed(b'\r'), Overlong);
        assert_eq!(
            typed(&mut ed, "aé€".as_bytes())[..3],
            [Echo(b'a'), Ignore, EchoChar('é')]
        );
        assert_eq!(ed.line(), "aé");
    }

    #[test]
    fn no_byte_sequence_panics_or_stores_anything_but_utf8() {
        let mut ed = LineEditor::<8>::new();
        let mut x: u32 = 12345;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            ed.feed(x as u8);
            assert!(ed.len <= 8);
            let line = core::str::from_utf8(&ed.buf[..ed.len]);
            assert!(line.is_ok(), "{:x?}", &ed.buf[..ed.len]);
            assert!(line.unwrap().chars().all(|c| !c.is_control()));
        }
    }
}
