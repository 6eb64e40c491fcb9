//! What can go wrong with the device, a probe, a send or a receive, each
//! naming whom to blame.

use ethernet_api::EthernetError;
pub use virtio::ProbeError;

/// What the device did wrong. When it is reported the device has been
/// reset, and brought up again unless [`Net::is_live`](crate::Net::is_live) says otherwise.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DeviceFault {
    /// The queue caught the device breaking the ring protocol.
    Queue(virtio::Error),
    /// A transmitted frame was not completed within [`TX_DEADLINE_MS`](crate::TX_DEADLINE_MS).
    TxTimeout,
    /// The device set DEVICE_NEEDS_RESET (§2.1.2).
    NeedsReset,
    /// Bringing the device up again failed; [`Net::tick`](crate::Net::tick) tries again.
    Probe(ProbeError),
}

impl DeviceFault {
    /// Whether the fault is the kernel refusing one of the driver's own
    /// buffers: every buffer this driver gives its device is in its own
    /// memory, which the kernel accepted at the first probe, so a refusal
    /// afterwards means the driver's own state has gone bad (an address
    /// corrupted), not the device. Resetting the device cannot cure it; the
    /// task should stop and be restarted from its image.
    pub fn is_own_buffer_refused(&self) -> bool {
        matches!(
            self,
            DeviceFault::Queue(virtio::Error::DmaRefused { .. })
                | DeviceFault::Probe(ProbeError::Virtio(virtio::Error::DmaRefused { .. }))
        )
    }
}

/// Why a send failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SendError<E> {
    /// Every transmit slot is in flight; the client is notified when one
    /// comes back.
    QueueFull,
    /// The frame is shorter than an Ethernet header or longer than
    /// [`MAX_SEND`](ethernet_api::MAX_SEND).
    BadFrame,
    /// The device is down (after a fault it could not recover from yet).
    DeviceDown,
    /// The link is down.
    LinkDown,
    /// The source refused (in the task: the client's lease).
    Source(E),
}

/// Why a receive returned no frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RecvError<E> {
    /// No frame is waiting.
    Empty,
    /// The oldest frame is longer than the sink; it stays queued.
    TooSmall {
        /// Its length.
        len: usize,
    },
    /// The sink refused (in the task: the client's lease). The frame is
    /// dropped: the client asked for it and could not take it.
    Sink(E),
}

impl<E> SendError<E> {
    /// What `idl/ethernet.idol` tells the client; `Err` with the source's
    /// own error (a lease the driver could not read, which is the client's
    /// fault, not an answer).
    pub fn ethernet(self) -> Result<EthernetError, E> {
        match self {
            SendError::QueueFull => Ok(EthernetError::QueueFull),
            SendError::BadFrame => Ok(EthernetError::BadFrame),
            SendError::DeviceDown => Ok(EthernetError::DeviceError),
            SendError::LinkDown => Ok(EthernetError::LinkDown),
            SendError::Source(e) => Err(e),
        }
    }
}

impl<E> RecvError<E> {
    /// What `idl/ethernet.idol` tells the client; `Err` with the sink's own
    /// error, as for [`SendError::ethernet`].
    pub fn ethernet(self) -> Result<EthernetError, E> {
        match self {
            RecvError::Empty => Ok(EthernetError::Empty),
            RecvError::TooSmall { .. } => Ok(EthernetError::BufferTooSmall),
            RecvError::Sink(e) => Err(e),
        }
    }
}
