//! The task side: sockets through the net task, state from the supervisor.

use core::fmt::Write as _;

use abi::{TaskState, TaskStatus};
use idol_runtime::{RequestError, UserlibIpc};
use net_api::{NetClient, NetError};
use supervisor_api::SupervisorClient;
use task_http::conn::{self, Conn, Ending, Phase};
use task_http::out::Out;
use task_http::request::{self, Reject, MAX_HEAD};
use task_http::response::{self, reason};
use task_http::status::{self, DeviceRow, Name, NetRow, RestartRow, Snapshot, TaskRow};
use userlib::{sleep_ms, sys_get_timer, sys_log, sys_recv_notification, sys_set_timer, tasks};
use virtio::class::name as class_name;
use virtio_bus_api::{SlotState, VirtioBusClient, NO_DRIVER};

/// Notification bits, in app.toml order: `notifications = ["net", "timer"]`.
const NET_BIT: u32 = 1 << 0;
const TIMER_BIT: u32 = 1 << 1;

const PORT: u16 = 80;
/// Connections served at once; more wait in the listener's backlog.
const CONNS: usize = 4;
/// Tasks the page can show.
const MAX_TASKS: usize = 24;
/// Room for one response: headers and page.
const RESPONSE: usize = 12 * 1024;
/// Room for the page itself.
const BODY: usize = RESPONSE - 256;

/// The big buffers, apart from the stack: each connection's request head,
/// the response, and the body being built.
struct Buffers {
    heads: [[u8; MAX_HEAD]; CONNS],
    out: Out<RESPONSE>,
    body: Out<BODY>,
}

static mut BUFFERS: Buffers = Buffers {
    heads: [[0; MAX_HEAD]; CONNS],
    out: Out::new(),
    body: Out::new(),
};

struct Server {
    net: NetClient<UserlibIpc>,
    sup: SupervisorClient<UserlibIpc>,
    bus: VirtioBusClient<UserlibIpc>,
    listener: u32,
    conns: [Option<Conn>; CONNS],
    /// Request heads, and the response: one response buffer per
    /// connection would not fit, so a connection being answered holds
    /// `out` until its response is sent.
    bufs: &'static mut Buffers,
    out_owner: Option<usize>,
}

struct Restarted;

/// How one `tcp_recv` or `tcp_send` went, as the connection loop cares.
enum TcpStep {
    /// This many bytes moved (0 from `tcp_recv`: the peer closed).
    Moved(usize),
    /// Nothing can move now: come back on the next wake-up.
    Blocked,
    /// The connection is gone (reset, or a socket the stack no longer has).
    Closed,
}

/// Sorts a TCP call's outcome; the stack's restart ends the whole pass.
fn tcp_step(r: Result<u32, RequestError<NetError>>) -> Result<TcpStep, Restarted> {
    match r {
        Ok(n) => Ok(TcpStep::Moved(n as usize)),
        Err(RequestError::ServerRestarted | RequestError::ServerStopped) => Err(Restarted),
        Err(RequestError::Server(NetError::WouldBlock)) => Ok(TcpStep::Blocked),
        Err(_) => Ok(TcpStep::Closed),
    }
}

fn now_ms() -> u64 {
    sys_get_timer().now / userlib::abi::TICKS_PER_MS
}

fn name_of(st: &TaskStatus) -> Name {
    Name::from_nul_padded(&st.name)
}

impl Server {
    fn open(&mut self) {
        let mut failures = 0u32;
        loop {
            let r = (|| -> Result<u32, RequestError<NetError>> {
                self.net.subscribe(NET_BIT)?;
                self.net.tcp_listen(PORT, 4)
            })();
            match r {
                Ok(listener) => {
                    self.listener = listener;
                    self.conns = [const { None }; CONNS];
                    self.out_owner = None;
                    sys_log!("listening on TCP port {PORT}");
                    return;
                }
                Err(RequestError::Server(NetError::NotAllowed)) => {
                    // app.toml does not change while the image runs.
                    sys_log!(
                        "TCP port {PORT} is not granted to this task in app.toml (the net \
                         task's `ports`); not serving"
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
                        sys_log!("could not listen ({e:?}); retrying quietly");
                    }
                    if failures >= 2 {
                        sleep_ms(200, TIMER_BIT);
                    }
                }
            }
        }
    }

    /// Writes the whole response for `target` into `self.out`.
    fn respond(&mut self, method: &str, target: &str) {
        let (code, ctype) = request::route(method, target);
        let mut tasks_buf = [TaskRow::default(); MAX_TASKS];
        let mut devices_buf = [DeviceRow::default(); 8];
        let mut restarts_buf = [RestartRow::default(); abi::RESTARTS_KEPT];
        let body = &mut self.bufs.body;
        body.clear();
        if code == 200 {
            // Task names by index, for the restarts.
            let mut names = [Name::default(); MAX_TASKS];
            let mut n = 0;
            if let Ok(count) = self.sup.task_count() {
                for i in 0..(count as usize).min(MAX_TASKS) {
                    if let Ok(st) = self.sup.task_status(i as u32) {
                        names[i] = name_of(&st);
                        tasks_buf[n] = TaskRow {
                            name: name_of(&st),
                            state: TaskState::from_u32(st.state).map_or("?", |s| s.describe()),
                            priority: st.priority,
                            generation: st.generation,
                            faults: st.fault_count,
                            last_fault: if st.fault_count > 0 {
                                st.last_fault.kind().describe()
                            } else {
                                ""
                            },
                            throttles: st.throttles,
                        };
                        n += 1;
                    }
                }
            }
            // The supervisor's log, oldest first, each restart once even
            // if the supervisor makes one while we read (reading it by
            // index showed one restart twice). A failed read shows none.
            let mut r = 0;
            if let Ok(log) = self.sup.restarts() {
                for (row, rec) in restarts_buf.iter_mut().zip(log.records()) {
                    *row = RestartRow {
                        name: names.get(rec.task as usize).copied().unwrap_or_default(),
                        generation: rec.generation,
                        at_ms: rec.at_ms,
                        cause: rec.cause().map_or("?", |c| c.describe()),
                    };
                    r += 1;
                }
            }
            let mut d = 0;
            if let Ok(table) = self.bus.devices() {
                for (slot, e) in table.slots.iter().enumerate() {
                    if e.device_id == 0 || d == devices_buf.len() {
                        continue;
                    }
                    let driver = (e.driver != NO_DRIVER)
                        .then(|| self.sup.task_status(e.driver).ok().map(|st| name_of(&st)))
                        .flatten();
                    devices_buf[d] = DeviceRow {
                        slot: slot as u32,
                        class: class_name(e.device_id),
                        transport: e.version,
                        state: SlotState::from_u32(e.state).describe(),
                        driver,
                    };
                    d += 1;
                }
            }
            let snap = Snapshot {
                uptime_ms: now_ms(),
                tasks: &tasks_buf[..n],
                devices: &devices_buf[..d],
                restarts: &restarts_buf[..r],
                // Only the JSON shows them: one more call to the stack.
                net: if ctype == request::HTML {
                    None
                } else {
                    self.net.info().ok().map(|i| NetRow {
                        rx_frames: i.rx_frames,
                        tx_frames: i.tx_frames,
                        nic_restarts: i.nic_restarts,
                        udp_queues_dropped: i.udp_queues_dropped,
                        datagrams_reassembled: i.datagrams_reassembled,
                        datagrams_too_big: i.datagrams_too_big,
                        reassemblies_dropped: i.reassemblies_dropped,
                    })
                },
            };
            let _ = if ctype == request::HTML {
                status::html(&snap, body)
            } else {
                status::json(&snap, body)
            };
        } else {
            let _ = writeln!(body, "{}", reason(code));
        }
        self.bufs.out.clear();
        let _ = response::head(&mut self.bufs.out, code, ctype, body.len());
        if method != "HEAD" {
            let _ = self
                .bufs
                .out
                .write_str(core::str::from_utf8(body.as_bytes()).unwrap_or(""));
        }
    }

    fn error_response(&mut self, code: u16) {
        self.bufs.out.clear();
        let _ = response::error(&mut self.bufs.out, code);
    }

    /// Closes the connection in slot `k`, if there is one, and takes the
    /// response buffer back from it; whether there was.
    ///
    /// One still reading its request head is told why first (408, as
    /// Apache does): a slow but honest client — a `curl` on a loaded host,
    /// say — got an empty reply and could not tell it from a crash. The
    /// answer is a few bytes into an empty send buffer; if it does not fit,
    /// the close goes on without it.
    fn give_back(&mut self, k: usize) -> Result<bool, Restarted> {
        let Some(old) = self.conns[k].take() else {
            return Ok(false);
        };
        if matches!(old.phase, Phase::Reading { .. }) {
            if let Err(RequestError::ServerRestarted | RequestError::ServerStopped) =
                self.net.tcp_send(old.id, conn::GAVE_UP)
            {
                return Err(Restarted);
            }
        }
        self.end(&old)?;
        if self.out_owner == Some(k) {
            self.out_owner = None;
        }
        Ok(true)
    }

    /// Ends connection `c`'s socket: with a FIN, or with a reset if its
    /// answer is cut short (`Conn::ending`).
    fn end(&mut self, c: &Conn) -> Result<(), Restarted> {
        let r = match c.ending(self.bufs.out.len()) {
            Ending::Close => self.net.close(c.id),
            Ending::Abort => self.net.abort(c.id),
        };
        match r {
            Err(RequestError::ServerRestarted | RequestError::ServerStopped) => Err(Restarted),
            _ => Ok(()),
        }
    }

    /// One pass over the listener and every connection; true if anything
    /// moved.
    fn round(&mut self) -> Result<bool, Restarted> {
        let mut moved = false;
        let now = now_ms();
        // A free slot, or else one a connection has held too long without
        // earning it, if another connection is waiting for it.
        while let Some(k) = self
            .conns
            .iter()
            .position(Option::is_none)
            .or_else(|| conn::victim(&self.conns, now))
        {
            match self.net.tcp_accept(self.listener) {
                Ok(id) => {
                    self.give_back(k)?;
                    self.conns[k] = Some(Conn::accepted(id, now));
                    moved = true;
                }
                Err(RequestError::ServerRestarted)
                | Err(RequestError::ServerStopped)
                | Err(RequestError::Server(NetError::BadSocket)) => return Err(Restarted),
                Err(RequestError::Server(NetError::Crowded)) => {
                    // A client waits, but every socket we may hold is a
                    // connection: none listens, so no accept can succeed
                    // and make room by the rule above. Give back the slot
                    // the rule would take; its socket listens again at the
                    // next accept.
                    if let Some(v) = conn::yielding(&self.conns, now) {
                        moved |= self.give_back(v)?;
                    }
                    break;
                }
                Err(_) => break,
            }
        }
        for k in 0..CONNS {
            let Some(conn) = self.conns[k].as_mut() else {
                continue;
            };
            let id = conn.id;
            let mut done = false;
            match conn.phase {
                Phase::Reading { mut len } | Phase::Waiting { mut len } => {
                    let mut eof = false;
                    while matches!(conn.phase, Phase::Reading { .. }) && len < MAX_HEAD {
                        match tcp_step(self.net.tcp_recv(id, &mut self.bufs.heads[k][len..]))? {
                            TcpStep::Moved(0) | TcpStep::Closed => {
                                eof = true;
                                break;
                            }
                            TcpStep::Moved(n) => {
                                len += n;
                                conn.last_ms = now;
                                moved = true;
                            }
                            TcpStep::Blocked => break,
                        }
                    }
                    let verdict = request::parse(&self.bufs.heads[k][..len]);
                    let whole = !matches!(verdict, Err(Reject::Incomplete));
                    if !whole || self.out_owner.is_some() {
                        // Half a head reads on; a whole one waits for the
                        // response buffer, which another connection's
                        // answer holds, and has earned its place.
                        conn.phase = if whole {
                            Phase::Waiting { len }
                        } else {
                            Phase::Reading { len }
                        };
                        done = !whole && (eof || conn.expired(now));
                    } else {
                        let mut method = [0u8; 8];
                        let mut target = [0u8; 64];
                        let parsed = verdict.map(|r| {
                            let m = r.method.len().min(8);
                            method[..m].copy_from_slice(&r.method.as_bytes()[..m]);
                            let t = r.target.len().min(64);
                            target[..t].copy_from_slice(&r.target.as_bytes()[..t]);
                            (m, t)
                        });
                        match parsed {
                            Ok((m, t)) => {
                                let m = core::str::from_utf8(&method[..m]).unwrap_or("");
                                let t = core::str::from_utf8(&target[..t]).unwrap_or("");
                                self.respond(m, t);
                            }
                            Err(Reject::BadRequest) => self.error_response(400),
                            Err(Reject::TooLarge) => self.error_response(431),
                            Err(Reject::UriTooLong) => self.error_response(414),
                            Err(Reject::VersionNotSupported) => self.error_response(505),
                            // `whole`: not this one.
                            Err(Reject::Incomplete) => {}
                        }
                        self.out_owner = Some(k);
                        if let Some(c) = self.conns[k].as_mut() {
                            c.answer(now);
                        }
                        moved = true;
                    }
                }
                Phase::Sending { .. } => {}
            }
            // An answer goes out in the pass that made it: left for the
            // next, it met the slot rule (`conn::victim`) before a byte of
            // it was sent.
            let Some(conn) = self.conns[k].as_mut() else {
                continue;
            };
            if let Phase::Sending { mut sent } = conn.phase {
                let bytes = self.bufs.out.as_bytes();
                while sent < bytes.len() {
                    match tcp_step(self.net.tcp_send(id, &bytes[sent..]))? {
                        TcpStep::Moved(n) => {
                            sent += n;
                            conn.last_ms = now;
                            moved = true;
                        }
                        TcpStep::Blocked => break,
                        TcpStep::Closed => {
                            done = true;
                            break;
                        }
                    }
                }
                conn.phase = Phase::Sending { sent };
                if sent >= bytes.len() || conn.expired(now) {
                    done = true;
                }
            }
            if done {
                if let Some(c) = self.conns[k].take() {
                    self.end(&c)?;
                }
                if self.out_owner == Some(k) {
                    self.out_owner = None;
                }
                moved = true;
            }
        }
        Ok(moved)
    }
}

#[export_name = "main"]
fn main() -> ! {
    let mut server = Server {
        net: NetClient::new(UserlibIpc, tasks::NET),
        sup: SupervisorClient::new(UserlibIpc, tasks::SUPERVISOR),
        bus: VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR),
        listener: 0,
        conns: [const { None }; CONNS],
        // SAFETY: main runs once per incarnation and is the only code that
        // names BUFFERS; the one reference lives in `server` for good.
        bufs: unsafe { &mut *core::ptr::addr_of_mut!(BUFFERS) },
        out_owner: None,
    };
    server.open();
    loop {
        match server.round() {
            Ok(true) => continue,
            Ok(false) => {
                // Wake for the stack or an idle deadline.
                let t = now_ms() + 250;
                sys_set_timer(Some(t * userlib::abi::TICKS_PER_MS), TIMER_BIT);
                sys_recv_notification(NET_BIT | TIMER_BIT);
            }
            Err(Restarted) => {
                sys_log!("the net stack restarted; listening again");
                server.open();
            }
        }
    }
}
