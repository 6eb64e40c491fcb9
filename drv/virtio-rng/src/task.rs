//! The task side of the driver: the bus protocol, the entropy server and
//! the waits, carried out with syscalls. The device logic is the library's
//! [`Rng`].

use entropy_api::EntropyError;
use idol_runtime::{
    Leased, NotificationHandler, RequestError, ServerError, TaskId, UserlibIpc, Write,
};
use userlib::{
    sys_get_timer, sys_irq_control, sys_log, sys_recv_notification, sys_set_timer, tasks,
};
use virtio::queue::QueueMemory;
use virtio::regs::Mmio;
use virtio_bus_api::{slot_base, BusError, Probe, VirtioBusClient};
use virtio_rng::{BounceBuffer, DeviceFault, Event, FillError, Rng, Wait, ID_TABLE};

// `entropy_serve_once` is unused in fault-injection builds (own loop).
#[cfg_attr(feature = "fault-injection", allow(dead_code))]
mod entropy_server {
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/entropy_server.rs"));
}
use entropy_server::*;

/// Notification bits, in app.toml order: `notifications = ["irq",
/// "remove", "probe", "timer"]`.
const IRQ_BIT: u32 = 1 << 0;
const REMOVE_BIT: u32 = 1 << 1;
const PROBE_BIT: u32 = 1 << 2;
const TIMER_BIT: u32 = 1 << 3;

/// Ring entries: one request is in flight at a time, so a few suffice
/// (the ring memory is two pages whatever the size up to 227).
const QUEUE_SIZE: usize = 4;
/// Bytes per device request.
const BOUNCE_LEN: usize = 1024;
/// How long the device has to answer one request: app.toml's
/// `deadline-ms`, 1 s by default.
const REQUEST_TIMEOUT_MS: u64 = userlib::config::ms(option_env!("VIREO_DEADLINE_MS"), 1000);

type Device = Rng<'static, Mmio, QUEUE_SIZE, BOUNCE_LEN>;

/// The request queue's rings. Only ever borrowed by the one live `Device`.
static mut RING: QueueMemory<QUEUE_SIZE> = QueueMemory::new();
/// The only memory the device writes.
static BOUNCE: BounceBuffer<BOUNCE_LEN> = BounceBuffer::new();

/// The driver's state with respect to the bus.
enum Binding {
    /// No device: waiting for the probe bit.
    Unbound,
    /// The bus bound `slot` to us. `device` is `None` if bringing it up
    /// failed (it is tried again at the next request).
    Bound { slot: u32, device: Option<Device> },
}

struct Driver {
    bus: VirtioBusClient<UserlibIpc>,
    binding: Binding,
    /// Broken-queue recoveries: device faults (protocol breaks, missed
    /// deadlines) after which the device was reset.
    recoveries: u32,
}

/// Waits with notifications: the device IRQ, the bus's remove bit, and a
/// timer for the request deadline.
struct Notifications {
    deadline: u64,
    /// How long each wait may take.
    timeout_ms: u64,
}

impl Notifications {
    /// Waits of `timeout_ms` each.
    const fn new(timeout_ms: u64) -> Self {
        Notifications {
            deadline: 0,
            timeout_ms,
        }
    }
}

impl Wait for Notifications {
    fn begin(&mut self) {
        self.deadline = sys_get_timer().now + self.timeout_ms * abi::TICKS_PER_MS;
        sys_set_timer(Some(self.deadline), TIMER_BIT);
    }

    fn wait(&mut self) -> Event {
        loop {
            let bits = sys_recv_notification(IRQ_BIT | REMOVE_BIT | TIMER_BIT);
            if bits & REMOVE_BIT != 0 {
                return Event::Remove;
            }
            if bits & IRQ_BIT != 0 {
                return Event::Interrupt;
            }
            // A timer bit left over from an earlier request is not this
            // request's deadline.
            if bits & TIMER_BIT != 0 && sys_get_timer().now >= self.deadline {
                return Event::Timeout;
            }
        }
    }

    fn interrupt_done(&mut self) {
        sys_irq_control(IRQ_BIT, true);
    }
}

/// Brings up the device in the window the bus granted with `probe`.
fn bring_up(probe: &Probe) -> Option<Device> {
    // SAFETY: the bus granted this task the slot's window (that is what a
    // probe record means) and nothing else in this task touches it.
    let regs = unsafe { Mmio::new(slot_base(probe.slot)) };
    // SAFETY: RING is only borrowed by a live `Device`, and there is none:
    // `bring_up` is only called when the binding holds no device (after a
    // remove dropped the previous one, or before the first).
    let ring = unsafe { &mut *core::ptr::addr_of_mut!(RING) };
    match Rng::probe(regs, ring, &BOUNCE, Some(&virtio::KernelGate)) {
        Ok(device) => Some(device),
        Err(e) => {
            sys_log!("probe of slot {} failed: {e:?}", probe.slot);
            None
        }
    }
}

impl Driver {
    /// The seed's `register_virtio_driver`, and the probe when a device is
    /// free.
    fn register(&mut self) {
        match self.bus.register(ID_TABLE, IRQ_BIT, REMOVE_BIT, PROBE_BIT) {
            Ok(probe) => {
                let device = bring_up(&probe);
                if device.is_some() {
                    sys_log!("entropy device in slot {} is up", probe.slot);
                }
                self.binding = Binding::Bound {
                    slot: probe.slot,
                    device,
                };
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
        if let Err(e) = self.bus.removed() {
            sys_log!("removed() for slot {slot} failed: {e:?}");
        }
    }
}

impl NotificationHandler for Driver {
    fn notification_mask(&self) -> u32 {
        IRQ_BIT | REMOVE_BIT | PROBE_BIT
    }

    fn handle_notification(&mut self, bits: u32) {
        if bits & REMOVE_BIT != 0 {
            self.remove();
        } else if bits & IRQ_BIT != 0 {
            if let Binding::Bound {
                device: Some(device),
                slot,
            } = &mut self.binding
            {
                if let Err(fault) = device.interrupt() {
                    log_fault(*slot, fault);
                    self.recoveries = self.recoveries.wrapping_add(1);
                }
                sys_irq_control(IRQ_BIT, true);
            }
        }
        if bits & PROBE_BIT != 0 && matches!(self.binding, Binding::Unbound) {
            self.register();
        }
    }
}

impl EntropyServer for Driver {
    fn fill(
        &mut self,
        _: TaskId,
        data: Leased<'_, Write, u8>,
    ) -> Result<(), ServerError<EntropyError>> {
        let Binding::Bound { slot, device } = &mut self.binding else {
            return Err(EntropyError::NoDevice.into());
        };
        let slot = *slot;
        if device.is_none() {
            // A probe that failed earlier: try again (the window is ours).
            *device = bring_up(&Probe {
                slot,
                ..Probe::default()
            });
        }
        let Some(rng) = device else {
            return Err(EntropyError::DeviceError.into());
        };
        let mut wait = Notifications::new(REQUEST_TIMEOUT_MS);
        let result = rng.fill(data.len(), &mut wait, |offset, bytes| {
            data.write_range(offset, bytes)
        });
        sys_set_timer(None, TIMER_BIT);
        match result {
            Ok(()) => Ok(()),
            Err(FillError::Sink(e)) => Err(e.into()),
            Err(FillError::Removed) => {
                self.remove();
                Err(EntropyError::Removed.into())
            }
            Err(FillError::Device(fault)) => {
                log_fault(slot, fault);
                self.recoveries = self.recoveries.wrapping_add(1);
                Err(EntropyError::DeviceError.into())
            }
        }
    }
}

/// Logs a device fault. A device that did not finish its reset may still
/// write the bounce buffer: this incarnation ends (a panic) so that the
/// supervisor takes the device away and, if it cannot reset it either,
/// marks its slot failed; the client sees `ServerRestarted`.
fn log_fault(slot: u32, fault: DeviceFault) {
    if fault == DeviceFault::ResetFailed {
        panic!("device in slot {slot} did not finish its reset; giving it up");
    }
    sys_log!("device in slot {slot} misbehaved and was reset: {fault:?}");
}

#[export_name = "main"]
fn main() -> ! {
    let mut driver = Driver {
        bus: VirtioBusClient::new(UserlibIpc, tasks::SUPERVISOR),
        binding: Binding::Unbound,
        recoveries: 0,
    };
    driver.register();
    #[cfg(not(feature = "fault-injection"))]
    let mut buffer = [0u8; ENTROPY_BUFFER_SIZE];
    #[cfg(feature = "fault-injection")]
    let mut buffer = [0u8; injection::BUFFER_SIZE];
    loop {
        #[cfg(not(feature = "fault-injection"))]
        entropy_serve_once(&mut driver, &UserlibIpc, &mut buffer);
        #[cfg(feature = "fault-injection")]
        injection::serve_once(&mut driver, &mut buffer);
    }
}

/// Test images only: the driver also serves `idl/fault-inject.idol` and
/// commits the fault it is asked to.
#[cfg(feature = "fault-injection")]
mod injection {
    use fault_inject::InjectError;
    use idol_runtime::{Ipc, NotificationHandler, ServerError, TaskId, UserlibIpc};

    use super::{entropy_dispatch, Binding, Driver};

    #[allow(dead_code)] // the generated serve_once: the loop is below
    mod server {
        use fault_inject::InjectError;
        include!(concat!(env!("OUT_DIR"), "/fault_inject_server.rs"));
    }

    use server::{fault_inject_dispatch, FaultInjectServer};

    /// First op of `idl/fault-inject.idol` (its `first_op`).
    const FIRST_OP: u32 = 200;
    /// How long a corrupted ring is left for the device to look at.
    const CORRUPTION_SETTLE_MS: u64 = 200;

    /// A receive buffer that holds a request of either interface.
    pub const BUFFER_SIZE: usize = if server::FAULT_INJECT_BUFFER_SIZE > super::ENTROPY_BUFFER_SIZE
    {
        server::FAULT_INJECT_BUFFER_SIZE
    } else {
        super::ENTROPY_BUFFER_SIZE
    };

    struct Injector<'d>(&'d mut Driver);

    impl NotificationHandler for Injector<'_> {}

    impl FaultInjectServer for Injector<'_> {
        fn inject(
            &mut self,
            _: TaskId,
            kind: u32,
            arg: u32,
        ) -> Result<(), ServerError<InjectError>> {
            let how = fault_inject::serve(kind, arg)?;
            match &mut self.0.binding {
                Binding::Bound {
                    device: Some(device),
                    slot,
                } => {
                    // The device's verdict, then (after silence) one real
                    // request: together well inside the supervisor's 1.5 s
                    // patience with a caller left waiting.
                    let mut settle = super::Notifications::new(CORRUPTION_SETTLE_MS);
                    let mut wait = super::Notifications::new(super::REQUEST_TIMEOUT_MS);
                    let result = device.corrupt_queue(how, arg, &mut settle, &mut wait);
                    userlib::sys_set_timer(None, super::TIMER_BIT);
                    if let Err(fault) = result {
                        super::log_fault(*slot, fault);
                        self.0.recoveries = self.0.recoveries.wrapping_add(1);
                    }
                    Ok(())
                }
                _ => Err(InjectError::NoQueue.into()),
            }
        }

        fn recoveries(&mut self, _: TaskId) -> Result<u32, ServerError<core::convert::Infallible>> {
            Ok(self.0.recoveries)
        }
    }

    /// `entropy_serve_once`, with the fault-injection ops routed to the
    /// injector.
    pub fn serve_once(driver: &mut Driver, buffer: &mut [u8]) {
        let msg = UserlibIpc.recv(buffer, driver.notification_mask(), None);
        if msg.sender == TaskId::KERNEL {
            driver.handle_notification(msg.operation);
        } else if msg.operation >= FIRST_OP {
            fault_inject_dispatch(&mut Injector(driver), &UserlibIpc, buffer, &msg);
        } else {
            entropy_dispatch(driver, &UserlibIpc, buffer, &msg);
        }
    }
}
