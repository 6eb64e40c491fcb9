//! Where a TCP connection its owner closed stands: whether its socket is
//! free for the pool again, whether a reset would lose anything, and
//! which free socket a pool takes first ([`to_take`]). The
//! stack reads smoltcp's state of the socket and the bytes still in its
//! send buffer; [`crate::share`] decides whose close is cut short.

use smoltcp::socket::tcp;

/// Whether a close has finished, and its socket is free for the pool:
/// smoltcp's `state` of it and the bytes still `queued` in its send buffer
/// (sent and unacknowledged, or not yet sent).
///
/// TIME-WAIT is free (it is left to acknowledge the peer's FIN until the
/// socket is taken again), and so are CLOSING and LAST-ACK once everything
/// the owner queued is acknowledged: only the peer's ACK of our FIN is
/// then missing, and waiting for it (a second, when the ACK rode on a copy
/// of the peer's FIN that smoltcp dropped) ran the pool dry. They are not
/// free before: smoltcp enters LAST-ACK at the owner's close in
/// CLOSE-WAIT, and CLOSING at the peer's FIN in FIN-WAIT-1, with the
/// owner's last bytes still to go before its FIN. Freed then, the socket
/// was taken for the next connection and reset, and a client that
/// half-closed (sent its request or its data, then shut down its side)
/// lost the end of its answer: the echo's last 188 bytes of 200,000, the
/// page's last kilobyte, in about one in a hundred.
pub fn finished(state: tcp::State, queued: usize) -> bool {
    match state {
        tcp::State::Closed | tcp::State::TimeWait => true,
        tcp::State::Closing | tcp::State::LastAck => queued == 0,
        _ => false,
    }
}

/// Whether cutting a close short with a reset loses nothing: the peer has
/// acknowledged every byte (see [`finished`] for `state` and
/// `queued`). Only our FIN, or the peer's, may be missing.
pub fn loses_nothing(state: tcp::State, queued: usize) -> bool {
    match state {
        tcp::State::FinWait2 | tcp::State::TimeWait | tcp::State::Closed => true,
        tcp::State::Closing | tcp::State::LastAck => queued == 0,
        _ => false,
    }
}

/// Which of the `free` sockets (index and smoltcp's state) to take for a
/// listener's pool: one that is closed or in TIME-WAIT before one whose
/// close is [`finished`] only by the owner's bytes being acknowledged
/// (CLOSING, LAST-ACK), whose FIN the peer may never have received; the
/// lowest index among equals.
///
/// A socket taken is aborted and made to listen at once, so its reset is
/// never sent (smoltcp sends it from CLOSED with the peer still known;
/// `listen` forgets the peer). When a NIC restart lost the FIN of such a
/// close and the socket was taken before its retransmission, the peer was
/// told nothing and waited for good: an echo client that had sent its
/// byte and half-closed read its echo, then no end of stream (one in
/// 3,674 connections with `restart net0` every 2 s). Left alone, such a
/// socket sends its FIN again after smoltcp's 1 s timeout.
pub fn to_take(free: impl IntoIterator<Item = (usize, tcp::State)>) -> Option<usize> {
    free.into_iter()
        .min_by_key(|&(i, state)| {
            let rank = match state {
                tcp::State::Closing | tcp::State::LastAck => 1,
                _ => 0,
            };
            (rank, i)
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::{finished, loses_nothing, to_take};
    use smoltcp::socket::tcp::State;

    #[test]
    fn a_close_with_bytes_still_to_go_is_not_finished() {
        // The client half-closed: the owner's close in CLOSE-WAIT is
        // LAST-ACK at once, with its last bytes still queued.
        for state in [State::LastAck, State::Closing] {
            assert!(!finished(state, 188), "{state}");
            assert!(!loses_nothing(state, 188), "{state}");
            assert!(finished(state, 0), "{state}: only our FIN's ACK is missing");
            assert!(loses_nothing(state, 0), "{state}");
        }
        for state in [State::Closed, State::TimeWait] {
            assert!(finished(state, 0), "{state}");
        }
        for state in [
            State::FinWait1,
            State::FinWait2,
            State::CloseWait,
            State::Established,
        ] {
            assert!(!finished(state, 0), "{state}");
        }
        assert!(loses_nothing(State::FinWait2, 0));
        assert!(!loses_nothing(State::FinWait1, 0), "our FIN unacknowledged");
        assert!(!loses_nothing(State::FinWait1, 5));
    }

    #[test]
    fn a_close_whose_fin_may_be_lost_is_taken_last() {
        let free = [
            (2, State::LastAck),
            (3, State::Closing),
            (5, State::TimeWait),
            (7, State::Closed),
        ];
        assert_eq!(to_take(free), Some(5));
        assert_eq!(to_take([(2, State::LastAck), (7, State::Closed)]), Some(7));
        assert_eq!(to_take([(3, State::Closing), (2, State::LastAck)]), Some(2));
        assert_eq!(to_take([(4, State::Closed), (1, State::TimeWait)]), Some(1));
        assert_eq!(to_take([]), None);
    }
}
