//! A fixed-size text buffer that `write!` fills and that says when it ran
//! out of room instead of failing half-way through a page.

use core::fmt;

/// Up to `N` bytes of text.
pub struct Out<const N: usize> {
    bytes: [u8; N],
    len: usize,
    overflowed: bool,
}

impl<const N: usize> Out<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        Out {
            bytes: [0; N],
            len: 0,
            overflowed: false,
        }
    }

    /// Empties the buffer.
    pub fn clear(&mut self) {
        self.len = 0;
        self.overflowed = false;
    }

    /// What was written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Bytes written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a write did not fit (the text is cut there).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
}

impl<const N: usize> Default for Out<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for Out<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N - self.len;
        if s.len() > room {
            self.overflowed = true;
            return Err(fmt::Error);
        }
        self.bytes[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Out;
    use core::fmt::Write;

    #[test]
    fn writes_until_full_then_says_so() {
        let mut o = Out::<8>::new();
        write!(o, "abc{}", 12).unwrap();
        assert_eq!(o.as_bytes(), b"abc12");
        assert!(write!(o, "toolong").is_err());
        assert!(o.overflowed());
        assert_eq!(o.as_bytes(), b"abc12");
        assert_eq!((o.len(), o.is_empty()), (5, false));
        o.clear();
        assert!(o.is_empty() && !o.overflowed());
        assert_eq!(o.len(), 0);
    }

    #[test]
    fn text_that_exactly_fills_it_fits() {
        let mut o = Out::<4>::new();
        o.write_str("abcd").unwrap();
        assert_eq!((o.as_bytes(), o.overflowed()), (&b"abcd"[..], false));
        assert!(o.write_str("").is_ok(), "nothing still fits");
        assert!(o.write_str("e").is_err());
    }
}
