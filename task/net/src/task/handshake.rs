//! The stack's side of TCP handshakes: the snapshot of connections and
//! listeners that the SYN guard (`task_net::syn`) judges received SYNs
//! by, and giving up a handshake whose peer never finishes it.
//!
//! Nothing here may touch a socket that is not in SYN-RECEIVED.

use super::*;
use task_net::syn::{Endpoints, Listening};

/// How long a handshake may wait for the peer's ACK before its socket
/// listens again: a peer that never finishes its handshake (gone, or
/// sending SYNs and nothing else) must not hold a listener's pool for good.
/// smoltcp sends its SYN-ACK again meanwhile (after 1, 2 and 4 s).
pub(super) const HANDSHAKE_MS: u64 = 10_000;
/// How often the stack looks for such handshakes.
pub(super) const HANDSHAKE_SWEEP_MS: u64 = 1_000;
/// Connections the SYN guard remembers in a round: every socket's, and as
/// many opened during the round.
pub(super) const SYN_GUARD: usize = 2 * TCP_SOCKETS;
/// Listeners the SYN guard knows: one per port, each with a pool of at
/// least one socket.
pub(super) const SYN_GUARD_LISTENERS: usize = TCP_SOCKETS;

/// The addresses and ports of every TCP connection `tcp` holds (a socket
/// in any state but LISTEN, CLOSED and TIME-WAIT), for the SYN guard.
fn connections<'a>(
    sockets: &'a SocketSet<'static>,
    tcp: &'a [SocketHandle],
) -> impl Iterator<Item = Endpoints> + 'a {
    tcp.iter().filter_map(|&h| {
        let s = sockets.get::<tcp::Socket>(h);
        // One in TIME-WAIT is over (and free to be taken again): a SYN
        // with its addresses and ports is a new connection.
        if s.state() == tcp::State::TimeWait {
            return None;
        }
        let (local, remote) = (s.local_endpoint()?, s.remote_endpoint()?);
        let (IpAddress::Ipv4(l), IpAddress::Ipv4(r)) = (local.addr, remote.addr);
        Some(Endpoints {
            remote: (r.octets(), remote.port),
            local: (l.octets(), local.port),
        })
    })
}

/// Every listener's port and the sockets of its pool in LISTEN, for the
/// SYN guard.
fn listeners<'a>(
    table: &'a Table<Sock>,
    sockets: &'a SocketSet<'static>,
    tcp: &'a [SocketHandle],
) -> impl Iterator<Item = Listening> + 'a {
    table.iter().filter_map(move |(_, s)| {
        let Sock::Listener { port, pool, .. } = s else {
            return None;
        };
        let free = tcp
            .iter()
            .enumerate()
            .filter(|&(i, &h)| {
                pool & (1 << i) != 0 && sockets.get::<tcp::Socket>(h).state() == tcp::State::Listen
            })
            .count();
        Some(Listening {
            port,
            free: free as u8,
        })
    })
}

impl Stack {
    /// Gives the SYN guard the connections and listeners as they are now.
    pub(super) fn syn_snapshot(&mut self) {
        self.nic.syn.refresh(
            connections(&self.sockets, &self.tcp),
            listeners(&self.table, &self.sockets, &self.tcp),
        );
    }

    /// Puts back into LISTEN each socket whose handshake has waited
    /// [`HANDSHAKE_MS`] for the peer's ACK. The socket stays in its
    /// listener's pool; a late ACK from that peer finds no connection and
    /// is answered with a reset.
    pub(super) fn give_up_handshakes(&mut self, now: u64) {
        for i in 0..TCP_SOCKETS {
            let s = self.sockets.get_mut::<tcp::Socket>(self.tcp[i]);
            let peer = match (s.state(), s.remote_endpoint()) {
                (tcp::State::SynReceived, Some(peer)) => peer,
                _ => {
                    self.handshakes[i] = None;
                    continue;
                }
            };
            let since = match self.handshakes[i] {
                Some((since, p)) if p == peer => since,
                _ => now,
            };
            if now.saturating_sub(since) < HANDSHAKE_MS {
                self.handshakes[i] = Some((since, peer));
                continue;
            }
            let port = s.listen_endpoint();
            s.abort();
            // It listened on this endpoint a moment ago; should it fail,
            // the socket is CLOSED and its listener's next accept drops it
            // from the pool.
            let _ = s.listen(port);
            self.handshakes[i] = None;
            self.nic.syn.pools_changed();
        }
    }
}
