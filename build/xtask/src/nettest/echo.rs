//! The echo service's checks: UDP, TCP, and many TCP clients at once, each
//! compared byte for byte.

use super::*;

/// The longest datagram the stack reassembles and echoes (task/net's
/// `net_api::MAX_DATAGRAM`).
const MAX_DATAGRAM: usize = 8192;

/// Datagrams of many sizes come back exactly, those longer than a frame
/// too (they come in IPv4 fragments: QEMU's user network cuts them); one
/// longer than the stack reassembles is counted in the shell's `net` and
/// does not come back, and the next one does. Before the stack
/// reassembled, 1,473 bytes never came back and nothing counted it.
pub(super) fn udp_echo(image: &mut Image) -> Result<()> {
    let addr = image.port("udp", 7)?;
    let sock = UdpSocket::bind((LOOPBACK, 0))?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut rng = image.rng(0x1234_5678_9abc_def1);
    for (i, len) in [
        1usize,
        7,
        64,
        512,
        1000,
        1472,
        300,
        1471,
        1473,
        2000,
        MAX_DATAGRAM,
    ]
    .iter()
    .enumerate()
    {
        let data = rng.bytes(*len);
        let mut ok = false;
        for _try in 0..3 {
            sock.send_to(&data, addr)?;
            let mut buf = [0u8; 2 * MAX_DATAGRAM];
            match sock.recv_from(&mut buf) {
                Ok((n, _)) if buf[..n] == data[..] => {
                    ok = true;
                    break;
                }
                Ok((n, _)) => bail!("datagram {i} ({len} bytes) came back as {n} other bytes"),
                Err(_) => continue, // lost: UDP may; try again
            }
        }
        ensure!(ok, "datagram {i} ({len} bytes) never came back");
    }
    let too_big = image.net_figure(TOO_BIG_DATAGRAMS)?;
    // One byte too long: dropped, then the next one of 2,000 bytes comes
    // back (smoltcp's own reassembly kept the first's fragments in its
    // only buffer for a minute and dropped every fragmented datagram
    // meanwhile), and nothing else comes back.
    sock.send_to(&rng.bytes(MAX_DATAGRAM + 1), addr)?;
    let next = rng.bytes(2000);
    sock.send_to(&next, addr)?;
    let mut buf = [0u8; 2 * MAX_DATAGRAM];
    let (n, _) = sock
        .recv_from(&mut buf)
        .context("the datagram after one too long never came back")?;
    ensure!(
        buf[..n] == next[..],
        "after a datagram too long, {n} bytes came back instead of the next one's 2000"
    );
    let after = image.net_figure(TOO_BIG_DATAGRAMS)?;
    ensure!(
        after == too_big + 1,
        "the datagram too long was counted {} times in the shell's `net`",
        after - too_big
    );
    // The status JSON counts it too.
    let (status, body) = http::get(image.port("tcp", 80)?, "/api/status")?;
    ensure!(status == 200, "GET /api/status answered {status}");
    let v: serde_json::Value =
        serde_json::from_str(&body).with_context(|| format!("not JSON: {body}"))?;
    ensure!(
        v["net"]["datagrams_too_big"] == after,
        "/api/status's net.datagrams_too_big is {}, the shell's `net` {after}",
        v["net"]["datagrams_too_big"]
    );
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    if let Ok((n, _)) = sock.recv_from(&mut buf) {
        bail!("{n} bytes came back that were not asked for");
    }
    Ok(())
}

/// What the shell's `net` prints before its count of fragmented datagrams
/// dropped for being too long.
const TOO_BIG_DATAGRAMS: &str = " reassembled, ";

/// Datagrams sent at once, faster than the echo can answer them.
const UDP_BURST: usize = 48;

/// A burst of [`UDP_BURST`] datagrams sent without waiting all come back,
/// each exactly once and byte for byte. The stack takes in every frame the
/// NIC has before the echo runs again (it outranks its clients), so the
/// burst must fit in the socket's receive queue (task/net's
/// `UDP_RX_PACKETS`): with 8 there, 8 of the 48 came back.
pub(super) fn udp_burst(image: &Image) -> Result<()> {
    let addr = image.port("udp", 7)?;
    let sock = UdpSocket::bind((LOOPBACK, 0))?;
    sock.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut rng = image.rng(0x0bad_cafe_f00d_d00d);
    let sent: Vec<Vec<u8>> = (0..UDP_BURST)
        .map(|i| {
            let mut d = (i as u16).to_be_bytes().to_vec();
            d.extend(rng.bytes(198));
            d
        })
        .collect();
    for d in &sent {
        sock.send_to(d, addr)?;
    }
    let mut seen = [false; UDP_BURST];
    let mut buf = [0u8; 2048];
    while let Ok((n, _)) = sock.recv_from(&mut buf) {
        let i = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
        ensure!(
            n >= 2 && i < UDP_BURST && buf[..n] == sent[i][..],
            "a datagram of {n} bytes came back that was not sent"
        );
        ensure!(!seen[i], "datagram {i} came back twice");
        seen[i] = true;
    }
    let back = seen.iter().filter(|&&s| s).count();
    ensure!(
        back == UDP_BURST,
        "{back} of a burst of {UDP_BURST} datagrams came back"
    );
    Ok(())
}

/// How long the datagram flood of [`udp_flood`] lasts.
const FLOOD: Duration = Duration::from_secs(6);

/// A peer that sends each datagram the moment the last came back, as fast
/// as the echo answers, must not keep the page server from its pages: it
/// got 9 pages in 20 s (each after 0.3 to 5.5 s) before the echo paced
/// its answers (`task/echo/src/pace.rs`: 2,000 a second). Needs at least
/// 50 pages in the flood's first 5 s (some 700 come), the flood answered
/// (evidence it ran) and no faster than the pace allows.
pub(super) fn udp_flood(image: &Image) -> Result<()> {
    let udp = image.port("udp", 7)?;
    let page = image.port("tcp", 80)?;
    let flood = std::thread::spawn(move || -> Result<(u64, Duration)> {
        let sock = UdpSocket::bind((LOOPBACK, 0))?;
        sock.set_read_timeout(Some(Duration::from_millis(500)))?;
        let start = Instant::now();
        let mut answered = 0u64;
        let mut buf = [0u8; 256];
        while start.elapsed() < FLOOD {
            sock.send_to(&[0x5a; 100], udp)?;
            if sock.recv_from(&mut buf).is_ok() {
                answered += 1;
            }
        }
        Ok((answered, start.elapsed()))
    });
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let mut pages = 0;
    while start.elapsed() < Duration::from_secs(5) {
        let (status, _) = http::get(page, "/api/status")?;
        ensure!(status == 200, "a page during the flood answered {status}");
        pages += 1;
    }
    let (answered, took) = flood
        .join()
        .map_err(|_| anyhow::anyhow!("the flood panicked"))??;
    let rate = answered as f64 / took.as_secs_f64();
    println!("    {pages} pages in 5 s under a datagram flood answered {rate:.0} a second");
    ensure!(
        answered >= 200,
        "the flood got {answered} answers in {took:?}: it did not run"
    );
    ensure!(
        rate <= 2600.0,
        "the echo answered {rate:.0} datagrams a second: more than its pace (2,000, bursts of 64)"
    );
    ensure!(
        pages >= 50,
        "{pages} pages in 5 s while a peer flooded the echo with datagrams"
    );
    Ok(())
}

/// Bulk transfers through the echo must not keep the page server, as
/// important as the echo, from its pages. The echo calls the stack at
/// every step and never waits while the transfers last; the scheduler
/// gave the turn back to it after each call (it went round from the task
/// that trapped), and a page took 8.7 s or timed out. Needs 20 pages in
/// the 5 s of four transfers (some 50 come), and the transfers to move.
pub(super) fn tcp_bulk_pages(image: &Image) -> Result<()> {
    let echo = image.port("tcp", 7)?;
    let page = image.port("tcp", 80)?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let streams: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || -> Result<u64> {
                let s = http::connect(echo)?;
                let mut reader = s.try_clone()?;
                let counter = std::thread::spawn(move || {
                    let mut buf = vec![0u8; 65536];
                    let mut n = 0u64;
                    while let Ok(k) = reader.read(&mut buf) {
                        if k == 0 {
                            break;
                        }
                        n += k as u64;
                    }
                    n
                });
                let chunk = vec![0xa5u8; 65536];
                let mut w = s;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    w.write_all(&chunk)?;
                }
                w.shutdown(Shutdown::Write)?;
                counter
                    .join()
                    .map_err(|_| anyhow::anyhow!("reader panicked"))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let mut pages = 0;
    while start.elapsed() < Duration::from_secs(5) {
        let (status, _) = http::get(page, "/api/status")?;
        ensure!(
            status == 200,
            "a page during the transfers answered {status}"
        );
        pages += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut echoed = 0;
    for s in streams {
        echoed += s
            .join()
            .map_err(|_| anyhow::anyhow!("a transfer panicked"))??;
    }
    println!("    {pages} pages in 5 s under four bulk transfers ({echoed} bytes echoed)");
    ensure!(
        echoed >= 4 << 20,
        "the transfers moved {echoed} bytes: they did not run"
    );
    ensure!(
        pages >= 20,
        "{pages} pages in 5 s during four bulk echo transfers"
    );
    Ok(())
}

/// A little xorshift generator: test data that differs in every byte.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    /// The stream a check whose own constant is `base` draws under the
    /// run's `seed`: `base` xor `seed`, so the default seed 0 keeps every
    /// check's data as it was (a zero state, which would give only zero
    /// bytes, is taken as 1).
    pub(super) fn seeded(base: u64, seed: u64) -> Rng {
        Rng((base ^ seed).max(1))
    }

    pub(super) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 24) as u8
            })
            .collect()
    }
}

/// A connection to the echo at `addr` that has already carried one round
/// trip, for a check that then breaks something under it.
pub(super) fn open_echo(addr: SocketAddr) -> Result<std::net::TcpStream> {
    let mut s = connect(addr)?;
    s.write_all(b"before")?;
    let mut buf = [0u8; 6];
    s.read_exact(&mut buf)?;
    anyhow::ensure!(&buf == b"before", "echo before the fault: {buf:?}");
    Ok(s)
}

/// Pushes `data` through the echo at `addr` and returns what came back;
/// `pace` spreads the sending over at least that long.
pub(super) fn echo_through(
    addr: SocketAddr,
    data: &[u8],
    pace: Option<Duration>,
) -> Result<Vec<u8>> {
    echo_on(connect(addr)?, data, pace)
}

/// [`echo_through`] on a connection that is already open.
pub(super) fn echo_on(
    s: std::net::TcpStream,
    data: &[u8],
    pace: Option<Duration>,
) -> Result<Vec<u8>> {
    // Generous: every driver restart loses frames, and QEMU's user-network
    // TCP (the image's peer) backs its retransmissions off exponentially,
    // up to a minute or so after a burst of faults.
    s.set_read_timeout(Some(Duration::from_secs(150)))?;
    s.set_write_timeout(Some(Duration::from_secs(150)))?;
    let mut reader = s.try_clone()?;
    let n = data.len();
    let back = std::thread::spawn(move || -> Result<Vec<u8>> {
        let mut got = Vec::with_capacity(n);
        let mut buf = vec![0u8; 65536];
        while got.len() < n {
            let k = reader
                .read(&mut buf)
                .with_context(|| format!("after {} of {n} bytes came back", got.len()))?;
            ensure!(
                k > 0,
                "the connection closed after {} of {n} bytes",
                got.len()
            );
            got.extend_from_slice(&buf[..k]);
        }
        Ok(got)
    });
    let mut w = s;
    let start = Instant::now();
    for (i, chunk) in data.chunks(16 * 1024).enumerate() {
        w.write_all(chunk).context("sending")?;
        if let Some(pace) = pace {
            let due = pace.mul_f64((i + 1) as f64 * chunk.len() as f64 / n as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    let got = back
        .join()
        .map_err(|_| anyhow::anyhow!("the reader panicked"))??;
    let _ = w.shutdown(Shutdown::Both);
    Ok(got)
}

pub(super) fn sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// 4 MiB of random bytes through the TCP echo, compared by SHA-256.
pub(super) fn tcp_echo(image: &Image) -> Result<()> {
    let addr = image.port("tcp", 7)?;
    let data = image.rng(0xfeed_5eed_0bad_cafe).bytes(4 << 20);
    let t = Instant::now();
    let got = echo_through(addr, &data, None)?;
    let (want, have) = (sha256(&data), sha256(&got));
    ensure!(want == have, "sent sha256 {want}, got back {have}");
    println!(
        "    4 MiB TCP echo in {:.1} s of wall time",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo xtask bench`'s transfer: `n` random bytes through the TCP echo
/// at `addr` on one connection, which is then closed (the bench echo
/// reports its figures at the close); fails unless every byte came back.
pub fn bench_transfer(addr: SocketAddr, n: usize) -> Result<()> {
    let data = Rng(0xbe4c_4e70_0ec4_0001).bytes(n);
    let got = echo_through(addr, &data, None)?;
    ensure!(
        got == data,
        "{n} bytes sent, {} came back and differ at byte {}",
        got.len(),
        got.iter().zip(&data).take_while(|(a, b)| a == b).count()
    );
    Ok(())
}

/// Eight connections at once, each byte-exact.
///
/// They are opened one by one, each carrying a round trip before the next
/// is opened, and only then carry their transfers together: this check is
/// about the transfers. (It was also the workaround for QEMU's user
/// network, which listens for a forward with a backlog of one, libslirp's
/// `listen(s, 1)`: a burst of connects overflowed that queue, the host
/// answered with SYN cookies and reset a connection whose first data
/// segment the full queue dropped, before the image ever saw it. xtask's
/// relay in front of the forward, `relay.rs`, now takes such bursts;
/// `http-burst` checks it.)
pub(super) fn tcp_parallel(image: &Image) -> Result<()> {
    let addr = image.port("tcp", 7)?;
    let seed = image.seed;
    let conns = (0..8u64)
        .map(|i| open_echo(addr).with_context(|| format!("opening connection {i}")))
        .collect::<Result<Vec<_>>>()?;
    let workers: Vec<_> = conns
        .into_iter()
        .zip(0..8u64)
        .map(|(s, i)| {
            std::thread::spawn(move || -> Result<()> {
                let data = Rng::seeded(0x9e37_79b9_7f4a_7c15 ^ (i + 1), seed).bytes(192 * 1024);
                let got = echo_on(s, &data, None)?;
                ensure!(
                    sha256(&got) == sha256(&data),
                    "connection {i}: echo differs"
                );
                Ok(())
            })
        })
        .collect();
    for (i, w) in workers.into_iter().enumerate() {
        w.join()
            .map_err(|_| anyhow::anyhow!("connection {i}: thread panicked"))?
            .with_context(|| format!("connection {i}"))?;
    }
    Ok(())
}

/// Whether the echo has closed `s`: a byte sent comes back as the end of
/// the stream (or a reset) rather than as itself. An error if neither
/// happens within `wait`.
fn closed_by_echo(s: &mut std::net::TcpStream, wait: Duration) -> Result<bool> {
    s.set_read_timeout(Some(wait))?;
    if s.write_all(b"?").is_err() {
        return Ok(true);
    }
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => Ok(true),
        Ok(_) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(true),
        Err(e) => Err(e).context("neither the byte nor the end of the stream came back"),
    }
}

/// Eight clients that connect and fall silent hold every place the echo
/// has; a ninth is served once the most silent has been so for 5 s
/// (task/echo's `IDLE_EVICT_MS`), and that one is closed. Connections that
/// keep talking keep their places while a client waits 8 s (they have
/// held them for less than task/echo's `HOLD_EVICT_MS`, 20 s:
/// `tcp-echo-talkers` waits that out).
pub(super) fn tcp_echo_waiting(image: &Image) -> Result<()> {
    let addr = image.port("tcp", 7)?;
    // The first falls silent first: it is the one to go. Its silence is
    // timed from its echo's return (the echo's last word on it), so that
    // the check below does not depend on how long the round trips on the
    // others take on a loaded host: once they took 1.7 s, and the ninth,
    // rightly served 5 s into the silence, had waited only 2.2 s of it.
    let first = open_echo(addr).context("opening connection 0")?;
    let silent_since = Instant::now();
    let mut held = std::iter::once(Ok(first))
        .chain((1..8).map(|i| open_echo(addr).with_context(|| format!("opening connection {i}"))))
        .collect::<Result<Vec<_>>>()?;
    std::thread::sleep(Duration::from_millis(500));
    for (i, s) in held.iter_mut().enumerate().skip(1) {
        ensure!(
            !closed_by_echo(s, Duration::from_secs(5))?,
            "connection {i} closed while nobody waited"
        );
    }
    let t = Instant::now();
    let mut ninth = connect(addr)?;
    ninth.write_all(b"ninth")?;
    let mut buf = [0u8; 5];
    ninth
        .read_exact(&mut buf)
        .context("the ninth client was never served (8 silent connections hold the echo)")?;
    let (waited, silent) = (t.elapsed(), silent_since.elapsed());
    ensure!(&buf == b"ninth", "the ninth client got {buf:?}");
    ensure!(
        silent >= Duration::from_millis(4500),
        "the ninth client was served after {waited:?}, {silent:?} into the first connection's silence: a connection silent for less than 5 s gave up its place"
    );
    ensure!(
        closed_by_echo(&mut held[0], Duration::from_secs(5))?,
        "the ninth client was served but the most silent connection is still open"
    );
    for (i, s) in held.iter_mut().enumerate().skip(1) {
        ensure!(
            !closed_by_echo(s, Duration::from_secs(5))?,
            "connection {i} was closed too (only the most silent should be)"
        );
    }
    // Now all eight places are taken by connections that keep talking
    // (every 500 ms): a tenth waits 8 s without being served, and none of
    // them is closed.
    held[0] = ninth;
    let mut tenth = connect(addr)?;
    tenth.write_all(b"tenth")?;
    tenth.set_read_timeout(Some(Duration::from_millis(100)))?;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(8) {
        for (i, s) in held.iter_mut().enumerate() {
            ensure!(
                !closed_by_echo(s, Duration::from_secs(5))?,
                "talking connection {i} was closed for a waiting client"
            );
        }
        let mut b = [0u8; 5];
        match tenth.read(&mut b) {
            Ok(n) => bail!("the tenth client was served ({n} bytes) while every place was in use"),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => bail!("the tenth client: {e}"),
        }
        std::thread::sleep(Duration::from_millis(400));
    }
    // Silence again: the tenth gets its place.
    tenth.set_read_timeout(Some(Duration::from_secs(15)))?;
    let mut b = [0u8; 5];
    tenth
        .read_exact(&mut b)
        .context("the tenth client was never served once the others fell silent")?;
    ensure!(&b == b"tenth", "the tenth client got {b:?}");
    Ok(())
}

/// Eight clients that keep talking (a byte every 500 ms, each echoed) hold
/// every place the echo has; a ninth is served once the first of them has
/// held its place for 20 s (task/echo's `HOLD_EVICT_MS`), and only that one
/// is closed. Before, talking clients held the echo for as long as they
/// liked.
pub(super) fn tcp_echo_talkers(image: &Image) -> Result<()> {
    const HOLD: Duration = Duration::from_secs(20);
    let addr = image.port("tcp", 7)?;
    let opened = Instant::now();
    let mut held = (0..8)
        .map(|i| {
            let s = open_echo(addr).with_context(|| format!("opening connection {i}"))?;
            std::thread::sleep(Duration::from_millis(100));
            Ok(s)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut ninth = connect(addr)?;
    ninth.write_all(b"ninth")?;
    ninth.set_nonblocking(true)?;
    let asked = Instant::now();
    let mut got = Vec::new();
    // Talk on every connection still open until the ninth is served.
    let mut open = [true; 8];
    while got.len() < 5 {
        ensure!(
            opened.elapsed() < HOLD + Duration::from_secs(15),
            "the ninth client was not served in {:.1} s: eight talking connections hold the echo",
            asked.elapsed().as_secs_f64()
        );
        for (i, s) in held.iter_mut().enumerate() {
            if open[i] && closed_by_echo(s, Duration::from_secs(5))? {
                open[i] = false;
                ensure!(
                    opened.elapsed() >= HOLD - Duration::from_millis(1500),
                    "talking connection {i} was closed after {:.1} s, before it held its place for 20 s",
                    opened.elapsed().as_secs_f64()
                );
            }
        }
        let mut b = [0u8; 5];
        match ninth.read(&mut b) {
            Ok(0) => bail!("the echo closed the waiting ninth client"),
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => bail!("the ninth client: {e}"),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    ensure!(got == b"ninth", "the ninth client got {got:?}");
    let waited = asked.elapsed();
    ensure!(
        waited >= Duration::from_secs(15),
        "the ninth client was served after {:.1} s: a talking connection gave up its place early",
        waited.as_secs_f64()
    );
    // The first accepted went, and only it.
    ensure!(
        closed_by_echo(&mut held[0], Duration::from_secs(5))?,
        "the ninth client was served but the first connection is still open"
    );
    for (i, s) in held.iter_mut().enumerate().skip(1) {
        ensure!(
            !closed_by_echo(s, Duration::from_secs(5))?,
            "talking connection {i} was closed too (only the first should be)"
        );
    }
    println!(
        "    a ninth client waited {:.1} s for eight talking connections",
        waited.as_secs_f64()
    );
    Ok(())
}

/// Eight clients that send and never read their echo hold every place the
/// echo has, with bytes it cannot send back (few bytes move once their
/// windows are shut); a ninth is served all the same (task/echo's
/// `evict`). Without that, it waited for good.
pub(super) fn tcp_echo_non_readers(image: &Image) -> Result<()> {
    let addr = image.port("tcp", 7)?;
    let mut held = (0..8)
        .map(|i| open_echo(addr).with_context(|| format!("opening connection {i}")))
        .collect::<Result<Vec<_>>>()?;
    for s in &held {
        s.set_nonblocking(true)?;
    }
    // Each sends until nothing more goes in for a second, on any of them:
    // every buffer on the way and back (the echo's, the stack's, QEMU's,
    // the relay's, ours) is full.
    let chunk = vec![0x5au8; 64 * 1024];
    let start = Instant::now();
    let accepted = Instant::now();
    let mut last_moved = Instant::now();
    let mut sent = 0usize;
    while last_moved.elapsed() < Duration::from_secs(1) {
        for (i, s) in held.iter_mut().enumerate() {
            match s.write(&chunk) {
                Ok(n) => {
                    sent += n;
                    if n > 0 {
                        last_moved = Instant::now();
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => bail!("non-reading client {i} was cut off with nobody waiting: {e}"),
            }
        }
        ensure!(
            start.elapsed() < Duration::from_secs(60),
            "eight clients that never read still had their bytes taken after 60 s ({sent} bytes)"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let t = Instant::now();
    let mut ninth = connect(addr)?;
    ninth.write_all(b"ninth")?;
    let mut buf = [0u8; 5];
    ninth.read_exact(&mut buf).with_context(|| {
        format!(
            "the ninth client was never served: eight clients that never read \
             ({sent} bytes sent) hold the echo"
        )
    })?;
    ensure!(&buf == b"ninth", "the ninth client got {buf:?}");
    // Served once the most silent has moved no byte for 5 s, or at the
    // latest once the first accepted has held its place for 20 s
    // (`HOLD_EVICT_MS`): bytes can still trickle through a shut window
    // (QEMU and the relay take a little now and then), and each keeps a
    // non-reader active. A clean-clone CI run saw 16.8 s after the fill,
    // the hold rule's case; 15 s measured from the fill did not allow for
    // it. The bound is the hold rule's, from the accepts, with a second to
    // spare — or at once, with that second, if the ninth asked only after
    // it (a loaded host's fill took 23 s, and the ninth, served 0.0 s
    // after it asked, failed a bound from the accepts).
    let served = accepted.elapsed();
    let asked = t.duration_since(accepted);
    let bound = asked.max(Duration::from_secs(20)) + Duration::from_secs(1);
    ensure!(
        served < bound,
        "the ninth client was served only {:.1} s after the eight were accepted ({:.1} s after it asked)",
        served.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Rng;

    /// Under the default seed every check draws what it drew before the
    /// seed existed (`Rng(base)`); under another, other data.
    #[test]
    fn the_default_seed_keeps_each_checks_data_and_another_changes_it() {
        for base in [77, 0x6a7b_a6e0, 0xfeed_5eed_0bad_cafe] {
            let committed = Rng(base).bytes(64);
            let seeded = Rng::seeded(base, crate::nettest::DEFAULT_SEED).bytes(64);
            assert_eq!(seeded, committed, "base {base:#x}");
            assert_ne!(Rng::seeded(base, 5).bytes(64), committed, "base {base:#x}");
        }
        // A seed that cancels the base still draws data, not zeros.
        assert!(Rng::seeded(77, 77).bytes(64).iter().any(|&b| b != 0));
    }
}
