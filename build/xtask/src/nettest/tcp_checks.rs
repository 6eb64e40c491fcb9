//! Checks of the stack's TCP with segments a host's own stack will not
//! send on request: repeated and unanswerable SYNs (`task_net::syn`),
//! unfinished handshakes, a close watched segment by segment. Each is
//! played on the `wire` by a [`TcpPeer`] against the echo or page server.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use smoltcp::wire::TcpControl;

use super::tcp_peer::{Answer, Seen, TcpPeer};
use super::wire::{self, Host};
use super::Image;

/// A connection's SYN sent again after the connection is up must not open
/// a second one. The listener's pool is refilled, at each accept, with
/// the lowest free socket; a connection reset before frees one below the
/// next connection's, so the SYN of that next connection, sent again once
/// it was accepted, meets a listening socket ahead of its own. Taken
/// there, it would start a second handshake for the same addresses and
/// ports (a second SYN-ACK) and the connection's next segment would be
/// answered with a reset. The connection must carry on as if the SYN had
/// never come.
pub(super) fn tcp_duplicate_syn(image: &mut Image) -> Result<()> {
    let (me, target) = wire_hosts(image)?;
    let mut rng = image.rng(0x5e9_d00b);
    let wire = image.wire.as_mut().context("the image has no `wire` NIC")?;
    let mut port = 40_000;
    for round in 0..3 {
        // A connection that frees its socket: accepted (it echoes), then
        // reset, and the echo given a round (at most a second) to close it.
        port += 1;
        let mut first = TcpPeer::connect(wire, me, target, (port, 7), 0x1000_0000 * (round + 1))
            .with_context(|| format!("round {round}: the first connection"))?;
        first
            .echo(&rng.bytes(100))
            .with_context(|| format!("round {round}: the first connection's echo"))?;
        first.reset()?;
        let quiet = Instant::now();
        while quiet.elapsed() < Duration::from_millis(1500) {
            wire.recv(Duration::from_millis(100));
        }
        // The next connection takes a socket above the freed one, which
        // its accept puts back into LISTEN.
        port += 1;
        let mut next = TcpPeer::connect(wire, me, target, (port, 7), 0x8000_0000 + round * 0x1000)
            .with_context(|| format!("round {round}: the second connection"))?;
        next.echo(&rng.bytes(200))
            .with_context(|| format!("round {round}: the second connection's echo"))?;
        next.syn()?;
        next.echo(&rng.bytes(300)).with_context(|| {
            format!("round {round}: the second connection, after its SYN came again")
        })?;
        next.reset()?;
    }
    // Evidence that the SYNs came and were dropped: the stack's count.
    let dropped = image.net_figure(super::REPEATED_SYNS)?;
    ensure!(
        dropped >= 3,
        "the stack counted {dropped} repeated SYN(s) dropped; the test sent 3"
    );
    Ok(())
}

/// The test's host and the image's on the wire, once the echo listens.
fn wire_hosts(image: &Image) -> Result<(Host, Host)> {
    image.wait_for(
        "listening on TCP and UDP port 7",
        1,
        Duration::from_secs(10),
    )?;
    super::nic::wire_hosts(&image.app)
}

/// By when the stack has given up the handshakes a check left unfinished
/// (task/net's `HANDSHAKE_MS`, its once-a-second look, and slack).
const GIVEN_UP: Duration = Duration::from_secs(10 + 1 + 2);

/// Handshakes that peers start and never finish must not hold a listener
/// for good. SYNs from eight ports (the echo's backlog), each answered
/// with a SYN-ACK and never acknowledged, hold its whole pool. A SYN for a
/// new connection must then be neither answered nor refused (the stack
/// drops it, and the peer sends it again, as to a full Linux listener),
/// and it must get in once the stack has given up on the eight; the
/// acknowledgement each of those then sends late must be answered with a
/// reset: the stack forgot those handshakes (rather than, say, growing the
/// pool around them).
pub(super) fn tcp_half_open(image: &mut Image) -> Result<()> {
    let (me, target) = wire_hosts(image)?;
    let postponed_before = image.net_figure(super::POSTPONED_SYNS)?;
    let wire = image.wire.as_mut().context("the image has no `wire` NIC")?;
    let mut abandoned = Vec::new();
    for k in 0..8u16 {
        let mut p = TcpPeer::new(
            wire,
            me,
            target,
            (42_000 + k, 7),
            0x4000_0000 + u32::from(k) * 0x10_0000,
        );
        match p.handshake()? {
            Answer::SynAck => abandoned.push((p.port, p.iss, p.their_iss)),
            Answer::Refused => bail!("handshake {k} of 8 refused: the echo's backlog is 8"),
        }
    }
    let start = Instant::now();
    let mut p = TcpPeer::new(wire, me, target, (42_100, 7), 0x6000_0000);
    p.syn()?;
    while start.elapsed() < Duration::from_secs(1) {
        if let Some(Seen::Segment { control, .. }) = p.next(Duration::from_millis(50))? {
            match control {
                TcpControl::Rst => bail!(
                    "a SYN for the echo while its backlog was full was refused (a reset), \
                     not left for the peer to send again"
                ),
                TcpControl::Syn => {
                    bail!("a SYN for the echo was answered while eight handshakes held its backlog")
                }
                _ => {}
            }
        }
    }
    match p.handshake()? {
        Answer::SynAck => {
            p.send(TcpControl::None, &[])?;
            p.echo(b"in after the abandoned handshakes")
                .context("the new connection")?;
            p.reset()?;
        }
        Answer::Refused => bail!("the new connection was refused (a reset)"),
    }
    let waited = start.elapsed();
    // The stack gives a handshake up 10 s after it first sees it (it looks
    // once a second): by now for all eight.
    while start.elapsed() < GIVEN_UP {
        wire.recv(Duration::from_millis(100));
    }
    for (port, iss, their_iss) in abandoned {
        let mut p = TcpPeer::new(wire, me, target, (port, 7), iss);
        p.seq = iss.wrapping_add(1);
        p.their_iss = their_iss;
        p.ack = their_iss.wrapping_add(1);
        ensure!(
            p.late_ack_reset(Duration::from_secs(3))?,
            "the late ACK of the handshake from port {port} was not refused: \
             the stack still held it"
        );
    }
    let postponed = image.net_figure(super::POSTPONED_SYNS)? - postponed_before;
    ensure!(
        postponed >= 2,
        "the stack counted {postponed} SYN(s) held back for a full backlog; the test sent \
         one every half second until the handshakes were given up"
    );
    println!(
        "    a new connection got in {:.1} s after eight abandoned handshakes \
         ({postponed} of its SYNs postponed)",
        waited.as_secs_f64()
    );
    Ok(())
}

/// A SYN over a full backlog is kept, and answered as soon as the
/// listener has room, without its peer sending it again. Eight
/// connections fill the echo's eight slots, eight more its backlog
/// (established, not accepted); the SYN of a seventeenth, sent once, is
/// neither answered nor refused. When the first connection is reset, the
/// echo accepts from its backlog and the stack refills the pool: the
/// kept SYN must then be answered (a SYN-ACK) within seconds.
pub(super) fn tcp_backlog(image: &mut Image) -> Result<()> {
    let dropped_before = image.net_figure(super::DROPPED_SYNS)?;
    let held_before = image.net_figure(super::POSTPONED_SYNS)?;
    let (me, target) = wire_hosts(image)?;
    let wire = image.wire.as_mut().context("the image has no `wire` NIC")?;
    // (port, next sequence number, next expected) of each connection, to
    // reset it at the end.
    let mut open = Vec::new();
    for k in 0..16u16 {
        let port = 43_000 + k;
        let mut p = TcpPeer::connect(wire, me, target, (port, 7), 0x5000_0000 + u32::from(k))
            .with_context(|| format!("connection {k} of 16"))?;
        if k < 8 {
            // In one of the echo's slots: it answers.
            p.echo(&[k as u8; 16])
                .with_context(|| format!("connection {k} of 16"))?;
        }
        open.push((port, p.seq, p.ack));
    }
    let start = Instant::now();
    let mut late = TcpPeer::new(wire, me, target, (43_100, 7), 0x7000_0000);
    late.syn()?;
    let mut answered = None;
    while start.elapsed() < Duration::from_secs(1) {
        if let Some(Seen::Segment { control, .. }) = late.next(Duration::from_millis(50))? {
            ensure!(
                control != TcpControl::Rst,
                "a SYN over the echo's full backlog was refused (a reset), not kept"
            );
            if control == TcpControl::Syn {
                answered = Some(start.elapsed());
            }
        }
    }
    ensure!(
        answered.is_none(),
        "a SYN was answered while the echo's backlog was full (eight connections not accepted)"
    );
    let (port, seq, ack) = open.remove(0);
    let mut first = TcpPeer::new(wire, me, target, (port, 7), 0);
    (first.seq, first.ack) = (seq, ack);
    first.reset()?;
    let freed = Instant::now();
    let mut late = TcpPeer::new(wire, me, target, (43_100, 7), 0x7000_0000);
    while freed.elapsed() < Duration::from_secs(5) {
        match late.next(Duration::from_millis(50))? {
            Some(Seen::Segment {
                control: TcpControl::Syn,
                ack: Some(0x7000_0001),
                ..
            }) => {
                answered = Some(freed.elapsed());
                break;
            }
            Some(Seen::Segment {
                control: TcpControl::Rst,
                ..
            }) => bail!("the kept SYN was refused (a reset) once the echo had room"),
            _ => {}
        }
    }
    let Some(after) = answered else {
        bail!("the kept SYN was not answered within 5 s of the echo having room (it was sent once)")
    };
    late.reset()?;
    for (port, seq, ack) in open {
        let mut p = TcpPeer::new(wire, me, target, (port, 7), 0);
        (p.seq, p.ack) = (seq, ack);
        p.reset()?;
    }
    // The shell's `net` counted every SYN held back as "dropped over a
    // full backlog", this one too, though it was kept and answered.
    let dropped = image.net_figure(super::DROPPED_SYNS)? - dropped_before;
    let held = image.net_figure(super::POSTPONED_SYNS)? - held_before;
    ensure!(
        held >= 1,
        "the stack counted no SYN held back for a full backlog (the seventeenth was)"
    );
    ensure!(
        dropped == 0,
        "the shell's `net` says {dropped} SYN(s) were dropped over a full backlog; the one \
         held back was kept and answered"
    );
    println!(
        "    the SYN kept over a full backlog was answered {:.2} s after a slot freed \
         ({held} held back, none dropped)",
        after.as_secs_f64()
    );
    Ok(())
}

/// A SYN from the unspecified address (0.0.0.0), which no host may send
/// and anyone on the link (or a hostile NIC driver) can: the stack must
/// drop it and carry on. smoltcp 0.12 made a connection of it and then
/// asserted when answering it: the net task panicked, and every socket of
/// every client went with it.
pub(super) fn tcp_unspecified_source(image: &mut Image) -> Result<()> {
    let (me, target) = wire_hosts(image)?;
    let faults = image.count("task net faulted");
    let wire = image.wire.as_mut().context("the image has no `wire` NIC")?;
    let nobody = Host {
        mac: me.mac,
        ip: smoltcp::wire::Ipv4Address::UNSPECIFIED,
    };
    let mut p = TcpPeer::new(wire, nobody, target, (44_000, 7), 0x0bad_5eed);
    for _ in 0..3 {
        p.syn()?;
        let quiet = Instant::now();
        while quiet.elapsed() < Duration::from_millis(500) {
            let _ = p.next(Duration::from_millis(50))?;
        }
    }
    let mut ok = TcpPeer::connect(wire, me, target, (44_001, 7), 0x0000_5eed)
        .context("a connection after the SYN from 0.0.0.0")?;
    ok.echo(b"after a SYN from nowhere")
        .context("a connection after the SYN from 0.0.0.0")?;
    ok.reset()?;
    let now = image.count("task net faulted");
    ensure!(
        now == faults,
        "the net task faulted on a SYN from 0.0.0.0 ({} fault(s))",
        now - faults
    );
    Ok(())
}

/// The page server closes first (after its answer); the close must end as
/// TCP says: the image's FIN, the test's ACK and FIN, the image's ACK of
/// that, and nothing after — no reset. The stack used to abort a socket
/// the moment it entered TIME-WAIT, which answered the peer's FIN with a
/// reset instead of its ACK.
pub(super) fn tcp_close(image: &mut Image) -> Result<()> {
    let (me, target) = wire_hosts(image)?;
    image.wait_for("listening on TCP port 80", 1, Duration::from_secs(10))?;
    let wire = image.wire.as_mut().context("the image has no `wire` NIC")?;
    for k in 0..3u16 {
        let mut p = TcpPeer::connect(
            wire,
            me,
            target,
            (45_000 + k, 80),
            0x3000_0000 + u32::from(k),
        )
        .with_context(|| format!("request {k}"))?;
        let answer = p
            .request_until_fin(
                b"GET /api/status HTTP/1.1\r\nHost: vireo\r\nConnection: close\r\n\r\n",
            )
            .with_context(|| format!("request {k}"))?;
        ensure!(
            answer.starts_with(b"HTTP/1.1 200"),
            "request {k} was answered {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(40)])
        );
        p.close_after_fin()
            .with_context(|| format!("closing request {k}'s connection"))?;
    }
    Ok(())
}

/// A peer that vanishes while the image's bytes to it are unacknowledged
/// (a host switched off, a cable pulled) must not hold a socket for ever:
/// the stack retransmits to it for its `peer-timeout-ms` (4 s in
/// `test/net-wire.toml`), then aborts the connection, with a reset. Before,
/// it retransmitted for good and the socket was never freed, so vanished
/// peers emptied the pool a socket at a time.
pub(super) fn tcp_vanished_peer(image: &mut Image) -> Result<()> {
    let (me, target) = wire_hosts(image)?;
    let wire = image.wire.as_mut().context("the image has no `wire` NIC")?;
    let mut p = TcpPeer::connect(wire, me, target, (47_000, 7), 0x6000_0000)?;
    // The echo sends these back; this peer never acknowledges them, nor
    // sends anything again.
    p.send(TcpControl::Psh, b"vanishing")?;
    let start = Instant::now();
    let (mut copies, mut reset) = (0, None);
    while start.elapsed() < Duration::from_secs(20) {
        match p.next(Duration::from_millis(100))? {
            Some(Seen::Segment {
                control: TcpControl::Rst,
                ..
            }) => {
                reset = Some(start.elapsed());
                break;
            }
            Some(Seen::Segment { payload, .. }) if payload == b"vanishing" => copies += 1,
            _ => {}
        }
    }
    let Some(after) = reset else {
        bail!(
            "no reset within 20 s of the peer vanishing: the image sent the echo {copies} times \
             and kept the connection"
        )
    };
    ensure!(
        copies >= 2,
        "the echo came {copies} time(s) before the reset: it should have been retransmitted"
    );
    ensure!(
        after >= Duration::from_secs(3),
        "the connection was aborted {after:?} after the peer's last segment, before 4 s"
    );
    println!(
        "    aborted {:.1} s after the peer fell silent, the echo sent {copies} times",
        after.as_secs_f64()
    );
    Ok(())
}

/// The wire image's `peer-timeout-ms`.
const PEER_TIMEOUT: Duration = Duration::from_secs(4);

/// A connection whose peer is silent but alive lives on; one whose peer
/// vanished with nothing outstanding is aborted. smoltcp aborts a socket
/// with a timeout once its peer has been silent that long, bytes
/// outstanding or not, so without keep-alives the stack reset every idle
/// connection after `peer-timeout-ms` (an echo session left open for a
/// minute). The stack sends keep-alives: this peer answers them (and
/// nothing else) for three timeouts, then uses the connection, then
/// answers nothing and must see the reset within a timeout or so.
pub(super) fn tcp_silent_peer(image: &mut Image) -> Result<()> {
    let (me, target) = wire_hosts(image)?;
    let wire = image.wire.as_mut().context("the image has no `wire` NIC")?;
    let mut p = TcpPeer::connect(wire, me, target, (47_100, 7), 0x6100_0000)?;
    p.echo(b"quiet")?;
    let start = Instant::now();
    let mut probes = 0;
    while start.elapsed() < 3 * PEER_TIMEOUT {
        match p.next(Duration::from_millis(100))? {
            Some(Seen::Segment {
                control: TcpControl::Rst,
                ..
            }) => bail!(
                "the image reset a connection whose peer was silent but answered its \
                 {probes} keep-alive(s), {:.1} s after its last data",
                start.elapsed().as_secs_f64()
            ),
            Some(Seen::Segment { .. }) => {
                // A keep-alive (or anything else): acknowledged, as a live
                // host's stack does.
                probes += 1;
                p.send(TcpControl::None, &[])?;
            }
            _ => {}
        }
    }
    ensure!(
        probes >= 2,
        "{probes} segment(s) from the image in {:?} of silence: it should probe an idle \
         connection",
        3 * PEER_TIMEOUT
    );
    p.echo(b"still here")?;
    // Now the peer vanishes: the probes go unanswered.
    let gone = Instant::now();
    let mut unanswered = 0;
    let reset = loop {
        ensure!(
            gone.elapsed() < 5 * PEER_TIMEOUT,
            "no reset within {:?} of the peer vanishing ({unanswered} probe(s) unanswered)",
            5 * PEER_TIMEOUT
        );
        match p.next(Duration::from_millis(100))? {
            Some(Seen::Segment {
                control: TcpControl::Rst,
                ..
            }) => break gone.elapsed(),
            Some(Seen::Segment { .. }) => unanswered += 1,
            _ => {}
        }
    };
    ensure!(
        reset >= PEER_TIMEOUT - Duration::from_millis(500) && unanswered >= 1,
        "reset {reset:?} after the peer vanished, after {unanswered} probe(s): it should \
         come after {PEER_TIMEOUT:?} of silence and probing"
    );
    println!(
        "    {probes} keep-alives answered over {:?}; vanished: reset after {:.1} s, {unanswered} probe(s)",
        3 * PEER_TIMEOUT,
        reset.as_secs_f64()
    );
    Ok(())
}

/// A port nobody listens on refuses at once, as a host's stack does
/// (RFC 1122): a TCP SYN gets a reset, a UDP datagram an ICMP port
/// unreachable that quotes it. A client learns within a round trip
/// instead of waiting out its own timeouts. Port 9 (discard) is granted
/// to no task of the image.
pub(super) fn closed_ports(image: &mut Image) -> Result<()> {
    const PORT: u16 = 9;
    let (me, target) = wire_hosts(image)?;
    let wire = image.wire.as_mut().context("the image has no `wire` NIC")?;
    let start = Instant::now();
    let mut p = TcpPeer::new(wire, me, target, (43_000, PORT), 0x7000_0000);
    match p.handshake()? {
        Answer::Refused => {}
        Answer::SynAck => bail!("TCP port {PORT} accepted a connection"),
    }
    ensure!(
        start.elapsed() < Duration::from_secs(1),
        "TCP port {PORT} refused only after {:?}",
        start.elapsed()
    );
    wire.send(&wire::udp_frame(me, target, 43_001, PORT, b"anyone?"))?;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        let Some(frame) = wire.recv(Duration::from_millis(50)) else {
            continue;
        };
        if let Some(asker) = wire::arp_request_for(&frame, me.ip) {
            wire.send(&wire::arp_reply(me, asker))?;
            continue;
        }
        if wire::port_unreachable(&frame, target.ip, me.ip) == Some((43_001, PORT)) {
            return Ok(());
        }
    }
    bail!("no ICMP port unreachable within 1 s for a UDP datagram to port {PORT}")
}
