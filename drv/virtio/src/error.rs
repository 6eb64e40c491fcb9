//! What can go wrong, and who is to blame.
//!
//! A driver acts on an error according to its [`Blame`]: a
//! [`Blame::Driver`] error is a bug or a resource limit on this side (report
//! it, retry later); a [`Blame::Device`] error means the device broke the
//! VIRTIO protocol, and the only safe reaction is to reset it, take back every
//! buffer with [`SplitQueue::shutdown`](crate::queue::SplitQueue::shutdown) and
//! bring it up again (or give up on it).

use core::fmt;

/// Which side of the virtio interface an [`Error`] is the fault of.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Blame {
    /// The caller asked for something impossible, or a resource (free
    /// descriptors) ran out. The device is fine.
    Driver,
    /// The device misbehaved or refused. Reset it before trusting it again
    /// (§2.1 "Device Status Field": DEVICE_NEEDS_RESET / FAILED).
    Device,
}

/// Every error the virtio core can report.
///
/// Device errors carry the offending values so that a fault log can say what
/// the device did, not just that it did something.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Error {
    // ---- transport discovery and initialisation (§3.1, §4.2.2) ----
    /// The MagicValue register did not read `0x74726976` ("virt"): this window
    /// is not a virtio-mmio device (§4.2.2).
    BadMagic {
        /// The value read.
        magic: u32,
    },
    /// The Version register is neither 1 (legacy, §4.2.4) nor 2 (§4.2.2).
    UnsupportedVersion {
        /// The value read.
        version: u32,
    },
    /// DeviceID is 0: the slot exists but holds no device (§4.2.3.1.1).
    NoDevice,
    /// After writing 0 to Status the device did not read back 0 within the
    /// polling bound (§2.4.1, §4.2.3.1.1).
    ResetTimeout,
    /// A version 2 device did not offer VIRTIO_F_VERSION_1, which a
    /// non-legacy interface requires (§6.1).
    Version1NotOffered,
    /// The device cleared FEATURES_OK: it does not accept the feature subset
    /// the driver wrote (§3.1.1 step 6).
    FeaturesRejected,
    /// The device set DEVICE_NEEDS_RESET, or did not keep DRIVER_OK (§2.1).
    DeviceNeedsReset,
    /// The config generation kept changing (or, on a legacy device, two reads
    /// never agreed) within the retry bound (§2.5.1, §4.2.2).
    ConfigUnstable,
    /// A config space access lies outside the register window or is not
    /// naturally aligned (§4.2.2.2).
    ConfigOutOfRange {
        /// Offset into the device-specific configuration space.
        offset: usize,
    },

    // ---- queue setup (§2.7, §4.2.3.2, §4.2.4) ----
    /// QueueNumMax is 0: the device has no such queue (§4.2.3.2).
    QueueUnavailable {
        /// The queue index.
        queue: u16,
    },
    /// The queue is already in use (QueueReady or QueuePFN is not 0) (§4.2.3.2).
    QueueInUse {
        /// The queue index.
        queue: u16,
    },
    /// The ring addresses do not fit the legacy single-area layout (page
    /// aligned, used ring at QueueAlign) or a 32-bit register (§2.7.2, §4.2.4).
    LegacyLayout,
    /// The DMA gate (on Vireo, the kernel) refused to set up a queue or
    /// write a descriptor: `code` is its `abi::DMA_*` reason (a buffer that
    /// is not the driver's own RAM, an indirect descriptor, a queue the
    /// device still uses, no granted device).
    DmaRefused {
        /// The gate's refusal code.
        code: u32,
    },

    // ---- add_buf (§2.7.13) ----
    /// `add_buf` was given no buffers at all: a chain has at least one
    /// descriptor.
    EmptyChain,
    /// The chain is longer than the queue size, or than 2^32 bytes in total
    /// (§2.7.5.3.1, §2.7.13.1).
    ChainTooLong,
    /// Not enough free descriptors right now; retry after `get_buf` returned
    /// some (the seed's `-ENOSPC`).
    QueueFull,

    // ---- a hostile or broken device, seen in the used ring (§2.7.8) ----
    /// A used element names a descriptor index not below the queue size.
    UsedIdOutOfRange {
        /// The `id` of the used element.
        id: u32,
    },
    /// A used element names a descriptor that is not the head of a chain in
    /// flight: never made available, or already returned.
    UsedIdNotInFlight {
        /// The `id` of the used element.
        id: u32,
    },
    /// A used element claims more bytes written than the chain's
    /// device-writable buffers hold.
    UsedLengthTooLarge {
        /// The `id` of the used element.
        id: u32,
        /// The `len` the device wrote.
        len: u32,
        /// The total length of the chain's device-writable buffers.
        writable: u32,
    },
    /// The used index moved further than the number of buffers in flight
    /// (or backwards) since it was last read.
    UsedIndexJump {
        /// The used index as the driver last consumed it.
        last_seen: u16,
        /// The used index the device published.
        used_idx: u16,
    },
    /// An earlier device error broke this queue. Reset the device and call
    /// `shutdown` to take the buffers back.
    QueueBroken,
}

impl Error {
    /// Who is at fault, and so what the driver should do about it.
    pub const fn blame(&self) -> Blame {
        match self {
            Error::EmptyChain
            | Error::ChainTooLong
            | Error::QueueFull
            | Error::LegacyLayout
            | Error::DmaRefused { .. } => Blame::Driver,
            Error::ConfigOutOfRange { .. } => Blame::Driver,
            Error::BadMagic { .. }
            | Error::UnsupportedVersion { .. }
            | Error::NoDevice
            | Error::ResetTimeout
            | Error::Version1NotOffered
            | Error::FeaturesRejected
            | Error::DeviceNeedsReset
            | Error::ConfigUnstable
            | Error::QueueUnavailable { .. }
            | Error::QueueInUse { .. }
            | Error::UsedIdOutOfRange { .. }
            | Error::UsedIdNotInFlight { .. }
            | Error::UsedLengthTooLarge { .. }
            | Error::UsedIndexJump { .. }
            | Error::QueueBroken => Blame::Device,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadMagic { magic } => {
                write!(
                    f,
                    "not a virtio-mmio device: magic {magic:#010x}, expected 0x74726976"
                )
            }
            Error::UnsupportedVersion { version } => {
                write!(
                    f,
                    "virtio-mmio version {version} is neither 1 (legacy) nor 2"
                )
            }
            Error::NoDevice => f.write_str("virtio-mmio slot holds no device (DeviceID 0)"),
            Error::ResetTimeout => f.write_str("device status did not read 0 after reset"),
            Error::Version1NotOffered => {
                f.write_str("version 2 device does not offer VIRTIO_F_VERSION_1")
            }
            Error::FeaturesRejected => f.write_str("device cleared FEATURES_OK"),
            Error::DeviceNeedsReset => f.write_str("device set DEVICE_NEEDS_RESET"),
            Error::ConfigUnstable => f.write_str("config space kept changing while read"),
            Error::ConfigOutOfRange { offset } => {
                write!(
                    f,
                    "config access at {offset:#x} is out of range or misaligned"
                )
            }
            Error::QueueUnavailable { queue } => write!(f, "device has no queue {queue}"),
            Error::QueueInUse { queue } => write!(f, "queue {queue} is already in use"),
            Error::LegacyLayout => f.write_str("ring memory does not fit the legacy layout"),
            Error::DmaRefused { code } => {
                write!(
                    f,
                    "the kernel refused a queue setup or descriptor ({code:#010x})"
                )
            }
            Error::EmptyChain => f.write_str("add_buf with no buffers"),
            Error::ChainTooLong => f.write_str("descriptor chain longer than the queue allows"),
            Error::QueueFull => f.write_str("not enough free descriptors"),
            Error::UsedIdOutOfRange { id } => write!(f, "used id {id} is out of range"),
            Error::UsedIdNotInFlight { id } => write!(f, "used id {id} is not in flight"),
            Error::UsedLengthTooLarge { id, len, writable } => write!(
                f,
                "used id {id} claims {len} bytes written, only {writable} were writable"
            ),
            Error::UsedIndexJump {
                last_seen,
                used_idx,
            } => {
                write!(f, "used idx jumped from {last_seen} to {used_idx}")
            }
            Error::QueueBroken => f.write_str("queue broken by an earlier device error"),
        }
    }
}

/// Why a driver could not bring a device up, for device classes whose
/// bring-up has no failure of its own (entropy, network): another device
/// type in the window, or the virtio core refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ProbeError {
    /// The window holds a device of another type.
    WrongDevice {
        /// Its device id.
        device_id: u32,
    },
    /// The virtio core refused (see [`Error::blame`]).
    Virtio(Error),
    /// Queue `queue` is too small for even one of the driver's buffers: the
    /// device allows `size` entries (its QueueNumMax, §2.7), a buffer takes
    /// `needed` descriptors.
    QueueTooSmall {
        /// The queue index.
        queue: u16,
        /// The queue size the device allowed.
        size: u16,
        /// Descriptors one buffer takes.
        needed: u16,
    },
}

impl From<Error> for ProbeError {
    fn from(e: Error) -> Self {
        ProbeError::Virtio(e)
    }
}
