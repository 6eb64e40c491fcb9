//! What the driver needs from its surroundings besides IPC ([`Platform`]),
//! and what it reports to them ([`Event`]).

use virtio::RegisterAccess;
use virtio_bus_api::Probe;

use super::REQUEST_DEADLINE_MS;
use crate::device::ProbeError;

/// What the driver needs from its surroundings besides IPC: the bus
/// supervisor, the device window and the interrupt. The task implements it
/// with `VirtioBusClient`, `Mmio` and `sys_irq_control`; tests with the
/// device model.
pub trait Platform {
    /// Register access to a probed device.
    type Regs: RegisterAccess;

    /// `VirtioBus.register`: `Some(probe)` if the bus bound a device to us
    /// (reset, window granted, IRQ routed and unmasked), `None` if none is
    /// free (we stay registered and get [`PROBE_BIT`](super::PROBE_BIT) when one may be).
    fn register(&mut self) -> Option<Probe>;

    /// The register window of the probed slot.
    fn regs(&mut self, probe: &Probe) -> Self::Regs;

    /// `VirtioBus.removed`: the device is reset and no request of ours is
    /// on it any more.
    fn removed(&mut self);

    /// Unmasks the device interrupt after it was handled.
    fn enable_irq(&mut self);

    /// Who places the queue and writes its descriptors: the kernel
    /// (`virtio::KernelGate`) in the task, whose ring memory it may not
    /// write; `None` (the queue writes its own `DmaMemory` ring) for host
    /// tests against the device model.
    fn dma_gate(&self) -> Option<&'static dyn virtio::DmaGate> {
        None
    }

    /// The driver found its own state corrupt: stop (the task panics, so
    /// the supervisor resets the device and restarts it from its image).
    /// Host tests keep the default, which carries on.
    fn corrupt(&mut self) {}

    /// Something worth a log line happened.
    fn event(&mut self, event: Event) {
        let _ = event;
    }

    /// The time in ms (for the request deadline). Platforms without a clock
    /// keep the default and never time a request out.
    fn now_ms(&mut self) -> u64 {
        0
    }

    /// Arms (or, with `None`, disarms) the timer that posts [`TIMER_BIT`](super::TIMER_BIT).
    fn set_timer(&mut self, deadline_ms: Option<u64>) {
        let _ = deadline_ms;
    }

    /// How long a request may wait for the device without progress (ms).
    fn request_deadline_ms(&self) -> u64 {
        REQUEST_DEADLINE_MS
    }

    /// The device did not finish a reset, so it may still write the
    /// driver's memory: the driver has answered every call, will never
    /// touch the device or its DMA memory again, and answers `DeviceError`
    /// from now on. The task stops here (a fault) so that the supervisor
    /// takes the device away and marks its slot failed.
    fn device_failed(&mut self) {}
}

/// What the driver tells [`Platform::event`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A device was brought up.
    Probed {
        /// Its slot.
        slot: u32,
        /// Its capacity in sectors.
        capacity: u64,
        /// Transport version (1 legacy, 2 modern).
        version: u32,
    },
    /// A probed device could not be brought up.
    ProbeFailed(ProbeError),
    /// The device broke the virtqueue protocol: in-flight requests failed,
    /// device reset and brought up again.
    DeviceFault(virtio::Error),
    /// A request outlived its deadline ([`REQUEST_DEADLINE_MS`](super::REQUEST_DEADLINE_MS)) without
    /// progress: in-flight requests failed, device reset and brought up
    /// again.
    Timeout,
    /// The device set DEVICE_NEEDS_RESET (§2.1.2): in-flight requests
    /// failed, device reset and brought up again.
    NeedsReset,
    /// A configuration change: the disk now has this many sectors.
    Resized {
        /// The new capacity in sectors.
        capacity: u64,
    },
    /// The device did not finish a reset: given up (see
    /// [`Platform::device_failed`]).
    ResetFailed,
    /// The bus took the device away.
    Removed {
        /// Requests that were in flight and failed with `Removed`.
        in_flight: usize,
    },
}
