//! Checks of what lies beneath the services: the NIC driver restarted
//! under an open connection, the stack's static fallback on a network
//! without DHCP, and its ICMP echo — the last two on a `wire` NIC, where
//! the test is the only other host.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use super::echo::{echo_on, open_echo, sha256};
use super::wire::{self, Host};
use super::Image;
use crate::config::App;

/// `fault net0` at the shell under an open TCP connection and a transfer
/// in flight: the driver dies, the supervisor restarts it, the new
/// incarnation probes the NIC again and the stack subscribes to it again —
/// and both connections carry on byte-exact, a NIC restart being a lost
/// frame or two to TCP. The stack counts the one restart once, however
/// many of its calls met the dead driver (it counted every one).
pub(super) fn nic_restart(image: &mut Image) -> Result<()> {
    let addr = image.port("tcp", 7)?;
    let s = open_echo(addr)?;
    let busy = open_echo(addr)?;
    let faulted = image.count("task net0 faulted");
    let probed = image.count("net0: slot");
    let seen_before = nic_restarts_seen(image)?;
    let moving = image.rng(0x5ca1ab1e).bytes(4 << 20);
    let expected = sha256(&moving);
    let transfer = std::thread::spawn(move || echo_on(busy, &moving, None));
    std::thread::sleep(Duration::from_millis(300));
    image.type_line("fault net0")?;
    image.wait_for("task net0 faulted", faulted + 1, Duration::from_secs(10))?;
    // The new incarnation brought the NIC up again.
    image.wait_for("net0: slot", probed + 1, Duration::from_secs(30))?;
    let data = image.rng(0x0dd_ba11).bytes(256 * 1024);
    let got = echo_on(s, &data, None).context("the connection open across the restart")?;
    ensure!(
        sha256(&got) == sha256(&data),
        "echo across net0's restart differs"
    );
    let moved = transfer
        .join()
        .map_err(|_| anyhow::anyhow!("the transfer's thread panicked"))?
        .context("the transfer in flight across the restart")?;
    ensure!(
        sha256(&moved) == expected,
        "the transfer in flight across net0's restart differs"
    );
    // The stack saw the driver's new incarnation, once.
    let seen_after = nic_restarts_seen(image)?;
    ensure!(
        seen_after == seen_before + 1,
        "the stack counted {} NIC restarts for one fault ({seen_before} before, {seen_after} after)",
        seen_after.wrapping_sub(seen_before)
    );
    quick_after_restart_and_net(image)
}

/// `restart net0` and at once `net` at the shell: the stack's `info` asks
/// the driver's `status`, the first call to reach the new incarnation,
/// and the stub's retry of that idempotent op hid the restart. The stack
/// never subscribed again and took frames only on its 200 ms timer: every
/// UDP echo took 250 ms from then on. Five must come back at once.
fn quick_after_restart_and_net(image: &mut Image) -> Result<()> {
    let restarted = image.count("task net0 restarted");
    let shown = image.count("NIC restarts seen: ");
    image.type_line("restart net0")?;
    image.type_line("net")?;
    image.wait_for(
        "task net0 restarted",
        restarted + 1,
        Duration::from_secs(10),
    )?;
    image.wait_for("NIC restarts seen: ", shown + 1, Duration::from_secs(10))?;
    let sock = std::net::UdpSocket::bind((super::LOOPBACK, 0))?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    let addr = image.port("udp", 7)?;
    let mut slowest = Duration::ZERO;
    for i in 0..5u8 {
        let start = Instant::now();
        sock.send_to(&[i; 16], addr)?;
        let mut buf = [0u8; 64];
        let (n, _) = sock
            .recv_from(&mut buf)
            .with_context(|| format!("echo {i} after `restart net0` and `net`"))?;
        ensure!(buf[..n] == [i; 16], "echo {i} came back as other bytes");
        slowest = slowest.max(start.elapsed());
    }
    ensure!(
        slowest < Duration::from_millis(100),
        "after `restart net0` and `net`, a UDP echo took {} ms (the stack is not subscribed to the new driver?)",
        slowest.as_millis()
    );
    Ok(())
}

/// The stack's count of NIC restarts, through the shell's `net`.
pub(super) fn nic_restarts_seen(image: &mut Image) -> Result<u64> {
    image.net_figure("NIC restarts seen: ")
}

/// The stack's settings from app.toml (`config` of the task `net`): its
/// static address and the gateway, as the test's hosts on a wire.
fn static_settings(app: &App) -> Result<(Ipv4Addr, u8, Ipv4Addr)> {
    let net = app
        .tasks
        .iter()
        .find(|t| t.name == "net")
        .context("the image has no task `net`")?;
    let address = net
        .config
        .get("address")
        .context("task `net` has no `config.address`")?;
    let (ip, prefix) = address
        .split_once('/')
        .with_context(|| format!("`config.address` {address:?} is not ADDRESS/PREFIX"))?;
    let gateway = net
        .config
        .get("gateway")
        .context("task `net` has no `config.gateway`")?;
    Ok((ip.parse()?, prefix.parse()?, gateway.parse()?))
}

/// The hosts on a wire: the test, as the gateway of app.toml's `config`,
/// and the image at its static address.
pub(super) fn wire_hosts(app: &App) -> Result<(Host, Host)> {
    let (ip, _, gateway) = static_settings(app)?;
    let me = Host {
        mac: smoltcp::wire::EthernetAddress([0x02, 0x76, 0x69, 0x72, 0x65, 0x6f]),
        ip: gateway,
    };
    let target = Host {
        mac: smoltcp::wire::EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
        ip,
    };
    Ok((me, target))
}

/// How long the stack has to send a DHCP DISCOVER on a wire (smoltcp's
/// 10 s between attempts, and slack).
const DISCOVER_WAIT: Duration = Duration::from_secs(15);

/// A wire with no DHCP server: the stack asks (a DHCP DISCOVER on the
/// wire), hears nothing, and takes app.toml's static address — which the
/// console and the shell's `net` then show.
pub(super) fn static_fallback(image: &mut Image) -> Result<()> {
    let (ip, prefix, gateway) = static_settings(&image.app)?;
    let wire = image.wire.as_mut().context("the image has no `wire` NIC")?;
    // A DISCOVER sent while the NIC was still being probed is lost, and
    // smoltcp asks again every 10 s — also after the fallback, which a
    // DHCP server appearing later would override.
    let start = Instant::now();
    let asked = loop {
        wire.drain();
        if let Some(mac) = wire.seen.iter().find_map(|f| wire::dhcp_discover(f)) {
            break Some(mac);
        }
        if start.elapsed() > DISCOVER_WAIT {
            break None;
        }
        wire.recv(Duration::from_millis(200));
    };
    let mac = asked.with_context(|| {
        format!(
            "the stack never asked for an address: no DHCP DISCOVER on the wire within {} s",
            DISCOVER_WAIT.as_secs()
        )
    })?;
    ensure!(
        mac.0 == [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
        "DHCP DISCOVER from {mac}, not from the NIC's MAC"
    );
    let static_line = format!("address {ip}/{prefix} (static)");
    image.wait_for(&static_line, 1, Duration::from_secs(10))?;
    ensure!(
        image.count("(DHCP)") == 0,
        "a DHCP address was taken on a wire without a DHCP server"
    );
    let shown = format!("net: {ip}/{prefix} via {gateway} (static)");
    image.type_line("net")?;
    image.wait_for(&shown, 1, Duration::from_secs(10))?;
    Ok(())
}

/// The stack answers ICMP echo: the test, as the gateway on the wire,
/// pings the image's static address with payloads of several sizes (and
/// answers its ARP), and each reply must carry the request's data. Those
/// over 1,472 bytes go in IPv4 fragments, which the stack puts back
/// together, and the reply comes cut by smoltcp, from the round that
/// received the request (`task_net::fragmenter` keeps the NIC for its
/// fragments): up to 8,192 bytes, the stack's limit.
pub(super) fn icmp_echo(image: &mut Image) -> Result<()> {
    let (me, target) = wire_hosts(&image.app)?;
    let mut rng = image.rng(0x1c4b_0ec0);
    let wire = image.wire.as_mut().context("the image has no `wire` NIC")?;
    for (seq, len) in [
        (1u16, 0usize),
        (2, 56),
        (3, 1000),
        (4, 1472),
        (5, 3000),
        (6, 8192),
    ] {
        let data = rng.bytes(len);
        wire.ping(me, target, seq, &data, Duration::from_secs(10))
            .with_context(|| format!("ping {seq} ({len} bytes)"))?;
    }
    Ok(())
}

/// One datagram from an on-link address that never answers ARP must not
/// stop the echo's UDP for everyone (a red team's finding): smoltcp keeps
/// the echo's answer to it at the head of the socket's queue, asking for
/// the address once a second, and every later answer waited behind it for
/// good. The stack now drops a queue in which nothing has moved for
/// `task_net::txwatch::STUCK_MS` (3 s), and counts it.
///
/// The test, as a host on the wire, sees its datagrams echoed; sends one
/// from a ghost address it never answers ARP for; and then wants its
/// echoes back within 7 s (the 3 s, the owner's reads, smoltcp's 1 s
/// pause before it sends again on that socket), each of the ten after
/// that answered, and the stack's count of dropped queues up by one.
pub(super) fn udp_unresolved_peer(image: &mut Image) -> Result<()> {
    const RESUME_WITHIN: Duration = Duration::from_secs(7);
    const DROPPED: &str = "UDP send queues dropped (no neighbour): ";
    let (me, target) = wire_hosts(&image.app)?;
    // An address of the image's subnet that is neither end's.
    let [a, b, c, _] = target.ip.octets();
    let ghost_ip = (1..=254)
        .map(|d| Ipv4Addr::new(a, b, c, d))
        .find(|&ip| ip != me.ip && ip != target.ip && ip.octets()[3] >= 77)
        .context("no free address in the image's /24")?;
    let ghost = Host {
        mac: smoltcp::wire::EthernetAddress([0x02, 0, 0, 0, 0, 0x77]),
        ip: ghost_ip,
    };
    let dropped_before = image.net_figure(DROPPED)?;
    let mut asked_for_ghost = 0;
    let mut echo = |image: &mut Image, seq: u16| -> Result<bool> {
        let wire = image.wire.as_mut().context("the image has no `wire` NIC")?;
        let data = [b'u', (seq >> 8) as u8, seq as u8];
        wire.send(&wire::udp_frame(me, target, 40007, 7, &data))?;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(300) {
            let Some(frame) = wire.recv(Duration::from_millis(50)) else {
                continue;
            };
            if let Some(asker) = wire::arp_request_for(&frame, me.ip) {
                wire.send(&wire::arp_reply(me, asker))?;
            } else if wire::arp_request_for(&frame, ghost.ip).is_some() {
                asked_for_ghost += 1;
            } else if let Some((from, 7, 40007, got)) = wire::udp_in(&frame, me.ip) {
                if from == target.ip && got == data {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    };
    // The first may go unanswered while the stack asks for our address.
    let mut seq = 0;
    while !echo(image, seq)? {
        seq += 1;
        ensure!(
            seq < 20,
            "no UDP echo on the wire before the ghost's datagram"
        );
    }
    image
        .wire
        .as_mut()
        .context("the image has no `wire` NIC")?
        .send(&wire::udp_frame(ghost, target, 40077, 7, b"ghost"))?;
    let sent = Instant::now();
    let resumed = loop {
        seq += 1;
        if echo(image, seq)? {
            break sent.elapsed();
        }
        ensure!(
            sent.elapsed() < RESUME_WITHIN,
            "no UDP echo for {} s after one datagram from {} (which never answers ARP; the \
             stack asked for it {asked_for_ghost} times): its answer blocks the echo's socket",
            RESUME_WITHIN.as_secs(),
            ghost.ip
        );
    };
    let mut answered = 0;
    for _ in 0..10 {
        seq += 1;
        answered += u32::from(echo(image, seq)?);
    }
    println!(
        "    the echo answered again {:.1} s after the ghost's datagram, then {answered} of 10; \
         the stack asked for the ghost {asked_for_ghost} times",
        resumed.as_secs_f64()
    );
    ensure!(
        answered == 10,
        "after the echo came back, only {answered} of 10 echoes were answered"
    );
    ensure!(
        asked_for_ghost > 0,
        "the stack never asked for {}: its answer did not wait for it, so the check did not test the wait",
        ghost.ip
    );
    let dropped = image.net_figure(DROPPED)?;
    ensure!(
        dropped == dropped_before + 1,
        "the stack counts {dropped} dropped send queue(s), {dropped_before} before the ghost's \
         datagram: one expected"
    );
    Ok(())
}
