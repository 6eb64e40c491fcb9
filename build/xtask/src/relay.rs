//! TCP forwards relayed through xtask: the host's clients connect to a
//! listener of ours on 127.0.0.1, and each connection is carried to QEMU's
//! `hostfwd` on another 127.0.0.1 port, one connect at a time.
//!
//! Why: QEMU's user network listens for a forward with a backlog of one.
//! A burst of clients overflows it; the host's kernel drops their SYNs
//! (or answers with cookies it then cannot honour), and each waits out
//! its SYN retry — 1 s, 3 s, 7 s — before it reaches the image: 50
//! parallel `curl`s of the status page took up to 7.4 s, 200 lost a third
//! to a 20 s timeout, with the image idle. Our listener takes a burst
//! whole; its connects to QEMU come one at a time, and one whose SYN QEMU's
//! full backlog dropped anyway is tried afresh after 25 ms instead of the
//! kernel's second. At most [`IN_FLIGHT`] connections per forward are
//! carried at once, so the image is fed what it can take; one the image
//! has ended (closed or reset) no longer counts, whatever its client does.
//!
//! Bytes are copied both ways as they come; a side's end of stream is
//! passed on as a half close (`shutdown(Write)`), and a reset as a reset,
//! so connections behave as without the relay: a client never takes a
//! connection the image cut short for one that ended. Everything here
//! binds 127.0.0.1 only.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::net::LOOPBACK;

/// How long a connection waits for QEMU's forward to listen (at start-up).
const CONNECT_PATIENCE: Duration = Duration::from_secs(10);
/// How long one connect to QEMU's forward may take before it is given up
/// and tried afresh. On the loopback a handshake takes microseconds; one
/// that takes longer lost its SYN to a full backlog (QEMU had not yet
/// accepted the one before), and the kernel would send it again only
/// after a second.
const CONNECT_TRY: Duration = Duration::from_millis(25);
/// The pause after each connect to QEMU, holding the turn: QEMU accepts
/// from its backlog of one at its next poll, well within this.
const CONNECT_PACE: Duration = Duration::from_millis(1);

/// Connections one forward carries to QEMU at once; more wait in our
/// listener's queue (the kernel's, 128 deep) until one ends. It stays
/// under what the image takes at once for a port (the page server: 4
/// connections, 4 listening sockets, and 16 SYNs the stack keeps), so a
/// burst is fed to the image as it can take it rather than dropped there
/// and sent again by QEMU seconds later.
const IN_FLIGHT: usize = 16;

/// A count of connections in flight, with a wait for room.
#[derive(Default)]
struct Room {
    used: Mutex<usize>,
    freed: Condvar,
}

impl Room {
    /// Waits until fewer than [`IN_FLIGHT`] are carried, and takes a place.
    fn take(&self) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used >= IN_FLIGHT {
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += 1;
    }

    fn give_back(&self) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        *used = used.saturating_sub(1);
        self.freed.notify_one();
    }
}

/// The relays of one run. Dropping it stops taking new connections; those
/// already carried go on until either side closes.
#[must_use = "dropping the relays closes the forwards' listeners"]
#[derive(Default)]
pub struct Relays {
    stop: Arc<AtomicBool>,
    listeners: Vec<JoinHandle<()>>,
}

impl Relays {
    /// Carries connections to `listener` over to 127.0.0.1:`qemu_port`.
    pub fn add(&mut self, listener: TcpListener, qemu_port: u16) -> io::Result<()> {
        listener.set_nonblocking(true)?;
        let stop = self.stop.clone();
        let upstream = SocketAddr::from((LOOPBACK, qemu_port));
        // One connect to QEMU at a time, per forward, and at most
        // IN_FLIGHT connections carried.
        let turn = Arc::new(Mutex::new(()));
        let room = Arc::new(Room::default());
        self.listeners.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (turn, room) = (turn.clone(), room.clone());
                        std::thread::spawn(move || {
                            room.take();
                            carry(client, upstream, &turn, &room);
                        });
                    }
                    // None waiting (or a failed accept): look again soon.
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }));
        Ok(())
    }
}

impl Drop for Relays {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.listeners.drain(..) {
            let _ = t.join();
        }
    }
}

/// One connection: connect to QEMU (in turn), then copy both ways. Its
/// place in `room` is given back once the image has ended its side: a
/// client that reads the answer and then keeps its own side open must not
/// hold a place (sixteen such kept every later client from the image, and
/// so from the image's chance to reclaim their sockets).
fn carry(client: TcpStream, upstream: SocketAddr, turn: &Mutex<()>, room: &Room) {
    if reset_while_waiting(&client) {
        room.give_back();
        return;
    }
    let _ = client.set_nonblocking(false);
    let server = match connect(upstream, turn) {
        Upstream::Open(server) => Some(server),
        Upstream::Reset => {
            // The image took the connection and reset it at once: so
            // does the client's, rather than reach a connection the image
            // never saw.
            // (A zero linger makes the close below abortive; a shutdown
            // would send an end of stream first.)
            let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
            room.give_back();
            return;
        }
        Upstream::Unreachable => None,
    };
    let clones = server.as_ref().map(|s| (client.try_clone(), s.try_clone()));
    let (Some(server), Some((Ok(client2), Ok(server2)))) = (server, clones) else {
        let _ = client.shutdown(Shutdown::Both);
        room.give_back();
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let up = std::thread::spawn(move || pipe(client2, server2));
    pipe(server, client);
    room.give_back();
    let _ = up.join();
}

/// Whether the client reset its connection while it waited for a place:
/// carried, it would hand the image a connection of nobody's, taking a
/// socket and a place in its backlog. A hundred clients that connected,
/// asked for the page and reset at once delayed the next page by 6 s,
/// the image's backlog still full of them 20 s later (a user's finding).
/// A client that only half-closed (sent its request, then its end of
/// stream) is carried: its request is still to be answered.
fn reset_while_waiting(client: &TcpStream) -> bool {
    if client.set_nonblocking(true).is_err() {
        return false;
    }
    let peeked = client.peek(&mut [0u8; 1]);
    let _ = client.set_nonblocking(false);
    matches!(peeked, Err(e) if !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted))
}

/// What became of a connection to QEMU's forward.
enum Upstream {
    /// Open: carry it.
    Open(TcpStream),
    /// Established and reset before the connect returned (the image reset
    /// it at once). Trying again would carry the client to a second
    /// connection instead, one the image never meant to answer.
    Reset,
    /// QEMU did not listen within [`CONNECT_PATIENCE`].
    Unreachable,
}

/// Connects to QEMU's forward, waiting for it to listen; the turn is held
/// through the connect and a short pace after it.
fn connect(upstream: SocketAddr, turn: &Mutex<()>) -> Upstream {
    let start = Instant::now();
    loop {
        let attempt = {
            let _turn = turn.lock().unwrap_or_else(|e| e.into_inner());
            let s = connect_once(upstream);
            std::thread::sleep(CONNECT_PACE);
            s
        };
        match attempt {
            Ok(s) => return Upstream::Open(s),
            // (On the loopback a connect nobody takes is refused, never
            // reset.)
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Upstream::Reset,
            // A lost SYN: at once again.
            Err(e) if e.kind() == io::ErrorKind::TimedOut && start.elapsed() < CONNECT_PATIENCE => {
            }
            // Refused: QEMU does not listen yet.
            Err(_) if start.elapsed() < CONNECT_PATIENCE => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(_) => return Upstream::Unreachable,
        }
    }
}

/// One connect to QEMU's forward, given up after [`CONNECT_TRY`] unless
/// it is established by then. The clock is ours, not the handshake's: on
/// a busy machine this thread may run again only after the handshake
/// completed. Such a connection is taken, not dropped; dropping it
/// left QEMU (and a test's server) an extra connection, opened and
/// closed, while the client's bytes went over the next one.
fn connect_once(upstream: SocketAddr) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(upstream),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    match socket.connect_timeout(&upstream.into(), CONNECT_TRY) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::TimedOut && socket.peer_addr().is_ok() => {
            socket.set_nonblocking(false)?;
        }
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}

/// Copies `from` to `to` until `from` ends. Its end of stream is passed on
/// as a half close. A reset (or any error) is passed on as a reset: a
/// client must not take a connection cut short for one that ended.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return abort(&from, &to);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return abort(&to, &from),
        }
    }
}

/// `dead`'s peer reset the connection (or is gone): `live`'s peer gets a
/// reset too, when the last handle of `live` is dropped (a zero linger
/// makes that close abortive), and both directions stop: the other
/// direction's read of `live` ends at once.
fn abort(live: &TcpStream, dead: &TcpStream) {
    let _ = socket2::SockRef::from(live).set_linger(Some(Duration::ZERO));
    let _ = live.shutdown(Shutdown::Read);
    let _ = dead.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A relay in front of `server`'s port; the relay's port.
    fn relay_to(server: &TcpListener) -> (Relays, u16) {
        let front = TcpListener::bind((LOOPBACK, 0)).unwrap();
        let port = front.local_addr().unwrap().port();
        let mut relays = Relays::default();
        relays
            .add(front, server.local_addr().unwrap().port())
            .unwrap();
        (relays, port)
    }

    #[test]
    fn bytes_and_half_closes_cross_both_ways() {
        let server = TcpListener::bind((LOOPBACK, 0)).unwrap();
        let (_relays, port) = relay_to(&server);
        let echo = std::thread::spawn(move || {
            // An echo that answers only once the client half-closed.
            let (mut s, _) = server.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            s.write_all(&got).unwrap();
        });
        let mut c = TcpStream::connect((LOOPBACK, port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        assert!(back == data, "{} bytes back of {}", back.len(), data.len());
        echo.join().unwrap();
    }

    #[test]
    fn a_burst_of_connections_each_gets_its_own_bytes_back() {
        let server = TcpListener::bind((LOOPBACK, 0)).unwrap();
        let (_relays, port) = relay_to(&server);
        let n = 64;
        let acceptor = std::thread::spawn(move || {
            for _ in 0..n {
                let (mut s, _) = server.accept().unwrap();
                std::thread::spawn(move || {
                    let mut b = [0u8; 2];
                    if s.read_exact(&mut b).is_ok() {
                        let _ = s.write_all(&b);
                    }
                });
            }
        });
        let clients: Vec<_> = (0..n)
            .map(|k: u16| {
                std::thread::spawn(move || {
                    let mut c = TcpStream::connect((LOOPBACK, port)).unwrap();
                    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    c.write_all(&k.to_le_bytes()).unwrap();
                    let mut b = [0u8; 2];
                    c.read_exact(&mut b).unwrap();
                    assert_eq!(u16::from_le_bytes(b), k);
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        acceptor.join().unwrap();
    }

    #[test]
    fn a_closed_server_ends_the_clients_stream() {
        let server = TcpListener::bind((LOOPBACK, 0)).unwrap();
        let (_relays, port) = relay_to(&server);
        let mut c = TcpStream::connect((LOOPBACK, port)).unwrap();
        let (s, _) = server.accept().unwrap();
        drop(s);
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 4];
        assert_eq!(c.read(&mut b).unwrap(), 0, "end of stream");
    }

    /// A client that keeps its side open after the server ended the
    /// connection does not hold a place: more such clients than
    /// [`IN_FLIGHT`] each still reach the server.
    #[test]
    fn a_connection_the_server_ended_gives_back_its_place() {
        let server = TcpListener::bind((LOOPBACK, 0)).unwrap();
        let (_relays, port) = relay_to(&server);
        let n = IN_FLIGHT + 4;
        let acceptor = std::thread::spawn(move || {
            for _ in 0..n {
                let (mut s, _) = server.accept().unwrap();
                s.write_all(b"page").unwrap();
                // Dropped: the server's side ends (a FIN).
            }
        });
        let mut kept = Vec::new();
        for k in 0..n {
            let mut c = TcpStream::connect((LOOPBACK, port)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got)
                .unwrap_or_else(|e| panic!("client {k} of {n}: {e}"));
            assert_eq!(got, b"page", "client {k} of {n}");
            // Neither closed nor shut down: held open.
            kept.push(c);
        }
        acceptor.join().unwrap();
    }

    /// A client that reset its connection while it waited for a place is
    /// not carried to the server; a live one behind it is.
    #[test]
    fn a_client_that_reset_while_waiting_is_not_carried() {
        let server = TcpListener::bind((LOOPBACK, 0)).unwrap();
        let (_relays, port) = relay_to(&server);
        // Every place taken by a connection both ends hold open.
        let mut held = Vec::new();
        for _ in 0..IN_FLIGHT {
            let c = TcpStream::connect((LOOPBACK, port)).unwrap();
            let (s, _) = server.accept().unwrap();
            held.push((c, s));
        }
        // One client resets while it waits, a live one waits behind it.
        let dead = TcpStream::connect((LOOPBACK, port)).unwrap();
        socket2::SockRef::from(&dead)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(dead);
        let mut live = TcpStream::connect((LOOPBACK, port)).unwrap();
        live.write_all(b"live").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // Two places free up: only the live client may come through.
        for _ in 0..2 {
            let (c, s) = held.pop().unwrap();
            drop(s);
            drop(c);
        }
        server.set_nonblocking(true).unwrap();
        // Until a moment after the live one came (or 5 s on a busy host).
        let mut carried = Vec::new();
        let start = Instant::now();
        let mut live_at = None;
        while start.elapsed() < Duration::from_secs(5)
            && live_at.is_none_or(|t: Instant| t.elapsed() < Duration::from_millis(300))
        {
            match server.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    let mut b = [0u8; 4];
                    carried.push(s.read_exact(&mut b).map(|()| b).ok());
                    if carried.last() == Some(&Some(*b"live")) {
                        live_at = Some(Instant::now());
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        assert_eq!(carried, vec![Some(*b"live")], "what reached the server");
    }

    /// Resets cross as resets, both ways.
    #[test]
    fn a_reset_reaches_the_other_side_as_a_reset() {
        let server = TcpListener::bind((LOOPBACK, 0)).unwrap();
        let (_relays, port) = relay_to(&server);
        let reset = |s: TcpStream| {
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(s);
        };
        // The server resets: the client's read fails.
        let mut c = TcpStream::connect((LOOPBACK, port)).unwrap();
        let (s, _) = server.accept().unwrap();
        reset(s);
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 4];
        let e = c.read(&mut b).expect_err("a reset, not an end of stream");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
        // The client resets: the server's read fails.
        let c = TcpStream::connect((LOOPBACK, port)).unwrap();
        let (mut s, _) = server.accept().unwrap();
        reset(c);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let e = s.read(&mut b).expect_err("a reset, not an end of stream");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    }
}
