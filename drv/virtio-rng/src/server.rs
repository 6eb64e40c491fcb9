//! The entropy server: `idl/entropy.idol` on top of [`Rng`], and the
//! driver's life with the bus (register, probe, remove, re-register) —
//! everything the task does but the syscalls, so that host tests run it
//! against the virtio core's device model and `idol-runtime`'s mock kernel
//! (the same split as `virtio-blk`'s `server`).
//!
//! It must never leave a client hanging: every `fill` is answered, with
//! `NoDevice` while no device is bound, `Removed` for a fill cut short by a
//! remove, `TimedOut` when the device was too slow for the deadline (a
//! rate-limited source) and `DeviceError` when it misbehaved.

use entropy_api::EntropyError;
use idol_runtime::{Leased, NotificationHandler, Served, TaskId, Write};
use virtio::queue::QueueMemory;
use virtio::RegisterAccess;
use virtio_bus_api::Probe;

use crate::device::{DeviceFault, FillError, ProbeError, Rng, Wait};
use crate::BounceBuffer;

// The generated `entropy_serve_once` is the task's loop, not the library's.
#[allow(dead_code)]
mod generated {
    use entropy_api::EntropyError;
    include!(concat!(env!("OUT_DIR"), "/entropy_server.rs"));
}
pub use generated::{entropy_dispatch, entropy_serve_once, EntropyServer, ENTROPY_BUFFER_SIZE};

/// Notification bits, in app.toml order: `notifications = ["irq",
/// "remove", "probe", "timer"]`.
pub const IRQ_BIT: u32 = 1 << 0;
/// The bus wants the device back.
pub const REMOVE_BIT: u32 = 1 << 1;
/// A device may be free: register again.
pub const PROBE_BIT: u32 = 1 << 2;
/// A request's deadline (the task's [`Wait`] arms it).
pub const TIMER_BIT: u32 = 1 << 3;

/// What the driver needs from its surroundings besides IPC: the bus
/// supervisor, the device window, the interrupt and the waits. The task
/// implements it with `VirtioBusClient`, `Mmio` and notifications; tests
/// with the device model.
pub trait Platform<const N: usize> {
    /// Register access to a probed device.
    type Regs: RegisterAccess;
    /// How a request waits for the device.
    type Wait: Wait;

    /// `VirtioBus.register`: `Some(probe)` if the bus bound a device to us,
    /// `None` if none is free (the platform logs a refusal).
    fn register(&mut self) -> Option<Probe>;

    /// The register window of `slot`, which the bus granted us.
    fn regs(&mut self, slot: u32) -> Self::Regs;

    /// The request queue's ring memory. Only called while no [`Rng`] holds
    /// it (the driver has no device, or just dropped it).
    fn ring(&mut self) -> &'static mut QueueMemory<N>;

    /// `VirtioBus.removed`: the device is reset and holds nothing of ours.
    fn removed(&mut self);

    /// Unmasks the device interrupt after it was handled.
    fn enable_irq(&mut self);

    /// Who places the queue and writes its descriptors: the kernel
    /// (`virtio::KernelGate`) in the task, whose ring memory it may not
    /// write; `None` (the queue writes its own ring) for host tests against
    /// the device model.
    fn dma_gate(&self) -> Option<&'static dyn virtio::DmaGate> {
        None
    }

    /// A waiter whose deadline is `timeout_ms` after each `begin` (once
    /// per fill).
    fn waiter(&mut self, timeout_ms: u64) -> Self::Wait;

    /// Disarms the request deadline once a fill is over.
    fn disarm(&mut self) {}

    /// Something worth a log line happened.
    fn event(&mut self, event: ServerEvent) {
        let _ = event;
    }

    /// The device did not finish a reset, so it may still write the bounce
    /// buffer: the task ends this incarnation here (a panic) so that the
    /// supervisor takes the device away and marks its slot failed.
    fn device_failed(&mut self, slot: u32) {
        let _ = slot;
    }
}

/// What the driver tells [`Platform::event`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    /// The device in `slot` is up.
    Up {
        /// Its bus slot.
        slot: u32,
    },
    /// Bringing up the device in `slot` failed (tried again at the next
    /// fill).
    ProbeFailed {
        /// Its bus slot.
        slot: u32,
        /// Why.
        error: ProbeError,
    },
    /// The device misbehaved and was reset.
    DeviceFault {
        /// Its bus slot.
        slot: u32,
        /// How.
        fault: DeviceFault,
    },
}

/// The driver's state with respect to the bus.
enum Binding<R: RegisterAccess, const N: usize, const B: usize> {
    /// No device: waiting for the probe bit.
    Unbound,
    /// The bus bound `slot` to us. `device` is `None` if bringing it up
    /// failed (it is tried again at the next request).
    Bound {
        slot: u32,
        device: Option<Rng<'static, R, N, B>>,
    },
}

/// The virtio-rng driver: an [`EntropyServer`] and [`NotificationHandler`]
/// for a device with an `N`-entry queue and a `B`-byte bounce buffer.
pub struct EntropyDriver<P: Platform<N>, const N: usize, const B: usize> {
    platform: P,
    bounce: &'static BounceBuffer<B>,
    binding: Binding<P::Regs, N, B>,
    /// How long the device has to answer one request (ms).
    timeout_ms: u64,
    /// Broken-queue recoveries: device faults (protocol breaks, missed
    /// deadlines) after which the device was reset.
    recoveries: u32,
}

impl<P: Platform<N>, const N: usize, const B: usize> EntropyDriver<P, N, B> {
    /// A driver with no device yet; call [`register`](Self::register).
    pub fn new(platform: P, bounce: &'static BounceBuffer<B>, timeout_ms: u64) -> Self {
        EntropyDriver {
            platform,
            bounce,
            binding: Binding::Unbound,
            timeout_ms,
            recoveries: 0,
        }
    }

    /// The platform (tests look at what the driver asked of it).
    pub fn platform(&mut self) -> &mut P {
        &mut self.platform
    }

    /// The bus slot bound to us, if any.
    pub fn slot(&self) -> Option<u32> {
        match self.binding {
            Binding::Bound { slot, .. } => Some(slot),
            Binding::Unbound => None,
        }
    }

    /// Whether a device is bound and up.
    pub fn is_up(&self) -> bool {
        matches!(
            self.binding,
            Binding::Bound {
                device: Some(_),
                ..
            }
        )
    }

    /// Broken-queue recoveries of this incarnation.
    pub fn recoveries(&self) -> u32 {
        self.recoveries
    }

    /// The seed's `register_virtio_driver`, and the probe when a device is
    /// free.
    pub fn register(&mut self) {
        if let Some(probe) = self.platform.register() {
            let device = self.bring_up(probe.slot);
            self.binding = Binding::Bound {
                slot: probe.slot,
                device,
            };
        }
    }

    /// Brings up the device in `slot` (whose window the bus granted us).
    /// Only called while the binding holds no device, so nothing holds the
    /// ring.
    fn bring_up(&mut self, slot: u32) -> Option<Rng<'static, P::Regs, N, B>> {
        let regs = self.platform.regs(slot);
        let ring = self.platform.ring();
        match Rng::probe(regs, ring, self.bounce, self.platform.dma_gate()) {
            Ok(device) => {
                self.platform.event(ServerEvent::Up { slot });
                Some(device)
            }
            Err(error) => {
                self.platform
                    .event(ServerEvent::ProbeFailed { slot, error });
                None
            }
        }
    }

    /// The seed's `remove`: quiesce and reset the device, then tell the
    /// bus, which revokes the window. Nothing touches the window after.
    pub fn remove(&mut self) {
        let Binding::Bound { device, .. } = core::mem::replace(&mut self.binding, Binding::Unbound)
        else {
            return;
        };
        if let Some(device) = device {
            let _regs = device.remove();
        }
        self.platform.removed();
    }

    /// A device fault: counted, reported, and the end of this incarnation
    /// if the device did not finish its reset.
    fn fault(&mut self, slot: u32, fault: DeviceFault) {
        self.recoveries = self.recoveries.wrapping_add(1);
        self.platform
            .event(ServerEvent::DeviceFault { slot, fault });
        if fault == DeviceFault::ResetFailed {
            self.platform.device_failed(slot);
        }
    }
}

impl<P: Platform<N>, const N: usize, const B: usize> NotificationHandler
    for EntropyDriver<P, N, B>
{
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
                let (slot, result) = (*slot, device.interrupt());
                if let Err(fault) = result {
                    self.fault(slot, fault);
                }
                self.platform.enable_irq();
            }
        }
        if bits & PROBE_BIT != 0 && matches!(self.binding, Binding::Unbound) {
            self.register();
        }
    }
}

impl<P: Platform<N>, const N: usize, const B: usize> EntropyServer for EntropyDriver<P, N, B> {
    fn fill(&mut self, _: TaskId, data: Leased<'_, Write, u8>) -> Served<(), EntropyError> {
        let Binding::Bound { slot, device } = &self.binding else {
            return Err(EntropyError::NoDevice.into());
        };
        let slot = *slot;
        if device.is_none() {
            // A probe that failed earlier: try again (the window is ours).
            let again = self.bring_up(slot);
            if let Binding::Bound { device, .. } = &mut self.binding {
                *device = again;
            }
        }
        let Binding::Bound {
            device: Some(rng), ..
        } = &mut self.binding
        else {
            return Err(EntropyError::DeviceError.into());
        };
        let mut wait = self.platform.waiter(self.timeout_ms);
        let result = rng.fill(data.len(), &mut wait, |offset, bytes| {
            data.write_range(offset, bytes)
        });
        self.platform.disarm();
        match result {
            Ok(()) => Ok(()),
            Err(FillError::Sink(e)) => Err(e.into()),
            Err(FillError::Removed) => {
                self.remove();
                Err(EntropyError::Removed.into())
            }
            Err(FillError::Device(fault)) => {
                // A source that is only slow (rate-limited) is not broken:
                // the client is told which it was.
                let error = if matches!(fault, DeviceFault::Timeout) {
                    EntropyError::TimedOut
                } else {
                    EntropyError::DeviceError
                };
                self.fault(slot, fault);
                Err(error.into())
            }
        }
    }
}

/// Fault injection (test images only): breaks the device's ring (see
/// [`Rng::corrupt_queue`]).
#[cfg(feature = "fault-injection")]
impl<P: Platform<N>, const N: usize, const B: usize> fault_inject::serve::Injectable
    for EntropyDriver<P, N, B>
{
    fn corrupt_queue(&mut self, how: virtio::queue::Corruption, arg: u32) -> bool {
        /// How long a corrupted ring is left for the device to look at, at
        /// most: never longer than a request deadline (the caller is
        /// waiting, and an image with short deadlines wants faults found
        /// fast).
        const CORRUPTION_SETTLE_MS: u64 = 200;
        let Binding::Bound {
            device: Some(device),
            slot,
        } = &mut self.binding
        else {
            return false;
        };
        let slot = *slot;
        // The device's verdict, then (after silence) one real request:
        // together well inside the supervisor's 1.5 s patience with a
        // caller left waiting.
        let mut settle = self
            .platform
            .waiter(CORRUPTION_SETTLE_MS.min(self.timeout_ms));
        let mut wait = self.platform.waiter(self.timeout_ms);
        let result = device.corrupt_queue(how, arg, &mut settle, &mut wait);
        self.platform.disarm();
        if let Err(fault) = result {
            self.fault(slot, fault);
        }
        true
    }

    fn recoveries(&self) -> u32 {
        self.recoveries
    }
}
