//! The fault campaign's workload proxy (`test/campaign.toml`).
//!
//! It forwards the campaign's block writes and reads, entropy fills,
//! Ethernet frames and driver-side injections to blk0, rng0 and net0. A driver corrupted by an
//! injected fault may do anything, including faulting the client that
//! called it with a `reply_fault`; this task takes that risk so that the
//! campaign task, which holds the ledger of acknowledged writes, never
//! does. When it is killed, the campaign sees its call fail, counts it and
//! carries on with the restarted proxy. It must never be in a real image.

#![no_std]
#![no_main]

use block_api::BlockClient;
use entropy_api::EntropyClient;
use ethernet_api::{EthernetClient, EthernetError};
use fault_inject::FaultInjectClient;
use fault_workload::make_block;
use idol_runtime::{
    Leased, NotificationHandler, RequestError, ServerError, TaskId, UserlibIpc, Write,
};
use userlib::{sleep_ms, tasks};

#[allow(dead_code)] // only the error enum is used here
mod client {
    include!(concat!(env!("OUT_DIR"), "/campaign_proxy_client.rs"));
}

#[allow(dead_code)] // the generated serve_once wrapper
mod server {
    use super::client::ProxyError;
    include!(concat!(env!("OUT_DIR"), "/campaign_proxy_server.rs"));
}

use client::ProxyError;
use server::CampaignProxyServer;

struct Proxy {
    blk: BlockClient<UserlibIpc>,
    rng: EntropyClient<UserlibIpc>,
    net: EthernetClient<UserlibIpc>,
    blk_inject: FaultInjectClient<UserlibIpc>,
    rng_inject: FaultInjectClient<UserlibIpc>,
    net_inject: FaultInjectClient<UserlibIpc>,
}

/// The timer's notification bit (`notifications = ["timer"]`).
const TIMER_BIT: u32 = 1 << 0;
/// How long `frame` waits for a frame to come back.
const REPLY_WAIT_MS: u32 = 50;

/// QEMU's user-network gateway, which answers ARP.
const GATEWAY: [u8; 4] = [10, 0, 2, 2];
/// The address the ARP request says it comes from (QEMU's DHCP would give
/// the NIC this one).
const SELF_IP: [u8; 4] = [10, 0, 2, 15];

/// An ARP request (RFC 826) from `mac` for the gateway, broadcast.
fn arp_request(mac: [u8; 6]) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes()); // EtherType ARP
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&SELF_IP);
    f[38..42].copy_from_slice(&GATEWAY);
    f
}

fn forward<E>(r: Result<(), RequestError<E>>) -> Result<(), ServerError<ProxyError>> {
    match r {
        Ok(()) => Ok(()),
        Err(RequestError::ServerRestarted) => Err(ProxyError::DriverRestarted.into()),
        Err(RequestError::Server(_) | RequestError::Protocol(_)) => Err(ProxyError::Failed.into()),
    }
}

impl NotificationHandler for Proxy {}

impl CampaignProxyServer for Proxy {
    fn write(
        &mut self,
        _: TaskId,
        sector: u64,
        version: u32,
    ) -> Result<(), ServerError<ProxyError>> {
        forward(self.blk.write(sector, &make_block(sector, version)))
    }

    fn read(
        &mut self,
        _: TaskId,
        sector: u64,
        data: Leased<'_, Write, u8>,
    ) -> Result<(), ServerError<ProxyError>> {
        let mut block = [0u8; 512];
        forward(self.blk.read(sector, &mut block))?;
        let n = data.len().min(block.len());
        data.write_range(0, &block[..n])
            .map_err(|_| ServerError::Error(ProxyError::Failed))
    }

    fn fill(&mut self, _: TaskId, len: u32) -> Result<(), ServerError<ProxyError>> {
        let mut buf = [0u8; 64];
        let n = (len as usize).min(buf.len());
        forward(self.rng.fill(&mut buf[..n]))
    }

    fn frame(&mut self, _: TaskId) -> Result<(), ServerError<ProxyError>> {
        // A queued send proves nothing (a broken ring takes it too): the
        // round trip counts. Take what is waiting first, so only a frame
        // that came in after this request's own can answer it.
        let mut frame = [0u8; 1536];
        loop {
            match self.net.recv(&mut frame) {
                Ok(_) => {}
                Err(RequestError::Server(EthernetError::Empty)) => break,
                Err(e) => return forward(Err(e)),
            }
        }
        let mac = match self.net.mac() {
            Ok(mac) => mac,
            Err(e) => return forward(Err(e)),
        };
        forward(self.net.send(&arp_request(mac)))?;
        // QEMU's gateway answers at once; a NIC whose ring is broken sends
        // nothing, and its driver's transmit deadline resets it.
        for _ in 0..REPLY_WAIT_MS {
            match self.net.recv(&mut frame) {
                Ok(_) => return Ok(()),
                Err(RequestError::Server(EthernetError::Empty)) => sleep_ms(1, TIMER_BIT),
                Err(e) => return forward(Err(e)),
            }
        }
        Err(ProxyError::Failed.into())
    }

    fn inject(
        &mut self,
        _: TaskId,
        target: u32,
        kind: u32,
        arg: u32,
    ) -> Result<u32, ServerError<ProxyError>> {
        // Most injections end the driver during the call: the campaign
        // judges that from the kernel's records, given how the call ended.
        // An idempotent call first learns the driver's current generation,
        // so a DEAD below means the driver died during the injection, not
        // that an earlier incarnation is gone (`inject` is not retried).
        let client = self.injector(target);
        let _ = client.recoveries();
        match client.inject(kind, arg) {
            Ok(()) => Ok(0),
            Err(RequestError::Server(e)) => Ok(e as u32),
            Err(RequestError::ServerRestarted) => Err(ProxyError::DriverRestarted.into()),
            // An untrusted driver's rejection or garbled answer: it replied.
            Err(RequestError::Protocol(_)) => Ok(u32::MAX),
        }
    }

    fn recoveries(&mut self, _: TaskId, target: u32) -> Result<u32, ServerError<ProxyError>> {
        self.injector(target)
            .recoveries()
            .map_err(|_| ProxyError::DriverRestarted.into())
    }
}

impl Proxy {
    fn injector(&self, target: u32) -> &FaultInjectClient<UserlibIpc> {
        match target {
            0 => &self.blk_inject,
            1 => &self.rng_inject,
            _ => &self.net_inject,
        }
    }
}

#[export_name = "main"]
fn main() -> ! {
    let mut proxy = Proxy {
        blk: BlockClient::new(UserlibIpc, tasks::BLK0),
        rng: EntropyClient::new(UserlibIpc, tasks::RNG0),
        net: EthernetClient::new(UserlibIpc, tasks::NET0),
        blk_inject: FaultInjectClient::new(UserlibIpc, tasks::BLK0),
        rng_inject: FaultInjectClient::new(UserlibIpc, tasks::RNG0),
        net_inject: FaultInjectClient::new(UserlibIpc, tasks::NET0),
    };
    let mut buffer = [0u8; server::CAMPAIGN_PROXY_BUFFER_SIZE];
    loop {
        server::campaign_proxy_serve_once(&mut proxy, &UserlibIpc, &mut buffer);
    }
}
