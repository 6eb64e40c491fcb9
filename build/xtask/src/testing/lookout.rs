//! Text looked for in a console that grows while it is looked at.
//!
//! A console step waits for its text while the image prints, and QEMU
//! writes the console a byte at a time, so the harness gets its output in
//! chunks of a few bytes. Looking for the text again from where the step
//! began after every chunk made each chunk cost the whole console since
//! then: quadratic, and a chatty image (a task faulting as it starts,
//! 3,000-4,000 lines a second) left the harness minutes behind its
//! console, failing a step as timed out on text QEMU had printed long
//! before. A [`Lookout`] remembers how far the text is known not to
//! start, and looks on from there: each byte is looked at once, plus the
//! text's length at each look.

/// One look-out for text in a growing transcript: where it began, and how
/// far the text is known not to start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lookout {
    /// Where the look-out began: what comes before does not count.
    from: usize,
    /// No match starts in `from..clear`, and none ever will: everything
    /// a match there would take is settled.
    clear: usize,
}

impl Lookout {
    /// A look-out that starts at `from` in the transcript.
    pub fn at(from: usize) -> Lookout {
        Lookout { from, clear: from }
    }

    /// Where it began.
    pub fn from(&self) -> usize {
        self.from
    }

    /// Where the first `needle` at or after [`from`](Self::from) starts in
    /// `text`, if it is there. The first `settled` bytes of `text` are
    /// what every later call's text starts with; what follows (an
    /// unfinished line, whose text may still be hidden or shown) may
    /// change, and is looked at again next time. `examined` counts the
    /// bytes looked at.
    pub fn find(
        &mut self,
        text: &str,
        settled: usize,
        needle: &str,
        examined: &mut usize,
    ) -> Option<usize> {
        let start = self.clear.max(self.from);
        let found = text
            .get(start..)
            .and_then(|rest| {
                *examined += rest.len();
                rest.find(needle)
            })
            .map(|at| start + at);
        // A match starting before `settled - (needle.len() - 1)` would lie
        // wholly in the settled text, which no later call changes: none
        // starts between `start` and there (or `found`, the first).
        let settled = settled.min(text.len());
        let mut clear = found
            .unwrap_or(text.len())
            .min(settled.saturating_sub(needle.len().saturating_sub(1)));
        while !text.is_char_boundary(clear) {
            clear -= 1;
        }
        self.clear = self.clear.max(clear);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::Lookout;

    /// `text` fed `chunk` bytes at a time, all settled; where `needle` is
    /// first found, and the bytes looked at.
    fn feed(text: &str, chunk: usize, needle: &str) -> (Option<usize>, usize) {
        let mut look = Lookout::at(0);
        let mut examined = 0;
        let mut end = 0;
        while end < text.len() {
            end = (end + chunk).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            if let Some(at) = look.find(&text[..end], end, needle, &mut examined) {
                return (Some(at), examined);
            }
        }
        (None, examined)
    }

    #[test]
    fn text_split_between_chunks_is_found_where_it_starts() {
        let text = "ab vireo> é€ answer here\n";
        for chunk in 1..=text.len() {
            assert_eq!(feed(text, chunk, "answer").0, Some(16), "chunk {chunk}");
            assert_eq!(feed(text, chunk, "é€").0, Some(10), "chunk {chunk}");
            assert_eq!(feed(text, chunk, "none").0, None, "chunk {chunk}");
        }
    }

    #[test]
    fn each_byte_is_looked_at_about_once() {
        let text = "[  0.000001] storm: faulted\n".repeat(1000) + "late";
        let (at, examined) = feed(&text, 3, "late");
        assert_eq!(at, Some(text.len() - 4));
        assert!(examined < 3 * text.len(), "{examined} of {}", text.len());
    }

    /// What follows the settled text may change; a match there is found,
    /// but looked for again next time from where it could start.
    #[test]
    fn unsettled_text_is_looked_at_again() {
        let mut look = Lookout::at(2);
        let mut n = 0;
        assert_eq!(look.find("xxvir[  1", 2, "vireo>", &mut n), None);
        assert_eq!(look.find("xxvireo> ", 2, "vireo>", &mut n), Some(2));
        let mut look = Lookout::at(0);
        assert_eq!(look.find("abcdef", 6, "zz", &mut n), None);
        // Only "f" could start a match still: it is looked at again.
        assert_eq!(look.find("abcdefz", 7, "fz", &mut n), Some(5));
        // Never before where the look-out began.
        let mut look = Lookout::at(3);
        assert_eq!(look.find("fz fz", 5, "fz", &mut n), Some(3));
        assert_eq!(look.from(), 3);
    }
}
