//! How fast the echo answers datagrams: a token bucket.
//!
//! The stack and the NIC driver outrank the echo and the page server, and
//! every datagram costs them work before the echo sees it. A peer that
//! sends each datagram the moment the last came back (`ping -f` style)
//! kept the machine busy with nothing else: the page server, as important
//! as the echo, answered pages after 0.3 to 5.5 s (2 to 18 ms with the
//! same peer held to 2,000 a second). So the echo answers at most
//! [`PER_SECOND`] datagrams a second, in bursts of up to [`BURST`] (the
//! stack's queue for the socket holds 64); datagrams it does not get to
//! wait in that queue, and what does not fit there is dropped, as UDP
//! allows. TCP needs no such rule: its peers wait for windows.

/// Datagrams answered per second, at most.
pub const PER_SECOND: u64 = 2000;
/// Datagrams answered at once after a quiet spell.
pub const BURST: u64 = 64;

/// The bucket: answers left, and when it was last filled (ms).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    tokens: u64,
    filled_ms: u64,
}

impl Bucket {
    /// A full bucket at time `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        Bucket {
            tokens: BURST,
            filled_ms: now_ms,
        }
    }

    /// Takes one answer at time `now_ms` (ms, never going back); `false`
    /// when none is left, until [`next_ms`](Bucket::next_ms).
    pub fn take(&mut self, now_ms: u64) -> bool {
        let earned = now_ms
            .saturating_sub(self.filled_ms)
            .saturating_mul(PER_SECOND)
            / 1000;
        self.tokens = (self.tokens + earned).min(BURST);
        // Only the whole answers earned move the clock on: the rest of the
        // time counts towards the next.
        self.filled_ms += earned * 1000 / PER_SECOND;
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }

    /// Returns an answer taken and not used (nothing was waiting).
    pub fn give_back(&mut self) {
        self.tokens = (self.tokens + 1).min(BURST);
    }

    /// When an empty bucket has an answer again (ms).
    pub fn next_ms(&self) -> u64 {
        self.filled_ms + 1000_u64.div_ceil(PER_SECOND)
    }
}

#[cfg(test)]
mod tests {
    use super::{Bucket, BURST, PER_SECOND};

    #[test]
    fn a_burst_then_the_rate() {
        let mut b = Bucket::new(1000);
        for _ in 0..BURST {
            assert!(b.take(1000));
        }
        assert!(!b.take(1000), "the burst is spent");
        assert!(b.next_ms() > 1000);
        // Over ten seconds of asking every millisecond, the rate.
        let answered = (1001..=11_000)
            .map(|t| (0..10).filter(|_| b.take(t)).count())
            .sum::<usize>();
        assert_eq!(answered as u64, 10 * PER_SECOND);
    }

    #[test]
    fn a_quiet_spell_refills_only_the_burst() {
        let mut b = Bucket::new(0);
        for _ in 0..BURST {
            assert!(b.take(0));
        }
        let later = 3_600_000;
        let n = (0..10 * BURST).filter(|_| b.take(later)).count() as u64;
        assert_eq!(n, BURST);
        // A clock read twice the same, or a late reading, takes nothing.
        let mut c = Bucket::new(5);
        assert!(c.take(4));
    }

    #[test]
    fn an_answer_not_used_is_given_back() {
        let mut b = Bucket::new(0);
        assert!(b.take(0));
        b.give_back();
        assert_eq!((0..2 * BURST).filter(|_| b.take(0)).count() as u64, BURST);
    }

    #[test]
    fn the_empty_bucket_says_when_to_come_back() {
        let mut b = Bucket::new(0);
        while b.take(0) {}
        let t = b.next_ms();
        assert!(b.take(t), "an answer at {t} ms");
    }
}
