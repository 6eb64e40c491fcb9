//! The stack's side of `task_net::txwatch`: drops the transmit queue of a
//! UDP socket whose oldest datagram waits for a neighbour that never
//! answers, so that one unanswered address cannot stop a socket's sends
//! for good.
//!
//! Nothing here may touch a socket whose queue moves.

use super::*;
use task_net::txwatch::Verdict;

impl Stack {
    /// Looks at every bound UDP socket's transmit queue (each round: a
    /// look is a few loads per socket).
    pub(super) fn watch_udp_queues(&mut self, ms: u64) {
        for i in 0..UDP_SOCKETS {
            if self.udp_used & (1 << i) == 0 {
                continue;
            }
            let s = self.sockets.get_mut::<udp::Socket>(self.udp[i]);
            let verdict = self.udp_tx[i].look(ms, s.send_queue(), !s.can_send(), s.recv_queue());
            if verdict != Verdict::Drop {
                continue;
            }
            // smoltcp cannot drop one datagram of a queue: the socket is
            // closed (both queues emptied) and bound again to its port.
            let endpoint = s.endpoint();
            s.close();
            if s.bind(endpoint).is_err() {
                // Its port was valid a moment ago; should smoltcp refuse
                // it, the socket stays closed and its owner's next call
                // is told so rather than silently sending nothing.
                sys_log!("udp port {}: could not be bound again", endpoint.port);
            }
            self.udp_tx[i].dropped(ms);
            self.udp_queues_dropped = self.udp_queues_dropped.wrapping_add(1);
            sys_log!(
                "udp port {}: dropped datagrams that waited {} ms for a neighbour that does not answer",
                endpoint.port,
                task_net::txwatch::STUCK_MS
            );
        }
    }
}
