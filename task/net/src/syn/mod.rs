//! Looks at every received SYN before smoltcp does, and drops two kinds.
//!
//! **A connection's repeated SYN.** smoltcp hands a received segment to the
//! first socket of its set that accepts it, and a socket in LISTEN accepts
//! any SYN for its port. A listener's pool is refilled with the lowest free
//! socket, which can come before a connection made earlier on that port.
//! When the peer sends that connection's SYN again (its SYN-ACK came late
//! or was lost), the listening socket takes it and starts a second
//! handshake for the same addresses and ports. Being first in the set, it
//! then takes every later segment of the connection too, and answers the
//! first one with a reset: the peer's connection dies. Such a SYN is
//! dropped; nothing is lost by it: a connection in SYN-RECEIVED sends its
//! SYN-ACK again by itself, and an established one has no use for a SYN.
//!
//! **A SYN for a listener with no socket in LISTEN.** Its pool is all taken
//! by handshakes and connections its owner has not accepted yet, and
//! smoltcp would answer the SYN with a reset: a burst of connections
//! larger than the backlog (a browser's, a user's parallel requests) would
//! see most of them refused. The SYN is kept instead ([`backlog`]) and
//! handed to smoltcp as soon as the listener has a socket in LISTEN (its
//! owner accepted, the pool was refilled); one the queue has no room for
//! is dropped, as Linux drops a SYN over a full listen queue, and its peer
//! sends it again. A SYN for a port nobody listens on still gets
//! smoltcp's reset.
//!
//! Which connections and listening sockets exist is only known between
//! smoltcp's polls, so the guard keeps a snapshot: taken the first time a
//! round meets a SYN, and kept up to date through the round with each SYN
//! it lets through (the only segment that makes a connection and takes a
//! listening socket; one that smoltcp then refused leaves a stale entry
//! for the rest of the round, which costs its peer at most a retry).
//!
//! It must never drop any other segment, nor a SYN that a listening socket
//! was free to take or that no listener wants.

pub mod backlog;

use backlog::Backlog;

/// The addresses and ports of a TCP connection, as the stack sees them.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// The peer's IPv4 address and port.
    pub remote: ([u8; 4], u16),
    /// The stack's IPv4 address and port.
    pub local: ([u8; 4], u16),
}

/// A listener, as the guard needs it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Listening {
    /// The port it listens on.
    pub port: u16,
    /// The sockets of its pool in LISTEN: SYNs it can take now.
    pub free: u8,
}

/// What to do with a received frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to smoltcp.
    Deliver,
    /// Drop it: the SYN of a connection the stack already holds.
    Repeated,
    /// Drop it: a SYN for a listener with no socket in LISTEN, kept for
    /// later if there is room ([`SynGuard::next_kept`]); its peer sends it
    /// again anyway.
    Postponed,
    /// A SYN, and the guard has no snapshot of this round: keep the frame,
    /// end the round, [`SynGuard::refresh`] and poll again.
    Wait,
}

/// The connections and listeners the stack had when the round's snapshot
/// was taken, updated with the SYNs let through since: room for `N`
/// connections and `L` listeners.
pub struct SynGuard<const N: usize, const L: usize> {
    held: [Option<Endpoints>; N],
    len: usize,
    listeners: [Option<Listening>; L],
    /// The snapshot is of this round (and has room for the SYNs it lets
    /// through).
    fresh: bool,
    /// A SYN waits for a snapshot.
    deferred: bool,
    repeated: u32,
    postponed: u32,
    /// SYNs over a full backlog that could not be kept (no room, too
    /// long) or were forgotten unanswered after [`backlog::KEEP_MS`].
    dropped: u32,
    /// SYNs over a full backlog, kept.
    backlog: Backlog,
    /// The kept SYN last handed to smoltcp: removed at the next call.
    handed: Option<usize>,
    /// A listener may have a socket in LISTEN again: the kept SYNs want a
    /// snapshot.
    recheck: bool,
    now_ms: u64,
}

/// Whether a kept SYN goes to smoltcp now ([`SynGuard::next_kept`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Turn {
    /// None does: go on with the received frames.
    None,
    /// [`SynGuard::handed_frame`] does.
    Kept,
    /// End the round, [`SynGuard::refresh`] and poll again: kept SYNs may
    /// go in.
    Wait,
}

impl<const N: usize, const L: usize> Default for SynGuard<N, L> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const L: usize> SynGuard<N, L> {
    /// A guard with no snapshot.
    pub const fn new() -> Self {
        SynGuard {
            held: [None; N],
            len: 0,
            listeners: [None; L],
            fresh: false,
            deferred: false,
            repeated: 0,
            postponed: 0,
            dropped: 0,
            backlog: Backlog::new(),
            handed: None,
            recheck: false,
            now_ms: 0,
        }
    }

    /// A new round of the stack at `now_ms`: whatever happened since the
    /// snapshot (connections closed, reset, accepted, listeners refilled)
    /// makes it old, and SYNs kept too long are forgotten.
    pub fn new_round(&mut self, now_ms: u64) {
        self.fresh = false;
        self.now_ms = now_ms;
        self.forget_handed();
        let forgotten = self.backlog.expire(now_ms);
        self.dropped = self.dropped.wrapping_add(forgotten);
    }

    /// A listener may have a socket in LISTEN that it had not: the kept
    /// SYNs get a look in the next round.
    pub fn pools_changed(&mut self) {
        self.recheck = true;
    }

    fn forget_handed(&mut self) {
        if let Some(at) = self.handed.take() {
            self.backlog.remove(at);
        }
    }

    /// Decides whether a kept SYN goes to smoltcp before the received
    /// frames: the oldest whose listener has a socket in LISTEN (or has
    /// gone, for smoltcp to reset). A kept SYN whose connection exists by
    /// now (a later copy got in) is forgotten.
    pub fn next_kept(&mut self) -> Turn {
        self.forget_handed();
        if self.backlog.is_empty() {
            return Turn::None;
        }
        if !self.fresh {
            if self.recheck {
                self.deferred = true;
                return Turn::Wait;
            }
            return Turn::None;
        }
        self.recheck = false;
        let held = &self.held[..self.len];
        let mut done = [false; backlog::KEPT];
        for (at, k) in self.backlog.iter() {
            done[at] = held.contains(&Some(k.syn));
        }
        for (at, gone) in done.into_iter().enumerate() {
            if gone {
                self.backlog.remove(at);
            }
        }
        let listeners = &self.listeners;
        let next = self
            .backlog
            .iter()
            .filter(|(_, k)| {
                let port = k.syn.local.1;
                listeners
                    .iter()
                    .flatten()
                    .find(|l| l.port == port)
                    .is_none_or(|l| l.free > 0)
            })
            .min_by_key(|(_, k)| k.since_ms)
            .map(|(at, k)| (at, k.syn));
        let Some((at, syn)) = next else {
            return Turn::None;
        };
        if let Some(l) = self
            .listeners
            .iter_mut()
            .flatten()
            .find(|l| l.port == syn.local.1)
        {
            l.free -= 1;
        }
        self.hold(syn);
        self.handed = Some(at);
        Turn::Kept
    }

    /// The kept SYN [`SynGuard::next_kept`] chose.
    pub fn handed_frame(&self) -> &[u8] {
        self.handed
            .and_then(|at| self.backlog.get(at))
            .map_or(&[], |k| k.frame())
    }

    /// Remembers a SYN let through for the rest of the round: it may open
    /// a connection.
    fn hold(&mut self, syn: Endpoints) {
        match self.held.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(syn);
                self.len += 1;
            }
            None => self.fresh = false,
        }
    }

    /// True if a SYN waits for [`SynGuard::refresh`]; asking clears it.
    pub fn take_deferred(&mut self) -> bool {
        core::mem::take(&mut self.deferred)
    }

    /// Takes the snapshot: every connection the stack holds and every
    /// listener, right now. Connections beyond `N` and listeners beyond
    /// `L` are left out (a SYN of theirs is then let through), so give the
    /// guard room for all.
    pub fn refresh(
        &mut self,
        held: impl IntoIterator<Item = Endpoints>,
        listeners: impl IntoIterator<Item = Listening>,
    ) {
        self.held = [None; N];
        self.len = 0;
        for e in held.into_iter().take(N) {
            self.held[self.len] = Some(e);
            self.len += 1;
        }
        self.listeners = [None; L];
        for (slot, l) in self.listeners.iter_mut().zip(listeners) {
            *slot = Some(l);
        }
        self.fresh = true;
    }

    /// Repeated SYNs of held connections dropped so far.
    pub fn repeated(&self) -> u32 {
        self.repeated
    }

    /// SYNs held back so far because their listener had no socket in
    /// LISTEN: kept for it (and most often answered a moment later), or,
    /// with no room to keep them, dropped ([`SynGuard::dropped`]). Every
    /// copy a peer sends again counts.
    pub fn postponed(&self) -> u32 {
        self.postponed
    }

    /// The SYNs of [`SynGuard::postponed`] that are lost: dropped for want
    /// of room to keep them (their peers must send them again), or kept
    /// for [`backlog::KEEP_MS`] and forgotten unanswered.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }

    /// Whether a SYN for local port `port` is kept, waiting for its
    /// listener to have a socket in LISTEN: a client waits for it.
    pub fn keeps_syn_for(&self, port: u16) -> bool {
        self.backlog.iter().any(|(_, k)| k.syn.local.1 == port)
    }

    /// Judges one received Ethernet frame.
    pub fn judge(&mut self, frame: &[u8]) -> Verdict {
        let Some(syn) = syn_of(frame) else {
            return Verdict::Deliver;
        };
        if !self.fresh {
            self.deferred = true;
            return Verdict::Wait;
        }
        if self.held[..self.len].contains(&Some(syn)) {
            self.repeated = self.repeated.wrapping_add(1);
            return Verdict::Repeated;
        }
        let port = syn.local.1;
        if let Some(l) = self.listeners.iter_mut().flatten().find(|l| l.port == port) {
            if l.free == 0 {
                self.postponed = self.postponed.wrapping_add(1);
                if !self.backlog.keep(syn, frame, self.now_ms) {
                    self.dropped = self.dropped.wrapping_add(1);
                }
                return Verdict::Postponed;
            }
            l.free -= 1;
        }
        self.hold(syn);
        Verdict::Deliver
    }
}

/// If `frame` is an Ethernet frame with an unfragmented IPv4 packet holding
/// a TCP segment with SYN and without ACK or RST: its endpoints, seen from
/// the receiver. Anything malformed is not a SYN (smoltcp drops it).
pub fn syn_of(frame: &[u8]) -> Option<Endpoints> {
    use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, TcpPacket};

    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.next_header() != IpProtocol::Tcp || ip.more_frags() || ip.frag_offset() != 0 {
        return None;
    }
    let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
    if !tcp.syn() || tcp.ack() || tcp.rst() {
        return None;
    }
    Some(Endpoints {
        remote: (ip.src_addr().octets(), tcp.src_port()),
        local: (ip.dst_addr().octets(), tcp.dst_port()),
    })
}

#[cfg(test)]
mod tests;
