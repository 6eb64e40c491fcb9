//! The watch over a UDP socket's transmit queue: when its oldest datagram
//! has waited too long for a neighbour that does not answer, the queue is
//! dropped.
//!
//! smoltcp sends a socket's datagrams in order, and one whose next hop is
//! not in its neighbour cache stays at the head of the queue while the
//! stack asks for that neighbour again, once a second, for as long as it
//! takes: it is never dropped. Everything the socket sends later waits
//! behind it, and once the queue is full every send is `WouldBlock`. One
//! datagram from a forged on-link source that never answers ARP (from
//! anyone on the link, or from a hostile NIC driver) stopped the UDP echo
//! for every client, for good (a red team's finding).
//!
//! Linux keeps a few datagrams per unresolved neighbour for about three
//! ARP tries and then drops them (`EHOSTUNREACH`), while other neighbours'
//! datagrams go. smoltcp has no way to drop one datagram of a queue, so
//! the stack drops the queue: the socket is closed and bound again. That
//! drops its received datagrams too, so it waits for its owner to have
//! read them, but not for ever (an owner may stop reading, a peer may keep
//! sending).
//!
//! It must never drop a queue that is moving, however slowly: only one in
//! which no byte has left for [`STUCK_MS`].

/// How long a queue may hold datagrams with none of them leaving: three
/// of smoltcp's neighbour requests, a second apart, as Linux tries three.
pub const STUCK_MS: u64 = 3_000;
/// How long a stuck queue waits for its owner to read what the socket has
/// received before it is dropped with the rest.
pub const UNREAD_GRACE_MS: u64 = 2_000;

/// One socket's watch. Counts bytes: smoltcp tells how many bytes are
/// queued (`send_queue`), not how many datagrams.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TxWatch {
    /// Bytes queued since the socket was (re)bound, wrapping.
    queued: u32,
    /// Bytes known to have left at the last look, wrapping.
    sent: u32,
    /// Since when (ms) no byte has left while some waited.
    since_ms: u64,
}

/// What the stack should do with a socket after a look at its queue.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The queue moves, or is empty.
    Moving,
    /// Stuck, but its owner has datagrams to read: wait.
    StuckUnread,
    /// Stuck: drop the queue (close and bind the socket again), then
    /// [`TxWatch::dropped`].
    Drop,
}

impl TxWatch {
    /// A socket just bound: nothing queued.
    pub const NEW: TxWatch = TxWatch {
        queued: 0,
        sent: 0,
        since_ms: 0,
    };

    /// `bytes` more were queued (a datagram the stack took).
    pub fn queued(&mut self, bytes: usize) {
        self.queued = self.queued.wrapping_add(bytes as u32);
    }

    /// Looks at the queue at `now_ms`: `waiting` bytes in it, `full` if it
    /// takes no more datagrams (a queue of empty datagrams holds no bytes
    /// but fills up all the same), `unread` bytes received for the owner.
    pub fn look(&mut self, now_ms: u64, waiting: usize, full: bool, unread: usize) -> Verdict {
        let sent = self.queued.wrapping_sub(waiting as u32);
        if (waiting == 0 && !full) || sent != self.sent {
            self.sent = sent;
            self.since_ms = now_ms;
            return Verdict::Moving;
        }
        let stuck = now_ms.saturating_sub(self.since_ms);
        if stuck < STUCK_MS {
            Verdict::Moving
        } else if unread != 0 && stuck < STUCK_MS + UNREAD_GRACE_MS {
            Verdict::StuckUnread
        } else {
            Verdict::Drop
        }
    }

    /// The queue was dropped at `now_ms` (the socket bound again, empty).
    pub fn dropped(&mut self, now_ms: u64) {
        *self = TxWatch {
            since_ms: now_ms,
            ..TxWatch::NEW
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A watch with `bytes` queued at time 0, of which none left.
    fn stuck_with(bytes: usize) -> TxWatch {
        let mut w = TxWatch::NEW;
        w.queued(bytes);
        assert_eq!(w.look(0, bytes, false, 0), Verdict::Moving);
        w
    }

    #[test]
    fn a_queue_whose_head_never_leaves_is_dropped_after_stuck_ms() {
        let mut w = stuck_with(100);
        assert_eq!(w.look(STUCK_MS - 1, 100, false, 0), Verdict::Moving);
        // More queued behind the head, none left.
        w.queued(50);
        assert_eq!(w.look(STUCK_MS, 150, false, 0), Verdict::Drop);
        w.dropped(STUCK_MS);
        assert_eq!(w.look(STUCK_MS + 10, 0, false, 0), Verdict::Moving);
    }

    #[test]
    fn a_queue_that_moves_however_slowly_is_never_dropped() {
        let mut w = TxWatch::NEW;
        let mut waiting = 0;
        for second in 0..100u64 {
            // Two datagrams in, one out, each second: the queue grows
            // (the test ignores its limit) but moves.
            w.queued(10);
            w.queued(10);
            waiting += 10;
            assert_eq!(w.look(second * 1000, waiting, false, 0), Verdict::Moving);
        }
    }

    #[test]
    fn an_empty_queue_is_moving_however_long() {
        let mut w = TxWatch::NEW;
        w.queued(10);
        assert_eq!(w.look(0, 0, false, 0), Verdict::Moving);
        assert_eq!(w.look(60_000, 0, false, 0), Verdict::Moving);
    }

    #[test]
    fn a_full_queue_of_empty_datagrams_is_stuck_too() {
        let mut w = stuck_with(0);
        assert_eq!(w.look(1, 0, true, 0), Verdict::Moving);
        assert_eq!(w.look(1 + STUCK_MS, 0, true, 0), Verdict::Drop);
    }

    #[test]
    fn a_stuck_queue_waits_for_its_owner_to_read_but_not_for_ever() {
        let mut w = stuck_with(100);
        assert_eq!(w.look(STUCK_MS, 100, false, 64), Verdict::StuckUnread);
        // The owner read: dropped at the next look.
        assert_eq!(w.look(STUCK_MS + 5, 100, false, 0), Verdict::Drop);
        let mut w = stuck_with(100);
        assert_eq!(
            w.look(STUCK_MS + UNREAD_GRACE_MS - 1, 100, false, 64),
            Verdict::StuckUnread
        );
        assert_eq!(
            w.look(STUCK_MS + UNREAD_GRACE_MS, 100, false, 64),
            Verdict::Drop
        );
    }

    #[test]
    fn byte_counts_wrap() {
        let mut w = TxWatch::NEW;
        w.queued(u32::MAX as usize);
        assert_eq!(w.look(0, 0, false, 0), Verdict::Moving);
        w.queued(20);
        assert_eq!(w.look(10, 20, false, 0), Verdict::Moving);
        assert_eq!(w.look(10 + STUCK_MS, 20, false, 0), Verdict::Drop);
    }
}
