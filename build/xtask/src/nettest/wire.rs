//! The test's end of a `wire` NIC (app.toml `[[qemu.nics]] wire = true`):
//! a UDP socket on 127.0.0.1 that receives every Ethernet frame the image
//! sends, one per datagram (QEMU's socket backend), and sends it frames the
//! same way. Frames are read and built with smoltcp's `wire` module. The
//! test plays every other host of the link: it answers ARP for the address
//! it uses and pings the image.
//!
//! Nothing else is on a wire — no DHCP server, no gateway — which is what
//! the static fallback needs; it must never listen beyond 127.0.0.1.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress,
    EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv4DstUnreachable, Icmpv4Packet, Icmpv4Repr,
    IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr, DHCP_CLIENT_PORT,
    DHCP_SERVER_PORT,
};

use super::fragments::{cut, Pieces};
use crate::net::LOOPBACK;

/// The biggest frame QEMU sends (a 1514-byte Ethernet frame, with room).
const MAX_FRAME: usize = 2048;

/// The test's end of the link.
pub struct Wire {
    socket: UdpSocket,
    qemu: SocketAddr,
    /// Every frame received so far, oldest first.
    pub seen: Vec<Vec<u8>>,
}

/// One host the test plays on the link.
#[derive(Clone, Copy, Debug)]
pub struct Host {
    /// Its MAC address.
    pub mac: EthernetAddress,
    /// Its IPv4 address.
    pub ip: Ipv4Address,
}

impl Wire {
    /// Binds the test's end (`test_end`), which QEMU sends to from its own
    /// end (`qemu_end`). Bind before QEMU starts: frames sent to a port
    /// nobody holds are lost.
    pub fn bind(test_end: u16, qemu_end: u16) -> Result<Wire> {
        let socket = UdpSocket::bind((LOOPBACK, test_end))
            .with_context(|| format!("binding the wire's end 127.0.0.1:{test_end}"))?;
        Ok(Wire {
            socket,
            qemu: SocketAddr::from((LOOPBACK, qemu_end)),
            seen: Vec::new(),
        })
    }

    /// The next frame within `wait`, also kept in [`Wire::seen`].
    pub fn recv(&mut self, wait: Duration) -> Option<Vec<u8>> {
        self.socket
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .ok()?;
        let mut buf = [0u8; MAX_FRAME];
        // Only QEMU's end may speak on the link.
        loop {
            let (n, from) = self.socket.recv_from(&mut buf).ok()?;
            if from == self.qemu {
                self.seen.push(buf[..n].to_vec());
                return Some(buf[..n].to_vec());
            }
        }
    }

    /// Everything already waiting.
    pub fn drain(&mut self) {
        while self.recv(Duration::from_millis(20)).is_some() {}
    }

    /// Sends one frame.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        self.socket
            .send_to(frame, self.qemu)
            .context("sending a frame on the wire")?;
        Ok(())
    }

    /// Pings `target` from `me` with `data` and waits up to `limit` for
    /// the echo reply (same identifier, sequence number and data),
    /// answering the image's ARP requests for `me` meanwhile. The request
    /// is sent again every 200 ms: a stack that must resolve `me` first
    /// drops the packet that made it ask. Returns the number of requests
    /// sent.
    pub fn ping(
        &mut self,
        me: Host,
        target: Host,
        seq: u16,
        data: &[u8],
        limit: Duration,
    ) -> Result<u32> {
        const IDENT: u16 = 0x7e57;
        let request = echo_request(me, target, IDENT, seq, data);
        let start = Instant::now();
        let mut sent = 0;
        // A request or reply longer than a frame goes in fragments.
        let mut pieces = Pieces::default();
        while start.elapsed() < limit {
            for part in cut(&request) {
                self.send(&part)?;
            }
            sent += 1;
            let round = Instant::now();
            while round.elapsed() < Duration::from_millis(200) {
                let Some(frame) = self.recv(Duration::from_millis(50)) else {
                    continue;
                };
                let Some(frame) = pieces.take(&frame) else {
                    continue;
                };
                if let Some(asker) = arp_request_for(&frame, me.ip) {
                    self.send(&arp_reply(me, asker))?;
                    continue;
                }
                if let Some((ident, seq_no, got)) = echo_reply(&frame, target.ip, me.ip) {
                    if ident == IDENT && seq_no == seq {
                        if got != data {
                            bail!("echo reply {seq} carries other data than the request");
                        }
                        return Ok(sent);
                    }
                }
            }
        }
        bail!(
            "no echo reply from {} within {} s ({sent} requests)",
            target.ip,
            limit.as_secs()
        )
    }
}

/// If `frame` is a DHCP DISCOVER, its client's MAC address.
pub fn dhcp_discover(frame: &[u8]) -> Option<EthernetAddress> {
    let caps = ChecksumCapabilities::default();
    let (src_mac, ip_repr, payload) = ipv4_in(frame)?;
    if ip_repr.next_header != IpProtocol::Udp {
        return None;
    }
    let udp = UdpPacket::new_checked(payload).ok()?;
    let udp_repr = UdpRepr::parse(
        &udp,
        &IpAddress::Ipv4(ip_repr.src_addr),
        &IpAddress::Ipv4(ip_repr.dst_addr),
        &caps,
    )
    .ok()?;
    if (udp_repr.src_port, udp_repr.dst_port) != (DHCP_CLIENT_PORT, DHCP_SERVER_PORT) {
        return None;
    }
    let dhcp = DhcpPacket::new_checked(udp.payload()).ok()?;
    let repr = DhcpRepr::parse(&dhcp).ok()?;
    (repr.message_type == DhcpMessageType::Discover).then_some(src_mac)
}

/// If `frame` carries a well-formed IPv4 packet (checksum included): the
/// frame's source MAC, the IPv4 header, and the packet's payload.
pub(super) fn ipv4_in(frame: &[u8]) -> Option<(EthernetAddress, Ipv4Repr, &[u8])> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let src = eth.src_addr();
    let payload = &frame[EthernetFrame::<&[u8]>::header_len()..];
    let ip = Ipv4Packet::new_checked(payload).ok()?;
    let repr = Ipv4Repr::parse(&ip, &ChecksumCapabilities::default()).ok()?;
    let start = usize::from(ip.header_len());
    let end = usize::from(ip.total_len());
    Some((src, repr, payload.get(start..end)?))
}

/// If `frame` is an ARP request for `ip`, who asks.
pub(super) fn arp_request_for(frame: &[u8], ip: Ipv4Address) -> Option<Host> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Arp {
        return None;
    }
    match ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()? {
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        } if target_protocol_addr == ip => Some(Host {
            mac: source_hardware_addr,
            ip: source_protocol_addr,
        }),
        _ => None,
    }
}

/// `me`'s answer to `asker`'s ARP request.
pub(super) fn arp_reply(me: Host, asker: Host) -> Vec<u8> {
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Reply,
        source_hardware_addr: me.mac,
        source_protocol_addr: me.ip,
        target_hardware_addr: asker.mac,
        target_protocol_addr: asker.ip,
    };
    arp_frame(me.mac, asker.mac, &arp)
}

/// `arp` in an Ethernet frame from `src` to `dst`.
fn arp_frame(src: EthernetAddress, dst: EthernetAddress, arp: &ArpRepr) -> Vec<u8> {
    let eth = EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype: EthernetProtocol::Arp,
    };
    let mut frame = vec![0u8; eth.buffer_len() + arp.buffer_len()];
    let mut f = EthernetFrame::new_unchecked(&mut frame[..]);
    eth.emit(&mut f);
    arp.emit(&mut ArpPacket::new_unchecked(f.payload_mut()));
    frame
}

/// An ICMP echo request from `me` to `target`.
fn echo_request(me: Host, target: Host, ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
    let icmp = Icmpv4Repr::EchoRequest {
        ident,
        seq_no,
        data,
    };
    icmp_frame(me, target, &icmp)
}

/// `icmp` in an IPv4 packet in an Ethernet frame from `src` to `dst`.
fn icmp_frame(src: Host, dst: Host, icmp: &Icmpv4Repr) -> Vec<u8> {
    ipv4_frame(src, dst, IpProtocol::Icmp, icmp.buffer_len(), |p| {
        icmp.emit(
            &mut Icmpv4Packet::new_unchecked(p),
            &ChecksumCapabilities::default(),
        )
    })
}

/// A UDP datagram of `data` from `src`:`sport` to `dst`:`dport`, in an
/// Ethernet frame.
pub(super) fn udp_frame(src: Host, dst: Host, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let udp = UdpRepr {
        src_port: sport,
        dst_port: dport,
    };
    let len = udp.header_len() + data.len();
    ipv4_frame(src, dst, IpProtocol::Udp, len, |p| {
        udp.emit(
            &mut UdpPacket::new_unchecked(p),
            &IpAddress::Ipv4(src.ip),
            &IpAddress::Ipv4(dst.ip),
            data.len(),
            |b| b.copy_from_slice(data),
            &ChecksumCapabilities::default(),
        )
    })
}

/// If `frame` is a well-formed UDP datagram to `to`: its source address
/// and port, its destination port and its data.
pub(super) fn udp_in(frame: &[u8], to: Ipv4Address) -> Option<(Ipv4Address, u16, u16, Vec<u8>)> {
    let (_, ip, payload) = ipv4_in(frame)?;
    if ip.next_header != IpProtocol::Udp || ip.dst_addr != to {
        return None;
    }
    let udp = UdpPacket::new_checked(payload).ok()?;
    let repr = UdpRepr::parse(
        &udp,
        &IpAddress::Ipv4(ip.src_addr),
        &IpAddress::Ipv4(ip.dst_addr),
        &ChecksumCapabilities::default(),
    )
    .ok()?;
    Some((
        ip.src_addr,
        repr.src_port,
        repr.dst_port,
        udp.payload().to_vec(),
    ))
}

/// An IPv4 packet of `payload_len` bytes of protocol `proto`, written by
/// `emit`, in an Ethernet frame from `src` to `dst`.
fn ipv4_frame(
    src: Host,
    dst: Host,
    proto: IpProtocol,
    payload_len: usize,
    emit: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: src.ip,
        dst_addr: dst.ip,
        next_header: proto,
        payload_len,
        hop_limit: 64,
    };
    let eth = EthernetRepr {
        src_addr: src.mac,
        dst_addr: dst.mac,
        ethertype: EthernetProtocol::Ipv4,
    };
    let mut frame = vec![0u8; eth.buffer_len() + ip.buffer_len() + payload_len];
    let mut f = EthernetFrame::new_unchecked(&mut frame[..]);
    eth.emit(&mut f);
    let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
    ip.emit(&mut p, &ChecksumCapabilities::default());
    emit(p.payload_mut());
    frame
}

/// If `frame` is an ICMP port unreachable from `from` to `to` about a UDP
/// datagram: the source and destination ports it quotes.
pub(super) fn port_unreachable(
    frame: &[u8],
    from: Ipv4Address,
    to: Ipv4Address,
) -> Option<(u16, u16)> {
    let (_, ip_repr, payload) = ipv4_in(frame)?;
    if ip_repr.next_header != IpProtocol::Icmp || ip_repr.src_addr != from || ip_repr.dst_addr != to
    {
        return None;
    }
    let icmp = Icmpv4Packet::new_checked(payload).ok()?;
    match Icmpv4Repr::parse(&icmp, &ChecksumCapabilities::default()).ok()? {
        Icmpv4Repr::DstUnreachable {
            reason: Icmpv4DstUnreachable::PortUnreachable,
            header,
            data,
        } if header.next_header == IpProtocol::Udp && data.len() >= 4 => Some((
            u16::from_be_bytes([data[0], data[1]]),
            u16::from_be_bytes([data[2], data[3]]),
        )),
        _ => None,
    }
}

/// If `frame` is an ICMP echo reply from `from` to `to`: its identifier,
/// sequence number and data.
fn echo_reply(frame: &[u8], from: Ipv4Address, to: Ipv4Address) -> Option<(u16, u16, Vec<u8>)> {
    let caps = ChecksumCapabilities::default();
    let (_, ip_repr, payload) = ipv4_in(frame)?;
    if ip_repr.next_header != IpProtocol::Icmp || ip_repr.src_addr != from || ip_repr.dst_addr != to
    {
        return None;
    }
    let icmp = Icmpv4Packet::new_checked(payload).ok()?;
    match Icmpv4Repr::parse(&icmp, &caps).ok()? {
        Icmpv4Repr::EchoReply {
            ident,
            seq_no,
            data,
        } => Some((ident, seq_no, data.to_vec())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Host = Host {
        mac: EthernetAddress([0x02, 0, 0, 0, 0, 2]),
        ip: Ipv4Address::new(10, 0, 2, 2),
    };
    const IMAGE: Host = Host {
        mac: EthernetAddress([0x52, 0x54, 0, 0x12, 0x34, 0x56]),
        ip: Ipv4Address::new(10, 0, 2, 99),
    };

    /// The reply the image's stack would send: the request with the
    /// addresses swapped and the type changed.
    fn reply_to(request: &[u8]) -> Vec<u8> {
        let caps = ChecksumCapabilities::default();
        let eth = EthernetFrame::new_checked(request).unwrap();
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        let Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        } = Icmpv4Repr::parse(&Icmpv4Packet::new_checked(ip.payload()).unwrap(), &caps).unwrap()
        else {
            panic!("not a request");
        };
        let reply = Icmpv4Repr::EchoReply {
            ident,
            seq_no,
            data,
        };
        icmp_frame(IMAGE, ME, &reply)
    }

    #[test]
    fn an_echo_reply_matches_its_request_and_nothing_else() {
        let req = echo_request(ME, IMAGE, 7, 3, b"hello");
        assert_eq!(
            echo_reply(&req, IMAGE.ip, ME.ip),
            None,
            "a request is no reply"
        );
        let rep = reply_to(&req);
        assert_eq!(
            echo_reply(&rep, IMAGE.ip, ME.ip),
            Some((7, 3, b"hello".to_vec()))
        );
        assert_eq!(echo_reply(&rep, ME.ip, IMAGE.ip), None, "wrong direction");
        // A corrupted checksum is no reply either.
        let mut bad = rep.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(echo_reply(&bad, IMAGE.ip, ME.ip), None);
    }

    /// The image's broadcast ARP request for `ip`.
    fn image_asks_for(ip: Ipv4Address) -> Vec<u8> {
        let ask = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: IMAGE.mac,
            source_protocol_addr: IMAGE.ip,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: ip,
        };
        arp_frame(IMAGE.mac, EthernetAddress::BROADCAST, &ask)
    }

    #[test]
    fn arp_requests_for_us_are_answered_to_the_asker() {
        let frame = image_asks_for(ME.ip);
        let asker = arp_request_for(&frame, ME.ip).expect("a request for us");
        assert_eq!((asker.mac, asker.ip), (IMAGE.mac, IMAGE.ip));
        assert!(arp_request_for(&frame, Ipv4Address::new(10, 0, 2, 3)).is_none());
        let reply = arp_reply(ME, asker);
        let f = EthernetFrame::new_checked(&reply[..]).unwrap();
        assert_eq!(f.dst_addr(), IMAGE.mac);
        match ArpRepr::parse(&ArpPacket::new_checked(f.payload()).unwrap()).unwrap() {
            ArpRepr::EthernetIpv4 {
                operation,
                source_hardware_addr,
                source_protocol_addr,
                ..
            } => {
                assert_eq!(operation, ArpOperation::Reply);
                assert_eq!(
                    (source_hardware_addr, source_protocol_addr),
                    (ME.mac, ME.ip)
                );
            }
            other => panic!("not an Ethernet/IPv4 ARP reply: {other:?}"),
        }
    }

    #[test]
    fn a_ping_round_trip_over_a_loopback_wire() {
        // The "image" is a thread that answers ARP first, then pings.
        let image_sock = UdpSocket::bind((LOOPBACK, 0)).unwrap();
        let image_port = image_sock.local_addr().unwrap().port();
        let test_port = UdpSocket::bind((LOOPBACK, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut wire = Wire::bind(test_port, image_port).unwrap();
        let peer = std::thread::spawn(move || {
            let mut buf = [0u8; MAX_FRAME];
            let (n, from) = image_sock.recv_from(&mut buf).unwrap();
            // First request: ask who the pinger is, drop the request.
            image_sock.send_to(&image_asks_for(ME.ip), from).unwrap();
            let _ = n;
            // The ARP reply, then the request sent again: answer it.
            let (n, _) = image_sock.recv_from(&mut buf).unwrap();
            assert!(matches!(
                ArpRepr::parse(
                    &ArpPacket::new_checked(
                        EthernetFrame::new_checked(&buf[..n]).unwrap().payload()
                    )
                    .unwrap()
                ),
                Ok(ArpRepr::EthernetIpv4 {
                    operation: ArpOperation::Reply,
                    ..
                })
            ));
            let (n, from) = image_sock.recv_from(&mut buf).unwrap();
            image_sock.send_to(&reply_to(&buf[..n]), from).unwrap();
        });
        let sent = wire
            .ping(ME, IMAGE, 9, b"over the wire", Duration::from_secs(5))
            .unwrap();
        assert_eq!(sent, 2, "the first request was dropped for ARP");
        peer.join().unwrap();
    }
}
