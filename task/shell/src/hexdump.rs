//! Bytes shown as `hexdump -C` shows them: offset, sixteen bytes in hex,
//! the printable ones as text; a run of lines equal to the one before is
//! shown as a single `*`.

use core::fmt::{self, Write};

/// Bytes per line.
pub const WIDTH: usize = 16;

/// One line of output: either a row of bytes or the `*` of a repeated run.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Row<'a> {
    /// Bytes at `offset`.
    Bytes {
        /// Offset of the first byte.
        offset: usize,
        /// Up to [`WIDTH`] bytes.
        bytes: &'a [u8],
    },
    /// One or more rows equal to the previous one were left out.
    Repeat,
}

/// The rows of `data`, in order, with repeated full rows collapsed. The
/// last row is always shown, so the length is visible.
pub fn rows(data: &[u8]) -> impl Iterator<Item = Row<'_>> {
    let chunks = data.chunks(WIDTH);
    let last = chunks.len().saturating_sub(1);
    let mut previous: Option<&[u8]> = None;
    let mut in_repeat = false;
    chunks.enumerate().filter_map(move |(i, bytes)| {
        let same = previous == Some(bytes) && i != last;
        previous = Some(bytes);
        if same {
            if core::mem::replace(&mut in_repeat, true) {
                None
            } else {
                Some(Row::Repeat)
            }
        } else {
            in_repeat = false;
            Some(Row::Bytes {
                offset: i * WIDTH,
                bytes,
            })
        }
    })
}

impl fmt::Display for Row<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (offset, bytes) = match *self {
            Row::Repeat => return f.write_char('*'),
            Row::Bytes { offset, bytes } => (offset, bytes),
        };
        write!(f, "{offset:08x} ")?;
        for i in 0..WIDTH {
            if i == WIDTH / 2 {
                f.write_char(' ')?;
            }
            match bytes.get(i) {
                Some(b) => write!(f, " {b:02x}")?,
                None => f.write_str("   ")?,
            }
        }
        f.write_str("  |")?;
        for &b in bytes {
            f.write_char(if (b' '..=b'~').contains(&b) {
                b as char
            } else {
                '.'
            })?;
        }
        f.write_char('|')
    }
}

#[cfg(test)]
mod tests {
    use super::{rows, Row};

    fn text(data: &[u8]) -> Vec<String> {
        rows(data).map(|r| r.to_string()).collect()
    }

    #[test]
    fn a_sector_with_text_then_zeroes() {
        let mut sector = [0u8; 512];
        sector[..5].copy_from_slice(b"hello");
        assert_eq!(
            text(&sector),
            [
                "00000000  68 65 6c 6c 6f 00 00 00  00 00 00 00 00 00 00 00  |hello...........|",
                "00000010  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|",
                "*",
                "000001f0  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|",
            ]
        );
    }

    #[test]
    fn short_and_partial_rows() {
        assert_eq!(text(&[]), Vec::<String>::new());
        assert_eq!(
            text(&[0x41, 0x7f, 0x20]),
            ["00000000  41 7f 20                                          |A. |"]
        );
        let data: Vec<u8> = (0..20).collect();
        let t = text(&data);
        assert_eq!(t.len(), 2);
        assert!(t[1].starts_with("00000010  10 11 12 13   "), "{}", t[1]);
    }

    #[test]
    fn runs_collapse_once_and_resume() {
        let mut data = vec![1u8; 16 * 4];
        data.extend_from_slice(&[2u8; 16]);
        data.extend_from_slice(&[1u8; 32]);
        let r: Vec<Row<'_>> = rows(&data).collect();
        let kinds: Vec<bool> = r.iter().map(|r| *r == Row::Repeat).collect();
        assert_eq!(kinds, [false, true, false, false, false]);
    }
}
