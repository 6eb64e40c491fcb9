//! Where a TCP connection its owner closed stands: whether its socket is
//! free for the pool again, and whether a reset would lose anything. The
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

#[cfg(test)]
mod tests {
    use super::{finished, loses_nothing};
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
}
