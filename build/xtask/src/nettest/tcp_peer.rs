//! A TCP peer played segment by segment on a `wire` NIC, for what a host's
//! own stack will not do on request: send a connection's SYN again after
//! it is up, leave a handshake unfinished, send a SYN once and never again,
//! or from 0.0.0.0 ([`super::tcp_checks`]).
//!
//! Only what the checks need: one peer on the wire at a time (a check
//! keeps the numbers of the others and makes a peer again to reset them),
//! segments small enough for one frame, a retransmission every half
//! second, and every segment of the connection looked at for what must not
//! happen (a reset, a second SYN-ACK).

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr,
    TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
};

use super::wire::{arp_reply, arp_request_for, ipv4_in, Host, Wire};

/// How often an unanswered segment is sent again.
const RETRY: Duration = Duration::from_millis(500);
/// How long a connection's answer may take on a loaded machine.
const LIMIT: Duration = Duration::from_secs(20);
/// The window the peer offers: more than any echo here sends back.
const WINDOW: u16 = 8192;

/// One connection from the test (`me`) to a port of the image.
pub(super) struct TcpPeer<'w> {
    wire: &'w mut Wire,
    me: Host,
    target: Host,
    pub(super) port: u16,
    target_port: u16,
    /// The sequence number the connection's SYN carried.
    pub(super) iss: u32,
    /// The next sequence number to send.
    pub(super) seq: u32,
    /// The image's initial sequence number, from its SYN-ACK.
    pub(super) their_iss: u32,
    /// The next sequence number expected from the image.
    pub(super) ack: u32,
}

/// How the image answered a SYN.
pub(super) enum Answer {
    /// Its SYN-ACK, taken in.
    SynAck,
    /// A reset.
    Refused,
}

/// When an [`TcpPeer::exchange`] is over.
#[derive(Copy, Clone)]
enum Until {
    /// This many bytes came back.
    Bytes(usize),
    /// The image's FIN came.
    Fin,
}

/// What one frame from the image says about the connection.
pub(super) enum Seen {
    /// ARP (answered), or a frame of another connection.
    Other,
    Segment {
        control: TcpControl,
        seq: u32,
        ack: Option<u32>,
        payload: Vec<u8>,
    },
}

impl<'w> TcpPeer<'w> {
    /// A peer at `me`:`port` for `target`:`target_port` whose SYN will
    /// carry `iss`; nothing sent yet.
    pub(super) fn new(
        wire: &'w mut Wire,
        me: Host,
        target: Host,
        (port, target_port): (u16, u16),
        iss: u32,
    ) -> Self {
        TcpPeer {
            wire,
            me,
            target,
            port,
            target_port,
            iss,
            seq: iss,
            their_iss: 0,
            ack: 0,
        }
    }

    /// Opens a connection from `me`:`port` to `target`:`target_port`
    /// (SYN, the image's SYN-ACK, ACK), answering the image's ARP.
    pub(super) fn connect(
        wire: &'w mut Wire,
        me: Host,
        target: Host,
        ports: (u16, u16),
        iss: u32,
    ) -> Result<Self> {
        let mut peer = TcpPeer::new(wire, me, target, ports, iss);
        match peer.handshake()? {
            Answer::SynAck => {
                peer.send(TcpControl::None, &[])?;
                Ok(peer)
            }
            Answer::Refused => bail!("port {} refused the connection (a reset)", ports.1),
        }
    }

    /// Sends the SYN until the image answers: with its SYN-ACK (taken in;
    /// the ACK is the caller's to send, or not) or with a reset.
    pub(super) fn handshake(&mut self) -> Result<Answer> {
        let start = Instant::now();
        while start.elapsed() < LIMIT {
            self.syn()?;
            let round = Instant::now();
            while round.elapsed() < RETRY {
                match self.next(Duration::from_millis(50))? {
                    Some(Seen::Segment {
                        control: TcpControl::Syn,
                        seq,
                        ack: Some(ack),
                        ..
                    }) if ack == self.iss.wrapping_add(1) => {
                        self.seq = ack;
                        self.their_iss = seq;
                        self.ack = seq.wrapping_add(1);
                        return Ok(Answer::SynAck);
                    }
                    Some(Seen::Segment {
                        control: TcpControl::Rst,
                        ..
                    }) => return Ok(Answer::Refused),
                    _ => {}
                }
            }
        }
        bail!(
            "no SYN-ACK from port {} within {} s",
            self.target_port,
            LIMIT.as_secs()
        )
    }

    /// Sends the connection's SYN (again): the sequence number it had, no
    /// acknowledgement.
    pub(super) fn syn(&mut self) -> Result<()> {
        let repr = self.repr(TcpControl::Syn, self.iss, None, &[]);
        self.wire.send(&self.frame(&repr))
    }

    /// Sends `payload` (and `control`) at the next sequence number,
    /// acknowledging everything received.
    pub(super) fn send(&mut self, control: TcpControl, payload: &[u8]) -> Result<()> {
        let repr = self.repr(control, self.seq, Some(self.ack), payload);
        self.wire.send(&self.frame(&repr))
    }

    /// Sends `data` and waits until the image has echoed it back: fails on
    /// a reset, on a second SYN-ACK for this connection, or on bytes other
    /// than those sent.
    pub(super) fn echo(&mut self, data: &[u8]) -> Result<()> {
        let back = self.exchange(data, Until::Bytes(data.len()))?;
        ensure!(
            back == data,
            "the echo sent back {} other bytes than the {} sent",
            back.len(),
            data.len()
        );
        Ok(())
    }

    /// Sends `request` and reads what the image sends back until its FIN
    /// (acknowledged, data and FIN): the answer of a server that closes
    /// first.
    pub(super) fn request_until_fin(&mut self, request: &[u8]) -> Result<Vec<u8>> {
        self.exchange(request, Until::Fin)
    }

    /// Sends `data` (again every half second until acknowledged) and
    /// gathers, acknowledging it, what the image sends back in order until
    /// `until`. A reset, or a second SYN-ACK for the connection, fails it.
    fn exchange(&mut self, data: &[u8], until: Until) -> Result<Vec<u8>> {
        let mut back = Vec::new();
        let (mut acked, mut fin) = (false, false);
        let end = self.seq.wrapping_add(data.len() as u32);
        let done = |acked: bool, fin: bool, back: &[u8]| {
            acked
                && match until {
                    Until::Bytes(n) => back.len() >= n,
                    Until::Fin => fin,
                }
        };
        let start = Instant::now();
        while !done(acked, fin, &back) {
            ensure!(
                start.elapsed() < LIMIT,
                "{} bytes came back within {} s, {}; the data sent {}",
                back.len(),
                LIMIT.as_secs(),
                if fin { "and the FIN" } else { "no FIN" },
                if acked {
                    "was acknowledged"
                } else {
                    "never acknowledged"
                }
            );
            if !acked {
                self.send(TcpControl::Psh, data)?;
            }
            let round = Instant::now();
            while round.elapsed() < RETRY && !done(acked, fin, &back) {
                let Some(Seen::Segment {
                    control,
                    seq,
                    ack,
                    payload,
                }) = self.next(Duration::from_millis(50))?
                else {
                    continue;
                };
                match control {
                    TcpControl::Rst => {
                        bail!("the image reset the connection ({} bytes back)", back.len())
                    }
                    TcpControl::Syn => ensure!(
                        seq == self.their_iss,
                        "a second SYN-ACK for the connection (initial sequence number \
                         {seq:#x}, the connection's is {:#x}): its SYN reached another socket",
                        self.their_iss
                    ),
                    _ => {}
                }
                if ack == Some(end) {
                    acked = true;
                }
                if seq != self.ack || (payload.is_empty() && control != TcpControl::Fin) {
                    continue;
                }
                back.extend_from_slice(&payload);
                self.ack = self.ack.wrapping_add(payload.len() as u32);
                if control == TcpControl::Fin {
                    fin = true;
                    self.ack = self.ack.wrapping_add(1);
                }
                // After the data sent: an acknowledgement at its first byte
                // would be out of the image's window, and ignored.
                let repr = self.repr(TcpControl::None, end, Some(self.ack), &[]);
                self.wire.send(&self.frame(&repr))?;
            }
        }
        self.seq = end;
        Ok(back)
    }

    /// After the image's FIN: sends the test's FIN and waits for the
    /// image's ACK of it, then for a second: a reset anywhere in that is
    /// a failure.
    pub(super) fn close_after_fin(&mut self) -> Result<()> {
        let fin_end = self.seq.wrapping_add(1);
        let start = Instant::now();
        let mut acked = None;
        while start.elapsed() < LIMIT {
            if acked.is_none() {
                self.send(TcpControl::Fin, &[])?;
            }
            let round = Instant::now();
            while round.elapsed() < RETRY {
                let Some(Seen::Segment { control, ack, .. }) =
                    self.next(Duration::from_millis(50))?
                else {
                    continue;
                };
                ensure!(
                    control != TcpControl::Rst,
                    "the image answered the close with a reset{}",
                    if acked.is_some() {
                        " after acknowledging the FIN"
                    } else {
                        " instead of acknowledging the FIN"
                    }
                );
                if ack == Some(fin_end) && acked.is_none() {
                    acked = Some(Instant::now());
                }
            }
            if matches!(acked, Some(t) if t.elapsed() >= Duration::from_secs(1)) {
                self.seq = fin_end;
                return Ok(());
            }
        }
        bail!(
            "the image never acknowledged the FIN within {} s",
            LIMIT.as_secs()
        )
    }

    /// Sends an acknowledgement of the image's SYN-ACK (late, after
    /// [`TcpPeer::handshake`]) and waits up to `wait` for a reset: true if
    /// one came.
    pub(super) fn late_ack_reset(&mut self, wait: Duration) -> Result<bool> {
        self.send(TcpControl::None, &[])?;
        let start = Instant::now();
        while start.elapsed() < wait {
            if let Some(Seen::Segment {
                control: TcpControl::Rst,
                ..
            }) = self.next(Duration::from_millis(50))?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Resets the connection.
    pub(super) fn reset(&mut self) -> Result<()> {
        let repr = self.repr(TcpControl::Rst, self.seq, None, &[]);
        self.wire.send(&self.frame(&repr))
    }

    /// The next frame within `wait`, the image's ARP for `me` answered on
    /// the way; segments of other connections are [`Seen::Other`].
    pub(super) fn next(&mut self, wait: Duration) -> Result<Option<Seen>> {
        let Some(frame) = self.wire.recv(wait) else {
            return Ok(None);
        };
        if let Some(asker) = arp_request_for(&frame, self.me.ip) {
            self.wire.send(&arp_reply(self.me, asker))?;
            return Ok(Some(Seen::Other));
        }
        let Some((_, ip, payload)) = ipv4_in(&frame) else {
            return Ok(Some(Seen::Other));
        };
        if ip.next_header != IpProtocol::Tcp || ip.src_addr != self.target.ip {
            return Ok(Some(Seen::Other));
        }
        let caps = ChecksumCapabilities::default();
        let packet = TcpPacket::new_checked(payload)
            .map_err(|e| anyhow::anyhow!("a truncated TCP segment from the image: {e}"))?;
        let repr = TcpRepr::parse(
            &packet,
            &IpAddress::Ipv4(ip.src_addr),
            &IpAddress::Ipv4(ip.dst_addr),
            &caps,
        )
        .map_err(|e| anyhow::anyhow!("a malformed TCP segment from the image: {e}"))?;
        if (repr.src_port, repr.dst_port) != (self.target_port, self.port) {
            return Ok(Some(Seen::Other));
        }
        Ok(Some(Seen::Segment {
            control: repr.control,
            seq: repr.seq_number.0 as u32,
            ack: repr.ack_number.map(|a| a.0 as u32),
            payload: repr.payload.to_vec(),
        }))
    }

    fn repr<'a>(
        &self,
        control: TcpControl,
        seq: u32,
        ack: Option<u32>,
        payload: &'a [u8],
    ) -> TcpRepr<'a> {
        TcpRepr {
            src_port: self.port,
            dst_port: self.target_port,
            control,
            seq_number: TcpSeqNumber(seq as i32),
            ack_number: ack.map(|a| TcpSeqNumber(a as i32)),
            window_len: WINDOW,
            window_scale: None,
            max_seg_size: (control == TcpControl::Syn).then_some(1460),
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload,
        }
    }

    /// `tcp` in an IPv4 packet in an Ethernet frame from `me` to `target`.
    fn frame(&self, tcp: &TcpRepr) -> Vec<u8> {
        let caps = ChecksumCapabilities::default();
        let (src, dst) = (IpAddress::Ipv4(self.me.ip), IpAddress::Ipv4(self.target.ip));
        let ip = Ipv4Repr {
            src_addr: self.me.ip,
            dst_addr: self.target.ip,
            next_header: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
        };
        let eth = EthernetRepr {
            src_addr: self.me.mac,
            dst_addr: self.target.mac,
            ethertype: EthernetProtocol::Ipv4,
        };
        let mut frame = vec![0u8; eth.buffer_len() + ip.buffer_len() + tcp.buffer_len()];
        let mut f = EthernetFrame::new_unchecked(&mut frame[..]);
        eth.emit(&mut f);
        let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
        ip.emit(&mut p, &caps);
        tcp.emit(
            &mut TcpPacket::new_unchecked(p.payload_mut()),
            &src,
            &dst,
            &caps,
        );
        frame
    }
}
