//! One `fill` request as a sequence of device requests: how much to ask for
//! next, where the bytes the device returned go, and when a device that
//! keeps returning nothing has had enough chances.
//!
//! An entropy device may write fewer bytes than the buffer holds, even none
//! (§5.4.6.1: the device "MUST place one or more random bytes into the
//! buffer, but it MAY use less than the entire buffer length" — a device
//! that writes none breaks that rule, and the driver tolerates a few before
//! giving up on it).

use core::ops::Range;

/// How many completions in a row may bring no bytes before the device is
/// declared broken.
pub const EMPTY_LIMIT: u32 = 4;

/// Progress of filling `total` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fill {
    total: usize,
    done: usize,
    empty_in_a_row: u32,
}

/// Why a completion could not be accepted.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FillFault {
    /// The device claimed more bytes than it was asked for.
    TooLong {
        /// Bytes asked for.
        asked: usize,
        /// Bytes the device claimed.
        got: u32,
    },
    /// [`EMPTY_LIMIT`] completions in a row carried no bytes.
    NoProgress,
}

impl Fill {
    /// A fill of `total` bytes, none done yet.
    pub const fn new(total: usize) -> Self {
        Fill {
            total,
            done: 0,
            empty_in_a_row: 0,
        }
    }

    /// Bytes filled so far.
    pub const fn done(&self) -> usize {
        self.done
    }

    /// Whether every byte is filled.
    pub const fn is_complete(&self) -> bool {
        self.done >= self.total
    }

    /// How many bytes to ask the device for next with a buffer of
    /// `bounce_len` bytes, or `None` when the fill is complete.
    pub fn next_request(&self, bounce_len: usize) -> Option<usize> {
        let left = self.total - self.done;
        (left > 0 && bounce_len > 0).then(|| left.min(bounce_len))
    }

    /// Accounts for a request of `asked` bytes into which the device wrote
    /// `got`. Returns the range of the destination those bytes go to (the
    /// first `got` bytes of the bounce buffer; empty if none).
    pub fn completed(&mut self, asked: usize, got: u32) -> Result<Range<usize>, FillFault> {
        let got_len = usize::try_from(got).unwrap_or(usize::MAX);
        if got_len > asked || got_len > self.total - self.done {
            return Err(FillFault::TooLong { asked, got });
        }
        if got_len == 0 {
            self.empty_in_a_row += 1;
            if self.empty_in_a_row >= EMPTY_LIMIT {
                return Err(FillFault::NoProgress);
            }
        } else {
            self.empty_in_a_row = 0;
        }
        let start = self.done;
        self.done += got_len;
        Ok(start..self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::{Fill, FillFault, EMPTY_LIMIT};

    /// Runs a fill where the device writes `per_request(asked)` bytes each
    /// time; returns the requests made and the destination ranges.
    fn run(
        total: usize,
        bounce: usize,
        per_request: impl Fn(usize) -> u32,
    ) -> Vec<(usize, std::ops::Range<usize>)> {
        let mut f = Fill::new(total);
        let mut out = Vec::new();
        while let Some(ask) = f.next_request(bounce) {
            let r = f.completed(ask, per_request(ask)).expect("accepted");
            out.push((ask, r));
        }
        assert!(f.is_complete());
        assert_eq!(f.done(), total);
        out
    }

    #[test]
    fn zero_length_needs_no_request() {
        assert_eq!(Fill::new(0).next_request(512), None);
        assert!(Fill::new(0).is_complete());
    }

    #[test]
    fn chunks_cover_the_destination_in_order() {
        for total in [1, 7, 64, 511, 512, 513, 4096, 5000] {
            let reqs = run(total, 512, |ask| ask as u32);
            assert_eq!(reqs.len(), total.div_ceil(512), "total {total}");
            let mut at = 0;
            for (ask, r) in reqs {
                assert!(ask <= 512);
                assert_eq!(r.start, at);
                at = r.end;
            }
            assert_eq!(at, total);
        }
    }

    #[test]
    fn short_completions_are_asked_again() {
        // A device that writes at most 3 bytes per request.
        let reqs = run(10, 8, |ask| ask.min(3) as u32);
        let asks: Vec<usize> = reqs.iter().map(|(a, _)| *a).collect();
        assert_eq!(asks, [8, 7, 4, 1]);
    }

    #[test]
    fn a_device_claiming_too_much_is_refused() {
        let mut f = Fill::new(100);
        assert_eq!(
            f.completed(64, 65),
            Err(FillFault::TooLong { asked: 64, got: 65 })
        );
        let mut f = Fill::new(10);
        assert_eq!(
            f.completed(64, 11),
            Err(FillFault::TooLong { asked: 64, got: 11 })
        );
        assert_eq!(
            f.completed(64, u32::MAX),
            Err(FillFault::TooLong {
                asked: 64,
                got: u32::MAX
            })
        );
    }

    #[test]
    fn empty_completions_end_after_the_limit_and_reset_on_progress() {
        let mut f = Fill::new(10);
        for _ in 1..EMPTY_LIMIT {
            assert_eq!(f.completed(10, 0), Ok(0..0));
        }
        assert_eq!(f.completed(10, 1), Ok(0..1));
        for _ in 1..EMPTY_LIMIT {
            assert_eq!(f.completed(9, 0), Ok(1..1));
        }
        assert_eq!(f.completed(9, 0), Err(FillFault::NoProgress));
    }
}
