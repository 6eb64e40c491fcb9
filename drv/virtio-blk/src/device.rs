//! One virtio-blk device brought up and driven: the seed's `probe` and
//! `remove`, and requests in slots of the driver's DMA memory.
//!
//! A request's life: [`BlkDevice::reserve`] a free slot, fill its bounce
//! buffer ([`BlkDevice::buffer`]) for a write, [`BlkDevice::submit`] it
//! (validated against the disk first) and [`BlkDevice::kick`]; after the
//! interrupt, [`BlkDevice::poll`] hands back each completed slot with its
//! outcome, the bounce buffer holds the data of a read, and
//! [`BlkDevice::release`] frees the slot. [`BlkDevice::reset`] (the seed's
//! `remove`) stops the device and hands back every slot still in flight.
//!
//! Nothing here trusts the device: the used ring is checked by
//! `virtio::SplitQueue` (a bad entry is an `Err` blamed on the device, and
//! the driver resets), a status byte the device did not write reads as an
//! I/O error, and a bounce buffer is only ever handed to Rust code while
//! the device does not own it.

use core::marker::PhantomData;
use core::ptr::NonNull;

use block_api::{BlockError, MAX_TRANSFER, SECTOR_SIZE};
use virtio::transport::mmio::MmioTransport;
use virtio::transport::{DeviceStatus, InterruptStatus};
use virtio::{Buf, Features, RegisterAccess, SplitQueue, Transport};

pub use crate::geometry::Geometry;
use crate::geometry::{read_geometry, whole_blocks};
use crate::memory::{DmaMemory, BOUNCE_LEN, DESCS_PER_REQUEST, QUEUE_SIZE, SLOTS};
use crate::protocol::{
    ReqHeader, VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO, VIRTIO_BLK_ID_BYTES,
    VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN,
    VIRTIO_BLK_T_OUT, VIRTIO_ID_BLOCK,
};
pub use crate::slot::{Slot, SlotSet};

mod blocking;

/// The features this driver understands: read-only disks, the block size
/// hint, the flush command, and event-index interrupt suppression.
pub const UNDERSTOOD: Features = Features(
    VIRTIO_BLK_F_RO.0
        | VIRTIO_BLK_F_BLK_SIZE.0
        | VIRTIO_BLK_F_FLUSH.0
        | Features::VIRTIO_F_EVENT_IDX.0,
);

/// A status byte no device writes: set before each submission, so a
/// device that completes a request without writing its status is seen.
const STATUS_UNWRITTEN: u8 = 0xff;

/// Why a device could not be brought up.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ProbeError {
    /// The slot holds a device that is not a block device.
    NotABlockDevice {
        /// Its device id.
        device_id: u32,
    },
    /// The virtio core refused (bad magic, feature negotiation, queue, …).
    Virtio(virtio::Error),
    /// The queue is too small for even one request chain.
    QueueTooSmall {
        /// The queue size the device allowed.
        size: u16,
    },
}

impl From<virtio::Error> for ProbeError {
    fn from(e: virtio::Error) -> Self {
        ProbeError::Virtio(e)
    }
}

/// A request, as submitted to a slot.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Read `len` bytes from `sector` into the slot's bounce buffer.
    Read {
        /// First sector.
        sector: u64,
        /// Bytes, a multiple of 512 (of the block size), at most 64 KiB.
        len: usize,
    },
    /// Write the first `len` bytes of the slot's bounce buffer at `sector`.
    Write {
        /// First sector.
        sector: u64,
        /// Bytes, a multiple of 512 (of the block size), at most 64 KiB.
        len: usize,
    },
    /// Flush the device's write cache.
    Flush,
    /// Read the device id (serial) into the slot's bounce buffer (20 bytes).
    GetId,
}

/// A request the device finished.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// Its slot (now `Done`: read the buffer, then release it).
    pub slot: Slot,
    /// The device's verdict.
    pub result: Result<(), BlockError>,
}

/// The device did not finish a reset (its status never read back 0): it
/// may still be processing requests and writing their buffers, so the
/// slots that were in flight stay the device's for ever and the device
/// must be given up (§2.4: the driver must not reinitialize it).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ResetFailed {
    /// The requests that were in flight: they never complete, and their
    /// buffers are never handed out again.
    pub lost: SlotSet,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum SlotState {
    Free,
    /// Taken by the caller, not on the ring: its buffer may be filled.
    Reserved,
    /// On the ring: the device owns the header, buffer and status.
    InFlight,
    /// Back from the device: its buffer may be read, then released.
    Done,
}

/// A virtio-blk device on an MMIO transport with register access `R`, its
/// queue in DMA memory borrowed for `'a`.
///
/// Dropping it resets the device (no DMA after the borrow of the memory
/// ends).
pub struct BlkDevice<'a, R: RegisterAccess> {
    transport: MmioTransport<R>,
    queue: SplitQueue<'a, u8, QUEUE_SIZE>,
    /// The features negotiated at probe: which config fields exist
    /// (§5.2.4), for `refresh_geometry`.
    features: Features,
    geometry: Geometry,
    slots: [SlotState; SLOTS],
    /// Per in-flight slot: the fewest bytes the device must report written
    /// (the used ring's `len`, §2.7.8.2) for the request to have done its
    /// job: a read's data plus the status byte, else the status byte.
    must_write: [u32; SLOTS],
    /// Slots usable: fewer than [`SLOTS`] if the device's queue is small.
    usable: usize,
    bounce: NonNull<[u8; BOUNCE_LEN]>,
    /// Requests may bring their own data buffer (`submit_data`).
    zero_copy: bool,
    /// The kernel refused a chain over descriptors it says the device
    /// still holds, which this queue counts as free ([`Self::out_of_step`]).
    out_of_step: bool,
    /// The last submission was refused for the client's lease
    /// ([`lease_refused`](Self::lease_refused)).
    lease_refused: bool,
    headers: NonNull<[u32; 4]>,
    status: NonNull<[u8; 4]>,
    _memory: PhantomData<&'a mut DmaMemory>,
}

impl<'a, R: RegisterAccess> BlkDevice<'a, R> {
    /// Fault injection (test images only): breaks the device's ring as a
    /// memory-corrupting bug would, and tells the device to look at it.
    #[cfg(feature = "fault-injection")]
    pub fn corrupt_queue(&mut self, how: virtio::queue::Corruption, value: u32) {
        self.queue.corrupt(how, value);
        self.transport.notify(self.queue.queue_index());
    }

    /// The seed's `probe`: identifies the device behind `regs`, brings it up
    /// (reset → ACKNOWLEDGE → DRIVER → features → FEATURES_OK → queue →
    /// DRIVER_OK) with its ring in `mem`, and reads capacity, block size and
    /// read-only flag from config space with the generation check.
    ///
    /// On error the device is left reset or FAILED, never half alive.
    ///
    /// With a `gate` (the kernel, in a task) the queue is placed and
    /// written by it, in ring memory this driver may only read, and the
    /// ring in `mem` is unused; without one the queue lives in `mem`.
    pub fn probe(
        regs: R,
        mem: &'a mut DmaMemory,
        gate: Option<&'a dyn virtio::DmaGate>,
    ) -> Result<Self, ProbeError> {
        let mut transport = MmioTransport::new(regs)?;
        if transport.device_id() != VIRTIO_ID_BLOCK {
            return Err(ProbeError::NotABlockDevice {
                device_id: transport.device_id(),
            });
        }
        let features = transport.negotiate_through(UNDERSTOOD, gate)?;
        let geometry = match read_geometry(&transport, features) {
            Ok(g) => g,
            Err(e) => {
                transport.fail();
                return Err(e.into());
            }
        };
        let bounce = NonNull::from(&mut mem.bounce).cast::<[u8; BOUNCE_LEN]>();
        let headers = NonNull::from(&mut mem.headers).cast::<[u32; 4]>();
        let status = NonNull::from(&mut mem.status).cast::<[u8; 4]>();
        let queue = match gate {
            Some(gate) => SplitQueue::gated(0, gate, features),
            None => transport.setup_queue::<u8, QUEUE_SIZE>(0, &mut mem.ring, features),
        };
        let queue = match queue {
            Ok(q) => q,
            Err(e) => {
                transport.fail();
                return Err(e.into());
            }
        };
        let usable = (usize::from(queue.size()) / DESCS_PER_REQUEST).min(SLOTS);
        if usable == 0 {
            transport.fail();
            let _ = transport.reset();
            return Err(ProbeError::QueueTooSmall { size: queue.size() });
        }
        let mut dev = BlkDevice {
            transport,
            queue,
            features,
            geometry,
            slots: [SlotState::Free; SLOTS],
            must_write: [0; SLOTS],
            usable,
            bounce,
            zero_copy: gate.is_some(),
            out_of_step: false,
            lease_refused: false,
            headers,
            status,
            _memory: PhantomData,
        };
        // On failure `dev` is dropped, which resets the device.
        dev.transport.driver_ok()?;
        Ok(dev)
    }

    /// What probe read from config space.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Whether a slot is free for [`reserve`](Self::reserve).
    pub fn has_free_slot(&self) -> bool {
        self.slots[..self.usable].contains(&SlotState::Free)
    }

    /// Requests on the ring: the queue's chains in flight (one chain per
    /// in-flight slot), counted by the queue, not by a scan of the slots.
    pub fn in_flight(&self) -> usize {
        usize::from(self.queue.in_flight())
    }

    /// Takes a free slot, or `None` if every usable one is taken.
    pub fn reserve(&mut self) -> Option<Slot> {
        let i = self.slots[..self.usable]
            .iter()
            .position(|s| *s == SlotState::Free)?;
        self.slots[i] = SlotState::Reserved;
        // i < SLOTS <= u8::MAX (checked in memory.rs).
        Some(Slot(i as u8))
    }

    /// Frees a reserved or completed slot (an in-flight one stays the
    /// device's).
    pub fn release(&mut self, slot: Slot) {
        if let Some(s @ (SlotState::Reserved | SlotState::Done)) = self.slots.get_mut(slot.index())
        {
            *s = SlotState::Free;
        }
    }

    /// The bounce buffer of a slot the device does not own (reserved or
    /// done); `None` otherwise.
    pub fn buffer(&mut self, slot: Slot) -> Option<&mut [u8; BOUNCE_LEN]> {
        match self.slots.get(slot.index()) {
            Some(SlotState::Reserved | SlotState::Done) => {
                // SAFETY: the slot index is below SLOTS, so the pointer is
                // inside the `bounce` array of the DMA memory borrowed for
                // 'a. The device does not own this buffer (the slot is not
                // in flight: it was never added, or its token came back from
                // get_buf or shutdown), and the returned borrow of `self`
                // keeps the slot from being submitted while it lives.
                Some(unsafe { &mut *self.bounce.as_ptr().add(slot.index()) })
            }
            _ => None,
        }
    }

    /// Whether `request` is acceptable for this disk: the length a whole
    /// number of sectors, and start and length whole blocks of a disk whose
    /// block size is larger ([`BlockError::UnalignedLength`]), of at most
    /// 64 KiB ([`BlockError::TooLarge`]), no write to a read-only disk
    /// ([`BlockError::ReadOnly`]), every sector inside the disk
    /// ([`BlockError::OutOfRange`]).
    pub fn check(&self, request: &Request) -> Result<(), BlockError> {
        let (sector, len, write) = match *request {
            Request::Read { sector, len } => (sector, len, false),
            Request::Write { sector, len } => (sector, len, true),
            Request::Flush | Request::GetId => return Ok(()),
        };
        // QEMU fails a request that does not start and end on a boundary of
        // its logical block size (`blk_size`, e.g. `logical_block_size=4096`)
        // with IOERR, which the client would take for a broken disk.
        // The block size is a power of two of at least a sector
        // (`read_geometry`), so one mask checks both ends: with `%` on a
        // size known only at run time (two divisions, one of them a 64-bit
        // library call) the check cost every request 62 instructions.
        let mask = u64::from(self.geometry.block_size.max(SECTOR_SIZE as u32)) - 1;
        // `<<` drops only bits above the mask: the low bits are exact.
        if (len as u64 | sector << SECTOR_SIZE.trailing_zeros()) & mask != 0 {
            return Err(BlockError::UnalignedLength);
        }
        if len > MAX_TRANSFER {
            return Err(BlockError::TooLarge);
        }
        if write && self.geometry.read_only {
            return Err(BlockError::ReadOnly);
        }
        let sectors = (len / SECTOR_SIZE) as u64;
        match sector.checked_add(sectors) {
            Some(end) if end <= self.geometry.capacity => Ok(()),
            _ => Err(BlockError::OutOfRange),
        }
    }

    /// Puts `request` on the ring in reserved `slot` (for a write, its
    /// data must already be in the slot's buffer). Call
    /// [`kick`](Self::kick) afterwards. On `Err` the slot stays reserved.
    ///
    /// Errors: those of [`check`](Self::check); [`BlockError::DeviceError`]
    /// if the slot was not reserved or the queue refused (it is broken:
    /// reset the device).
    pub fn submit(&mut self, slot: Slot, request: Request) -> Result<(), BlockError> {
        self.submit_data(slot, request, None)
    }

    /// Whether requests may name their data buffer themselves
    /// ([`submit_data`](Self::submit_data)): the queue goes through the
    /// kernel's DMA gate, which checks every buffer (and pins a lender).
    pub fn zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// [`submit`](Self::submit) with the data in `data` instead of the
    /// slot's bounce buffer (zero-copy): a [`Buf::lease`] of the call being
    /// served, lent by `lender`, or the caller's own memory (`None`). Only
    /// with [`zero_copy`](Self::zero_copy); the gate refuses a buffer that
    /// is neither. `data` must be the request's length.
    ///
    /// The device may access `data` until the slot's completion comes back
    /// from [`poll`](Self::poll) or the device was reset: a lease stays
    /// pinned by the kernel meanwhile; own memory is the caller's to leave
    /// alone.
    pub fn submit_data(
        &mut self,
        slot: Slot,
        request: Request,
        data: Option<(Buf, Option<u32>)>,
    ) -> Result<(), BlockError> {
        self.check(&request)?;
        self.submit_checked(slot, request, data)
    }

    /// [`submit_data`](Self::submit_data) of a request that already
    /// passed [`check`](Self::check) on this device (geometry unchanged
    /// since): the driver's own paths check before they reserve a slot.
    pub(crate) fn submit_checked(
        &mut self,
        slot: Slot,
        request: Request,
        data: Option<(Buf, Option<u32>)>,
    ) -> Result<(), BlockError> {
        if data.is_some() && !self.zero_copy {
            return Err(BlockError::DeviceError);
        }
        if self.slots.get(slot.index()) != Some(&SlotState::Reserved) {
            return Err(BlockError::DeviceError);
        }
        let i = slot.index();
        let (header, data_len, device_writes_data) = match request {
            Request::Read { sector, len } => (ReqHeader::words(VIRTIO_BLK_T_IN, sector), len, true),
            Request::Write { sector, len } => {
                (ReqHeader::words(VIRTIO_BLK_T_OUT, sector), len, false)
            }
            Request::Flush => (ReqHeader::words(VIRTIO_BLK_T_FLUSH, 0), 0, false),
            Request::GetId => (
                ReqHeader::words(VIRTIO_BLK_T_GET_ID, 0),
                VIRTIO_BLK_ID_BYTES,
                true,
            ),
        };
        // SAFETY: i < SLOTS, so both pointers are inside the DMA memory
        // borrowed for 'a; the slot is reserved, so the device does not own
        // its header or status, and no Rust reference to them exists (they
        // are only touched here). The header is written as words (its
        // memory is `u32`-aligned): a 16-byte array would be stored byte by
        // byte.
        unsafe {
            let words = self.headers.as_ptr().add(i).cast::<u32>();
            for (k, w) in header.into_iter().enumerate() {
                words.add(k).write_volatile(w);
            }
            self.status
                .as_ptr()
                .add(i)
                .cast::<u8>()
                .write_volatile(STATUS_UNWRITTEN);
        }
        let header_buf = Buf::new(
            self.headers.as_ptr().wrapping_add(i).expose_provenance() as u64,
            16,
        );
        let status_buf = Buf::new(
            self.status.as_ptr().wrapping_add(i).expose_provenance() as u64,
            1,
        );
        // data_len <= MAX_TRANSFER (checked above) fits a u32.
        let (data_buf, lender) = match data {
            Some((buf, lender)) if buf.len() as usize == data_len => (buf, lender),
            Some(_) => return Err(BlockError::DeviceError),
            // Through the bounce buffer only what fits it.
            None if data_len > BOUNCE_LEN => return Err(BlockError::TooLarge),
            None => (
                Buf::new(
                    self.bounce.as_ptr().wrapping_add(i).expose_provenance() as u64,
                    data_len as u32,
                ),
                None,
            ),
        };
        // Readable buffers first, then writable ones (§2.7.4.2): header,
        // [data], status.
        let (out, out_n, in_, in_n) = match (data_len, device_writes_data) {
            (0, _) => ([header_buf, header_buf], 1, [status_buf, status_buf], 1),
            (_, true) => ([header_buf, header_buf], 1, [data_buf, status_buf], 2),
            (_, false) => ([header_buf, data_buf], 2, [status_buf, status_buf], 1),
        };
        // SAFETY: the buffers are this slot's header, data and status in
        // the DMA memory borrowed for 'a, which outlives the queue. From here
        // until the token comes back (get_buf, or shutdown after a reset)
        // the slot is InFlight, and `buffer`, `submit` and `release` refuse
        // to touch an in-flight slot, so no Rust code reads or writes these
        // bytes meanwhile. None of them overlaps the ring memory (separate
        // fields of `DmaMemory`).
        // A lease is the kernel's to check and pin; own memory given in
        // `data` the caller promised (`submit_data`).
        let result = unsafe {
            self.queue
                .add_lent(&out[..out_n], &in_[..in_n], slot.0, lender)
        };
        match result {
            Ok(()) => {
                self.slots[i] = SlotState::InFlight;
                // data_len <= MAX_TRANSFER: the sum fits a u32.
                self.must_write[i] = if device_writes_data {
                    data_len as u32 + 1
                } else {
                    1
                };
                Ok(())
            }
            Err(virtio::Error::DmaRefused { code }) if code == abi::DMA_PINNED => {
                self.out_of_step = true;
                Err(BlockError::DeviceError)
            }
            Err(virtio::Error::DmaRefused { code }) if code == abi::DMA_BAD_LEASE => {
                self.lease_refused = true;
                Err(BlockError::DeviceError)
            }
            Err(_) => Err(BlockError::DeviceError),
        }
    }

    /// Whether a submission was refused because the device still holds
    /// descriptors this queue counts as free (`abi::DMA_PINNED`: the kernel
    /// keeps every posted chain until the device gives it back or is
    /// reset). The device and the queue are then out of step — a device
    /// that stopped without giving a chain back, or a chain offered behind
    /// the queue's back (a corrupted ring) — and every later request would
    /// be refused the same way: only a reset brings them back in step.
    /// Asking clears it.
    pub fn out_of_step(&mut self) -> bool {
        core::mem::take(&mut self.out_of_step)
    }

    /// Whether a submission was refused because of the client's lease
    /// (`abi::DMA_BAD_LEASE`: its lender restarted since, say): the
    /// client's doing, not this driver's. Asking clears it.
    #[cold]
    pub fn lease_refused(&mut self) -> bool {
        core::mem::take(&mut self.lease_refused)
    }

    /// Notifies the device of submitted requests, if it wants to be.
    pub fn kick(&mut self) {
        self.queue.kick(&mut self.transport);
    }

    /// Reads and acknowledges the interrupt cause (call on each IRQ, before
    /// polling), and returns it: a configuration change (§2.5.2, §4.2.3.4)
    /// asks the driver to look at the status ([`needs_reset`]) and the
    /// config space ([`refresh_geometry`]).
    ///
    /// [`needs_reset`]: Self::needs_reset
    /// [`refresh_geometry`]: Self::refresh_geometry
    pub fn take_interrupt(&mut self) -> InterruptStatus {
        self.transport.take_interrupt()
    }

    /// Whether the device set DEVICE_NEEDS_RESET (§2.1.2): it hit an error
    /// it cannot recover from and will do nothing more until reset. A
    /// device sends a configuration change notification when it sets it.
    pub fn needs_reset(&self) -> bool {
        self.transport
            .status()
            .contains(DeviceStatus::DEVICE_NEEDS_RESET)
    }

    /// Reads the geometry again (after a configuration change: a resized
    /// disk, §5.2.4), under the generation check, with the features
    /// negotiated at probe: the read-only and flush flags are fixed until
    /// the next probe, and `blk_size` is read only if it exists (a device
    /// that did not offer VIRTIO_BLK_F_BLK_SIZE has no such field, and
    /// what its config space holds there is no block size). The capacity
    /// is whole blocks only, as at probe. On error the old geometry stays.
    pub fn refresh_geometry(&mut self) -> Result<Geometry, virtio::Error> {
        let mut g = read_geometry(&self.transport, self.features)?;
        // No block size now, or a nonsense one, keeps the one read at
        // probe (a disk's logical block size does not change under a
        // bound driver), and the capacity in whole blocks of it.
        if g.block_size == SECTOR_SIZE as u32 {
            g.block_size = self.geometry.block_size;
            g.capacity = whole_blocks(g.capacity, g.block_size);
        }
        self.geometry = g;
        Ok(g)
    }

    /// The next completed request, if any (the seed's `get_buf`). An `Err`
    /// is a device that broke the protocol: reset it.
    pub fn poll(&mut self) -> Result<Option<Completion>, virtio::Error> {
        let Some((token, written)) = self.queue.get_buf()? else {
            return Ok(None);
        };
        let i = usize::from(token);
        // The queue only returns tokens we added, each once (it checks what
        // the device wrote): an in-flight slot. Anything else is this
        // driver's own state gone bad — a bug or corrupted memory, not the
        // device's doing (the server stops the driver on it).
        if self.slots.get(i) != Some(&SlotState::InFlight) {
            return Err(virtio::Error::QueueBroken);
        }
        self.slots[i] = SlotState::Done;
        // SAFETY: i < SLOTS; the device gave the slot back, so it no longer
        // writes the status byte.
        let status = unsafe { self.status.as_ptr().add(i).cast::<u8>().read_volatile() };
        let result = match status {
            // A success that claims fewer bytes written than the request
            // needs (a read's data plus the status byte) is not one: the
            // bytes past `written` are whatever the bounce buffer held, and
            // a client must never receive bytes the device did not write
            // for it (§2.7.8.2: the driver must not rely on device-writable
            // data beyond the used length).
            VIRTIO_BLK_S_OK if written < self.must_write[i] => Err(BlockError::DeviceError),
            VIRTIO_BLK_S_OK => Ok(()),
            VIRTIO_BLK_S_UNSUPP => Err(BlockError::Unsupported),
            // IOERR, or a status the device never wrote.
            _ => Err(BlockError::DeviceError),
        };
        Ok(Some(Completion {
            slot: Slot(token),
            result,
        }))
    }

    /// Whether nothing has completed since the last [`poll`](Self::poll)
    /// and the device's interrupt is asked for: the driver may wait for it
    /// without polling (see `SplitQueue::nothing_used`).
    pub fn nothing_completed(&self) -> bool {
        self.queue.nothing_used()
    }

    /// Re-enables interrupts (the seed's `restart`): `true` if nothing is
    /// pending and the driver may sleep until the next interrupt, `false`
    /// if completions raced in (poll again).
    pub fn restart(&mut self) -> bool {
        self.queue.restart()
    }

    /// The seed's `remove` (and the reaction to a hostile device): resets
    /// the device, so it does no more DMA, and takes every request back
    /// from the ring. Returns the slots that were in flight, now `Done` for
    /// the caller to fail and release. The device stays reset: drop this
    /// value, or probe again.
    ///
    /// If the device does not finish its reset it may still write the
    /// buffers of requests in flight: those slots stay the device's
    /// ([`ResetFailed::lost`]), and the device must be given up, never
    /// probed again with this memory.
    pub fn reset(&mut self) -> Result<SlotSet, ResetFailed> {
        if self.transport.reset().is_err() {
            let mut lost = SlotSet::default();
            for (i, s) in self.slots.iter().enumerate() {
                if *s == SlotState::InFlight {
                    // i < SLOTS <= u8::MAX.
                    lost.insert(Slot(i as u8));
                }
            }
            return Err(ResetFailed { lost });
        }
        let mut taken = SlotSet::default();
        for token in self.queue.shutdown() {
            let i = usize::from(token);
            if self.slots.get(i) == Some(&SlotState::InFlight) {
                self.slots[i] = SlotState::Done;
                taken.insert(Slot(token));
            }
        }
        Ok(taken)
    }
}

impl<R: RegisterAccess> Drop for BlkDevice<'_, R> {
    fn drop(&mut self) {
        // The device must not touch the DMA memory once it is no longer
        // borrowed (it may be handed to the next probe).
        let _ = self.transport.reset();
    }
}
