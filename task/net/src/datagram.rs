//! A UDP socket's datagrams through a client's lease: what one
//! `udp_recv_from` takes, and how the client learns a datagram was cut.
//!
//! As `recvfrom(2)` with `MSG_TRUNC`: a datagram longer than the lease is
//! cut to fit and taken whole (its tail is lost), and the answer gives its
//! full length besides the bytes written, so the client can tell it was
//! cut. A lease with no room for a byte is refused ([`Recv::EmptyBuffer`])
//! and takes nothing: answered, it would have taken the datagram and
//! reported 0 bytes written, which a client reads as an empty datagram.
//! A lease that refuses the copy takes nothing either (the client's
//! fault, but the datagram is not lost for it).

use smoltcp::socket::udp;
use smoltcp::wire::IpEndpoint;

/// How one `udp_recv_from` went.
#[derive(Debug, PartialEq, Eq)]
pub enum Recv<E> {
    /// The oldest datagram was taken: `written` bytes of it (its start)
    /// went into the lease, out of `full_len`; `written < full_len` when
    /// it was cut.
    Got {
        /// Bytes written into the lease.
        written: usize,
        /// The datagram's length as it arrived.
        full_len: usize,
        /// Its sender.
        from: IpEndpoint,
    },
    /// No datagram waits.
    WouldBlock,
    /// The lease has no room for a byte: refused, nothing taken.
    EmptyBuffer,
    /// The lease refused the copy (the client's fault): nothing taken.
    Lease(E),
}

/// Takes the oldest datagram on `s` into a lease of `lease_len` bytes with
/// `copy` (which writes the bytes it is given at the lease's start).
pub fn recv<E>(
    s: &mut udp::Socket<'_>,
    lease_len: usize,
    copy: impl FnOnce(&[u8]) -> Result<(), E>,
) -> Recv<E> {
    if lease_len == 0 {
        return Recv::EmptyBuffer;
    }
    // Looked at first and taken only once the copy went through.
    let Ok((payload, meta)) = s.peek() else {
        return Recv::WouldBlock;
    };
    let full_len = payload.len();
    let written = full_len.min(lease_len);
    let from = meta.endpoint;
    if let Err(e) = copy(&payload[..written]) {
        return Recv::Lease(e);
    }
    // Peeked just now, so there is one to take.
    let _ = s.recv();
    Recv::Got {
        written,
        full_len,
        from,
    }
}

#[cfg(test)]
mod tests;
