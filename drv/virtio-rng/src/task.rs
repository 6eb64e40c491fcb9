//! The task side of the driver: the bus, the device window, the interrupt
//! and the waits, carried out with syscalls. The driver itself is the
//! library's [`EntropyDriver`].

use idol_runtime::{HeldReply, UserlibIpc};
use userlib::{
    sys_get_timer, sys_irq_control, sys_log, sys_recv_notification, sys_set_timer, tasks,
};
use virtio::queue::QueueMemory;
use virtio::regs::Mmio;
use virtio_bus_api::{slot_base, Probe, VirtioBusClient};
use virtio_rng::server::{
    EntropyDriver, Platform, ServerEvent, ENTROPY_BUFFER_SIZE, IRQ_BIT, PROBE_BIT, REMOVE_BIT,
    TIMER_BIT,
};
use virtio_rng::{BounceBuffer, DeviceFault, Event, Wait, ID_TABLE};

/// Ring entries: one request is in flight at a time, so a few suffice
/// (the ring memory is two pages whatever the size up to 227).
const QUEUE_SIZE: usize = 4;
/// Bytes per device request.
const BOUNCE_LEN: usize = 1024;
/// How long the device has to complete one fill (all its requests):
/// app.toml's `deadline-ms`, 1 s by default.
const REQUEST_TIMEOUT_MS: u64 = userlib::config::ms(option_env!("VIREO_DEADLINE_MS"), 1000);

/// The request queue's rings. Only ever borrowed by the one live device.
static mut RING: QueueMemory<QUEUE_SIZE> = QueueMemory::new();
/// The only memory the device writes.
static BOUNCE: BounceBuffer<BOUNCE_LEN> = BounceBuffer::new();

/// The driver's IPC: an answer goes out with the next receive (one
/// `reply_recv`), or first when the driver sends anything else. A reply
/// is held only from its request's dispatch to the next receive, so it is
/// never held while the driver waits for its device.
type Ipc<'a> = &'a HeldReply<UserlibIpc>;

/// The bus supervisor, the granted window, the IRQ and the timer.
struct Task<'a> {
    /// Through the driver's own `Ipc`, so that a call to the bus sends a
    /// held reply first.
    bus: VirtioBusClient<Ipc<'a>>,
}

impl Platform<QUEUE_SIZE> for Task<'_> {
    type Regs = Mmio;
    type Wait = Notifications;

    fn register(&mut self) -> Option<Probe> {
        let refused = |e| sys_log!("register with the bus failed: {e:?}");
        self.bus
            .probe_or_wait(ID_TABLE, IRQ_BIT, REMOVE_BIT, PROBE_BIT, refused)
    }

    fn regs(&mut self, slot: u32) -> Mmio {
        // SAFETY: the bus granted this task the slot's window (it bound the
        // slot to us) and keeps it ours until we call `removed`; the driver
        // makes one `Mmio` per bring-up and drops it with the device.
        unsafe { Mmio::new(slot_base(slot)) }
    }

    fn ring(&mut self) -> &'static mut QueueMemory<QUEUE_SIZE> {
        // SAFETY: RING is only borrowed by a live device, and the driver
        // asks for it only while it holds none (`Platform::ring`).
        unsafe { &mut *core::ptr::addr_of_mut!(RING) }
    }

    fn dma_gate(&self) -> Option<&'static dyn virtio::DmaGate> {
        Some(&virtio::KernelGate)
    }

    fn removed(&mut self) {
        if let Err(e) = self.bus.removed() {
            sys_log!("removed() failed: {e:?}");
        }
    }

    fn enable_irq(&mut self) {
        sys_irq_control(IRQ_BIT, true);
    }

    fn waiter(&mut self, timeout_ms: u64) -> Notifications {
        Notifications {
            deadline: 0,
            timeout_ms,
        }
    }

    fn disarm(&mut self) {
        sys_set_timer(None, TIMER_BIT);
    }

    fn event(&mut self, event: ServerEvent) {
        match event {
            ServerEvent::Up { slot } => sys_log!("entropy device in slot {slot} is up"),
            ServerEvent::ProbeFailed { slot, error } => {
                sys_log!("probe of slot {slot} failed: {error:?}")
            }
            ServerEvent::DeviceFault {
                slot,
                fault: DeviceFault::ResetFailed,
            } => sys_log!("device in slot {slot} did not finish its reset; giving it up"),
            ServerEvent::DeviceFault {
                slot,
                fault: DeviceFault::Timeout,
            } => sys_log!(
                "device in slot {slot} missed a fill's deadline (a slow source?) and was reset"
            ),
            ServerEvent::DeviceFault { slot, fault } => {
                sys_log!("device in slot {slot} misbehaved and was reset: {fault:?}")
            }
        }
    }

    fn device_failed(&mut self, slot: u32) {
        // The device may still write the bounce buffer: end this
        // incarnation so that the supervisor takes the device away and, if
        // it cannot reset it either, marks its slot failed; the client sees
        // `ServerRestarted`.
        panic!("device in slot {slot} did not finish its reset; giving it up");
    }
}

/// Waits with notifications: the device IRQ, the bus's remove bit, and a
/// timer for the fill's deadline.
struct Notifications {
    deadline: u64,
    /// How long a fill may take.
    timeout_ms: u64,
}

impl Wait for Notifications {
    fn begin(&mut self) {
        self.deadline = sys_get_timer().now + self.timeout_ms * abi::TICKS_PER_MS;
        sys_set_timer(Some(self.deadline), TIMER_BIT);
    }

    fn wait(&mut self) -> Event {
        loop {
            // The deadline is judged by the clock before every wait, not by
            // the timer's bit alone: a device that raises interrupts without
            // completing anything would otherwise hide the bit behind
            // `Interrupt` (both arrive in one receive) and keep the request
            // waiting for ever. The caller polls the ring before each wait,
            // so a completion that beat the deadline is already taken.
            if sys_get_timer().now >= self.deadline {
                return Event::Timeout;
            }
            let bits = sys_recv_notification(IRQ_BIT | REMOVE_BIT | TIMER_BIT);
            if bits & REMOVE_BIT != 0 {
                return Event::Remove;
            }
            if bits & IRQ_BIT != 0 {
                return Event::Interrupt;
            }
            // A timer bit (this request's, or one left over from an
            // earlier request) is judged at the top.
        }
    }

    fn interrupt_done(&mut self) {
        sys_irq_control(IRQ_BIT, true);
    }
}

type Driver<'a> = EntropyDriver<Task<'a>, QUEUE_SIZE, BOUNCE_LEN>;

#[export_name = "main"]
fn main() -> ! {
    let ipc = HeldReply::new(UserlibIpc);
    let ipc: Ipc = &ipc;
    let bus = VirtioBusClient::new(ipc, tasks::SUPERVISOR);
    let mut driver = Driver::new(Task { bus }, &BOUNCE, REQUEST_TIMEOUT_MS);
    driver.register();
    #[cfg(not(feature = "fault-injection"))]
    {
        let mut buffer = [0u8; ENTROPY_BUFFER_SIZE];
        loop {
            virtio_rng::server::entropy_serve_once(&mut driver, ipc, &mut buffer);
        }
    }
    #[cfg(feature = "fault-injection")]
    {
        let mut buffer = [0u8; fault_inject::serve::buffer_size(ENTROPY_BUFFER_SIZE)];
        loop {
            fault_inject::serve::serve_class_once(
                &mut driver,
                ipc,
                &mut buffer,
                virtio_rng::server::entropy_dispatch,
            );
        }
    }
}
