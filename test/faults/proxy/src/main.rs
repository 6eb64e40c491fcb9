//! The fault campaign's workload proxy (`test/campaign.toml`).
//!
//! It forwards the campaign's block writes and reads, entropy fills and
//! driver-side injections to blk0 and rng0. A driver corrupted by an
//! injected fault may do anything, including faulting the client that
//! called it with a `reply_fault`; this task takes that risk so that the
//! campaign task, which holds the ledger of acknowledged writes, never
//! does. When it is killed, the campaign sees its call fail, counts it and
//! carries on with the restarted proxy. It must never be in a real image.

#![no_std]
#![no_main]

use block_api::BlockClient;
use entropy_api::EntropyClient;
use fault_inject::FaultInjectClient;
use fault_workload::make_block;
use idol_runtime::{
    Leased, NotificationHandler, RequestError, ServerError, TaskId, UserlibIpc, Write,
};
use userlib::tasks;

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
    blk_inject: FaultInjectClient<UserlibIpc>,
    rng_inject: FaultInjectClient<UserlibIpc>,
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
        if target == 0 {
            &self.blk_inject
        } else {
            &self.rng_inject
        }
    }
}

#[export_name = "main"]
fn main() -> ! {
    let mut proxy = Proxy {
        blk: BlockClient::new(UserlibIpc, tasks::BLK0),
        rng: EntropyClient::new(UserlibIpc, tasks::RNG0),
        blk_inject: FaultInjectClient::new(UserlibIpc, tasks::BLK0),
        rng_inject: FaultInjectClient::new(UserlibIpc, tasks::RNG0),
    };
    let mut buffer = [0u8; server::CAMPAIGN_PROXY_BUFFER_SIZE];
    loop {
        server::campaign_proxy_serve_once(&mut proxy, &UserlibIpc, &mut buffer);
    }
}
