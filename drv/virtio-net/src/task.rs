//! The task side of the driver: the bus protocol, the Ethernet server,
//! the client's notifications and the timer, carried out with syscalls.
//! The device logic is the library's [`Net`].

use ethernet_api::{Batch, EthernetError, EthernetStatus, MAX_RECV};
use idol_runtime::{
    HeldReply, LeaseError, Leased, NotificationHandler, Read, RequestError, Served, ServerError,
    TaskId, UserlibIpc, Write,
};
use userlib::{sys_get_timer, sys_irq_control, sys_log, sys_post, sys_set_timer, tasks};
use virtio::regs::Mmio;
use virtio_bus_api::{slot_base, BusError, Probe, VirtioBusClient};
use virtio_net::{Events, Net, NetMemory, RecvError, SendError, ID_TABLE};

// `ethernet_serve_once` is unused in fault-injection builds (own loop).
#[cfg_attr(feature = "fault-injection", allow(dead_code))]
mod ethernet_server {
    use ethernet_api::{Batch, EthernetError, EthernetStatus};
    include!(concat!(env!("OUT_DIR"), "/ethernet_server.rs"));
}
#[cfg(feature = "fault-injection")]
use ethernet_server::ethernet_dispatch;
#[cfg(not(feature = "fault-injection"))]
use ethernet_server::ethernet_serve_once;
use ethernet_server::{EthernetServer, ETHERNET_BUFFER_SIZE};

/// What the driver's handlers return: a value, an [`EthernetError`] for
/// the client, or a refusal of its message.
type Eth<T> = Served<T, EthernetError>;

/// Notification bits, in app.toml order: `notifications = ["irq",
/// "remove", "probe", "timer"]`.
const IRQ_BIT: u32 = 1 << 0;
const REMOVE_BIT: u32 = 1 << 1;
const PROBE_BIT: u32 = 1 << 2;
const TIMER_BIT: u32 = 1 << 3;

/// The transmit deadline: app.toml `deadline-ms`, or the library's.
const DEADLINE_MS: u64 =
    userlib::config::ms(option_env!("VIREO_DEADLINE_MS"), virtio_net::TX_DEADLINE_MS);

/// How often the driver checks the transmit deadline and retries a device
/// that is down: every 100 ms, or often enough for a shorter deadline.
const TICK_MS: u64 = if DEADLINE_MS / 2 < 100 {
    if DEADLINE_MS / 2 == 0 {
        1
    } else {
        DEADLINE_MS / 2
    }
} else {
    100
};

type Device = Net<'static, Mmio>;

/// The rings and frame buffers. Only ever borrowed by the one live `Device`.
static mut MEMORY: NetMemory = NetMemory::new();

/// The driver's state with respect to the bus.
enum Binding {
    /// No device: waiting for the probe bit.
    Unbound,
    /// The bus bound `slot` to us. `device` is `None` if bringing it up
    /// failed (it is tried again at the next tick).
    Bound { slot: u32, device: Option<Device> },
}

struct Driver<'a> {
    bus: VirtioBusClient<Ipc<'a>>,
    binding: Binding,
    /// Who to tell about frames, space and link changes, and with which
    /// bits (`subscribe`).
    subscriber: Option<(TaskId, u32)>,
}

fn now_ms() -> u64 {
    sys_get_timer().now / abi::TICKS_PER_MS
}

fn arm_timer() {
    sys_set_timer(Some((now_ms() + TICK_MS) * abi::TICKS_PER_MS), TIMER_BIT);
}

/// A locally administered MAC for a device that offers none.
fn fallback_mac(slot: u32) -> [u8; 6] {
    [0x02, b'V', b'i', b'r', 0, slot as u8]
}

/// Brings up the device in the window the bus granted with `probe`.
fn bring_up(slot: u32) -> Option<Device> {
    // SAFETY: the bus granted this task the slot's window (that is what a
    // probe record means) and nothing else in this task touches it.
    let regs = unsafe { Mmio::new(slot_base(slot)) };
    // SAFETY: MEMORY is only borrowed by a live `Device`, and there is none:
    // `bring_up` is only called when the binding holds no device (after a
    // remove dropped the previous one, or before the first).
    let memory = unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) };
    match Net::probe(regs, memory, fallback_mac(slot), Some(&virtio::KernelGate)) {
        Ok(mut device) => {
            device.set_tx_deadline(DEADLINE_MS);
            let m = device.mac();
            sys_log!(
                "slot {slot} up, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, link {}",
                m[0],
                m[1],
                m[2],
                m[3],
                m[4],
                m[5],
                if device.link_up() { "up" } else { "down" }
            );
            Some(device)
        }
        Err(e) => {
            sys_log!("probe of slot {slot} failed: {e:?}");
            None
        }
    }
}

impl Driver<'_> {
    /// The seed's `register_virtio_driver`, and the probe when a device is
    /// free.
    fn register(&mut self) {
        match self.bus.register(ID_TABLE, IRQ_BIT, REMOVE_BIT, PROBE_BIT) {
            Ok(Probe { slot, .. }) => {
                self.binding = Binding::Bound {
                    slot,
                    device: bring_up(slot),
                };
                arm_timer();
                self.tell(Events {
                    link_changed: true,
                    ..Events::default()
                });
            }
            Err(RequestError::Server(BusError::NoDevice)) => {}
            Err(e) => sys_log!("register with the bus failed: {e:?}"),
        }
    }

    /// The seed's `remove`: quiesce and reset the device, then tell the
    /// bus, which revokes the window. Nothing touches the window after.
    fn remove(&mut self) {
        let Binding::Bound { slot, device } =
            core::mem::replace(&mut self.binding, Binding::Unbound)
        else {
            return;
        };
        if let Some(device) = device {
            let _regs = device.remove();
        }
        sys_set_timer(None, TIMER_BIT);
        if let Err(e) = self.bus.removed() {
            sys_log!("removed() for slot {slot} failed: {e:?}");
        }
        sys_log!("slot {slot} removed");
        self.tell(Events {
            link_changed: true,
            ..Events::default()
        });
    }

    /// Posts the subscriber's bits if `events` says there is news.
    fn tell(&mut self, events: Events) {
        if let Some(fault) = events.fault {
            if fault.is_own_buffer_refused() {
                // Resets would go on failing the same way (every 5 ms, for
                // good): stop, and let the supervisor reset the device and
                // restart us from the image.
                panic!("the kernel refused our own DMA buffers ({fault:?}): driver state corrupt");
            }
            sys_log!("device misbehaved and was reset: {fault:?}");
        }
        if !events.notify() {
            return;
        }
        if let Some((task, bits)) = self.subscriber {
            if sys_post(task, bits).is_err() {
                // The client restarted; its new incarnation subscribes anew.
                self.subscriber = None;
            }
        }
    }

    /// Tells of a fault a client's request found, as the interrupt's and
    /// the timer's are told (a refusal of our own buffers stops the task
    /// here too), and stops the task when requests keep finding faults
    /// that resets do not cure. The client hears only `DeviceError`: a
    /// driver whose state a flipped register had corrupted answered every
    /// frame so, resetting its device each time, until an operator
    /// restarted it.
    fn tell_request_fault(&mut self) {
        if let Ok(device) = self.device() {
            if let Some(fault) = device.take_fault() {
                if device.is_own_state_suspect() {
                    panic!("every request finds a fault ({fault:?}): driver state corrupt");
                }
                self.tell(Events {
                    fault: Some(fault),
                    ..Events::default()
                });
            }
        }
    }

    fn device(&mut self) -> Result<&mut Device, EthernetError> {
        match &mut self.binding {
            Binding::Bound {
                device: Some(device),
                ..
            } => Ok(device),
            Binding::Bound { device: None, .. } => Err(EthernetError::DeviceError),
            Binding::Unbound => Err(EthernetError::NoDevice),
        }
    }
}

impl NotificationHandler for Driver<'_> {
    fn notification_mask(&self) -> u32 {
        IRQ_BIT | REMOVE_BIT | PROBE_BIT | TIMER_BIT
    }

    fn handle_notification(&mut self, bits: u32) {
        if bits & REMOVE_BIT != 0 {
            self.remove();
        }
        if bits & IRQ_BIT != 0 {
            if let Binding::Bound {
                device: Some(device),
                ..
            } = &mut self.binding
            {
                let events = device.interrupt(now_ms());
                sys_irq_control(IRQ_BIT, true);
                self.tell(events);
            }
        }
        if bits & TIMER_BIT != 0 {
            if let Binding::Bound { slot, device } = &mut self.binding {
                let events = match device {
                    Some(device) => device.tick(now_ms()),
                    None => {
                        *device = bring_up(*slot);
                        Events {
                            link_changed: device.is_some(),
                            ..Events::default()
                        }
                    }
                };
                arm_timer();
                self.tell(events);
            }
        }
        if bits & PROBE_BIT != 0 && matches!(self.binding, Binding::Unbound) {
            self.register();
        }
        // A test image's probe frame (the tick's) is a request too.
        #[cfg(feature = "fault-injection")]
        self.tell_request_fault();
    }
}

impl EthernetServer for Driver<'_> {
    fn mac(&mut self, _: TaskId) -> Eth<[u8; 6]> {
        Ok(self.device()?.mac())
    }

    fn status(&mut self, _: TaskId) -> Eth<EthernetStatus> {
        Ok(self.device()?.status())
    }

    fn subscribe(&mut self, caller: TaskId, bits: u32) -> Eth<()> {
        self.subscriber = Some((caller, bits));
        Ok(())
    }

    fn send(&mut self, _: TaskId, frame: Leased<'_, Read, u8>) -> Eth<()> {
        let device = self.device()?;
        let sent = device
            .send(frame.len(), now_ms(), |buf| frame.read_range(0, buf))
            .map_err(send_error);
        self.tell_request_fault();
        sent
    }

    fn recv(&mut self, _: TaskId, frame: Leased<'_, Write, u8>) -> Eth<u32> {
        let device = self.device()?;
        let max = frame.len().min(MAX_RECV);
        let got = device.recv(max, |bytes| frame.write_range(0, bytes));
        self.tell_request_fault();
        got.map(|len| len as u32).map_err(recv_error)
    }

    // Out of line: the serve loop stays small (these carry most frames).
    #[inline(never)]
    fn send_batch(&mut self, _: TaskId, batch: Batch, frames: Leased<'_, Read, u8>) -> Eth<u32> {
        let device = self.device()?;
        let sent = device
            .send_batch(&batch, frames.len(), now_ms(), |at, buf| {
                frames.read_range(at, buf)
            })
            .map_err(send_error);
        self.tell_request_fault();
        sent
    }

    // Out of line: the serve loop stays small (these carry most frames).
    #[inline(never)]
    fn recv_batch(&mut self, _: TaskId, frames: Leased<'_, Write, u8>) -> Eth<Batch> {
        let device = self.device()?;
        let got = device
            .recv_batch(frames.len(), |at, bytes| frames.write_range(at, bytes))
            .map_err(recv_error);
        self.tell_request_fault();
        got
    }
}

/// What a refused send tells the client; a lease it could not read is the
/// client's fault.
fn send_error(e: SendError<LeaseError>) -> ServerError<EthernetError> {
    e.ethernet()
        .map_or_else(ServerError::from, ServerError::from)
}

/// What a receive that moved nothing tells the client.
fn recv_error(e: RecvError<LeaseError>) -> ServerError<EthernetError> {
    e.ethernet()
        .map_or_else(ServerError::from, ServerError::from)
}

/// The task's one `Ipc`: each answer goes out with the next receive, one
/// `reply_recv` a request where `reply` and `recv` were two kernel
/// entries; the bus client shares it, so that a call to the bus sends a
/// held answer first.
type Ipc<'a> = &'a HeldReply<UserlibIpc>;

#[export_name = "main"]
fn main() -> ! {
    let ipc = HeldReply::new(UserlibIpc);
    let mut driver = Driver {
        bus: VirtioBusClient::new(&ipc, tasks::SUPERVISOR),
        binding: Binding::Unbound,
        subscriber: None,
    };
    driver.register();
    let mut buffer = [0u8; RECV_BUFFER];
    loop {
        #[cfg(not(feature = "fault-injection"))]
        ethernet_serve_once(&mut driver, &ipc, &mut buffer);
        #[cfg(feature = "fault-injection")]
        fault_inject::serve::serve_class_once(&mut driver, &ipc, &mut buffer, ethernet_dispatch);
    }
}

/// The receive buffer: a request of `idl/ethernet.idol`, or in a test
/// image one of `idl/fault-inject.idol`.
#[cfg(not(feature = "fault-injection"))]
const RECV_BUFFER: usize = ETHERNET_BUFFER_SIZE;
#[cfg(feature = "fault-injection")]
const RECV_BUFFER: usize = fault_inject::serve::buffer_size(ETHERNET_BUFFER_SIZE);

/// Test images only: the driver also serves `idl/fault-inject.idol` and
/// breaks its own transmit queue when asked to.
#[cfg(feature = "fault-injection")]
impl fault_inject::serve::Injectable for Driver<'_> {
    fn corrupt_queue(&mut self, how: virtio::queue::Corruption, arg: u32) -> bool {
        match &mut self.binding {
            Binding::Bound {
                device: Some(device),
                ..
            } => device.corrupt_queue(how, arg),
            _ => false,
        }
    }

    /// Device resets of this incarnation: a corrupted ring is confirmed
    /// when the driver caught it and reset the device.
    fn recoveries(&self) -> u32 {
        match &self.binding {
            Binding::Bound {
                device: Some(device),
                ..
            } => device.status().resets,
            _ => 0,
        }
    }
}
