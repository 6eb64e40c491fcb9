//! One connection over a loopback device: a client socket sends, the
//! listening socket is read through [`recv`].

use super::*;
use crate::loopback::Pair;
use smoltcp::wire::IpAddress;

/// An interface on a loopback device with one connection established
/// between `client` and `server`.
struct Link(Pair);

fn socket() -> tcp::Socket<'static> {
    let buffer = || tcp::SocketBuffer::new(&mut vec![0; 1024].leak()[..]);
    tcp::Socket::new(buffer(), buffer())
}

impl Link {
    fn connected() -> Link {
        let mut pair = Pair::new(socket(), socket());
        pair.server::<tcp::Socket>().listen(1234).unwrap();
        let (client, iface) = pair.client_and_iface::<tcp::Socket>();
        client
            .connect(iface.context(), (IpAddress::v4(127, 0, 0, 1), 1234), 49152)
            .unwrap();
        let mut link = Link(pair);
        link.settle();
        assert_eq!(link.server().state(), tcp::State::Established);
        link
    }

    /// Polls until the loopback has carried everything.
    fn settle(&mut self) {
        self.0.poll(20);
    }

    fn client(&mut self) -> &mut tcp::Socket<'static> {
        self.0.client()
    }

    fn server(&mut self) -> &mut tcp::Socket<'static> {
        self.0.server()
    }

    /// One `tcp_recv` on the server's side into a lease of `len` bytes.
    fn read(&mut self, len: usize) -> (Recv<()>, Vec<u8>) {
        let mut got = Vec::new();
        let r = recv(self.server(), len, |b: &[u8]| {
            got.extend_from_slice(b);
            Ok(())
        });
        (r, got)
    }
}

#[test]
fn a_zero_length_buffer_is_refused_and_never_reads_as_the_end() {
    let mut link = Link::connected();
    link.client().send_slice(b"hello").unwrap();
    link.settle();
    // Data waits: an empty buffer is refused, and nothing is consumed.
    assert_eq!(link.read(0), (Recv::EmptyBuffer, vec![]));
    assert_eq!(link.read(3), (Recv::Bytes(3), b"hel".to_vec()));
    // Nothing waits: still refused, not "would block" for a read that
    // could never take a byte.
    assert_eq!(link.read(2), (Recv::Bytes(2), b"lo".to_vec()));
    assert_eq!(link.read(0), (Recv::EmptyBuffer, vec![]));
    assert_eq!(link.read(8), (Recv::WouldBlock, vec![]));
    // The peer closed: refused still; 0 bytes (End) only for a buffer
    // that had room.
    link.client().send_slice(b"!").unwrap();
    link.client().close();
    link.settle();
    assert_eq!(link.read(0), (Recv::EmptyBuffer, vec![]));
    assert_eq!(link.read(8), (Recv::Bytes(1), b"!".to_vec()));
    assert_eq!(link.read(0), (Recv::EmptyBuffer, vec![]));
    assert_eq!(link.read(8), (Recv::End, vec![]));
}

#[test]
fn a_lease_that_refuses_the_copy_consumes_nothing() {
    let mut link = Link::connected();
    link.client().send_slice(b"abc").unwrap();
    link.settle();
    assert_eq!(
        recv(link.server(), 8, |_: &[u8]| Err("gone")),
        Recv::Lease("gone")
    );
    assert_eq!(link.read(8), (Recv::Bytes(3), b"abc".to_vec()));
}

#[test]
fn a_reset_connection_reads_as_ended_not_as_the_end() {
    let mut link = Link::connected();
    link.client().abort();
    link.settle();
    assert_eq!(link.read(8), (Recv::Ended(tcp::State::Closed), vec![]));
}
