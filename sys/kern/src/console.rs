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
    let ticks_per_s = (abi::TICKS_PER_MS * 1000) as u32;
    let (secs, rest) = div_rem(m.now(), ticks_per_s);
    let micros = rest / (ticks_per_s / 1_000_000);
    m.console_write(b"[");
    decimal(m, secs, 4, b' ');
    m.console_write(b".");
    decimal(m, micros as u64, 6, b'0');
    m.console_write(b"] ");
    m.console_write(source.as_bytes());
    m.console_write(b": ");
}

/// `n / d` and `n % d` by long division: the kernel has no other use for
/// 64-bit division, and the library routine costs a kilobyte of text. Out
/// of line, so that its two callers share it.
#[inline(never)]
fn div_rem(n: u64, d: u32) -> (u64, u32) {
    let (d, mut q, mut r) = (d as u64, 0u64, 0u64);
    for i in (0..64).rev() {
        // r < d < 2^32 before: no overflow.
        r = (r << 1) + ((n >> i) & 1);
        q <<= 1;
        if r >= d {
            r -= d;
            q |= 1;
        }
    }
    (q, r as u32)
}

/// Prints `v` in decimal, right-aligned in `width` columns padded with
/// `pad`.
fn decimal<M: Machine>(m: &mut M, mut v: u64, width: usize, pad: u8) {
    let mut digits = [pad; 20];
    let mut i = digits.len();
    // 20 digits hold any u64: the loop ends at `v == 0` first.
    for digit in digits.iter_mut().rev() {
        let (q, r) = div_rem(v, 10);
        i -= 1;
        *digit = b'0' + r as u8;
        v = q;
        if v == 0 {
            break;
        }
    }
    let start = i.min(digits.len() - width.min(digits.len()));
    m.console_write(&digits[start..]);
}

/// One kernel line, built piece by piece without `core::fmt` (whose
/// formatting machinery would be most of the kernel's text).
pub struct Line<'a, M: Machine>(&'a mut M);

impl<'a, M: Machine> Line<'a, M> {
    /// Starts a line from the kernel (prints the prefix).
    pub fn kernel(m: &'a mut M) -> Self {
        prefix(m, "kernel");
        Line(m)
    }

    /// Appends text.
    pub fn str(self, s: &str) -> Self {
        self.0.console_write(s.as_bytes());
        self
    }

    /// Appends a number in decimal.
    pub fn dec(self, v: u32) -> Self {
        decimal(self.0, v as u64, 0, b' ');
        self
    }

    /// Appends a number as `0x` and eight hex digits (`{:#010x}`).
    pub fn hex(self, v: u32) -> Self {
        let mut out = *b"0x00000000";
        for (i, b) in out[2..].iter_mut().enumerate() {
            let nibble = (v >> (28 - 4 * i)) & 0xf;
            *b = b"0123456789abcdef"[nibble as usize];
        }
        self.0.console_write(&out);
        self
    }

    /// Ends the line.
    pub fn end(self) {
        self.0.console_write(b"\n");
    }
}

/// Prints one kernel line built from format arguments. The kernel itself
/// uses [`Line`]; this is for tests and debugging.
pub fn kernel_line<M: Machine>(m: &mut M, args: fmt::Arguments<'_>) {
    prefix(m, "kernel");
    let _ = Out(m).write_fmt(args);
    m.console_write(b"\n");
}

/// Prints task text; each of its lines gets the prefix.
///
/// What a terminal would act on becomes `?` ([`abi::acts_on_terminal`]:
/// the C0 and C1 controls, DEL and the bidi format characters), and so
/// does each byte that does not begin a whole UTF-8 character. A UTF-8
/// terminal (xterm, for one) acts on C1 controls: CSI (U+009B) moves the
/// cursor and erases lines, OSC (U+009D) sets the window title or the
/// clipboard, so a task could rewrite lines it did not print; a lone
/// continuation byte `0x9B` is CSI to a terminal taking 8-bit controls.
/// What passes is whole UTF-8 characters, so tasks' text stays readable.
pub fn task_text<M: Machine>(m: &mut M, source: &str, text: &[u8]) {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    for line in text.split(|&b| b == b'\n') {
        prefix(m, source);
        let mut rest = line;
        while !rest.is_empty() {
            // A character is written whole or as one `?`; a byte that
            // begins none is one `?`, and the next byte is looked at anew.
            let (shown, len) = match utf8_char(rest) {
                Some((c, len)) if !abi::acts_on_terminal(c) => {
                    (rest.get(..len).unwrap_or(b"?"), len)
                }
                Some((_, len)) => (&b"?"[..], len),
                None => (&b"?"[..], 1),
            };
            m.console_write(shown);
            rest = rest.get(len..).unwrap_or(&[]);
        }
        m.console_write(b"\n");
    }
}

/// The character `s` begins with and its length in bytes, or `None` if
/// `s` does not begin with a whole UTF-8 character in its shortest form
/// (Unicode 15, table 3-7).
fn utf8_char(s: &[u8]) -> Option<(char, usize)> {
    let (&first, _) = s.split_first()?;
    let lead = u32::from(first);
    let (len, shortest, mut c) = match lead {
        0x00..=0x7f => return Some((char::from(first), 1)),
        0xc2..=0xdf => (2, 0x80, lead & 0x1f),
        0xe0..=0xef => (3, 0x800, lead & 0x0f),
        0xf0..=0xf4 => (4, 0x1_0000, lead & 0x07),
        _ => return None,
    };
    for &b in s.get(1..len)? {
        if b & 0xc0 != 0x80 {
            return None;
        }
        c = c << 6 | u32::from(b & 0x3f);
    }
    // `from_u32` refuses surrogates and values past U+10FFFF.
    let c = char::from_u32(c).filter(|_| c >= shortest)?;
    Some((c, len))
}
