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

    /// The driver found its own state corrupt, for the reason `why`: stop
    /// (the task panics, so the supervisor resets the device and restarts
    /// it from its image). Every answer the driver gave is out by then (it
    /// flushes its `Ipc`, which may hold a reply for the next receive,
    /// first). The default carries on.
    fn corrupt(&mut self, why: Corrupt) {
        let _ = why;
    }

    /// Something worth a log line happened.
    fn event(&mut self, event: Event) {
        let _ = event;
    }

    /// The time in the platform's clock ticks (for the request deadline),
    /// [`ticks_per_ms`](Self::ticks_per_ms) to a millisecond. Platforms
    /// without a clock keep the default and never time a request out.
    ///
    /// Read twice per request: the driver keeps its deadlines in ticks so
    /// that no request pays for a conversion (a `u64` division on a 32-bit
    /// target is a library call).
    fn now(&mut self) -> u64 {
        0
    }

    /// Clock ticks per millisecond ([`now`](Self::now), [`set_timer`](Self::set_timer)):
    /// the driver multiplies its deadline in ms by it once, when it is made.
    fn ticks_per_ms(&self) -> u64 {
        1
    }

    /// Arms (or, with `None`, disarms) the timer that posts
    /// [`TIMER_BIT`](super::TIMER_BIT) at `deadline`, in clock ticks.
    ///
    /// The timer may fire earlier than asked (see [`LazyTimer`]), and a
    /// disarmed one once more: the driver checks the time when it fires,
    /// calls [`timer_fired`](Self::timer_fired) and asks again.
    fn set_timer(&mut self, deadline: Option<u64>) {
        let _ = deadline;
    }

    /// The timer posted [`TIMER_BIT`](super::TIMER_BIT): it is no longer
    /// armed.
    fn timer_fired(&mut self) {}

    /// How long a request may wait for the device without progress (ms).
    fn request_deadline_ms(&self) -> u64 {
        REQUEST_DEADLINE_MS
    }

    /// The device did not finish a reset, so it may still write the
    /// driver's memory: the driver has answered every call (its `Ipc`
    /// flushed: no reply held back), will never
    /// touch the device or its DMA memory again, and answers `DeviceError`
    /// from now on. The task stops here (a fault) so that the supervisor
    /// takes the device away and marks its slot failed.
    fn device_failed(&mut self) {}
}

/// Why the driver believes its own state is corrupt ([`Platform::corrupt`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Corrupt {
    /// Its queue was still broken by an earlier device error when it
    /// looked for completions, though every bring-up makes a new one: its
    /// own bookkeeping disagrees with the queue's.
    QueueLeftBroken,
    /// [`RECOVERIES_WITHOUT_PROGRESS`](super::RECOVERIES_WITHOUT_PROGRESS)
    /// device resets in a row brought no completion: the device answers
    /// every other driver that resets it, so this driver's state is the
    /// likelier culprit.
    NoProgress,
    /// [`REFUSED_IN_A_ROW`](super::REFUSED_IN_A_ROW) requests in a row
    /// could not be handed to the device (no free slot where one should
    /// be, or its own descriptors refused by the queue or the kernel):
    /// nothing the device did.
    RefusesRequests,
    /// A request came from a caller that already has one in flight here,
    /// which the kernel never delivers (a caller waits in its send until
    /// its reply): the message it read is not the one received.
    CallerAlreadyWaiting,
}

impl Corrupt {
    /// The reason, as the driver's panic message gives it.
    pub const fn describe(self) -> &'static str {
        match self {
            Corrupt::QueueLeftBroken => {
                "its queue was still broken after a bring-up: driver state corrupt"
            }
            Corrupt::NoProgress => {
                "device resets one after another brought no completion: driver state suspected corrupt"
            }
            Corrupt::RefusesRequests => {
                "requests one after another could not be handed to the device: driver state corrupt"
            }
            Corrupt::CallerAlreadyWaiting => {
                "a request from a caller already waiting for its reply: driver state corrupt"
            }
        }
    }
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
    /// The kernel refused a request's chain: the device still holds
    /// descriptors the queue counts as free (`abi::DMA_PINNED`), so the
    /// two are out of step. In-flight requests failed, device reset and
    /// brought up again.
    OutOfStep,
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

/// A [`Platform`]'s timer kept off the request path: the deadline moves
/// with every request, but the kernel's timer is only reprogrammed when it
/// would fire too late.
///
/// A timer armed no later than the deadline wanted is kept (it fires early;
/// the driver finds its deadline not reached and asks again, after
/// [`fired`](Self::fired)), and a timer no longer wanted is left to fire
/// once instead of being disarmed. So a busy driver reprograms it about
/// once per deadline period instead of twice per request, and the timer
/// never fires later than the deadline the driver last asked for.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct LazyTimer {
    /// When the kernel's timer fires, if it is armed.
    armed: Option<u64>,
}

impl LazyTimer {
    /// The driver wants its timer at `deadline` (`None`: not at all).
    /// Returns the deadline to program the kernel's timer with now, if it
    /// must be.
    pub fn want(&mut self, deadline: Option<u64>) -> Option<u64> {
        let wanted = deadline?;
        match self.armed {
            Some(armed) if armed <= wanted => None,
            _ => {
                self.armed = Some(wanted);
                Some(wanted)
            }
        }
    }

    /// The kernel's timer fired: it is no longer armed.
    pub fn fired(&mut self) {
        self.armed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::LazyTimer;

    #[test]
    fn the_timer_is_programmed_only_when_it_would_fire_too_late() {
        let mut t = LazyTimer::default();
        assert_eq!(t.want(None), None, "nothing armed, nothing wanted");
        assert_eq!(t.want(Some(1000)), Some(1000));
        // Later deadlines keep the earlier timer; disarming leaves it.
        assert_eq!(t.want(Some(1500)), None);
        assert_eq!(t.want(None), None);
        assert_eq!(t.want(Some(2000)), None);
        // An earlier deadline than the armed one must be programmed.
        assert_eq!(t.want(Some(900)), Some(900));
        // Once it fired, the next deadline is programmed again.
        t.fired();
        assert_eq!(t.want(Some(2000)), Some(2000));
        t.fired();
        assert_eq!(t.want(None), None);
        assert_eq!(t.want(Some(2000)), Some(2000));
    }
}
