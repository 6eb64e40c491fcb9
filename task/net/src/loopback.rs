//! A network device for host tests: every frame sent comes back in order,
//! so sockets on one interface talk to each other over 127.0.0.1.

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::AnySocket;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};
use std::collections::VecDeque;

/// Every frame sent comes back in order (smoltcp's own `Loopback` needs
/// its `alloc` feature, which the task does not build with).
#[derive(Default)]
pub struct Loopback(VecDeque<Vec<u8>>);

/// A frame coming back.
pub struct Rx(Vec<u8>);
/// Room for a frame going out (and coming back).
pub struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        self.0.push_back(frame);
        r
    }
}

impl Device for Loopback {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
        let frame = self.0.pop_front()?;
        Some((Rx(frame), Tx(&mut self.0)))
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.0))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

/// An interface at 127.0.0.1 on a new loopback device.
pub fn up() -> (Loopback, Interface) {
    let mut dev = Loopback::default();
    let config = Config::new(EthernetAddress([0x02, 0, 0, 0, 0, 1]).into());
    let mut iface = Interface::new(config, &mut dev, Instant::ZERO);
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::v4(127, 0, 0, 1), 8)).unwrap();
    });
    (dev, iface)
}

/// Two sockets on an interface at 127.0.0.1 over a loopback device, and
/// the interface's clock: `client` talks to `server`.
pub struct Pair {
    iface: Interface,
    dev: Loopback,
    sockets: SocketSet<'static>,
    client: SocketHandle,
    server: SocketHandle,
    now: Instant,
}

impl Pair {
    /// `server` and `client` on a new interface; nothing polled yet.
    pub fn new<S: AnySocket<'static>>(server: S, client: S) -> Pair {
        let (dev, iface) = up();
        let mut sockets = SocketSet::new(&mut Box::leak(Box::new([SocketStorage::EMPTY; 2]))[..]);
        let server = sockets.add(server);
        let client = sockets.add(client);
        Pair {
            iface,
            dev,
            sockets,
            client,
            server,
            now: Instant::ZERO,
        }
    }

    /// The client's socket and the interface, for its `connect`.
    pub fn client_and_iface<S: AnySocket<'static>>(&mut self) -> (&mut S, &mut Interface) {
        (self.sockets.get_mut(self.client), &mut self.iface)
    }

    /// Polls the interface `rounds` times, a millisecond apart.
    pub fn poll(&mut self, rounds: usize) {
        for _ in 0..rounds {
            self.now += smoltcp::time::Duration::from_millis(1);
            self.iface.poll(self.now, &mut self.dev, &mut self.sockets);
        }
    }

    /// The client's socket.
    pub fn client<S: AnySocket<'static>>(&mut self) -> &mut S {
        self.sockets.get_mut(self.client)
    }

    /// The server's socket.
    pub fn server<S: AnySocket<'static>>(&mut self) -> &mut S {
        self.sockets.get_mut(self.server)
    }
}
