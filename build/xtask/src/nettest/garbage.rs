//! Frames no sane host sends, played on the `wire`: noise, and headers
//! that parse up to a point (IPv4 with impossible lengths or options,
//! fragments, TCP with any flags and data offset to the listening ports,
//! UDP whose length lies, ARP with any fields). The NIC driver and the
//! stack must drop what they cannot use and go on serving: afterwards a
//! ping and a TCP echo must work, and no task may have faulted.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, IpProtocol,
    Ipv4Packet, Ipv4Repr, TcpPacket,
};

use super::echo::Rng;
use super::tcp_peer::TcpPeer;
use super::wire::Host;
use super::Image;

/// How many frames one check sends.
const FRAMES: usize = 3000;

/// The check's own constant: its frames are those of this seed xor the
/// run's (`--net-seed`).
const SEED: u64 = 0x6a7b_a6e0;

/// A number below `n` (not 0).
fn below(rng: &mut Rng, n: usize) -> usize {
    let b = rng.bytes(4);
    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize % n
}

fn ethernet(src: EthernetAddress, dst: EthernetAddress, ethertype: EthernetProtocol) -> Vec<u8> {
    let repr = EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype,
    };
    let mut frame = vec![0u8; repr.buffer_len()];
    repr.emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
    frame
}

/// An IPv4 header from `me` to `target` with a right checksum, carrying
/// `payload` for `protocol`.
fn ipv4(me: Host, target: Host, protocol: IpProtocol, payload: &[u8]) -> Vec<u8> {
    let repr = Ipv4Repr {
        src_addr: me.ip,
        dst_addr: target.ip,
        next_header: protocol,
        payload_len: payload.len(),
        hop_limit: 64,
    };
    let mut packet = vec![0u8; repr.buffer_len() + payload.len()];
    repr.emit(
        &mut Ipv4Packet::new_unchecked(&mut packet[..]),
        &ChecksumCapabilities::default(),
    );
    packet[repr.buffer_len()..].copy_from_slice(payload);
    packet
}

/// The `n` frames of the check, the same for the same `seed`: six kinds
/// in turn, each with random parts.
pub(super) fn garbage_frames(me: Host, target: Host, seed: u64, n: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed | 1);
    let mut frames = Vec::with_capacity(n);
    for i in 0..n {
        let dst = if i % 7 == 0 {
            EthernetAddress::BROADCAST
        } else {
            target.mac
        };
        let frame = match i % 6 {
            // Noise, of any length a wire carries and beyond. Not empty:
            // QEMU's socket backend takes an empty datagram for the end of
            // the connection and reads none after it (`net/socket.c`), so
            // the wire would go deaf, whatever the image did.
            0 => {
                let len = 1 + below(&mut rng, 1600);
                rng.bytes(len)
            }
            // An IPv4 ethertype with noise behind it.
            1 => {
                let mut f = ethernet(me.mac, dst, EthernetProtocol::Ipv4);
                let len = below(&mut rng, 1500);
                f.extend(rng.bytes(len));
                f
            }
            // A header that is IPv4 to its version, then any lengths,
            // options, flags, fragment offset and protocol; its checksum
            // is made right half the time, so that it is believed.
            2 => {
                let mut f = ethernet(me.mac, dst, EthernetProtocol::Ipv4);
                let len = 20 + below(&mut rng, 1480);
                let mut ip = rng.bytes(len);
                ip[0] = 0x40 | (ip[0] & 0x0f);
                ip[12..16].copy_from_slice(&me.ip.octets());
                ip[16..20].copy_from_slice(&target.ip.octets());
                if i % 4 == 2 {
                    let mut p = Ipv4Packet::new_unchecked(&mut ip[..]);
                    if usize::from(p.header_len()) <= len {
                        p.fill_checksum();
                    }
                }
                f.extend(ip);
                f
            }
            // TCP to the echo or the page server: any flags, data offset,
            // options, sequence numbers and payload, checksum right.
            3 => {
                let mut f = ethernet(me.mac, dst, EthernetProtocol::Ipv4);
                let len = 20 + below(&mut rng, 200);
                let mut tcp = rng.bytes(len);
                let port: u16 = if (i / 6) % 2 == 0 { 7 } else { 80 };
                tcp[2..4].copy_from_slice(&port.to_be_bytes());
                let mut p = TcpPacket::new_unchecked(&mut tcp[..]);
                p.fill_checksum(&IpAddress::Ipv4(me.ip), &IpAddress::Ipv4(target.ip));
                f.extend(ipv4(me, target, IpProtocol::Tcp, &tcp));
                f
            }
            // UDP to the echo whose length field says anything.
            4 => {
                let mut f = ethernet(me.mac, dst, EthernetProtocol::Ipv4);
                let len = 8 + below(&mut rng, 100);
                let mut udp = rng.bytes(len);
                udp[2..4].copy_from_slice(&7u16.to_be_bytes());
                f.extend(ipv4(me, target, IpProtocol::Udp, &udp));
                f
            }
            // ARP with every field random.
            _ => {
                let mut f = ethernet(me.mac, dst, EthernetProtocol::Arp);
                let len = below(&mut rng, 60);
                f.extend(rng.bytes(len));
                f
            }
        };
        frames.push(frame);
    }
    frames
}

/// Sends [`FRAMES`] garbage frames, a few at a time so that the NIC's
/// queue takes most of them, then checks the image still answers a ping
/// and a TCP echo, and that nothing faulted meanwhile.
pub(super) fn wire_garbage(image: &mut Image) -> Result<()> {
    let (me, target) = super::nic::wire_hosts(&image.app)?;
    let faults = image.count(" faulted");
    let frames = garbage_frames(me, target, SEED ^ image.seed, FRAMES);
    let wire = image.wire.as_mut().context("the image has no `wire` NIC")?;
    for (k, frame) in frames.iter().enumerate() {
        wire.send(frame)?;
        if k % 16 == 15 {
            // Its answers (resets, ARP) are read and let go.
            while wire.recv(Duration::from_millis(1)).is_some() {}
        }
    }
    wire.seen.clear();
    if let Err(e) = wire.ping(me, target, 1, b"after the garbage", Duration::from_secs(10)) {
        return Err(e.context(format!("a ping after the garbage; {}", nic_state(image))));
    }
    let mut peer = TcpPeer::connect(wire, me, target, (47_000, 7), 0x2222_0000)
        .context("a TCP connection to the echo after the garbage")?;
    peer.echo(b"after the garbage")
        .context("the echo after the garbage")?;
    peer.reset()?;
    let faulted = image.count(" faulted") - faults;
    ensure!(
        faulted == 0,
        "{faulted} task(s) faulted under {FRAMES} garbage frames: {}",
        image
            .lines()
            .iter()
            .filter(|l| l.contains(" faulted"))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    Ok(())
}

/// What the shell's `net` says now (the driver's and the stack's
/// counters), for a failure's message.
fn nic_state(image: &mut Image) -> String {
    let before = image.count("net0: MAC");
    if image.type_line("net").is_err()
        || image
            .wait_for("net0: MAC", before + 1, Duration::from_secs(5))
            .is_err()
    {
        return "the shell's `net` did not answer".into();
    }
    let lines = image.lines();
    let tail = lines.len().saturating_sub(3);
    format!("the shell's `net`:\n{}", lines[tail..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::Ipv4Address;

    fn hosts() -> (Host, Host) {
        let me = Host {
            mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
            ip: Ipv4Address::new(10, 0, 2, 2),
        };
        let target = Host {
            mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
            ip: Ipv4Address::new(10, 0, 2, 99),
        };
        (me, target)
    }

    #[test]
    fn the_frames_are_the_seeds_and_reach_the_listening_ports() {
        let (me, target) = hosts();
        let a = garbage_frames(me, target, 7, 600);
        assert_eq!(
            a,
            garbage_frames(me, target, 7, 600),
            "same seed, same frames"
        );
        assert_ne!(a, garbage_frames(me, target, 8, 600));
        assert!(
            a.iter().all(|f| !f.is_empty()),
            "an empty datagram ends QEMU's wire"
        );
        // The TCP kind is well-formed up to TCP: right IPv4 checksum, to
        // the image, to port 7 or 80, and its TCP checksum right too.
        let mut ports = std::collections::BTreeSet::new();
        for f in a.iter().skip(3).step_by(6) {
            let eth = EthernetFrame::new_checked(&f[..]).unwrap();
            let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!(ip.dst_addr(), target.ip);
            let tcp = TcpPacket::new_unchecked(ip.payload());
            assert!(tcp.verify_checksum(&IpAddress::Ipv4(me.ip), &IpAddress::Ipv4(target.ip)));
            ports.insert(tcp.dst_port());
        }
        assert_eq!(ports.into_iter().collect::<Vec<_>>(), [7, 80]);
    }
}
