//! `idl/net.idol`: the socket operations, each checked against the
//! caller's ownership of the socket before smoltcp is touched.

use super::*;
use task_net::datagram;
use task_net::stream::{self, through_lease, Recv};

fn tcp_error(state: tcp::State) -> NetError {
    match state {
        tcp::State::Closed | tcp::State::TimeWait => NetError::Reset,
        _ => NetError::Closed,
    }
}

impl NetServer for Stack {
    fn subscribe(&mut self, caller: TaskId, bits: u32) -> Net<()> {
        self.check_caller(caller);
        // (Every task index has its place: `NoSockets` only for a caller
        // the image does not have, which the kernel never delivers.)
        let slot = self
            .subscribers
            .get_mut(caller.index())
            .ok_or(NetError::NoSockets)?;
        *slot = Some(Subscriber {
            task: caller,
            bits,
            last: 0,
        });
        Ok(())
    }

    fn info(&mut self, _: TaskId) -> Net<NetInfo> {
        let (addr, prefix) = match self.iface.ipv4_addr() {
            Some(a) => {
                let p = self
                    .iface
                    .ip_addrs()
                    .iter()
                    .map(|c| c.prefix_len())
                    .next()
                    .unwrap_or(0);
                (a.octets(), p)
            }
            None => ([0; 4], 0),
        };
        let link_up = matches!(self.nic.core.eth.status(), Ok(s) if s.link_up != 0);
        let fragments = self.nic.fragments.counts();
        Ok(NetInfo {
            addr,
            gateway: if self.source == SOURCE_DHCP || self.source == SOURCE_STATIC {
                self.settings.gateway.unwrap_or([0; 4])
            } else {
                [0; 4]
            },
            prefix,
            source: self.source,
            link_up: link_up as u8,
            reserved: 0,
            mac: self.mac,
            reserved2: [0; 2],
            rx_frames: self.nic.core.rx_frames,
            tx_frames: self.nic.core.tx_frames,
            nic_restarts: {
                #[cfg(not(feature = "linked-nic"))]
                self.nic.core.count_restarts();
                self.nic.core.restarts
            },
            sockets: self.table.len() as u32,
            repeated_syns: self.nic.syn.repeated(),
            postponed_syns: self.nic.syn.postponed(),
            udp_queues_dropped: self.udp_queues_dropped,
            dropped_syns: self.nic.syn.dropped(),
            datagrams_reassembled: fragments.reassembled,
            datagrams_too_big: fragments.too_big,
            reassemblies_dropped: fragments.dropped,
        })
    }

    fn udp_bind(&mut self, caller: TaskId, port: u16) -> Net<u32> {
        let me = self.check_caller(caller);
        if port == 0 {
            return Err(NetError::BadArgument.into());
        }
        if !ports::allows(PORTS, caller.index() as u16, Proto::Udp, port) {
            return Err(NetError::NotAllowed.into());
        }
        for i in 0..UDP_SOCKETS {
            if self.udp_used & (1 << i) != 0
                && self.sockets.get::<udp::Socket>(self.udp[i]).endpoint().port == port
            {
                return Err(NetError::AddressInUse.into());
            }
        }
        let i = (0..UDP_SOCKETS as u8)
            .find(|i| self.udp_used & (1 << i) == 0)
            .ok_or(NetError::NoSockets)?;
        let s = self
            .sockets
            .get_mut::<udp::Socket>(self.udp[usize::from(i)]);
        s.close();
        s.bind(port).map_err(|_| NetError::BadArgument)?;
        self.udp_tx[usize::from(i)].dropped(now_ms());
        let id = self
            .table
            .insert(me, Sock::Udp(i))
            .ok_or(NetError::NoSockets)?;
        self.udp_used |= 1 << i;
        Ok(id)
    }

    fn udp_send_to(
        &mut self,
        caller: TaskId,
        socket: u32,
        addr: [u8; 4],
        port: u16,
        data: Leased<'_, Read, u8>,
    ) -> Net<()> {
        let (_, Sock::Udp(i)) = self.sock(caller, socket)? else {
            return Err(bad());
        };
        if port == 0 {
            return Err(NetError::BadArgument.into());
        }
        // The stack does not loop datagrams back to itself: on the wire,
        // one to its own address waits for an ARP answer nobody gives.
        let to = Ipv4Address::from(addr);
        if self.iface.ipv4_addr() == Some(to) {
            return Err(NetError::NoRoute.into());
        }
        let buf = &mut self.udp_send[..];
        let len = data.len().min(buf.len());
        data.read_range(0, &mut buf[..len])?;
        let to = IpEndpoint::new(IpAddress::Ipv4(to), port);
        let s = self
            .sockets
            .get_mut::<udp::Socket>(self.udp[usize::from(i)]);
        s.send_slice(&self.udp_send[..len], to)
            .map_err(|e| match e {
                udp::SendError::BufferFull => NetError::WouldBlock,
                udp::SendError::Unaddressable => NetError::NoRoute,
            })?;
        self.udp_tx[usize::from(i)].queued(len);
        Ok(())
    }

    fn udp_recv_from(
        &mut self,
        caller: TaskId,
        socket: u32,
        data: Leased<'_, Write, u8>,
    ) -> Net<Datagram> {
        let s = self.caller_udp(caller, socket)?;
        match datagram::recv(s, data.len(), |b| data.write_range(0, b)) {
            datagram::Recv::Got {
                written,
                full_len,
                from,
            } => {
                let IpAddress::Ipv4(addr) = from.addr;
                Ok(Datagram {
                    len: written as u32,
                    addr: addr.octets(),
                    port: from.port,
                    // Never more than a socket's receive buffer holds.
                    full_len: u16::try_from(full_len).unwrap_or(u16::MAX),
                })
            }
            datagram::Recv::WouldBlock => Err(NetError::WouldBlock.into()),
            datagram::Recv::EmptyBuffer => Err(NetError::BadArgument.into()),
            datagram::Recv::Lease(e) => Err(e.into()),
        }
    }

    fn tcp_listen(&mut self, caller: TaskId, port: u16, backlog: u32) -> Net<u32> {
        let me = self.check_caller(caller);
        if port == 0 || backlog == 0 || backlog > MAX_BACKLOG {
            return Err(NetError::BadArgument.into());
        }
        if !ports::allows(PORTS, caller.index() as u16, Proto::Tcp, port) {
            return Err(NetError::NotAllowed.into());
        }
        if self
            .table
            .iter()
            .any(|(_, s)| matches!(s, Sock::Listener { port: p, .. } if p == port))
        {
            return Err(NetError::AddressInUse.into());
        }
        let pool = self.fill_pool(me.0, port, backlog as u8, 0);
        if pool == 0 {
            return Err(NetError::NoSockets.into());
        }
        let sock = Sock::Listener {
            port,
            backlog: backlog as u8,
            pool,
        };
        match self.table.insert(me, sock) {
            Some(id) => Ok(id),
            None => {
                self.release(sock, false);
                Err(NetError::NoSockets.into())
            }
        }
    }

    fn tcp_accept(&mut self, caller: TaskId, listener: u32) -> Net<u32> {
        let (
            me,
            Sock::Listener {
                port,
                backlog,
                mut pool,
            },
        ) = self.sock(caller, listener)?
        else {
            return Err(bad());
        };
        let ready = (0..TCP_SOCKETS as u8).find(|&i| {
            pool & (1 << i) != 0
                && !matches!(
                    self.tcp_socket(i).state(),
                    tcp::State::Listen | tcp::State::SynReceived | tcp::State::Closed
                )
        });
        // Refill first: a pool whose sockets were all taken (or reset back
        // to CLOSED) listens again.
        for i in 0..TCP_SOCKETS as u8 {
            if pool & (1 << i) != 0 && self.tcp_socket(i).state() == tcp::State::Closed {
                pool &= !(1 << i);
                self.tcp_used &= !(1 << i);
            }
        }
        let result = match ready {
            Some(i) => {
                pool &= !(1 << i);
                // From now on a peer that vanishes costs the socket only
                // this long (handshakes have their own limit,
                // `HANDSHAKE_MS`). smoltcp aborts a socket whose peer has
                // been silent for its timeout whether or not bytes are
                // outstanding, so an idle connection is kept alive with
                // probes that a live peer answers: without them every idle
                // connection was reset after the timeout.
                let timeout = Duration::from_millis(self.settings.peer_timeout_ms);
                let keep_alive = Duration::from_millis(self.settings.keep_alive_ms());
                let s = self.tcp_socket(i);
                s.set_timeout(Some(timeout));
                s.set_keep_alive(Some(keep_alive));
                match self.table.insert(me, Sock::Tcp(i)) {
                    Some(id) => Ok(id),
                    None => {
                        self.release_tcp(i, false);
                        Err(NetError::NoSockets.into())
                    }
                }
            }
            None => Err(NetError::WouldBlock.into()),
        };
        let pool = self.fill_pool(me.0, port, backlog, pool);
        // Nothing to take, and nothing of the caller's listens while a
        // client's SYN waits for this port (kept by the guard): every
        // socket the caller may hold is a connection. Only the caller can
        // end that, by closing one; `WouldBlock` would have it wait for
        // a connection that cannot come (an idle one then held its place
        // for the whole idle limit, and the clients queued behind it).
        let result = match result {
            Err(_) if ready.is_none() && pool == 0 && self.nic.syn.keeps_syn_for(port) => {
                Err(NetError::Crowded.into())
            }
            r => r,
        };
        self.table.set(
            listener,
            me,
            Sock::Listener {
                port,
                backlog,
                pool,
            },
        );
        result
    }

    fn tcp_recv(&mut self, caller: TaskId, socket: u32, data: Leased<'_, Write, u8>) -> Net<u32> {
        let s = self.caller_tcp(caller, socket)?;
        match stream::recv(s, data.len(), |b| data.write_range(0, b)) {
            Recv::Bytes(n) => Ok(n as u32),
            Recv::End => Ok(0),
            Recv::WouldBlock => Err(NetError::WouldBlock.into()),
            Recv::EmptyBuffer => Err(NetError::BadArgument.into()),
            Recv::Ended(state) => Err(tcp_error(state).into()),
            Recv::Lease(e) => Err(e.into()),
        }
    }

    fn tcp_send(&mut self, caller: TaskId, socket: u32, data: Leased<'_, Read, u8>) -> Net<u32> {
        let s = self.caller_tcp(caller, socket)?;
        if !s.may_send() {
            return Err(tcp_error(s.state()).into());
        }
        if !s.can_send() {
            return Err(NetError::WouldBlock.into());
        }
        let mut lease_err = None;
        let n = s
            .send(|buf| through_lease(buf, data.len(), |b| data.read_range(0, b), &mut lease_err))
            .map_err(|_| NetError::Closed)?;
        if let Some(e) = lease_err {
            return Err(e.into());
        }
        Ok(n as u32)
    }

    fn close(&mut self, caller: TaskId, socket: u32) -> Net<()> {
        let me = self.check_caller(caller);
        let s = self.table.remove(socket, me).ok_or_else(bad)?;
        self.release(s, true);
        Ok(())
    }

    fn abort(&mut self, caller: TaskId, socket: u32) -> Net<()> {
        let me = self.check_caller(caller);
        let s = self.table.remove(socket, me).ok_or_else(bad)?;
        self.release(s, false);
        Ok(())
    }
}
