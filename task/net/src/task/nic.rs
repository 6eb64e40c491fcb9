//! The NIC as smoltcp's device: frames go to and come from the driver over
//! `idl/ethernet.idol`; a frame the driver refuses waits for room.

use super::*;

impl NicCore {
    pub(super) fn lost_driver(&mut self) {
        self.restarts = self.restarts.wrapping_add(1);
        self.resubscribe = true;
    }

    pub(super) fn subscribe(&mut self) {
        if self.eth.subscribe(NIC_BIT).is_ok() {
            self.resubscribe = false;
        }
    }

    /// Sends the held frame again; true if it went (or was dropped for
    /// good).
    pub(super) fn flush(&mut self) -> bool {
        let Some(len) = self.pending else {
            return true;
        };
        match self.eth.send(&self.tx[..len]) {
            Err(RequestError::Server(EthernetError::QueueFull)) => false,
            result => {
                if let Err(RequestError::ServerRestarted) = result {
                    self.lost_driver();
                }
                if result.is_ok() {
                    self.tx_frames = self.tx_frames.wrapping_add(1);
                }
                self.pending = None;
                true
            }
        }
    }
}

pub(super) struct NicRx<'a>(&'a [u8]);

pub(super) struct NicTx<'a>(&'a mut NicCore);

impl phy::RxToken for NicRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for NicTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let nic = self.0;
        let len = len.min(MAX_SEND);
        let r = f(&mut nic.tx[..len]);
        nic.pending = Some(len);
        nic.flush();
        r
    }
}

impl phy::Device for Nic {
    type RxToken<'a> = NicRx<'a>;
    type TxToken<'a> = NicTx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(NicRx<'_>, NicTx<'_>)> {
        let Nic { core, rx } = self;
        if core.pending.is_some() {
            // Answering a frame needs a transmit slot: leave it queued in
            // the driver until the held frame went out.
            return None;
        }
        match core.eth.recv(rx) {
            Ok(len) => {
                core.rx_frames = core.rx_frames.wrapping_add(1);
                let len = (len as usize).min(MAX_RECV);
                Some((NicRx(&rx[..len]), NicTx(core)))
            }
            Err(RequestError::ServerRestarted) => {
                core.lost_driver();
                None
            }
            Err(_) => None,
        }
    }

    fn transmit(&mut self, _: Instant) -> Option<NicTx<'_>> {
        self.core.pending.is_none().then_some(NicTx(&mut self.core))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_SEND;
        caps.max_burst_size = Some(1);
        caps
    }
}
