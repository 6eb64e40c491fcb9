//! The stack: smoltcp's interface over the NIC driver, the socket server,
//! DHCP with the static fallback, and readiness notifications.

#[cfg(not(feature = "linked-nic"))]
use ethernet_api::EthernetClient;
use ethernet_api::{Batch, EthernetError, MAX_RECV, MAX_SEND, RECV_BATCH_BYTES, SEND_BATCH_BYTES};
use idol_runtime::{
    Leased, NotificationHandler, Read, RequestError, Served, ServerError, TaskId, UserlibIpc, Write,
};
use net_api::{Datagram, NetError, NetInfo};
use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, SocketHandle, SocketSet, SocketStorage,
};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::socket::{dhcpv4, tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address, Ipv4Cidr,
};
use task_net::fragmenter::Fragmenter;
use task_net::ports::{self, Grant, Proto};
use task_net::reassembly::{Reassembly, SLOTS, SLOT_BYTES};
use task_net::settings::Settings;
use task_net::share;
use task_net::syn::SynGuard;
use task_net::table::{Owner, Table};
use task_net::txwatch::TxWatch;
#[cfg(not(feature = "linked-nic"))]
use userlib::tasks;
use userlib::{sys_get_timer, sys_log, sys_post, sys_set_timer};

// `PORTS`: app.toml's grants, checked and resolved to task indices by the
// build script.
include!(concat!(env!("OUT_DIR"), "/ports.rs"));

mod net_server {
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/net_server.rs"));
}
use net_server::*;

/// What the stack's handlers return: a value, a [`NetError`] for the
/// client, or a refusal of its message.
type Net<T> = Served<T, NetError>;

mod handshake;
#[cfg(feature = "linked-nic")]
mod linked;
mod nic;
mod server;
mod udp_tx;

use handshake::{HANDSHAKE_SWEEP_MS, SYN_GUARD, SYN_GUARD_LISTENERS};

/// Frames one round of the stack takes from the driver at most (Linux's
/// NAPI budget): the rest wait in the driver (and then the device, whose
/// queue drops what it cannot hold) while the calls waiting are served.
/// A flood of 1,472-byte datagrams to the UDP echo, about 26,000 a second
/// with no limit, left every caller unserved until it ended: no echo, one
/// status page in 9.3 s, the shell's `net` waiting for it.
const RX_ROUND_FRAMES: u32 = 32;

/// Notification bits, in app.toml order: `notifications = ["nic", "timer"]`.
const NIC_BIT: u32 = 1 << 0;
const TIMER_BIT: u32 = 1 << 1;
/// A linked driver's bus bits (remove, probe), after those two.
#[cfg(feature = "linked-nic")]
const LINKED_BITS: u32 = linked::REMOVE_BIT | linked::PROBE_BIT;
#[cfg(not(feature = "linked-nic"))]
const LINKED_BITS: u32 = 0;

/// The longest the stack sleeps: it also looks at the NIC this often, which
/// is how it notices a restarted driver that lost its subscription.
const MAX_SLEEP_MS: u64 = 200;
/// How often a stack that started without its NIC's MAC asks for it.
const MAC_RETRY_MS: u64 = 50;
/// Asks for the MAC at start-up before the stack serves without it
/// (one per `MAC_RETRY_MS`: a second, for a driver still probing).
#[cfg(not(feature = "linked-nic"))]
const MAC_WAIT_TRIES: u32 = 20;
/// The interface's address until the driver tells the MAC: locally
/// administered and unicast, as smoltcp requires.
#[cfg(not(feature = "linked-nic"))]
const STAND_IN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0];

/// TCP sockets (connections, and listeners' pools of sockets in LISTEN).
const TCP_SOCKETS: usize = share::SOCKETS;
/// Bytes of each TCP socket's receive and send buffer (the window).
const TCP_BUF: usize = 8192;
/// UDP sockets: one per UDP port app.toml grants, at most.
const UDP_SOCKETS: usize = share::UDP_SOCKETS;
/// Datagrams, and bytes, a UDP socket holds for its owner to read. The
/// stack outranks its clients, so it takes in every frame the NIC has
/// before an owner runs again: a burst from a peer must fit here whole,
/// or what does not is dropped (UDP's way, but Linux holds some hundreds).
const UDP_RX_PACKETS: usize = 64;
const UDP_RX_BUF: usize = 16384;
/// Datagrams, and bytes, waiting to go out: the stack sends them in the
/// round after each call, so few are ever waiting; the longest datagram
/// must fit (smoltcp refuses one longer than the buffer for good).
const UDP_TX_PACKETS: usize = 8;
const UDP_TX_BUF: usize = net_api::MAX_DATAGRAM;
/// Client tasks that can subscribe to readiness: every task of the image
/// (a place per task index, so that no client's subscription can take
/// another's: a table of eight, first come first served, left a ninth
/// client with `NoSockets` and never told it its sockets were ready).
const SUBSCRIBERS: usize = TASKS;
/// Largest backlog of one listener.
const MAX_BACKLOG: u32 = 8;

static mut STORAGE: [SocketStorage<'static>; TCP_SOCKETS + UDP_SOCKETS + 1] =
    [SocketStorage::EMPTY; TCP_SOCKETS + UDP_SOCKETS + 1];
static mut TCP_RX: [[u8; TCP_BUF]; TCP_SOCKETS] = [[0; TCP_BUF]; TCP_SOCKETS];
static mut TCP_TX: [[u8; TCP_BUF]; TCP_SOCKETS] = [[0; TCP_BUF]; TCP_SOCKETS];
static mut UDP_RX: [[u8; UDP_RX_BUF]; UDP_SOCKETS] = [[0; UDP_RX_BUF]; UDP_SOCKETS];
static mut UDP_TX: [[u8; UDP_TX_BUF]; UDP_SOCKETS] = [[0; UDP_TX_BUF]; UDP_SOCKETS];
static mut UDP_RX_META: [[udp::PacketMetadata; UDP_RX_PACKETS]; UDP_SOCKETS] =
    [[udp::PacketMetadata::EMPTY; UDP_RX_PACKETS]; UDP_SOCKETS];
/// The NIC's batches of received and of outgoing frames.
static mut RX_BATCH: [u8; RECV_BATCH_BYTES] = [0; RECV_BATCH_BYTES];
static mut TX_BATCH: [u8; SEND_BATCH_BYTES] = [0; SEND_BATCH_BYTES];
/// The interface: it holds smoltcp's buffer for a datagram being cut into
/// fragments (8 KiB). In the stack's struct, built apart and moved in,
/// main's frame held it twice (28 KiB of stack: it overflowed 24).
static mut IFACE: core::mem::MaybeUninit<Interface> = core::mem::MaybeUninit::uninit();
/// The datagrams being reassembled (`task_net::reassembly`).
static mut REASSEMBLY: [[u8; SLOT_BYTES]; SLOTS] = [[0; SLOT_BYTES]; SLOTS];
/// A datagram to send, read from its sender's lease before smoltcp takes
/// it (too long for the stack).
static mut UDP_SEND: [u8; net_api::MAX_DATAGRAM] = [0; net_api::MAX_DATAGRAM];
static mut UDP_TX_META: [[udp::PacketMetadata; UDP_TX_PACKETS]; UDP_SOCKETS] =
    [[udp::PacketMetadata::EMPTY; UDP_TX_PACKETS]; UDP_SOCKETS];

/// What a socket id stands for.
#[derive(Copy, Clone, Debug)]
enum Sock {
    Udp(u8),
    Tcp(u8),
    /// A port with a pool of sockets in LISTEN (bit i: TCP socket i).
    Listener {
        port: u16,
        backlog: u8,
        pool: u32,
    },
}

/// The NIC, as smoltcp's device: frames through the driver's IPC. The
/// received frames are apart from the rest so that a received frame and
/// the token for its answer can be borrowed at once.
struct Nic {
    core: NicCore,
    rx: nic::RxBatch,
    /// Judges every received SYN before smoltcp does (`task_net::syn`):
    /// drops a held connection's repeat, keeps one over a full backlog.
    syn: SynGuard<SYN_GUARD, SYN_GUARD_LISTENERS>,
    /// Takes every received IPv4 fragment; hands on whole datagrams
    /// (`task_net::reassembly`).
    fragments: Reassembly<'static>,
}

/// Everything of the NIC but the receive buffer.
struct NicCore {
    #[cfg(not(feature = "linked-nic"))]
    eth: EthernetClient<UserlibIpc>,
    /// Bench images: the driver's library in this task instead.
    #[cfg(feature = "linked-nic")]
    eth: linked::LinkedEth,
    /// Frames to send, laid out as `tx_batch` says: sent at the end of each
    /// round or when full. What the driver refused with `QueueFull` waits
    /// here for its notification; nothing new is produced while it is full.
    tx: &'static mut [u8; SEND_BATCH_BYTES],
    tx_batch: Batch,
    /// While smoltcp cuts a datagram into fragments, only they go
    /// (`task_net::fragmenter`).
    fragmenter: Fragmenter,
    /// The driver may hold received frames: its notification (or the
    /// timer, in case one was missed) says so, and a batch that leaves none
    /// waiting says not.
    rx_waiting: bool,
    /// Frames the round may still take from the driver
    /// ([`RX_ROUND_FRAMES`] at its start).
    rx_budget: u32,
    /// The round stopped at its budget with frames perhaps still waiting:
    /// the next `recv` lets the callers in first (see [`RX_ROUND_FRAMES`]).
    rx_busy: bool,
    rx_frames: u32,
    tx_frames: u32,
    /// The driver's incarnations that ended, as far as the stack has seen.
    restarts: u32,
    /// The driver's incarnations the stack counted and subscribed to.
    #[cfg(not(feature = "linked-nic"))]
    incarnations: task_net::incarnation::Incarnations,
    /// The driver restarted (or never heard of us): subscribe again.
    resubscribe: bool,
}

/// A client subscribed to readiness: its id, bits, and the readiness of its
/// sockets when last told.
#[derive(Copy, Clone)]
struct Subscriber {
    task: TaskId,
    bits: u32,
    last: u32,
}

/// Where the interface's address came from (`NetInfo::source`).
const SOURCE_NONE: u8 = 0;
const SOURCE_DHCP: u8 = 1;
const SOURCE_STATIC: u8 = 2;

struct Stack {
    nic: Nic,
    iface: &'static mut Interface,
    sockets: SocketSet<'static>,
    tcp: [SocketHandle; TCP_SOCKETS],
    /// TCP sockets in use (bit i: `tcp[i]`), by a connection, a listener's
    /// pool, or a close still in progress.
    tcp_used: u32,
    /// TCP sockets closed by their owner, freed once the close finished
    /// (or cut short, `reclaim_closing`).
    tcp_closing: u32,
    /// When each closing socket was closed (ms).
    tcp_closed_ms: [u64; TCP_SOCKETS],
    /// The task (index) each TCP socket in use is charged to: the one
    /// whose pool it joined, until it is free again (through its
    /// connection and its close). See `task_net::share`.
    tcp_owner: [u16; TCP_SOCKETS],
    /// Sockets in SYN-RECEIVED at the last look: since when (ms), and
    /// with which peer (a socket can start another handshake in between).
    handshakes: [Option<(u64, IpEndpoint)>; TCP_SOCKETS],
    /// When the stack next looks at the handshakes (ms).
    next_handshake_sweep: u64,
    udp: [SocketHandle; UDP_SOCKETS],
    udp_used: u8,
    /// Each UDP socket's transmit queue, watched for a head that never
    /// leaves (`udp_tx`).
    udp_tx: [TxWatch; UDP_SOCKETS],
    /// Transmit queues dropped so far (`udp_tx`).
    udp_queues_dropped: u32,
    /// Where `udp_send_to` reads its caller's datagram.
    udp_send: &'static mut [u8; net_api::MAX_DATAGRAM],
    dhcp: SocketHandle,
    table: Table<Sock>,
    subscribers: [Option<Subscriber>; SUBSCRIBERS],
    settings: Settings,
    source: u8,
    started_ms: u64,
    mac: [u8; 6],
    /// False while the NIC driver has not told its MAC (its slot unbound
    /// when this incarnation started): the stack runs and answers its
    /// clients meanwhile with a stand-in address, and asks again each
    /// round ([`Stack::learn_mac`]). Waiting for the MAC before serving
    /// anyone left echo, http and the shell's `net` blocked in `send` for
    /// good after `unbind 5` and `restart net`, and with the shell blocked
    /// no operator could `bind 5` again.
    mac_known: bool,
}

fn now() -> Instant {
    Instant::from_millis(now_ms() as i64)
}

fn now_ms() -> u64 {
    sys_get_timer().now / abi::TICKS_PER_MS
}

fn owner(task: TaskId) -> Owner {
    (task.index() as u16, task.generation().0 as u16)
}

fn bad() -> ServerError<NetError> {
    NetError::BadSocket.into()
}

impl Stack {
    fn tcp_socket(&mut self, i: u8) -> &mut tcp::Socket<'static> {
        self.sockets
            .get_mut::<tcp::Socket>(self.tcp[usize::from(i)])
    }

    /// A free TCP socket to take (`task_net::close::to_take`: a close
    /// whose FIN may be lost goes last).
    fn free_tcp(&self) -> Option<u8> {
        let free = (0..TCP_SOCKETS)
            .filter(|&i| self.tcp_used & (1 << i) == 0)
            .map(|i| (i, self.sockets.get::<tcp::Socket>(self.tcp[i]).state()));
        task_net::close::to_take(free).map(|i| i as u8)
    }

    /// TCP sockets in use charged to task `task`.
    fn tcp_held(&self, task: u16) -> usize {
        (0..TCP_SOCKETS)
            .filter(|&i| self.tcp_used & (1 << i) != 0 && self.tcp_owner[i] == task)
            .count()
    }

    /// Puts free sockets into LISTEN on `port` for `task` until the pool
    /// holds `backlog`, or the sockets left free are owed to other tasks
    /// (`task_net::share`); returns the pool.
    fn fill_pool(&mut self, task: u16, port: u16, backlog: u8, mut pool: u32) -> u32 {
        while (pool.count_ones() as u8) < backlog {
            let free = TCP_SOCKETS - self.tcp_used.count_ones() as usize;
            let free_socket = self.free_tcp().filter(|_| {
                share::may_take(task, free, share::tcp_tasks(PORTS), |t| self.tcp_held(t))
            });
            let Some(i) = free_socket else {
                if self.reclaim_closing(task) {
                    continue;
                }
                break;
            };
            let s = self.tcp_socket(i);
            s.abort();
            // A socket keeps its timeout and keep-alive through a reset; a
            // listening one must have neither, or smoltcp would abort its
            // handshake first.
            s.set_timeout(None);
            s.set_keep_alive(None);
            if s.listen(port).is_err() {
                break;
            }
            self.tcp_used |= 1 << i;
            self.tcp_owner[usize::from(i)] = task;
            pool |= 1 << i;
            self.nic.syn.pools_changed();
        }
        pool
    }

    /// Lets go of TCP socket `i`: gracefully (FIN after the queued data)
    /// or at once.
    fn release_tcp(&mut self, i: u8, graceful: bool) {
        let s = self.tcp_socket(i);
        if graceful && s.is_open() {
            s.close();
            self.tcp_closing |= 1 << i;
            self.tcp_closed_ms[usize::from(i)] = now_ms();
        } else {
            s.abort();
            self.tcp_used &= !(1 << i);
        }
    }

    /// Cuts short a close that `task` may take the socket of (see
    /// `task_net::share::reclaimable`) with a reset; true if one was.
    fn reclaim_closing(&mut self, task: u16) -> bool {
        let now = now_ms();
        let closing = (0..TCP_SOCKETS)
            .filter(|&i| self.tcp_closing & (1 << i) != 0)
            .map(|i| share::Closing {
                socket: i,
                owner: self.tcp_owner[i],
                since_ms: self.tcp_closed_ms[i],
                fin_acked: {
                    let s = self.sockets.get::<tcp::Socket>(self.tcp[i]);
                    task_net::close::loses_nothing(s.state(), s.send_queue())
                },
            });
        let Some(i) = share::reclaimable(task, now, closing, |t| self.tcp_held(t)) else {
            return false;
        };
        self.tcp_socket(i as u8).abort();
        self.tcp_closing &= !(1 << i);
        self.tcp_used &= !(1 << i);
        true
    }

    fn release(&mut self, sock: Sock, graceful: bool) {
        match sock {
            Sock::Udp(i) => {
                self.sockets
                    .get_mut::<udp::Socket>(self.udp[usize::from(i)])
                    .close();
                self.udp_used &= !(1 << i);
            }
            Sock::Tcp(i) => self.release_tcp(i, graceful),
            Sock::Listener { pool, .. } => {
                for i in 0..TCP_SOCKETS as u8 {
                    if pool & (1 << i) != 0 {
                        self.release_tcp(i, false);
                    }
                }
            }
        }
    }

    /// A caller's first call since it restarted drops its old sockets.
    fn check_caller(&mut self, caller: TaskId) -> Owner {
        let me = owner(caller);
        let mut orphans = [None; task_net::table::SLOTS];
        let mut n = 0;
        self.table.reap_orphans(me, |s| {
            orphans[n] = Some(s);
            n += 1;
        });
        for s in orphans.into_iter().flatten() {
            self.release(s, false);
        }
        me
    }

    /// Frees every socket whose owner's incarnation ended (a fault or a
    /// restart moves its generation on), aborting connections (the peer
    /// gets a reset) and listeners' pools. `check_caller` does the same at
    /// the next incarnation's first call, but a client the supervisor
    /// leaves stopped, or one that never calls again, made none: its
    /// sockets were kept for good, its listener went on completing
    /// handshakes nobody would accept, and the TCP sockets it held were
    /// lost to the other tasks. `refresh_task_id` asks the kernel without
    /// any authority over the owner.
    fn reap_ended_owners(&mut self) {
        let mut ended = [None; task_net::table::SLOTS];
        let mut n = 0;
        self.table.reap_ended(
            |index| {
                let id = TaskId::new(index, abi::Generation(0));
                userlib::sys_refresh_task_id(id).generation().0
            },
            |s| {
                ended[n] = Some(s);
                n += 1;
            },
        );
        for s in ended.into_iter().flatten() {
            self.release(s, false);
        }
    }

    /// Sets the interface's address and default route.
    fn configure(&mut self, cidr: Ipv4Cidr, router: Option<Ipv4Address>, source: u8) {
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            let _ = addrs.push(IpCidr::Ipv4(cidr));
        });
        let routes = self.iface.routes_mut();
        routes.remove_default_ipv4_route();
        if let Some(r) = router {
            let _ = routes.add_default_ipv4_route(r);
        }
        if self.source != source {
            let a = cidr.address().octets();
            sys_log!(
                "address {}.{}.{}.{}/{} ({})",
                a[0],
                a[1],
                a[2],
                a[3],
                cidr.prefix_len(),
                if source == SOURCE_DHCP {
                    "DHCP"
                } else {
                    "static"
                }
            );
        }
        self.source = source;
    }

    /// smoltcp's part of a round: every received frame, then one pass
    /// over the sockets for what they have to send. (`Interface::poll`
    /// passes over them again until none sends, which costs a pass per
    /// round; what a socket still has goes in the next round, which comes
    /// at once: `poll_delay` says so.)
    ///
    /// A datagram smoltcp cut into fragments sends one of them a pass
    /// (`task_net::fragmenter`): the passes go on until its last is out,
    /// or the transmit batch has no room (the next round then comes at
    /// once: `poll_delay` says so while fragments wait). The fragments of
    /// the longest datagram take six.
    fn smoltcp_round(&mut self, t: Instant) {
        self.iface.poll_maintenance(t);
        loop {
            while self
                .iface
                .poll_ingress_single(t, &mut self.nic, &mut self.sockets)
                != PollIngressSingleResult::None
            {}
            self.nic.core.fragmenter.new_pass();
            let sent = self
                .nic
                .core
                .tx_frames
                .wrapping_add(self.nic.core.tx_batch.count);
            self.iface.poll_egress(t, &mut self.nic, &mut self.sockets);
            let moved = self
                .nic
                .core
                .tx_frames
                .wrapping_add(self.nic.core.tx_batch.count)
                != sent;
            if !self.nic.core.fragmenter.cutting() || !moved {
                break;
            }
        }
    }

    /// One round of the stack: frames in and out, DHCP, pools, closes,
    /// readiness. Sets the timer for the next round.
    fn poll(&mut self) {
        if !self.mac_known {
            self.learn_mac();
        }
        #[cfg(not(feature = "linked-nic"))]
        self.nic.core.check_incarnation();
        if self.nic.core.resubscribe {
            self.nic.core.subscribe();
        }
        self.nic.core.flush();
        // One reading of the clock for the round (each is a system call).
        let ms = now_ms();
        let t = Instant::from_millis(ms as i64);
        self.nic.syn.new_round(ms);
        self.nic.core.rx_budget = RX_ROUND_FRAMES;
        self.nic.core.rx_busy = false;
        self.smoltcp_round(t);
        // A SYN stopped the round (a received one, or kept ones that may
        // have room now): it is judged against the connections and
        // listeners as they are now (`task_net::syn`), and the round goes
        // on. Each pass lets at least that SYN through, keeps or drops it.
        while self.nic.syn.take_deferred() {
            self.syn_snapshot();
            self.smoltcp_round(t);
        }
        // What the round produced goes out now, in one call.
        self.nic.core.flush();

        match self.sockets.get_mut::<dhcpv4::Socket>(self.dhcp).poll() {
            Some(dhcpv4::Event::Configured(cfg)) => {
                let (addr, router) = (cfg.address, cfg.router);
                self.configure(addr, router, SOURCE_DHCP);
            }
            // The socket starts out deconfigured (it says so once); a lease
            // that ends takes the address with it, and the fallback below
            // applies once DHCP has been silent long enough.
            Some(dhcpv4::Event::Deconfigured) => {
                if self.source == SOURCE_DHCP {
                    self.iface.update_ip_addrs(|addrs| addrs.clear());
                    self.iface.routes_mut().remove_default_ipv4_route();
                    self.source = SOURCE_NONE;
                    self.started_ms = now_ms();
                }
            }
            None => {}
        }
        if self.source == SOURCE_NONE
            && (!self.settings.dhcp
                || now_ms().saturating_sub(self.started_ms) > self.settings.dhcp_timeout_ms)
        {
            self.fallback();
        }

        // Closes that finished free their sockets, TIME-WAIT included so
        // that short connections cannot exhaust the pool. A socket in
        // TIME-WAIT is left to it until it is taken again (`fill_pool`
        // makes it listen, with no segment in between): it still
        // acknowledges the peer's FIN, which aborting it here answered
        // with a reset. CLOSING and LAST-ACK are freed too once the
        // owner's bytes are all acknowledged (`task_net::close::finished`):
        // only the peer's ACK of our FIN is then missing. QEMU's user
        // network often closes at the same moment as the page server, and
        // its ACK of our FIN then rides on a copy of its FIN, which smoltcp
        // drops as old (RFC 793: a segment wholly before the window is
        // dropped, its ACK unread); our FIN then waits a second for its
        // retransmission. Held for that second, such sockets ran the pool
        // dry at a couple of hundred sequential requests a second, and
        // each SYN that found no listening socket waited for the page
        // server's next accept (12 of 300 requests took 250 ms).
        for i in 0..TCP_SOCKETS as u8 {
            if self.tcp_closing & (1 << i) == 0 {
                continue;
            }
            let s = self.tcp_socket(i);
            if task_net::close::finished(s.state(), s.send_queue()) {
                self.tcp_closing &= !(1 << i);
                self.tcp_used &= !(1 << i);
            }
        }
        if ms >= self.next_handshake_sweep {
            self.next_handshake_sweep = ms + HANDSHAKE_SWEEP_MS;
            self.give_up_handshakes(ms);
            self.reap_ended_owners();
            // smoltcp puts a handshake reset by its peer back into LISTEN
            // by itself: kept SYNs look once a second.
            self.nic.syn.pools_changed();
        }
        self.watch_udp_queues(ms);
        // A datagram whose fragments stopped coming is given up (and
        // counted) on time, not only when the next fragment comes.
        self.nic.fragments.expire(ms);
        self.notify();
        let delay = self
            .iface
            .poll_delay(now(), &self.sockets)
            .unwrap_or(Duration::from_millis(MAX_SLEEP_MS))
            .total_millis()
            .min(if self.mac_known {
                MAX_SLEEP_MS
            } else {
                MAC_RETRY_MS
            });
        let deadline = if self.nic.core.rx_busy {
            // Frames wait: the next round comes as soon as the callers
            // waiting now are served, or in half a millisecond.
            sys_get_timer().now + abi::TICKS_PER_MS / 2
        } else {
            (now_ms() + delay.max(1)) * abi::TICKS_PER_MS
        };
        sys_set_timer(Some(deadline), TIMER_BIT);
    }

    /// Asks the driver for the MAC the stack started without; once told,
    /// the interface takes it and DHCP starts afresh with it.
    fn learn_mac(&mut self) {
        let Ok(mac) = self.nic.core.eth.mac() else {
            return;
        };
        self.iface
            .set_hardware_addr(HardwareAddress::Ethernet(EthernetAddress(mac)));
        self.mac = mac;
        self.mac_known = true;
        self.sockets.get_mut::<dhcpv4::Socket>(self.dhcp).reset();
        if self.source == SOURCE_NONE {
            self.started_ms = now_ms();
        }
    }

    fn fallback(&mut self) {
        let (a, prefix) = self.settings.address;
        let cidr = Ipv4Cidr::new(Ipv4Address::from(a), prefix);
        let router = self.settings.gateway.map(Ipv4Address::from);
        self.configure(cidr, router, SOURCE_STATIC);
    }

    /// The readiness of `owner`'s sockets, folded into a word that changes
    /// whenever any of them changes.
    fn readiness(&mut self, who: Owner) -> u32 {
        let mut h: u32 = 0x811c_9dc5;
        let mut mix = |v: u32| {
            h = (h ^ v).wrapping_mul(0x0100_0193);
        };
        let socks: [Option<Sock>; task_net::table::SLOTS] = {
            let mut a = [None; task_net::table::SLOTS];
            for (slot, (o, s)) in self.table.iter().enumerate() {
                if o == who {
                    a[slot] = Some(s);
                }
            }
            a
        };
        for s in socks.into_iter().flatten() {
            match s {
                Sock::Udp(i) => {
                    let u = self.sockets.get::<udp::Socket>(self.udp[usize::from(i)]);
                    mix(u.can_recv() as u32 | (u.can_send() as u32) << 1);
                }
                Sock::Tcp(i) => {
                    let t = self.tcp_socket(i);
                    mix(t.state() as u32
                        | (t.can_recv() as u32) << 8
                        | (t.can_send() as u32) << 9
                        | (t.recv_queue() as u32) << 10);
                }
                Sock::Listener { pool, .. } => {
                    for i in 0..TCP_SOCKETS as u8 {
                        if pool & (1 << i) != 0 {
                            mix(self.tcp_socket(i).state() as u32 | u32::from(i) << 8);
                        }
                    }
                }
            }
        }
        h
    }

    /// Posts each subscriber whose sockets' readiness changed.
    fn notify(&mut self) {
        for k in 0..SUBSCRIBERS {
            let Some(sub) = self.subscribers[k] else {
                continue;
            };
            let r = self.readiness(owner(sub.task));
            if r != sub.last {
                if sys_post(sub.task, sub.bits).is_err() {
                    self.subscribers[k] = None;
                    continue;
                }
                if let Some(s) = &mut self.subscribers[k] {
                    s.last = r;
                }
            }
        }
    }

    fn sock(&mut self, caller: TaskId, id: u32) -> Net<(Owner, Sock)> {
        let me = self.check_caller(caller);
        let s = self.table.get(id, me).ok_or_else(bad)?;
        Ok((me, s))
    }

    /// The caller's UDP socket `id`; naming anything else is the caller's
    /// fault, as in [`Stack::sock`].
    fn caller_udp(&mut self, caller: TaskId, id: u32) -> Net<&mut udp::Socket<'static>> {
        let (_, Sock::Udp(i)) = self.sock(caller, id)? else {
            return Err(bad());
        };
        Ok(self
            .sockets
            .get_mut::<udp::Socket>(self.udp[usize::from(i)]))
    }

    /// The caller's TCP socket `id` (a listener is not one).
    fn caller_tcp(&mut self, caller: TaskId, id: u32) -> Net<&mut tcp::Socket<'static>> {
        let (_, Sock::Tcp(i)) = self.sock(caller, id)? else {
            return Err(bad());
        };
        Ok(self.tcp_socket(i))
    }
}

impl NotificationHandler for Stack {
    fn notification_mask(&self) -> u32 {
        if self.nic.core.rx_busy {
            // The kernel's `recv` hands over a pending notification
            // before any call, and under a flood the driver posts "frames
            // waiting" during every round: the callers (the services, the
            // shell) were never served. After a round that stopped at its
            // budget, the calls waiting go first; the timer brings the
            // next round if none waits.
            TIMER_BIT | LINKED_BITS
        } else {
            NIC_BIT | TIMER_BIT | LINKED_BITS
        }
    }

    fn handle_notification(&mut self, bits: u32) {
        // The linked driver's own bits: interrupt, remove, probe, deadline.
        #[cfg(feature = "linked-nic")]
        self.nic.core.eth.handle(bits);
        if bits & (NIC_BIT | TIMER_BIT) != 0 {
            self.nic.core.rx_waiting = true;
        }
        // The round after every message and notification does the work.
    }
}

/// Builds the interface in [`IFACE`]; called once, by main. smoltcp
/// returns it by value, so it is built in this frame first (8 KiB): apart
/// from main, that frame is gone before the stack serves anything, and
/// the deepest calls of a round do not come on top of it.
#[inline(never)]
fn interface(config: Config, nic: &mut Nic) -> &'static mut Interface {
    // SAFETY: main runs once per incarnation and calls this once, the only
    // code that touches IFACE: the interface is written once, and the one
    // reference lives in the stack for good.
    unsafe { (*core::ptr::addr_of_mut!(IFACE)).write(Interface::new(config, nic, now())) }
}

#[export_name = "main"]
fn main() -> ! {
    let settings = match Settings::parse(option_env!("VIREO_CONFIG").unwrap_or("")) {
        Ok(s) => s,
        Err(e) => {
            sys_log!(
                "app.toml config `{}` = {:?} is not understood; using the defaults",
                e.key,
                e.value
            );
            Settings::default()
        }
    };
    // SAFETY: main runs once per incarnation and is the only code that
    // touches these statics: each goes to the one NIC for the life of the
    // task.
    let (rx_batch, tx_batch, reassembly) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(RX_BATCH),
            &mut *core::ptr::addr_of_mut!(TX_BATCH),
            &mut *core::ptr::addr_of_mut!(REASSEMBLY),
        )
    };
    let mut core = NicCore {
        #[cfg(not(feature = "linked-nic"))]
        eth: EthernetClient::new(UserlibIpc, tasks::NET0),
        #[cfg(feature = "linked-nic")]
        eth: linked::LinkedEth::new(),
        tx: tx_batch,
        tx_batch: Batch::default(),
        fragmenter: Fragmenter::NEW,
        rx_waiting: true,
        rx_budget: RX_ROUND_FRAMES,
        rx_busy: false,
        rx_frames: 0,
        tx_frames: 0,
        restarts: 0,
        #[cfg(not(feature = "linked-nic"))]
        incarnations: task_net::incarnation::Incarnations::new(),
        resubscribe: true,
    };
    // The driver may still be probing its device: wait a moment for the
    // MAC, but not for good (its slot may be unbound): without it the
    // stack serves its clients with a stand-in and learns the MAC later.
    #[cfg(not(feature = "linked-nic"))]
    let mut tries = 0u32;
    let (mac, mac_known) = loop {
        match core.eth.mac() {
            Ok(mac) => break (mac, true),
            #[cfg(not(feature = "linked-nic"))]
            Err(_) if tries >= MAC_WAIT_TRIES => break (STAND_IN_MAC, false),
            #[cfg(not(feature = "linked-nic"))]
            Err(_) => {
                tries += 1;
                userlib::sleep_ms(50, TIMER_BIT)
            }
            // A linked driver waits for the bus's probe itself, and retries
            // a failed bring-up on the timer.
            #[cfg(feature = "linked-nic")]
            Err(_) => {
                sys_set_timer(Some((now_ms() + 50) * abi::TICKS_PER_MS), TIMER_BIT);
                let bits = userlib::sys_recv_notification(
                    TIMER_BIT | linked::REMOVE_BIT | linked::PROBE_BIT,
                );
                core.eth.handle(bits);
            }
        }
    };
    core.subscribe();
    let mut nic = Nic {
        core,
        rx: nic::RxBatch::new(rx_batch),
        syn: SynGuard::new(),
        fragments: Reassembly::new(reassembly),
    };
    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
    config.random_seed = sys_get_timer().now ^ 0x5eed_0f_u64 << 20;

    // SAFETY: main runs once per incarnation and is the only code that
    // touches these statics: it hands each buffer to exactly one socket,
    // which keeps it for the life of the task.
    let (storage, tcp_rx, tcp_tx, udp_rx, udp_tx, udp_rx_meta, udp_tx_meta, udp_send) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(STORAGE),
            &mut *core::ptr::addr_of_mut!(TCP_RX),
            &mut *core::ptr::addr_of_mut!(TCP_TX),
            &mut *core::ptr::addr_of_mut!(UDP_RX),
            &mut *core::ptr::addr_of_mut!(UDP_TX),
            &mut *core::ptr::addr_of_mut!(UDP_RX_META),
            &mut *core::ptr::addr_of_mut!(UDP_TX_META),
            &mut *core::ptr::addr_of_mut!(UDP_SEND),
        )
    };
    let iface = interface(config, &mut nic);
    let mut sockets = SocketSet::new(&mut storage[..]);
    let mut rx_iter = tcp_rx.iter_mut();
    let mut tx_iter = tcp_tx.iter_mut();
    let tcp: [SocketHandle; TCP_SOCKETS] = core::array::from_fn(|_| {
        let (Some(rx), Some(tx)) = (rx_iter.next(), tx_iter.next()) else {
            unreachable!("one buffer pair per socket")
        };
        sockets.add(tcp::Socket::new(
            tcp::SocketBuffer::new(&mut rx[..]),
            tcp::SocketBuffer::new(&mut tx[..]),
        ))
    });
    let mut urx = udp_rx.iter_mut().zip(udp_rx_meta.iter_mut());
    let mut utx = udp_tx.iter_mut().zip(udp_tx_meta.iter_mut());
    let udp: [SocketHandle; UDP_SOCKETS] = core::array::from_fn(|_| {
        let (Some((rx, rm)), Some((tx, tm))) = (urx.next(), utx.next()) else {
            unreachable!("one buffer pair per socket")
        };
        sockets.add(udp::Socket::new(
            udp::PacketBuffer::new(&mut rm[..], &mut rx[..]),
            udp::PacketBuffer::new(&mut tm[..], &mut tx[..]),
        ))
    });
    let dhcp = sockets.add(dhcpv4::Socket::new());

    let mut stack = Stack {
        iface,
        nic,
        sockets,
        tcp,
        tcp_used: 0,
        tcp_closing: 0,
        tcp_closed_ms: [0; TCP_SOCKETS],
        tcp_owner: [0; TCP_SOCKETS],
        handshakes: [None; TCP_SOCKETS],
        next_handshake_sweep: 0,
        udp,
        udp_used: 0,
        udp_tx: [TxWatch::NEW; UDP_SOCKETS],
        udp_queues_dropped: 0,
        udp_send,
        dhcp,
        table: Table::new(sys_get_timer().now as u32),
        subscribers: [None; SUBSCRIBERS],
        settings,
        source: SOURCE_NONE,
        started_ms: now_ms(),
        mac,
        mac_known,
    };
    if !settings.dhcp {
        stack.fallback();
    }
    let mut buffer = [0u8; NET_BUFFER_SIZE];
    // Each answer goes out with the next receive, one `reply_recv` a
    // request where `reply` and `recv` were two kernel entries. The
    // driver client does not share it: an answer held over a `poll` that
    // sends frames reaches its client only after them, which no client
    // can tell apart (the stack is more important than every client, so
    // none would have run before the receive anyway, and none sees the
    // driver).
    let ipc = idol_runtime::HeldReply::new(UserlibIpc);
    loop {
        stack.poll();
        net_serve_once(&mut stack, &ipc, &mut buffer);
    }
}
