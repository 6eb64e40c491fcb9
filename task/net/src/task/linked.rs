//! Bench images only (feature `linked-nic`): the virtio-net driver's
//! library linked into the stack, in place of the driver task. It answers
//! the same calls as the `idl/ethernet.idol` client the stack otherwise
//! holds, so the stack is the same code on both paths and the benchmark
//! measures only what the isolation costs.
//!
//! The stack then is the driver: it registers with the bus, owns the
//! NIC's window, IRQ and kernel-written rings (app.toml: `queues = 2`,
//! `drives = ["network"]`, `slots = ["supervisor"]`, notifications
//! `["nic", "timer", "remove", "probe"]`, where "nic" is the IRQ).

use ethernet_api::{Batch, EthernetError, EthernetStatus};
use idol_runtime::{RequestError, UserlibIpc};
use userlib::{sys_get_timer, sys_irq_control, sys_log, tasks};
use virtio::regs::Mmio;
use virtio_bus_api::{slot_base, BusError, Probe, VirtioBusClient};
use virtio_net::{Net, NetMemory, RecvError, SendError, ID_TABLE};

type Never = core::convert::Infallible;

use super::{NIC_BIT, TIMER_BIT};

/// The bus's remove and probe bits (after "nic" = IRQ and "timer").
pub(super) const REMOVE_BIT: u32 = 1 << 2;
pub(super) const PROBE_BIT: u32 = 1 << 3;

/// The rings and frame buffers, only ever borrowed by the one live device.
static mut MEMORY: NetMemory = NetMemory::new();

fn now_ms() -> u64 {
    sys_get_timer().now / abi::TICKS_PER_MS
}

/// A locally administered MAC for a device that offers none.
fn fallback_mac(slot: u32) -> [u8; 6] {
    [0x02, b'V', b'i', b'r', 1, slot as u8]
}

/// The NIC, driven in this task.
pub(super) struct LinkedEth {
    bus: VirtioBusClient<UserlibIpc>,
    slot: Option<u32>,
    device: Option<Net<'static, Mmio>>,
}

type Result<T> = core::result::Result<T, RequestError<EthernetError>>;

impl LinkedEth {
    pub(super) fn new() -> Self {
        let mut eth = LinkedEth {
            bus: VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR),
            slot: None,
            device: None,
        };
        eth.register();
        eth
    }

    fn register(&mut self) {
        match self.bus.register(ID_TABLE, NIC_BIT, REMOVE_BIT, PROBE_BIT) {
            Ok(Probe { slot, .. }) => {
                self.slot = Some(slot);
                self.bring_up(slot);
            }
            Err(RequestError::Server(BusError::NoDevice)) => {}
            Err(e) => sys_log!("register with the bus failed: {e:?}"),
        }
    }

    fn bring_up(&mut self, slot: u32) {
        // SAFETY: the bus granted this task the slot's window (that is what
        // a probe record means) and nothing else in this task touches it.
        let regs = unsafe { Mmio::new(slot_base(slot)) };
        // SAFETY: MEMORY is only borrowed by a live device and there is
        // none: `bring_up` only runs when `self.device` is `None`.
        let memory = unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) };
        match Net::probe(regs, memory, fallback_mac(slot), Some(&virtio::KernelGate)) {
            Ok(device) => self.device = Some(device),
            Err(e) => sys_log!("probe of slot {slot} failed: {e:?}"),
        }
    }

    /// The driver task's notification handling, for the stack's bits.
    pub(super) fn handle(&mut self, bits: u32) {
        if bits & REMOVE_BIT != 0 {
            if let Some(device) = self.device.take() {
                let _regs = device.remove();
            }
            if self.slot.take().is_some() {
                if let Err(e) = self.bus.removed() {
                    sys_log!("removed() failed: {e:?}");
                }
            }
        }
        if bits & NIC_BIT != 0 {
            if let Some(device) = &mut self.device {
                let events = device.interrupt(now_ms());
                if let Some(fault) = events.fault {
                    sys_log!("device misbehaved and was reset: {fault:?}");
                }
                sys_irq_control(NIC_BIT, true);
            }
        }
        if bits & TIMER_BIT != 0 {
            match (&mut self.device, self.slot) {
                (Some(device), _) => {
                    device.tick(now_ms());
                }
                (None, Some(slot)) => self.bring_up(slot),
                (None, None) => {}
            }
        }
        if bits & PROBE_BIT != 0 && self.slot.is_none() {
            self.register();
        }
    }

    fn device(&mut self) -> Result<&mut Net<'static, Mmio>> {
        self.device
            .as_mut()
            .ok_or(RequestError::Server(EthernetError::NoDevice))
    }

    /// Nothing to subscribe to: the IRQ is this task's own.
    pub(super) fn subscribe(&mut self, _bits: u32) -> Result<()> {
        Ok(())
    }

    pub(super) fn mac(&mut self) -> Result<[u8; 6]> {
        Ok(self.device()?.mac())
    }

    pub(super) fn status(&mut self) -> Result<EthernetStatus> {
        Ok(self.device()?.status())
    }

    pub(super) fn send_batch(&mut self, batch: Batch, frames: &[u8]) -> Result<u32> {
        let device = self.device()?;
        device
            .send_batch(&batch, frames.len(), now_ms(), |at, buf| {
                buf.copy_from_slice(&frames[at..at + buf.len()]);
                Ok::<(), Never>(())
            })
            .map_err(send_error)
    }

    pub(super) fn recv_batch(&mut self, frames: &mut [u8]) -> Result<Batch> {
        let device = self.device()?;
        device
            .recv_batch(frames.len(), |at, bytes| {
                frames[at..at + bytes.len()].copy_from_slice(bytes);
                Ok::<(), Never>(())
            })
            .map_err(recv_error)
    }
}

/// The driver task's answer to a refused send.
fn send_error(e: SendError<Never>) -> RequestError<EthernetError> {
    match e.ethernet() {
        Ok(code) => RequestError::Server(code),
        Err(never) => match never {},
    }
}

/// The driver task's answer to a receive that moved nothing.
fn recv_error(e: RecvError<Never>) -> RequestError<EthernetError> {
    match e.ethernet() {
        Ok(code) => RequestError::Server(code),
        Err(never) => match never {},
    }
}
