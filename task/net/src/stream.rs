//! A TCP socket's byte stream through a client's lease: how much one
//! `tcp_recv` or `tcp_send` moves, and what a `tcp_recv` that moves
//! nothing tells the client.
//!
//! A `tcp_recv` answered with 0 bytes means "the peer closed its side and
//! everything was read" (`idl/net.idol`), as `read(2)` returning 0 does.
//! So a zero-length buffer is refused ([`Recv::EmptyBuffer`]) whatever the
//! socket holds: answered with 0, a client that passed an empty slice by
//! mistake (the tail of a full buffer, say) while data waited would take
//! it for the end of the stream and drop the connection.

use smoltcp::socket::tcp;

/// Copies between smoltcp's socket buffer and a lease of `lease_len` bytes,
/// as `tcp::Socket::recv` and `send` want their closure: as many bytes as
/// both hold, or none if the lease fails (the error is kept in `err` for
/// the caller, whose fault it is).
pub fn through_lease<E>(
    buf: &mut [u8],
    lease_len: usize,
    copy: impl FnOnce(&mut [u8]) -> Result<(), E>,
    err: &mut Option<E>,
) -> (usize, usize) {
    let n = buf.len().min(lease_len);
    match copy(&mut buf[..n]) {
        Ok(()) => (n, n),
        Err(e) => {
            *err = Some(e);
            (0, 0)
        }
    }
}

/// How one `tcp_recv` went.
#[derive(Debug, PartialEq, Eq)]
pub enum Recv<E> {
    /// This many bytes (at least one) were copied into the lease.
    Bytes(usize),
    /// The peer sent FIN and everything before it was read: the end of the
    /// stream, which the client is told as 0 bytes.
    End,
    /// Nothing has arrived yet; more may.
    WouldBlock,
    /// The lease has no room for a byte: refused, nothing consumed.
    EmptyBuffer,
    /// Nothing more will arrive and the stream did not end cleanly (or
    /// the socket is not connected): the socket's state says how.
    Ended(tcp::State),
    /// The lease refused the copy (the client's fault): nothing consumed.
    Lease(E),
}

/// Reads what has arrived on `s` into a lease of `lease_len` bytes with
/// `copy` (which writes the bytes it is given at the lease's start).
pub fn recv<E>(
    s: &mut tcp::Socket<'_>,
    lease_len: usize,
    copy: impl FnOnce(&[u8]) -> Result<(), E>,
) -> Recv<E> {
    if lease_len == 0 {
        return Recv::EmptyBuffer;
    }
    if s.can_recv() {
        let mut lease_err = None;
        let n = s.recv(|buf| through_lease(buf, lease_len, |b| copy(b), &mut lease_err));
        return match (n, lease_err) {
            (_, Some(e)) => Recv::Lease(e),
            (Ok(n), None) => Recv::Bytes(n),
            (Err(_), None) => Recv::Ended(s.state()),
        };
    }
    if s.may_recv() {
        return Recv::WouldBlock;
    }
    match s.state() {
        // The peer sent FIN and everything was read: end of stream.
        tcp::State::CloseWait
        | tcp::State::LastAck
        | tcp::State::Closing
        | tcp::State::TimeWait => Recv::End,
        state => Recv::Ended(state),
    }
}

#[cfg(test)]
mod tests;
