//! QEMU's user network for images with `[[qemu.nics]]`: free host ports for
//! the forwards (a TCP forward's port held by xtask's relay in front of
//! QEMU's, see `relay.rs`), the `-netdev`/`-device` arguments, and the line
//! that tells a person where the image's services are.
//!
//! Every forward listens on 127.0.0.1 only: nothing here may ever name
//! another host address, so an image is never reachable from the network.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};

use anyhow::{Context, Result};

use crate::config::App;
use crate::relay::Relays;

/// The only host address a forward listens on.
pub const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Gives every forward with `host = 0` a port that is free on 127.0.0.1
/// now (the OS picks it), and every wire its two ports. A TCP forward's
/// `host` port is then held by xtask's relay (`relay.rs`), which carries
/// each connection to QEMU's `hostfwd` on a second free port
/// (`qemu_port`); the relays live as long as the value returned. A UDP
/// forward's port QEMU binds itself a moment later; another program could
/// take it in between, in which case QEMU says so and exits.
pub fn resolve_ports(app: &mut App) -> Result<Relays> {
    let mut relays = Relays::default();
    for nic in &mut app.qemu.nics {
        if nic.wire && nic.wire_ports.is_none() {
            nic.wire_ports = Some((free_udp_port()?, free_udp_port()?));
        }
        for f in &mut nic.forwards {
            if f.proto == "udp" {
                if f.host == 0 {
                    f.host = free_udp_port()?;
                }
                continue;
            }
            let listener = TcpListener::bind((LOOPBACK, f.host))
                .with_context(|| format!("listening on TCP 127.0.0.1:{}", f.host))?;
            f.host = listener.local_addr()?.port();
            f.qemu_port = free_tcp_port()?;
            relays
                .add(listener, f.qemu_port)
                .context("starting a forward's relay")?;
        }
    }
    Ok(relays)
}

fn free_tcp_port() -> Result<u16> {
    Ok(TcpListener::bind((LOOPBACK, 0))
        .and_then(|s| s.local_addr())
        .context("finding a free TCP port on 127.0.0.1")?
        .port())
}

fn free_udp_port() -> Result<u16> {
    Ok(UdpSocket::bind((LOOPBACK, 0))
        .and_then(|s| s.local_addr())
        .context("finding a free UDP port on 127.0.0.1")?
        .port())
}

/// `-netdev user,…,hostfwd=… -device virtio-net-device,netdev=…` per NIC.
/// A `wire` NIC gets QEMU's UDP socket backend instead: every frame goes
/// as one datagram between its two 127.0.0.1 ports.
/// Ports must be resolved ([`resolve_ports`]); a forward still at 0 is left
/// out rather than given to QEMU to guess.
pub fn qemu_args(app: &App) -> Vec<String> {
    let mut args = Vec::new();
    for (n, nic) in app.qemu.nics.iter().enumerate() {
        if nic.wire {
            // Unresolved ports: no NIC at all rather than a guess.
            let Some((qemu_end, test_end)) = nic.wire_ports else {
                continue;
            };
            args.extend([
                "-netdev".to_string(),
                format!(
                    "socket,id=nic{n},udp={LOOPBACK}:{test_end},localaddr={LOOPBACK}:{qemu_end}"
                ),
                "-device".to_string(),
                format!("virtio-net-device,netdev=nic{n}"),
            ]);
            continue;
        }
        let mut netdev = format!("user,id=nic{n}");
        for f in nic.forwards.iter().filter(|f| f.host != 0) {
            // A relayed TCP forward: QEMU listens behind the relay.
            let port = if f.qemu_port != 0 {
                f.qemu_port
            } else {
                f.host
            };
            netdev.push_str(&format!(
                ",hostfwd={}:{LOOPBACK}:{port}-:{}",
                f.proto, f.guest
            ));
        }
        args.extend([
            "-netdev".to_string(),
            netdev,
            "-device".to_string(),
            format!("virtio-net-device,netdev=nic{n}"),
        ]);
    }
    args
}

/// The host port forwarded to `guest` over `proto` on the first NIC that
/// has one (after [`resolve_ports`]).
pub fn host_port(app: &App, proto: &str, guest: u16) -> Option<u16> {
    app.qemu
        .nics
        .iter()
        .flat_map(|n| &n.forwards)
        .find(|f| f.proto == proto && f.guest == guest && f.host != 0)
        .map(|f| f.host)
}

/// What `cargo xtask run` prints once the image is up: the HTTP address
/// first (`net: http://127.0.0.1:PORT/`), then every other forward.
pub fn summary(app: &App) -> Vec<String> {
    let forwards: Vec<_> = app.qemu.nics.iter().flat_map(|n| &n.forwards).collect();
    // The ports the stack's `config` grants (`task:proto/port ...`), if
    // the image has a stack: a forward to a port no task may bind reaches
    // nothing, and the line says so rather than promise a page.
    let granted: Option<Vec<(String, u16)>> = app
        .tasks
        .iter()
        .find_map(|t| t.config.get("ports"))
        .map(|ports| {
            ports
                .split_whitespace()
                .filter_map(|g| {
                    let (_, rest) = g.split_once(':')?;
                    let (proto, port) = rest.split_once('/')?;
                    Some((proto.to_string(), port.parse().ok()?))
                })
                .collect()
        });
    let note = |f: &crate::config::Forward| match &granted {
        Some(g) if !g.iter().any(|(p, n)| *p == f.proto && *n == f.guest) => format!(
            " (nothing answers: {} port {} is granted to no task in the stack's `ports`)",
            f.proto, f.guest
        ),
        _ => String::new(),
    };
    let mut lines = Vec::new();
    for f in forwards.iter().filter(|f| f.name == "http") {
        lines.push(format!("net: http://{LOOPBACK}:{}/{}", f.host, note(f)));
    }
    for f in forwards.iter().filter(|f| f.name != "http") {
        let name = if f.name.is_empty() { "port" } else { &f.name };
        lines.push(format!(
            "net: {name} {}://{LOOPBACK}:{} (port {} in the image){}",
            f.proto,
            f.host,
            f.guest,
            note(f)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{qemu_args, resolve_ports, summary};
    use crate::config::tests::BASE;
    use crate::config::App;

    fn fixture_app(extra: &str) -> App {
        App::parse(&format!("{BASE}{extra}"), Path::new("t.toml")).expect("valid app")
    }

    const NIC: &str = "\n[[qemu.nics]]\nforwards = [\
        { proto = \"tcp\", guest = 80, name = \"http\" },\
        { proto = \"udp\", guest = 7, host = 5555, name = \"echo\" }]\n";

    #[test]
    fn forwards_listen_on_loopback_only_with_free_ports() {
        let mut app = fixture_app(NIC);
        let _relays = resolve_ports(&mut app).unwrap();
        let http = app.qemu.nics[0].forwards[0].host;
        let behind = app.qemu.nics[0].forwards[0].qemu_port;
        assert_ne!(http, 0, "a free port was chosen");
        assert!(
            behind != 0 && behind != http,
            "QEMU listens behind the relay"
        );
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", http)).is_err(),
            "the relay holds the public port"
        );
        assert_eq!(app.qemu.nics[0].forwards[1].host, 5555, "fixed ports stay");
        let args = qemu_args(&app).join(" ");
        assert_eq!(
            args,
            format!(
                "-netdev user,id=nic0,hostfwd=tcp:127.0.0.1:{behind}-:80,hostfwd=udp:127.0.0.1:5555-:7 \
                 -device virtio-net-device,netdev=nic0"
            )
        );
        for fwd in args.split("hostfwd=").skip(1) {
            assert!(fwd.split(':').nth(1) == Some("127.0.0.1"), "{fwd}");
        }
        let lines = summary(&app);
        assert_eq!(lines[0], format!("net: http://127.0.0.1:{http}/"));
        assert!(lines[1].contains("udp://127.0.0.1:5555"), "{lines:?}");
    }

    /// A forward to a port the stack grants no task reaches nothing: the
    /// line says so (a user's image without `http` in `ports` was still
    /// offered its page).
    #[test]
    fn a_forward_to_a_port_no_task_is_granted_says_so() {
        // (pong as the stack: only task-net reads `ports`.)
        let text = format!("{BASE}{NIC}\n[tasks.pong.config]\nports = \"pong:udp/7\"\n")
            .replace("crate = \"pong\"", "crate = \"task-net\"");
        let app = App::parse(&text, Path::new("t.toml")).expect("valid app");
        let lines = summary(&app);
        assert!(
            lines[0].ends_with(
                "(nothing answers: tcp port 80 is granted to no task in the stack's `ports`)"
            ),
            "{lines:?}"
        );
        assert!(!lines[1].contains("nothing answers"), "{lines:?}");
    }

    #[test]
    fn a_wire_is_a_udp_link_between_two_loopback_ports() {
        let mut app = fixture_app("\n[[qemu.nics]]\nwire = true\n");
        assert!(qemu_args(&app).is_empty(), "no ports yet: no guessing");
        let _relays = resolve_ports(&mut app).unwrap();
        let (qemu_end, test_end) = app.qemu.nics[0].wire_ports.expect("ports");
        assert_ne!(qemu_end, test_end);
        assert_eq!(
            qemu_args(&app).join(" "),
            format!(
                "-netdev socket,id=nic0,udp=127.0.0.1:{test_end},localaddr=127.0.0.1:{qemu_end} \
                 -device virtio-net-device,netdev=nic0"
            )
        );
        let bad = App::parse(
            &format!("{BASE}\n[[qemu.nics]]\nwire = true\nforwards = [{{ proto = \"tcp\", guest = 80 }}]\n"),
            Path::new("t.toml"),
        );
        assert!(bad.is_err(), "a wire with forwards");
    }

    #[test]
    fn unresolved_ports_never_reach_qemu() {
        let app = fixture_app(NIC);
        let args = qemu_args(&app).join(" ");
        assert!(!args.contains(":0-:"), "{args}");
        assert!(args.contains("hostfwd=udp:127.0.0.1:5555-:7"));
    }
}
