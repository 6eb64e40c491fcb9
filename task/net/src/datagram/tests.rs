//! Datagrams between two UDP sockets over a loopback device, read through
//! [`recv`].

use super::*;
use crate::loopback::Pair;
use smoltcp::wire::IpAddress;

/// Two UDP sockets on one interface: `client` (port 49152) sends to
/// `server` (port 7).
struct Link(Pair);

fn socket(port: u16) -> udp::Socket<'static> {
    let buffer = || {
        udp::PacketBuffer::new(
            &mut vec![udp::PacketMetadata::EMPTY; 8].leak()[..],
            &mut vec![0; 4096].leak()[..],
        )
    };
    let mut s = udp::Socket::new(buffer(), buffer());
    s.bind(port).unwrap();
    s
}

impl Link {
    fn new() -> Link {
        Link(Pair::new(socket(7), socket(49152)))
    }

    /// Sends `data` from the client to the server and lets it arrive.
    fn send(&mut self, data: &[u8]) {
        self.0
            .client::<udp::Socket>()
            .send_slice(data, (IpAddress::v4(127, 0, 0, 1), 7))
            .unwrap();
        self.0.poll(5);
    }

    fn server(&mut self) -> &mut udp::Socket<'static> {
        self.0.server()
    }

    /// One `udp_recv_from` on the server's side into a lease of `len`
    /// bytes: what it answered and what it wrote.
    fn read(&mut self, len: usize) -> (Recv<()>, Vec<u8>) {
        let mut got = Vec::new();
        let r = recv(self.server(), len, |b: &[u8]| {
            got.extend_from_slice(b);
            Ok(())
        });
        (r, got)
    }
}

fn got(written: usize, full_len: usize) -> Recv<()> {
    Recv::Got {
        written,
        full_len,
        from: IpEndpoint::new(IpAddress::v4(127, 0, 0, 1), 49152),
    }
}

#[test]
fn a_zero_length_buffer_is_refused_and_takes_nothing() {
    let mut link = Link::new();
    assert_eq!(link.read(0), (Recv::EmptyBuffer, vec![]));
    assert_eq!(link.read(8), (Recv::WouldBlock, vec![]));
    link.send(b"hello");
    // Before: the datagram was taken and answered as 0 bytes, as an
    // empty datagram would be.
    assert_eq!(link.read(0), (Recv::EmptyBuffer, vec![]));
    assert_eq!(link.read(8), (got(5, 5), b"hello".to_vec()));
    assert_eq!(link.read(8), (Recv::WouldBlock, vec![]));
}

#[test]
fn a_cut_datagram_says_how_long_it_was() {
    let mut link = Link::new();
    link.send(b"0123456789");
    link.send(b"abc");
    link.send(b"");
    // Cut to the lease, taken whole: the next read is the next datagram.
    assert_eq!(link.read(4), (got(4, 10), b"0123".to_vec()));
    // One that fits exactly is not cut.
    assert_eq!(link.read(3), (got(3, 3), b"abc".to_vec()));
    // An empty datagram is told apart from a cut one.
    assert_eq!(link.read(8), (got(0, 0), vec![]));
    assert_eq!(link.read(8), (Recv::WouldBlock, vec![]));
}

#[test]
fn a_lease_that_refuses_the_copy_takes_nothing() {
    let mut link = Link::new();
    link.send(b"abc");
    assert_eq!(
        recv(link.server(), 8, |_: &[u8]| Err("gone")),
        Recv::Lease("gone")
    );
    assert_eq!(link.read(8), (got(3, 3), b"abc".to_vec()));
}
