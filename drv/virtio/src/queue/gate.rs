//! The DMA gate: who writes what a device trusts.
//!
//! On Vireo a driver task may not write its descriptor tables, its
//! available rings or its device's queue-address registers: a descriptor is
//! an address the device will read or write by DMA, and without an IOMMU
//! nothing else stops a compromised driver from aiming its device at kernel
//! memory. The kernel writes them instead, after checking each buffer
//! against what the driver may expose (`sys/kern/src/dma.rs`). A
//! [`DmaGate`] is that authority as the queue sees it:
//!
//! - `KernelGate` (`kernel_gate.rs`, target only): the kernel calls
//!   (`sys_dma_*`), for driver tasks;
//! - a host test's own implementation, playing the kernel's part against
//!   the device model (the queue logic is the same code either way).
//!
//! A queue built without a gate ([`Transport::setup_queue`]) writes its
//! ring memory itself: the host device-model tests, and nothing on target.
//!
//! [`Transport::setup_queue`]: crate::transport::Transport::setup_queue

use super::layout::Descriptor;
use crate::features::Features;

const _: () = assert!(super::LEASE_TAG == userlib::abi::DMA_LEASE);
const _: () = assert!(MAX_GATED_CHAIN <= userlib::abi::DMA_MAX_CHAIN);
use crate::error::Error;

/// Which field of the available ring [`DmaGate::avail`] writes (§2.7.6).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AvailField {
    /// `virtq_avail.flags` (VIRTQ_AVAIL_F_NO_INTERRUPT).
    Flags,
    /// `virtq_avail.used_event` (with VIRTIO_F_EVENT_IDX).
    UsedEvent,
}

/// Longest chain a gate takes in one [`DmaGate::post`]: a request of any
/// Vireo driver (blk: header, data, status) fits with room to spare.
pub const MAX_GATED_CHAIN: usize = 8;

/// The authority that places queues and writes descriptors and the
/// available ring for a driver that may not.
///
/// Indirect descriptors are not offered through a gate: the kernel refuses
/// them (a table the driver can still write cannot be checked once).
pub trait DmaGate {
    /// Writes the features the driver accepts (§2.2 DriverFeatures, both
    /// selector banks; legacy GuestFeatures) and returns the set written.
    /// The gate may keep bits back: the kernel lets through only the
    /// device-type bits and the transport bits whose split rings it checks
    /// (`abi::DMA_FEATURES_ALLOWED`), so that no driver can make its device
    /// use a ring layout the kernel does not know.
    fn driver_features(&self, features: Features) -> Result<Features, Error>;

    /// Places queue `queue`, of at most `max` entries, in ring memory the
    /// gate owns, zeroed, and tells the device where it is (§4.2.3.2).
    /// Returns the ring's address — the legacy single-area layout (§2.7.2)
    /// with the used ring at the next 4096 boundary — and the size chosen,
    /// a power of two. The ring stays readable by the driver.
    fn setup(&self, queue: u16, max: u16) -> Result<(usize, u16), Error>;

    /// Checks and writes `chain`, in chain order (the first at `head`, each
    /// next at the previous one's `next`), then makes `head` available
    /// (§2.7.13). `lender` (a `TaskId` register value) lent the buffers
    /// tagged [`LEASE_TAG`](super::LEASE_TAG). With `used_event`, that
    /// field (§2.7.10) is written too, before `head` is made available. On
    /// error nothing was made available or written.
    fn post(
        &self,
        queue: u16,
        chain: &[Descriptor],
        head: u16,
        lender: Option<u32>,
        used_event: Option<u16>,
    ) -> Result<(), Error>;

    /// Writes one notification-suppression field (§2.7.7).
    fn avail(&self, queue: u16, field: AvailField, value: u16);
}
