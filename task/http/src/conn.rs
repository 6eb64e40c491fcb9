//! The server's connection slots and the rules that take a slot back: a
//! connection that has had its time ([`Conn::expired`]), and, when every
//! slot is taken and another connection is waiting, the one that has held
//! its slot longest without earning it ([`victim`]).
//!
//! Why the second rule: the time limits alone bound how long one client
//! holds a slot, not how long a few clients together hold all of them. A
//! handful of clients that each open a connection, trickle half a request
//! head and connect again when they are closed (slowloris) kept every slot
//! taken, and a real request waited a whole [`LIFETIME_MS`] or more for
//! each page. A real request's head arrives with its connection and its
//! answer is sent in milliseconds, so a connection still without a whole
//! head after [`GRACE_MS`] is not one a waiting client should queue behind.
//! One with a whole head that waits for the response buffer (another
//! connection's answer holds it) has earned its place and keeps it.

/// What a connection still reading its request head is told when it
/// gives its place to a waiting one (`Connection: close` follows); its
/// head is `response::head`'s (the two are checked alike there).
pub const GAVE_UP: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\n\
    Content-Length: 49\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n\
    request head too slow while others waited; retry\n";

/// A connection that sends nothing for this long is closed.
pub const IDLE_MS: u64 = 5000;

/// A connection is closed this long after it was accepted, whatever it is
/// doing: the idle rule alone lets a client that trickles its request head
/// (a byte every few seconds) hold its slot for as long as it likes.
pub const LIFETIME_MS: u64 = 10_000;

/// While another connection waits, a slot is taken back from a
/// connection that has been reading its head for this long, or whose
/// answer has not moved for this long (a client that does not read).
pub const GRACE_MS: u64 = 250;

/// Where a connection is in its one request.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading the request head: `len` bytes so far.
    Reading {
        /// Bytes of the head read so far.
        len: usize,
    },
    /// A whole head of `len` bytes, waiting for the response buffer
    /// (another connection's answer holds it): it has earned its place.
    Waiting {
        /// Bytes of the head.
        len: usize,
    },
    /// Sending the answer, `sent` bytes of it so far.
    Sending {
        /// Bytes of the answer sent so far.
        sent: usize,
    },
}

/// How a connection that gives up its slot is ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// A FIN after what was queued: its whole answer, or, for one still
    /// reading its head, the 408 or nothing.
    Close,
    /// A reset: its answer is cut short. A FIN after part of an answer
    /// (or none of it) reads as a whole answer to a client that trusts
    /// the end of the stream; a reset says the connection failed.
    Abort,
}

/// One accepted connection.
#[derive(Debug)]
pub struct Conn {
    /// The net task's socket id.
    pub id: u32,
    /// Where it is in its request.
    pub phase: Phase,
    /// When the stack handed the connection over: [`LIFETIME_MS`] and
    /// [`GRACE_MS`] for a head count from here.
    pub accepted_ms: u64,
    /// When bytes last moved: [`IDLE_MS`], and [`GRACE_MS`] for an answer,
    /// count from here.
    pub last_ms: u64,
}

impl Conn {
    /// A connection accepted at `now`, about to read its head.
    pub fn accepted(id: u32, now: u64) -> Self {
        Conn {
            id,
            phase: Phase::Reading { len: 0 },
            accepted_ms: now,
            last_ms: now,
        }
    }

    /// Its answer is ready and starts being sent at `now`: from here the
    /// idle limit and [`GRACE_MS`] count for the answer. Counted from the
    /// head's last byte, a connection that had waited for the response
    /// buffer (another connection's answer held it) yielded its slot the
    /// moment its own answer began, before a byte of it was sent, and was
    /// closed with a FIN: its client read an empty reply (2 of 16,660
    /// pages, eight clients in a loop while `restart net0` was typed every
    /// 2 s, which slowed the server past the grace).
    pub fn answer(&mut self, now: u64) {
        self.phase = Phase::Sending { sent: 0 };
        self.last_ms = now;
    }

    /// How to end the connection now, its answer (if it is sending one)
    /// being `answer_len` bytes: a reset if the stack has not taken all
    /// of the answer, else a FIN.
    pub fn ending(&self, answer_len: usize) -> Ending {
        match self.phase {
            Phase::Sending { sent } if sent < answer_len => Ending::Abort,
            _ => Ending::Close,
        }
    }

    /// Whether the connection has had its time: idle too long, or open
    /// too long in all.
    pub fn expired(&self, now: u64) -> bool {
        now.saturating_sub(self.last_ms) > IDLE_MS
            || now.saturating_sub(self.accepted_ms) > LIFETIME_MS
    }

    /// Whether a waiting connection may take this one's slot at `now`.
    fn yields(&self, now: u64) -> bool {
        match self.phase {
            Phase::Reading { .. } => now.saturating_sub(self.accepted_ms) >= GRACE_MS,
            Phase::Waiting { .. } => false,
            Phase::Sending { .. } => now.saturating_sub(self.last_ms) >= GRACE_MS,
        }
    }
}

/// The slot to give a waiting connection when none is free: of the
/// connections that would yield theirs, the one accepted first, so that
/// the clients that cost the server the most go first. `None` if every
/// connection is within its grace (or a slot is free, which is not this
/// rule's business).
pub fn victim(conns: &[Option<Conn>], now: u64) -> Option<usize> {
    if conns.iter().any(Option::is_none) {
        return None;
    }
    yielding(conns, now)
}

/// Of the connections that would yield their slot to a waiting one, the
/// one accepted first, free slots or not: what to give back when a client
/// waits but the stack has no socket of ours listening (`Crowded`: every
/// socket we may hold is a connection, so a free slot is of no use).
pub fn yielding(conns: &[Option<Conn>], now: u64) -> Option<usize> {
    conns
        .iter()
        .enumerate()
        .filter_map(|(k, c)| c.as_ref().map(|c| (k, c)))
        .filter(|(_, c)| c.yields(now))
        .min_by_key(|(_, c)| c.accepted_ms)
        .map(|(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_to_a_place_given_up_is_a_whole_response() {
        let text = core::str::from_utf8(GAVE_UP).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 408 "));
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), body.len());
    }

    fn reading(accepted_ms: u64) -> Option<Conn> {
        Some(Conn::accepted(accepted_ms as u32, accepted_ms))
    }

    fn sending(accepted_ms: u64, last_ms: u64) -> Option<Conn> {
        Some(Conn {
            id: accepted_ms as u32,
            phase: Phase::Sending { sent: 10 },
            accepted_ms,
            last_ms,
        })
    }

    #[test]
    fn a_free_slot_takes_nobody_elses() {
        let conns = [reading(0), None, reading(0), reading(0)];
        assert_eq!(victim(&conns, 60_000), None);
    }

    /// With no socket listening (the stack answers `Crowded`), a free slot
    /// is of no use: the oldest connection that yields goes, free slots or
    /// not, and none within its grace does.
    #[test]
    fn a_crowded_listener_takes_a_slot_back_despite_free_ones() {
        let conns = [reading(0), None, reading(100), None];
        assert_eq!(yielding(&conns, 60_000), Some(0));
        assert_eq!(yielding(&conns, GRACE_MS - 1), None);
        assert_eq!(yielding(&[None, None], 60_000), None);
    }

    #[test]
    fn a_head_within_its_grace_keeps_its_slot() {
        let conns = [reading(1000), reading(1001), reading(1200), reading(1400)];
        assert_eq!(victim(&conns, 1000 + GRACE_MS - 1), None);
        assert_eq!(victim(&conns, 1000 + GRACE_MS), Some(0));
    }

    #[test]
    fn the_oldest_head_that_yields_goes_first() {
        let conns = [reading(300), reading(100), reading(200), reading(4000)];
        assert_eq!(victim(&conns, 4000), Some(1));
        // Only the newest is within its grace.
        let conns = [reading(4000), reading(300), reading(100), reading(200)];
        assert_eq!(victim(&conns, 4100), Some(2));
    }

    #[test]
    fn an_answer_that_moves_keeps_its_slot_and_one_that_stalls_yields() {
        // Accepted long ago, but its client reads: bytes moved just now.
        let conns = [
            sending(0, 5000),
            reading(4900),
            reading(4950),
            reading(5000),
        ];
        assert_eq!(victim(&conns, 5000), None);
        // The same answer stalled for the grace: it yields, before the
        // younger heads.
        assert_eq!(victim(&conns, 5000 + GRACE_MS), Some(0));
        let conns = [
            reading(5100),
            sending(0, 5000),
            reading(5100),
            reading(5100),
        ];
        assert_eq!(victim(&conns, 5000 + GRACE_MS - 1), None);
        assert_eq!(victim(&conns, 5000 + GRACE_MS), Some(1));
    }

    #[test]
    fn a_whole_head_waiting_for_the_buffer_keeps_its_slot() {
        let waiting = |accepted_ms: u64| {
            Some(Conn {
                id: 9,
                phase: Phase::Waiting { len: 40 },
                accepted_ms,
                last_ms: accepted_ms,
            })
        };
        let conns = [waiting(0), reading(5000), reading(5100), reading(5200)];
        assert_eq!(victim(&conns, 5000 + GRACE_MS), Some(1));
        let conns = [waiting(0), waiting(0), waiting(0), waiting(0)];
        assert_eq!(victim(&conns, 60_000), None);
    }

    /// A connection that waited for the response buffer longer than the
    /// grace has earned its place; once its answer begins, the answer has
    /// its own grace, and another connection waiting does not take the
    /// slot before a byte of it was sent.
    #[test]
    fn an_answer_that_waited_for_the_buffer_has_its_own_grace() {
        let mut late = Conn {
            id: 9,
            phase: Phase::Waiting { len: 27 },
            accepted_ms: 1000,
            last_ms: 1000,
        };
        late.answer(5000);
        assert_eq!(late.phase, Phase::Sending { sent: 0 });
        let conns = [
            Some(late),
            sending(4000, 4999),
            reading(4900),
            reading(4950),
        ];
        assert_eq!(victim(&conns, 5000), None);
        // The stalled answer, accepted after it, goes first.
        assert_eq!(victim(&conns, 4999 + GRACE_MS), Some(1));
        let Some(late) = &conns[0] else {
            unreachable!()
        };
        assert!(!late.expired(5000 + IDLE_MS));
    }

    #[test]
    fn an_answer_cut_short_is_a_reset_and_anything_else_a_fin() {
        let mut c = Conn::accepted(1, 0);
        assert_eq!(c.ending(0), Ending::Close, "a head, read or not");
        c.phase = Phase::Waiting { len: 27 };
        assert_eq!(c.ending(0), Ending::Close);
        c.answer(10);
        assert_eq!(c.ending(3983), Ending::Abort, "nothing of it sent");
        c.phase = Phase::Sending { sent: 2920 };
        assert_eq!(c.ending(3983), Ending::Abort, "part of it sent");
        c.phase = Phase::Sending { sent: 3983 };
        assert_eq!(c.ending(3983), Ending::Close, "all of it with the stack");
    }

    #[test]
    fn a_connection_expires_when_idle_or_old() {
        let mut c = Conn::accepted(1, 1000);
        assert!(!c.expired(1000 + IDLE_MS));
        assert!(c.expired(1000 + IDLE_MS + 1));
        c.last_ms = 1000 + LIFETIME_MS;
        assert!(!c.expired(1000 + LIFETIME_MS));
        assert!(c.expired(1000 + LIFETIME_MS + 1));
        // A clock read before the connection's own times counts as no time.
        assert!(!c.expired(0));
    }
}
