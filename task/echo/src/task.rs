//! The echo service (RFC 862) on TCP and UDP port 7: every byte that
//! arrives goes back to its sender. Up to [`CONNS`] TCP connections at once;
//! more wait in the listener's backlog.
//!
//! A connection keeps its place for as long as it likes while nobody else
//! waits; when all are taken and a client waits, the stillest, or else the
//! one that has held its place longest, may have to make room
//! (`task_echo::evict`; it is closed with a FIN, and what its peer left
//! unread is lost with it).
//!
//! Datagrams are answered at most `task_echo::pace::PER_SECOND` a second
//! (see there why). One longer than the largest the stack sends
//! (`net_api::MAX_DATAGRAM`, 8,192 bytes) would come back cut, so it is
//! not answered.
//!
//! It only ever talks to the net task, and never blocks in a call: it
//! waits for the stack's readiness notification between rounds. When the
//! stack restarts, every socket is gone: it opens them again.

use idol_runtime::{RequestError, UserlibIpc};
use net_api::{NetClient, NetError, MAX_DATAGRAM};
use task_echo::{evict, pace::Bucket};
use userlib::{sleep_ms, sys_get_timer, sys_log, sys_recv_notification, sys_set_timer, tasks};

/// Notification bits, in app.toml order: `notifications = ["net", "timer"]`.
const NET_BIT: u32 = 1 << 0;
const TIMER_BIT: u32 = 1 << 1;

const PORT: u16 = 7;
/// TCP connections served at once.
const CONNS: usize = 8;
/// Bytes read from a connection before they are echoed.
const CHUNK: usize = 4096;
/// Reads of one connection in a round (see `round`).
const READS_PER_ROUND: usize = 8;

#[derive(Copy, Clone)]
struct Conn {
    id: u32,
    /// Bytes read and not yet sent back: `buf[sent..len]`.
    len: usize,
    sent: usize,
    /// When a byte last moved either way (ms since boot).
    active_ms: u64,
    /// When it was accepted (ms since boot).
    accepted_ms: u64,
    /// Bench images: where the connection started (guest clock ticks,
    /// retired instructions) and the bytes it echoed.
    #[cfg(feature = "bench")]
    start: (u64, u64),
    #[cfg(feature = "bench")]
    bytes: u64,
}

struct Echo {
    net: NetClient<UserlibIpc>,
    udp: u32,
    /// Answers to datagrams left (see `task_echo::pace`).
    pace: Bucket,
    /// The last round stopped answering datagrams for want of answers:
    /// some may be waiting.
    paced: bool,
    listener: u32,
    conns: [Option<Conn>; CONNS],
    bufs: &'static mut [[u8; CHUNK]; CONNS],
    /// The datagram being answered.
    dgram: &'static mut [u8; MAX_DATAGRAM],
}

/// Each connection's bytes in transit (too big for the stack).
static mut BUFS: [[u8; CHUNK]; CONNS] = [[0; CHUNK]; CONNS];
/// The datagram being answered (as big as the stack's longest: too big
/// for the stack too).
static mut DGRAM: [u8; MAX_DATAGRAM] = [0; MAX_DATAGRAM];

/// The stack restarted: every socket must be opened again.
struct Restarted;

fn now_ms() -> u64 {
    sys_get_timer().now / userlib::abi::TICKS_PER_MS
}

fn check<T>(r: Result<T, RequestError<NetError>>) -> Result<Option<T>, Restarted> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(RequestError::ServerRestarted | RequestError::ServerStopped) => Err(Restarted),
        Err(RequestError::Server(NetError::WouldBlock)) => Ok(None),
        Err(RequestError::Server(NetError::BadSocket)) => Err(Restarted),
        Err(RequestError::Server(_) | RequestError::Protocol(_)) => Ok(None),
    }
}

impl Echo {
    /// The taken place to free for a waiting client, if one is due
    /// (`evict::to_free`).
    fn to_free(&self, now: u64) -> Option<usize> {
        let places = self.conns.iter().enumerate().filter_map(|(index, c)| {
            let c = c.as_ref()?;
            Some(evict::Place {
                index,
                active_ms: c.active_ms,
                accepted_ms: c.accepted_ms,
            })
        });
        evict::to_free(now, places)
    }

    /// Subscribes and opens the sockets, retrying until the stack answers.
    fn open(&mut self) {
        let mut failures = 0u32;
        loop {
            let r = (|| -> Result<(u32, u32), RequestError<NetError>> {
                self.net.subscribe(NET_BIT)?;
                let udp = self.net.udp_bind(PORT)?;
                match self.net.tcp_listen(PORT, CONNS as u32) {
                    Ok(listener) => Ok((udp, listener)),
                    Err(e) => {
                        // Or the retry would find the port taken by itself.
                        let _ = self.net.close(udp);
                        Err(e)
                    }
                }
            })();
            match r {
                Ok((udp, listener)) => {
                    self.udp = udp;
                    self.listener = listener;
                    self.conns = [None; CONNS];
                    sys_log!("listening on TCP and UDP port {PORT}");
                    return;
                }
                Err(RequestError::Server(NetError::NotAllowed)) => {
                    // app.toml does not change while the image runs.
                    sys_log!(
                        "port {PORT} is not granted to this task in app.toml (the net task's \
                         `ports`); not serving"
                    );
                    loop {
                        sys_recv_notification(0);
                    }
                }
                // The first failure after the stack restarted is the client
                // learning its new id: try again at once. After that the
                // stack is down (waiting out its restart backoff, or given
                // up on) or full: say so once, not at every retry, which
                // would bury the shell's console.
                Err(e) => {
                    failures += 1;
                    if failures == 2 {
                        sys_log!("could not open sockets ({e:?}); retrying quietly");
                    }
                    if failures >= 2 {
                        sleep_ms(200, TIMER_BIT);
                    }
                }
            }
        }
    }

    /// One pass over every socket; true if anything moved.
    fn round(&mut self) -> Result<bool, Restarted> {
        // One reading of the clock per round (a syscall), not per transfer.
        let now = now_ms();
        let mut moved = false;
        let dgram = &mut self.dgram[..];
        self.paced = false;
        loop {
            if !self.pace.take(now) {
                // The rest wait in the stack's queue for the socket.
                self.paced = true;
                break;
            }
            let Some(d) = check(self.net.udp_recv_from(self.udp, dgram))? else {
                // Nothing was waiting: the answer taken is not spent.
                self.pace.give_back();
                break;
            };
            moved = true;
            // `dgram` holds the most the stack sends (MAX_DATAGRAM), and
            // the stack reassembles no longer datagram, yet one could
            // arrive unfragmented: smoltcp checks the MTU only on the way
            // out. Echoing its start would answer with a datagram the
            // peer never sent, so it goes unanswered, as if lost. Its
            // answer is spent all the same: a flood of them is held to
            // the pace like any other.
            if d.cut() {
                continue;
            }
            let n = (d.len as usize).min(dgram.len());
            check(self.net.udp_send_to(self.udp, d.addr, d.port, &dgram[..n]))?;
        }
        for k in 0..CONNS {
            let Some(mut c) = self.conns[k] else { continue };
            let buf = &mut self.bufs[k];
            let mut open = true;
            // At most this many reads of one connection per round: a peer
            // that keeps its side full would otherwise keep the round, and
            // the other connections and the datagrams waited (answers to
            // datagrams came seconds late under four bulk transfers).
            let mut reads = 0;
            loop {
                if c.sent < c.len {
                    match self.net.tcp_send(c.id, &buf[c.sent..c.len]) {
                        Ok(n) => {
                            c.sent += n as usize;
                            c.active_ms = now;
                            #[cfg(feature = "bench")]
                            {
                                c.bytes += u64::from(n);
                            }
                            moved = true;
                            continue;
                        }
                        Err(RequestError::Server(NetError::WouldBlock)) => break,
                        Err(RequestError::ServerRestarted | RequestError::ServerStopped) => {
                            return Err(Restarted)
                        }
                        Err(_) => {
                            open = false;
                            break;
                        }
                    }
                }
                if reads == READS_PER_ROUND {
                    break;
                }
                reads += 1;
                match self.net.tcp_recv(c.id, &mut buf[..]) {
                    Ok(0) => {
                        open = false;
                        break;
                    }
                    Ok(n) => {
                        c.len = n as usize;
                        c.sent = 0;
                        c.active_ms = now;
                        moved = true;
                    }
                    Err(RequestError::Server(NetError::WouldBlock)) => break,
                    Err(RequestError::ServerRestarted | RequestError::ServerStopped) => {
                        return Err(Restarted)
                    }
                    Err(_) => {
                        open = false;
                        break;
                    }
                }
            }
            if open {
                self.conns[k] = Some(c);
            } else {
                #[cfg(feature = "bench")]
                bench::report(&c);
                check(self.net.close(c.id))?;
                self.conns[k] = None;
                moved = true;
            }
        }
        // After the connections were read, so that one whose bytes have
        // just arrived is not taken for still.
        loop {
            let Some(k) = self
                .conns
                .iter()
                .position(Option::is_none)
                .or_else(|| self.to_free(now))
            else {
                break;
            };
            let id = match self.net.tcp_accept(self.listener) {
                Err(RequestError::Server(NetError::Crowded)) => {
                    // A client waits, but every socket we may hold is a
                    // connection, so none listens and no accept can make
                    // room by the rule above (a free place is no use):
                    // give back the place that rule would free.
                    if let Some(v) = self.to_free(now) {
                        if let Some(old) = self.conns[v].take() {
                            check(self.net.close(old.id))?;
                            moved = true;
                        }
                    }
                    break;
                }
                r => match check(r)? {
                    Some(id) => id,
                    None => break,
                },
            };
            moved = true;
            if let Some(old) = self.conns[k].take() {
                // A client waited, and this connection was the stillest or
                // had held its place long enough (`evict`).
                check(self.net.close(old.id))?;
            }
            self.conns[k] = Some(Conn {
                id,
                len: 0,
                sent: 0,
                active_ms: now,
                accepted_ms: now,
                #[cfg(feature = "bench")]
                start: (sys_get_timer().now, userlib::instret()),
                #[cfg(feature = "bench")]
                bytes: 0,
            });
        }
        Ok(moved)
    }
}

/// Bench images only (feature `bench`): each TCP connection's echo
/// throughput, reported when the peer closes it, as `[bench]` lines named by
/// the task's `config = { bench = "NAME", baseline = "NAME" }`.
#[cfg(feature = "bench")]
mod bench {
    use super::Conn;
    use userlib::{instret, sys_get_timer, sys_log};

    /// Connections that echoed fewer bytes (a probe, a stray) say nothing.
    const MIN_BYTES: u64 = 64 * 1024;

    /// The value of `key` in the task's `VIREO_CONFIG` (`k=v;k=v`).
    fn setting(key: &str) -> Option<&'static str> {
        option_env!("VIREO_CONFIG")?
            .split(';')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.trim_matches('"'))
    }

    /// Prints the connection's figures: MB/s of the guest clock (virtual
    /// under `-icount shift=0`) from accept to the peer's close, and retired
    /// instructions (every task and the kernel) per KiB echoed, then tells
    /// the bench runner this image is done.
    pub(super) fn report(c: &Conn) {
        if c.bytes < MIN_BYTES {
            return;
        }
        let name = setting("bench").unwrap_or("tcp_echo");
        let ticks = (sys_get_timer().now - c.start.0).max(1);
        let instructions = instret() - c.start.1;
        // bytes / (ticks / TICKS_PER_MS) per ms = bytes * TICKS_PER_MS /
        // ticks per ms; MB/s = that * 1000 / 1e6, in hundredths.
        let centi = c.bytes * userlib::abi::TICKS_PER_MS * 100_000 / ticks / 1_000_000;
        let per_kib = instructions * 1024 / c.bytes;
        let (whole, frac) = (centi / 100, centi % 100);
        sys_log!(
            "{name}: {} bytes in {} ticks, {instructions} instructions",
            c.bytes,
            ticks
        );
        match setting("baseline") {
            Some(b) => {
                sys_log!("[bench] {name}_mb_per_s {whole}.{frac:02} MB/s baseline={b}_mb_per_s");
                sys_log!(
                    "[bench] {name}_instructions_per_kib {per_kib} instructions baseline={b}_instructions_per_kib"
                );
            }
            None => {
                sys_log!("[bench] {name}_mb_per_s {whole}.{frac:02} MB/s");
                sys_log!("[bench] {name}_instructions_per_kib {per_kib} instructions");
            }
        }
        sys_log!("[test] done");
    }
}

#[export_name = "main"]
fn main() -> ! {
    let mut echo = Echo {
        net: NetClient::new(UserlibIpc, tasks::NET),
        udp: 0,
        pace: Bucket::new(now_ms()),
        paced: false,
        listener: 0,
        conns: [None; CONNS],
        // SAFETY: main runs once per incarnation and is the only code that
        // names BUFS; the one reference lives in `echo` for good.
        bufs: unsafe { &mut *core::ptr::addr_of_mut!(BUFS) },
        // SAFETY: as for BUFS: only main names DGRAM, and the one
        // reference lives in `echo` for good.
        dgram: unsafe { &mut *core::ptr::addr_of_mut!(DGRAM) },
    };
    echo.open();
    loop {
        match echo.round() {
            Ok(true) => continue,
            Ok(false) => {
                // Wait for the stack, or for the next answer to datagrams
                // held back; a timer makes sure a lost notification only
                // costs a second.
                let at_ms = if echo.paced {
                    echo.pace.next_ms()
                } else {
                    now_ms() + 1000
                };
                sys_set_timer(Some(at_ms * userlib::abi::TICKS_PER_MS), TIMER_BIT);
                sys_recv_notification(NET_BIT | TIMER_BIT);
            }
            Err(Restarted) => {
                sys_log!("the net stack restarted; opening sockets again");
                echo.open();
            }
        }
    }
}
