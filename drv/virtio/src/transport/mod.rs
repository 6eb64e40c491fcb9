//! Transports: how a driver reaches a device (§4), and the device-independent
//! parts of bringing it up (§3.1) that every transport shares.
//!
//! A [`Transport`] provides the primitive operations (status register, feature
//! banks, queue registers, notification, interrupt status, config space);
//! the sequence that strings them together — reset, ACKNOWLEDGE, DRIVER,
//! feature negotiation, FEATURES_OK, DRIVER_OK, FAILED — is written once, as
//! provided methods of the trait, so that it is the same code for every
//! transport and for the host tests.
//!
//! The expected use by a driver task:
//!
//! ```ignore
//! let accepted = transport.negotiate(MY_FEATURES)?;        // §3.1.1 steps 1–6
//! let mut q = transport.setup_queue::<u32, 64>(0, mem, accepted)?; // step 7
//! transport.driver_ok()?;                                  // step 8
//! ```
//!
//! On any error after ACKNOWLEDGE, the driver should call
//! [`Transport::fail`] (the provided methods already do for the errors they
//! detect).

pub mod mmio;

use core::ops::BitOr;

use crate::error::Error;
use crate::features::Features;
use crate::queue::{DmaGate, QueueLayout, QueueMemory, SplitQueue};

/// How many times [`Transport::reset`] reads the status register back before
/// giving up with [`Error::ResetTimeout`]. QEMU resets synchronously; real
/// devices finish in microseconds.
pub const RESET_POLL_LIMIT: u32 = 100_000;

/// The device status field (§2.1): the driver's progress through
/// initialisation, and the device's verdict on it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceStatus(pub u8);

impl DeviceStatus {
    /// The value after reset: nothing done yet (§2.1, §2.4).
    pub const RESET: DeviceStatus = DeviceStatus(0);
    /// ACKNOWLEDGE (1): the guest has found the device (§2.1).
    pub const ACKNOWLEDGE: DeviceStatus = DeviceStatus(1);
    /// DRIVER (2): the guest knows how to drive the device (§2.1).
    pub const DRIVER: DeviceStatus = DeviceStatus(2);
    /// DRIVER_OK (4): the driver is set up and ready to drive the device (§2.1).
    pub const DRIVER_OK: DeviceStatus = DeviceStatus(4);
    /// FEATURES_OK (8): the driver has acknowledged the features it
    /// understands; negotiation is complete (§2.1). Not used by legacy devices.
    pub const FEATURES_OK: DeviceStatus = DeviceStatus(8);
    /// DEVICE_NEEDS_RESET (64): the device hit an error it cannot recover
    /// from without a reset (§2.1).
    pub const DEVICE_NEEDS_RESET: DeviceStatus = DeviceStatus(64);
    /// FAILED (128): the guest has given up on the device (§2.1).
    pub const FAILED: DeviceStatus = DeviceStatus(128);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: DeviceStatus) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for DeviceStatus {
    type Output = DeviceStatus;
    fn bitor(self, rhs: DeviceStatus) -> DeviceStatus {
        DeviceStatus(self.0 | rhs.0)
    }
}

/// Why the device raised its interrupt (§4.2.2 InterruptStatus).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct InterruptStatus(pub u32);

impl InterruptStatus {
    /// Bit 0, "Used Buffer Notification": some queue's used ring advanced.
    pub const USED_BUFFER: InterruptStatus = InterruptStatus(1);
    /// Bit 1, "Configuration Change Notification": config space changed.
    pub const CONFIG_CHANGE: InterruptStatus = InterruptStatus(2);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: InterruptStatus) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no bit is set (the interrupt was not this device's).
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// The operations a virtio transport provides (§4), and the device
/// initialisation sequence built on them (§3.1).
///
/// Required methods are the transport's primitives: one register access or a
/// short fixed sequence of them. Provided methods are the protocol, written
/// once for all transports.
pub trait Transport {
    /// Whether this is a legacy (pre-1.0) interface: virtio-mmio version 1
    /// (§4.2.4). Legacy devices use the single-area ring layout, have no
    /// FEATURES_OK step and no config generation counter.
    fn is_legacy(&self) -> bool;

    /// The device type (§5: 1 = network, 2 = block, 4 = entropy, …).
    fn device_id(&self) -> u32;

    /// The subsystem vendor id (§4.2.2 VendorID).
    fn vendor_id(&self) -> u32;

    /// Reads the device status field (§2.1).
    fn status(&self) -> DeviceStatus;

    /// Writes the device status field (§2.1). Writing
    /// [`DeviceStatus::RESET`] starts a device reset.
    fn write_status(&mut self, status: DeviceStatus);

    /// Reads all 64 feature bits the device offers (§2.2, DeviceFeatures).
    fn device_features(&mut self) -> Features;

    /// Writes the feature bits the driver accepts (§2.2, DriverFeatures).
    fn write_driver_features(&mut self, features: Features);

    /// The largest size the device supports for `queue`, 0 if the queue does
    /// not exist (§4.2.2 QueueNumMax).
    fn queue_max_size(&mut self, queue: u16) -> u16;

    /// Tells the device where the rings of `layout.queue` are and enables the
    /// queue (§4.2.3.2; legacy §4.2.4).
    fn attach_queue(&mut self, layout: &QueueLayout) -> Result<(), Error>;

    /// Sends an available buffer notification for `queue` (§2.9, QueueNotify).
    fn notify(&mut self, queue: u16);

    /// Reads why the device interrupted (§4.2.2 InterruptStatus).
    fn interrupt_status(&self) -> InterruptStatus;

    /// Acknowledges the interrupt causes in `status` (§4.2.2 InterruptACK).
    fn ack_interrupt(&mut self, status: InterruptStatus);

    /// The configuration atomicity value (§2.5.1, §4.2.2 ConfigGeneration),
    /// or `None` on a legacy device, which has none.
    fn config_generation(&self) -> Option<u32>;

    /// Reads an 8-bit device configuration field at `offset` (§2.5).
    fn read_config8(&self, offset: usize) -> Result<u8, Error>;
    /// Reads a 16-bit device configuration field at `offset` (§2.5).
    fn read_config16(&self, offset: usize) -> Result<u16, Error>;
    /// Reads a 32-bit device configuration field (or half of a 64-bit one)
    /// at `offset` (§2.5).
    fn read_config32(&self, offset: usize) -> Result<u32, Error>;
    /// Writes an 8-bit device configuration field at `offset` (§2.5).
    fn write_config8(&mut self, offset: usize, value: u8) -> Result<(), Error>;
    /// Writes a 16-bit device configuration field at `offset` (§2.5).
    fn write_config16(&mut self, offset: usize, value: u16) -> Result<(), Error>;
    /// Writes a 32-bit device configuration field at `offset` (§2.5).
    fn write_config32(&mut self, offset: usize, value: u32) -> Result<(), Error>;

    /// Resets the device and waits until its status reads 0 (§2.4,
    /// §4.2.3.1.1: "the driver MUST wait for a read of device status to
    /// return 0 before reinitializing the device"). After this the device
    /// does no DMA and has forgotten its queues.
    fn reset(&mut self) -> Result<(), Error> {
        self.write_status(DeviceStatus::RESET);
        for _ in 0..RESET_POLL_LIMIT {
            if self.status() == DeviceStatus::RESET {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(Error::ResetTimeout)
    }

    /// Sets `bits` in the status field, keeping those already set: a driver
    /// must never clear a status bit (§2.1.1).
    fn add_status(&mut self, bits: DeviceStatus) {
        let current = self.status();
        self.write_status(current | bits);
    }

    /// Tells the device the driver has given up on it (FAILED, §2.1).
    fn fail(&mut self) {
        self.add_status(DeviceStatus::FAILED);
    }

    /// Steps 1–6 of device initialisation (§3.1.1): reset, ACKNOWLEDGE,
    /// DRIVER, feature negotiation and (except on legacy devices, §3.1.2)
    /// FEATURES_OK written and read back.
    ///
    /// `understood` is every feature the driver can handle: its device-specific
    /// bits plus any of [`Features::VIRTIO_F_INDIRECT_DESC`] and
    /// [`Features::VIRTIO_F_EVENT_IDX`] it wants. The library adds
    /// [`Features::VIRTIO_F_VERSION_1`] itself on a non-legacy device (where it
    /// is required, §6.1) and drops reserved bits it does not implement.
    ///
    /// Returns the accepted set: what both sides support. Pass it to
    /// [`setup_queue`](Transport::setup_queue). On error the device is left
    /// with FAILED set (except after a reset timeout, when it is not
    /// listening).
    fn negotiate(&mut self, understood: Features) -> Result<Features, Error> {
        self.negotiate_through(understood, None)
    }

    /// [`negotiate`](Transport::negotiate), the accepted features written
    /// through `gate` when there is one: in a Vireo task the feature
    /// registers are the kernel's ([`DmaGate::driver_features`]), as the
    /// queue registers are. What the gate wrote is the accepted set.
    fn negotiate_through(
        &mut self,
        understood: Features,
        gate: Option<&dyn DmaGate>,
    ) -> Result<Features, Error> {
        self.reset()?;
        self.add_status(DeviceStatus::ACKNOWLEDGE);
        self.add_status(DeviceStatus::DRIVER);

        let offered = self.device_features();
        let mut wanted = understood & (Features::DEVICE_SPECIFIC | Features::LIBRARY_SUPPORTED);
        if self.is_legacy() {
            // A legacy interface is driven with legacy semantics, whatever
            // the device claims.
            wanted &= !Features::VIRTIO_F_VERSION_1;
        } else {
            if !offered.contains(Features::VIRTIO_F_VERSION_1) {
                self.fail();
                return Err(Error::Version1NotOffered);
            }
            wanted |= Features::VIRTIO_F_VERSION_1;
        }
        let accepted = match gate {
            Some(gate) => match gate.driver_features(offered & wanted) {
                Ok(written) => written,
                Err(e) => {
                    self.fail();
                    return Err(e);
                }
            },
            None => {
                self.write_driver_features(offered & wanted);
                offered & wanted
            }
        };

        if !self.is_legacy() {
            self.add_status(DeviceStatus::FEATURES_OK);
            if !self.status().contains(DeviceStatus::FEATURES_OK) {
                self.fail();
                return Err(Error::FeaturesRejected);
            }
        }
        Ok(accepted)
    }

    /// Reads the size the device offers for `queue`, builds a split queue
    /// of the largest power-of-two size both sides support in `mem`, and
    /// attaches it (§3.1.1 step 7, §4.2.3.2).
    ///
    /// `features` is the accepted set from [`negotiate`](Transport::negotiate):
    /// it decides whether the queue uses event indices and indirect tables.
    fn setup_queue<'a, T: Copy, const N: usize>(
        &mut self,
        queue: u16,
        mem: &'a mut QueueMemory<N>,
        features: Features,
    ) -> Result<SplitQueue<'a, T, N>, Error>
    where
        Self: Sized,
    {
        let max = self.queue_max_size(queue);
        let q = SplitQueue::new(queue, max, mem, features)?;
        self.attach_queue(&q.layout())?;
        Ok(q)
    }

    /// Step 8 of device initialisation (§3.1.1): sets DRIVER_OK, then checks
    /// that the device did not answer with DEVICE_NEEDS_RESET.
    fn driver_ok(&mut self) -> Result<(), Error> {
        self.add_status(DeviceStatus::DRIVER_OK);
        let status = self.status();
        if status.contains(DeviceStatus::DEVICE_NEEDS_RESET)
            || !status.contains(DeviceStatus::DRIVER_OK)
        {
            self.fail();
            return Err(Error::DeviceNeedsReset);
        }
        Ok(())
    }

    /// Reads the interrupt causes and acknowledges them, in that order, so
    /// that a cause raised after the read interrupts again (§4.2.3.4).
    fn take_interrupt(&mut self) -> InterruptStatus {
        let status = self.interrupt_status();
        if !status.is_empty() {
            self.ack_interrupt(status);
        }
        status
    }
}
