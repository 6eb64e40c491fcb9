//! One entropy device, brought up and driven: the seed's `probe`, `remove`
//! and callback for virtio-rng (§5.4).
//!
//! [`Rng`] is generic over the register access so that the same code runs
//! on the target (volatile MMIO) and in the host tests (the virtio core's
//! software device). Everything that blocks — waiting for the interrupt, a
//! remove request or a deadline — is behind the [`Wait`] trait, which the
//! task implements with notifications and the tests with the device model.

use virtio::queue::{QueueMemory, SplitQueue};
use virtio::transport::mmio::MmioTransport;
use virtio::transport::{DeviceStatus, InterruptStatus};
use virtio::{Features, RegisterAccess, Transport};

use crate::bounce::BounceBuffer;
use crate::fill::{Fill, FillFault};
use crate::{DEVICE_ID, REQUEST_QUEUE};

/// What ended a wait for the device.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The device's interrupt fired (and is masked until
    /// [`Wait::interrupt_done`]).
    Interrupt,
    /// The bus asked the driver to let go of the device.
    Remove,
    /// The fill's deadline passed.
    Timeout,
}

/// How the driver waits for its device.
pub trait Wait {
    /// Start the deadline. A fill calls it once, not per device request:
    /// the deadline bounds how long the client waits, and a source that
    /// trickles (a rate-limited rng) must not keep it waiting past the
    /// supervisor's watchdog, which would restart the driver as hung.
    fn begin(&mut self);
    /// A device request was just made available (tests count them).
    fn requested(&mut self) {}
    /// Blocks until the interrupt fires, a remove is requested or the
    /// deadline set by [`begin`](Self::begin) has passed.
    fn wait(&mut self) -> Event;
    /// The interrupt was handled (the device acknowledged): unmask it.
    fn interrupt_done(&mut self);
}

pub use virtio::ProbeError;

/// What the device did wrong; it has been reset when this is reported.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DeviceFault {
    /// The queue caught the device breaking the ring protocol.
    Queue(virtio::Error),
    /// Bringing the device up again after an earlier fault failed.
    Probe(ProbeError),
    /// A fill was not completed before its deadline.
    Timeout,
    /// The device set DEVICE_NEEDS_RESET (§2.1.2) and said so with a
    /// configuration change interrupt.
    NeedsReset,
    /// The device did not finish a reset: it may still write the bounce
    /// buffer, so it is given up for good (see [`Rng::is_dead`]).
    ResetFailed,
    /// A completion did not fit the request.
    Fill(FillFault),
    /// A completion carried a token that was not in flight.
    WrongToken {
        /// The token in flight.
        expected: u32,
        /// The token that came back.
        got: u32,
    },
}

/// Why a fill failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FillError<E> {
    /// The device misbehaved; it was reset and is brought up again at the
    /// next request.
    Device(DeviceFault),
    /// A remove request arrived during the fill; the device was reset and
    /// every buffer taken back. Call [`Rng::remove`] and tell the bus.
    Removed,
    /// The sink refused the bytes (in the task: the client's lease).
    Sink(E),
}

/// A virtio entropy device in use: its transport, its request queue of `N`
/// entries and the `B`-byte bounce buffer the device writes into.
pub struct Rng<'a, R: RegisterAccess, const N: usize, const B: usize> {
    transport: MmioTransport<R>,
    queue: SplitQueue<'a, u32, N>,
    bounce: &'a BounceBuffer<B>,
    /// Negotiated features, to bring the device up again the same way.
    features: Features,
    /// False after a fault reset the device; the next fill brings it up.
    live: bool,
    /// A reset did not finish: the device may still own the bounce buffer,
    /// so it is never handed to the device (or read) again.
    dead: bool,
    next_token: u32,
}

impl<'a, R: RegisterAccess, const N: usize, const B: usize> Rng<'a, R, N, B> {
    /// Fault injection (test images only): breaks the device's ring as a
    /// memory-corrupting bug would, and tells the device to look at it.
    ///
    /// Then waits with `settle` (shorter than a request deadline: the
    /// caller is waiting) for the device's verdict on the broken
    /// ring (QEMU's entropy arrives asynchronously, so a corruption left
    /// for the next fill to find could be overwritten by that fill before
    /// the device looked): a completion the queue rejects is a fault (the
    /// device is reset and the fault returned); after silence, one real
    /// request, waited for with `wait`, decides (see below). `Ok` means the
    /// device took no notice.
    #[cfg(feature = "fault-injection")]
    pub fn corrupt_queue(
        &mut self,
        how: virtio::queue::Corruption,
        value: u32,
        settle: &mut impl Wait,
        wait: &mut impl Wait,
    ) -> Result<(), DeviceFault> {
        if !self.live {
            self.bring_up_again()?;
        }
        self.queue.corrupt(how, value);
        self.transport.notify(self.queue.queue_index());
        settle.begin();
        loop {
            if let Err(fault) = self.poll(None) {
                return Err(self.fault(fault));
            }
            match settle.wait() {
                Event::Interrupt => {
                    self.transport.take_interrupt();
                    settle.interrupt_done();
                }
                Event::Remove => {
                    self.quiesce();
                    return Ok(());
                }
                Event::Timeout => break,
            }
        }
        // Silence: a device that refused the ring (QEMU stops a device
        // that breaks the protocol, and a legacy one says nothing), or one
        // that has not looked yet. A real request on the same ring tells
        // them apart: a broken device leaves it unanswered too (a fault,
        // and a reset); an answer means the corruption had no effect.
        wait.begin();
        self.request::<()>(1, wait)
            .map(|_| ())
            .map_err(|e| match e {
                FillError::Device(fault) => fault,
                FillError::Removed | FillError::Sink(()) => DeviceFault::Timeout,
            })
    }

    /// The seed's `probe`: brings up the device behind `regs` (§3.1.1):
    /// reset, ACKNOWLEDGE, DRIVER, feature negotiation (an entropy device
    /// has no feature bits of its own, §5.4.3), FEATURES_OK, the request
    /// queue in `ring`, DRIVER_OK.
    ///
    /// On failure the device is left with FAILED set (or reset) and does no
    /// DMA.
    ///
    /// With a `gate` (the kernel, in a task) the queue is placed and
    /// written by it, in ring memory this driver may only read, and `ring`
    /// is unused; without one the queue lives in `ring`.
    pub fn probe(
        regs: R,
        ring: &'a mut QueueMemory<N>,
        bounce: &'a BounceBuffer<B>,
        gate: Option<&'a dyn virtio::DmaGate>,
    ) -> Result<Self, ProbeError> {
        let mut transport = MmioTransport::of_type(regs, DEVICE_ID)?;
        let features = transport.negotiate_through(Features::NONE, gate)?;
        let queue = match gate {
            Some(gate) => SplitQueue::gated(REQUEST_QUEUE, gate, features),
            None => transport.setup_queue::<u32, N>(REQUEST_QUEUE, ring, features),
        };
        let queue = match queue {
            Ok(q) => q,
            Err(e) => {
                transport.fail();
                return Err(e.into());
            }
        };
        transport.driver_ok()?;
        Ok(Rng {
            transport,
            queue,
            bounce,
            features,
            live: true,
            dead: false,
            next_token: 0,
        })
    }

    /// The seed's `remove`: resets the device (no more DMA, §2.4) and takes
    /// every buffer back. Gives back the register access; the ring memory's
    /// borrow ends here.
    pub fn remove(mut self) -> R {
        self.quiesce();
        self.transport.into_regs()
    }

    /// Whether the device is up (false after a fault until the next fill
    /// brings it up again).
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Whether the device failed to finish a reset. It is then given up:
    /// every fill fails with [`DeviceFault::ResetFailed`] without touching
    /// it, and the task should stop so that the supervisor takes the device
    /// away and marks its slot failed.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Reads and acknowledges the interrupt causes; `Err` if the device
    /// says it needs a reset (§2.1.2: DEVICE_NEEDS_RESET comes with a
    /// configuration change notification).
    fn take_interrupt(&mut self) -> Result<(), DeviceFault> {
        let cause = self.transport.take_interrupt();
        if cause.contains(InterruptStatus::CONFIG_CHANGE)
            && self
                .transport
                .status()
                .contains(DeviceStatus::DEVICE_NEEDS_RESET)
        {
            return Err(DeviceFault::NeedsReset);
        }
        Ok(())
    }

    /// The device's interrupt while no fill is running: acknowledges it and
    /// drains the queue (nothing should be there; a completion nobody asked
    /// for is a device fault). The caller unmasks the interrupt afterwards.
    pub fn interrupt(&mut self) -> Result<(), DeviceFault> {
        if !self.live {
            return Ok(());
        }
        if let Err(fault) = self.take_interrupt() {
            return Err(self.fault(fault));
        }
        match self.poll(None) {
            Ok(_) => Ok(()),
            Err(fault) => Err(self.fault(fault)),
        }
    }

    /// Fills `len` bytes: asks the device for at most `B` bytes at a time
    /// into the bounce buffer and hands each piece to `sink(offset, bytes)`,
    /// in order, `offset` counting from 0 to `len`.
    pub fn fill<E>(
        &mut self,
        len: usize,
        wait: &mut impl Wait,
        mut sink: impl FnMut(usize, &[u8]) -> Result<(), E>,
    ) -> Result<(), FillError<E>> {
        let mut fill = Fill::new(len);
        if fill.is_complete() {
            return Ok(());
        }
        if self.dead {
            return Err(FillError::Device(DeviceFault::ResetFailed));
        }
        if !self.live {
            self.bring_up_again().map_err(FillError::Device)?;
        }
        wait.begin();
        while let Some(asked) = fill.next_request(B) {
            let got = self.request(asked, wait)?;
            let range = match fill.completed(asked, got) {
                Ok(r) => r,
                Err(f) => return Err(FillError::Device(self.fault(DeviceFault::Fill(f)))),
            };
            // SAFETY: `request` returned, so the device gave the buffer back
            // (its token came out of `get_buf`) and no request is in flight;
            // the slice dies before the next `request` hands it out again.
            let bytes = unsafe { self.bounce.filled(range.len()) };
            sink(range.start, bytes).map_err(FillError::Sink)?;
        }
        Ok(())
    }

    /// One device request of `asked` bytes into the bounce buffer; returns
    /// how many the device wrote.
    fn request<E>(&mut self, asked: usize, wait: &mut impl Wait) -> Result<u32, FillError<E>> {
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1);
        let buf = self.bounce.buf(asked);
        // SAFETY: the bounce buffer is borrowed for 'a, so it stays put while
        // the device may write it; nothing reads or writes it until the token
        // comes back from `get_buf` or `shutdown` (after a reset), because
        // `fill` only reads it after this function returns, and every path
        // out of here with the request still in flight resets the device
        // and shuts the queue down first (`fault`, `quiesce`).
        if let Err(e) = unsafe { self.queue.add_buf(&[], &[buf], token) } {
            return Err(FillError::Device(self.fault(DeviceFault::Queue(e))));
        }
        // Test images: a fault armed for this point fires with the
        // request's descriptor published and the device not yet told.
        #[cfg(feature = "fault-injection")]
        if let Some((how, arg)) = fault_inject::point::fire(fault_inject::point::Point::BeforeKick)
        {
            self.queue.corrupt(how, arg);
        }
        self.queue.kick(&mut self.transport);
        wait.requested();
        loop {
            match self.poll(Some(token)) {
                Ok(Some(len)) => {
                    // Test images: a fault armed for this point fires with
                    // the device done and the client not yet answered.
                    #[cfg(feature = "fault-injection")]
                    if let Some((how, arg)) =
                        fault_inject::point::fire(fault_inject::point::Point::BeforeReply)
                    {
                        self.queue.corrupt(how, arg);
                    }
                    return Ok(len);
                }
                Ok(None) => {}
                Err(fault) => return Err(FillError::Device(self.fault(fault))),
            }
            match wait.wait() {
                Event::Interrupt => {
                    // Acknowledge at the device before unmasking, or the
                    // level-triggered line fires again at once (§4.2.3.4).
                    let cause = self.take_interrupt();
                    wait.interrupt_done();
                    if let Err(fault) = cause {
                        return Err(FillError::Device(self.fault(fault)));
                    }
                }
                Event::Remove => {
                    self.quiesce();
                    return Err(FillError::Removed);
                }
                Event::Timeout => return Err(FillError::Device(self.fault(DeviceFault::Timeout))),
            }
        }
    }

    /// The IRQ path of the seed: `get_buf` until it says none, then
    /// `restart`, and again if `restart` says a completion raced in.
    /// Returns the length of `expected`'s completion if it came back.
    fn poll(&mut self, expected: Option<u32>) -> Result<Option<u32>, DeviceFault> {
        let mut done = None;
        loop {
            while let Some((token, len)) = self.queue.get_buf().map_err(DeviceFault::Queue)? {
                match expected {
                    Some(t) if t == token => done = Some(len),
                    _ => {
                        return Err(DeviceFault::WrongToken {
                            expected: expected.unwrap_or(u32::MAX),
                            got: token,
                        })
                    }
                }
            }
            if self.queue.restart() {
                return Ok(done);
            }
            if self.queue.is_broken() {
                // `restart` refuses on a broken queue; `get_buf` says why.
                self.queue.get_buf().map_err(DeviceFault::Queue)?;
                return Err(DeviceFault::Queue(virtio::Error::QueueBroken));
            }
        }
    }

    /// Resets the device and takes every buffer back; the device is down
    /// until [`bring_up_again`](Self::bring_up_again).
    ///
    /// A device that does not finish its reset may still be writing the
    /// bounce buffer (§2.4: it is only quiet once its status reads back 0):
    /// its request stays its own for ever and the device is given up
    /// ([`is_dead`](Self::is_dead)).
    fn quiesce(&mut self) {
        self.live = false;
        if self.transport.reset().is_err() {
            self.dead = true;
            return;
        }
        for _token in self.queue.shutdown() {}
    }

    /// Handles a device fault: reset, take the buffers back, report it.
    fn fault(&mut self, fault: DeviceFault) -> DeviceFault {
        self.quiesce();
        if self.dead {
            DeviceFault::ResetFailed
        } else {
            fault
        }
    }

    /// Brings the device up again after a fault, with the same features and
    /// the same (reinitialised) queue.
    fn bring_up_again(&mut self) -> Result<(), DeviceFault> {
        let result = (|| {
            let gate = self.queue.gate();
            let features = self.transport.negotiate_through(Features::NONE, gate)?;
            if features != self.features {
                self.transport.fail();
                return Err(virtio::Error::FeaturesRejected);
            }
            if let Err(e) = self.queue.reattach(&mut self.transport) {
                self.transport.fail();
                return Err(e);
            }
            self.transport.driver_ok()
        })();
        match result {
            Ok(()) => {
                self.live = true;
                Ok(())
            }
            Err(e) => Err(DeviceFault::Probe(ProbeError::Virtio(e))),
        }
    }
}
