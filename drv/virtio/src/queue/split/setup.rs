//! Building a split queue: in the driver's own memory ([`SplitQueue::new`])
//! or placed by the kernel behind a gate ([`SplitQueue::gated`]), with
//! indirect tables, and attaching it to the device.

use core::marker::PhantomData;
use core::ptr::NonNull;

use super::{Indirect, SplitQueue, State};
use crate::error::Error;
use crate::features::Features;
use crate::queue::gate::DmaGate;
use crate::queue::layout::RingOffsets;
use crate::queue::memory::{IndirectTables, QueueMemory};
use crate::queue::QueueLayout;
use crate::transport::Transport;

impl<'a, T: Copy, const N: usize> SplitQueue<'a, T, N> {
    /// Builds queue `queue` in `mem`, of the largest power-of-two size not
    /// above `device_max` (the device's QueueNumMax, §4.2.2) or `N`, and
    /// zeroes its rings (§4.2.3.2: "allocate and zero the queue memory").
    ///
    /// `features` are the negotiated features: VIRTIO_F_EVENT_IDX switches
    /// notification suppression to event indices (§2.7.7, §2.7.10), and
    /// VIRTIO_F_INDIRECT_DESC allows indirect tables once they are given with
    /// [`with_indirect`](Self::with_indirect).
    ///
    /// The queue is not yet known to the device: pass
    /// [`layout`](Self::layout) to
    /// [`Transport::attach_queue`],
    /// or build it with
    /// [`Transport::setup_queue`].
    pub fn new(
        queue: u16,
        device_max: u16,
        mem: &'a mut QueueMemory<N>,
        features: Features,
    ) -> Result<Self, Error> {
        if device_max == 0 {
            return Err(Error::QueueUnavailable { queue });
        }
        // N is a power of two (checked when the memory was built), so this
        // is the largest power of two within both limits.
        let largest = 1u16 << (15 - device_max.leading_zeros().min(15));
        // At most N, so the rings fit `mem` (QueueMemory's layout test).
        let size = largest.min(u16::try_from(N).unwrap_or(u16::MAX));
        let ring = mem.as_ptr();
        // SAFETY: `ring` points to the whole of `*mem`, which is
        // `size_of::<QueueMemory<N>>()` bytes, every one in an `UnsafeCell`,
        // and exclusively borrowed for 'a.
        unsafe { ring.as_ptr().write_bytes(0, size_of::<QueueMemory<N>>()) };

        let indirect = features.contains(Features::VIRTIO_F_INDIRECT_DESC);
        Ok(Self::fresh(queue, ring, size, features, indirect, None))
    }

    /// Builds queue `queue` through `gate` (on Vireo, the kernel): the gate
    /// places it in ring memory of its own, of at most `N` entries, zeroed,
    /// and tells the device (§4.2.3.2). Descriptors and the available ring
    /// are then written only through the gate, which checks each buffer;
    /// indirect tables are not used. `features` as for [`new`](Self::new).
    pub fn gated(queue: u16, gate: &'a dyn DmaGate, features: Features) -> Result<Self, Error> {
        let max = u16::try_from(N).unwrap_or(u16::MAX);
        let (addr, size) = gate.setup(queue, max)?;
        let ring = NonNull::new(core::ptr::with_exposed_provenance_mut::<u8>(addr))
            .ok_or(Error::LegacyLayout)?;
        if size == 0 || !size.is_power_of_two() || usize::from(size) > N {
            return Err(Error::QueueUnavailable { queue });
        }
        Ok(Self::fresh(queue, ring, size, features, false, Some(gate)))
    }

    /// Gives the queue indirect descriptor tables (§2.7.5.3). They are used
    /// only if VIRTIO_F_INDIRECT_DESC was negotiated, for chains of 2 to `M`
    /// buffers; each takes one ring descriptor instead of one per buffer.
    pub fn with_indirect<const M: usize>(mut self, tables: &'a mut IndirectTables<N, M>) -> Self {
        if self.gate.is_some() {
            // A gate refuses indirect descriptors (see `DmaGate`).
            return self;
        }
        self.indirect = Some(Indirect {
            base: tables.as_ptr(),
            // M <= 32768, checked when the tables were built.
            per_table: u16::try_from(M).unwrap_or(u16::MAX),
        });
        self
    }

    /// Where the rings are, for the transport (§2.7, §4.2.3.2).
    pub fn layout(&self) -> QueueLayout {
        let base = self.ring.as_ptr().expose_provenance() as u64;
        QueueLayout {
            queue: self.queue,
            size: self.size,
            desc: base,
            driver: base + self.offsets.avail() as u64,
            device: base + self.offsets.used() as u64,
        }
    }

    /// Tells the device (after a reset) where this queue is again, the same
    /// size and place, rings as [`shutdown`](Self::shutdown) left them
    /// (§4.2.3.2): through the gate if there is one, else through
    /// `transport`. Fails if the device no longer offers the size.
    pub fn reattach<Tr: Transport + ?Sized>(&mut self, transport: &mut Tr) -> Result<(), Error> {
        match self.gate {
            Some(gate) => {
                let (addr, size) = gate.setup(self.queue, self.size)?;
                if size != self.size || addr != self.ring.as_ptr().expose_provenance() {
                    return Err(Error::QueueUnavailable { queue: self.queue });
                }
                Ok(())
            }
            None => {
                if transport.queue_max_size(self.queue) < self.size {
                    return Err(Error::QueueUnavailable { queue: self.queue });
                }
                transport.attach_queue(&self.layout())
            }
        }
    }

    /// A queue of `size` entries with its rings at `ring` (zeroed by the
    /// caller), every descriptor free and nothing in flight.
    fn fresh(
        queue: u16,
        ring: NonNull<u8>,
        size: u16,
        features: Features,
        indirect_desc: bool,
        gate: Option<&'a dyn DmaGate>,
    ) -> Self {
        let mut q = SplitQueue {
            ring,
            offsets: RingOffsets::new(size),
            indirect: None,
            queue,
            size,
            event_idx: features.contains(Features::VIRTIO_F_EVENT_IDX),
            indirect_desc,
            state: State::Ready,
            free_head: 0,
            num_free: 0,
            next: [0; N],
            heads: [None; N],
            avail_idx: 0,
            last_used: 0,
            kicked_idx: 0,
            suppression: [None; 2],
            deferred_event: None,
            callbacks: true,
            gate,
            _memory: PhantomData,
        };
        q.reinit();
        q
    }
}
