//! The driver side of a split virtqueue (§2.7): the seed's `virtqueue_ops`
//! (`add_buf`, `kick`, `get_buf`, `restart`, `shutdown`) over caller-provided
//! ring memory.
//!
//! # Trust
//!
//! The device writes the used ring (and may write anything it can reach by
//! DMA, which no software can prevent without an IOMMU). This queue keeps
//! all of its own state — the free list, the chains, the tokens, the
//! indices — in private fields, and treats the used ring as allegations:
//! each used element is checked before a token is given back (§2.7.8), and
//! the first bad one breaks the queue (see [`Error::blame`]).
//!
//! # Memory ordering
//!
//! The ring is shared with a device that runs concurrently. Every ring access
//! is a volatile access of the field's natural width, and:
//!
//! - descriptors and the available ring entry are written before a release
//!   fence, then `avail.idx` is written (§2.7.13.3.1: "the driver MUST
//!   perform a suitable memory barrier before the idx update");
//! - `avail.idx` is written before a full fence, then the device's
//!   notification suppression is read (§2.7.13.4.1), so a device that is
//!   going to sleep either sees the new index or is notified;
//! - `used.idx` is read before an acquire fence, then the used elements
//!   (§2.7.14: "the driver MUST read idx before … the used ring entries");
//! - re-enabling interrupts is written before a full fence, then `used.idx`
//!   is re-read ([`SplitQueue::restart`]), so no completion can slip between
//!   the check and the sleep.

use core::marker::PhantomData;
use core::mem::{size_of, MaybeUninit};
use core::ptr::NonNull;
use core::sync::atomic::{fence, Ordering};

use zerocopy::little_endian::{U16, U32, U64};

use super::gate::{AvailField, DmaGate, MAX_GATED_CHAIN};
use super::layout::{
    Descriptor, RingOffsets, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE,
};
use super::memory::QueueMemory;
use super::Buf;
use crate::error::Error;

#[cfg(feature = "fault-injection")]
mod corrupt;
mod notify;
mod ring;
mod setup;
mod shutdown;

#[cfg(feature = "fault-injection")]
pub use corrupt::Corruption;
pub use shutdown::Shutdown;

/// What the queue remembers about a chain the device owns, keyed by its head
/// descriptor.
#[derive(Copy, Clone, Debug)]
struct InFlight<T> {
    token: T,
    /// Ring descriptors the chain occupies (1 if indirect).
    descs: u16,
    /// Total length of the device-writable buffers: the most the device may
    /// claim to have written.
    writable: u64,
}

/// Indirect tables given to the queue: their start and descriptors per table.
#[derive(Copy, Clone, Debug)]
struct Indirect {
    base: NonNull<u8>,
    per_table: u16,
}

/// Where the queue is in its life.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum State {
    /// Normal operation.
    Ready,
    /// The device broke the protocol; only `shutdown` is allowed.
    Broken,
    /// A `shutdown` iterator was started and not dropped; `shutdown` again
    /// finishes it.
    Draining,
}

/// The driver side of one split virtqueue (§2.7) holding up to `N` chains'
/// descriptors, each chain identified by a caller-chosen token of type `T`.
///
/// The seed's `struct virtqueue` with its `virtqueue_ops`. One task owns
/// the queue and calls it from its message loop; nothing here locks.
///
/// Buffers are made available by [`add_buf`](Self::add_buf), announced by
/// [`kick`](Self::kick), and come back from [`get_buf`](Self::get_buf) as
/// `(token, len)`. Used buffer notifications (interrupts) are turned off with
/// [`disable_callbacks`](Self::disable_callbacks) and back on with
/// [`restart`](Self::restart), which says whether it is safe to sleep.
pub struct SplitQueue<'a, T: Copy, const N: usize> {
    ring: NonNull<u8>,
    offsets: RingOffsets,
    indirect: Option<Indirect>,
    queue: u16,
    size: u16,
    event_idx: bool,
    indirect_desc: bool,
    state: State,
    /// Head of the free descriptor list, linked through `next`. Always below
    /// `size`, so that indexing with it cannot fail.
    free_head: u16,
    num_free: u16,
    /// Private links: the free list, and each chain's descriptors in order.
    /// The device never sees this copy (it reads `next` in the ring), so it
    /// cannot corrupt it. Every entry is below `size`.
    next: [u16; N],
    /// The chain whose head is descriptor `i`, while the device owns it.
    heads: [Option<InFlight<T>>; N],
    /// The driver's copy of `avail.idx`: chains made available, mod 2^16.
    avail_idx: u16,
    /// `used.idx` as far as `get_buf` has consumed it.
    last_used: u16,
    /// `avail_idx` at the last notification decision (event index window).
    kicked_idx: u16,
    /// What this queue last wrote to `avail.flags` and `used_event`
    /// ([`AvailField`] order), if anything since the rings were zeroed: a
    /// write of the same value again changes nothing for the device, and
    /// through a gate it would cost a syscall (`get_buf` then `restart`
    /// write the same `used_event`).
    suppression: [Option<u16>; 2],
    /// A `used_event` a gated queue has not written yet because nothing
    /// was in flight (no completion could come): the next add's
    /// [`DmaGate::post`] writes it with its chain.
    deferred_event: Option<u16>,
    /// Whether used buffer notifications are wanted.
    callbacks: bool,
    /// Who writes descriptors and the available ring: `None`, this queue
    /// (its own `QueueMemory`); `Some`, the gate (ring memory the driver may
    /// only read, see [`DmaGate`]).
    gate: Option<&'a dyn DmaGate>,
    _memory: PhantomData<&'a mut QueueMemory<N>>,
}

impl<'a, T: Copy, const N: usize> SplitQueue<'a, T, N> {
    /// The queue index on its device (QueueSel, §4.2.2).
    pub fn queue_index(&self) -> u16 {
        self.queue
    }

    /// The queue size (§2.7 "Queue Size"): number of ring descriptors, a
    /// power of two.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// The gate this queue was built through, if any: a driver bringing
    /// its device up again negotiates through it as it did the first time
    /// ([`Transport::negotiate_through`](crate::Transport::negotiate_through)).
    pub fn gate(&self) -> Option<&'a dyn DmaGate> {
        self.gate
    }

    /// Ring descriptors (§2.7.5) not in use.
    pub fn num_free(&self) -> u16 {
        self.num_free
    }

    /// Chains made available (§2.7.13) and not yet returned by `get_buf`.
    pub fn in_flight(&self) -> u16 {
        self.avail_idx.wrapping_sub(self.last_used)
    }

    /// Whether a device error broke the queue (reset the device, then
    /// [`shutdown`](Self::shutdown)).
    pub fn is_broken(&self) -> bool {
        self.state != State::Ready
    }

    /// Makes a chain of buffers available to the device (§2.7.13): `out`
    /// buffers are device-readable, `in_` buffers device-writable (and come
    /// after them in the chain, §2.7.4.2). `token` comes back from
    /// [`get_buf`](Self::get_buf) when the device is done, or from
    /// [`shutdown`](Self::shutdown).
    ///
    /// The chain is published immediately (the device may see it at once);
    /// call [`kick`](Self::kick) to notify the device after one or more adds.
    ///
    /// Errors: [`Error::EmptyChain`], [`Error::ChainTooLong`] (more buffers
    /// than the queue size, or more than 4 GiB, §2.7.13.1),
    /// [`Error::QueueFull`] (retry after `get_buf`), [`Error::QueueBroken`].
    /// On error nothing was made available.
    ///
    /// # Safety
    ///
    /// From this call until the token comes back from `get_buf` — or from
    /// `shutdown` after the device was reset — the device may read every
    /// `out` buffer and write every `in_` buffer at any time. So each buffer
    /// must be memory the caller owns for that whole time (it does not move
    /// or get freed), the `in_` buffers must not be read or written by the
    /// program meanwhile (other than through volatile reads that tolerate
    /// any contents), and no buffer may overlap memory that Rust code relies
    /// on (such as this queue's own ring memory).
    pub unsafe fn add_buf(&mut self, out: &[Buf], in_: &[Buf], token: T) -> Result<(), Error> {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.add_lent(out, in_, token, None) }
    }

    /// [`add_buf`](Self::add_buf) where buffers may also be leases of the
    /// call being served ([`Buf::lease`], zero-copy), lent by `lender` (a
    /// `TaskId` register value): only through a gate, which checks the
    /// lease and pins the lender until the device gave the chain back.
    ///
    /// # Safety
    ///
    /// As for [`add_buf`](Self::add_buf), for the buffers that are not
    /// leases.
    pub unsafe fn add_lent(
        &mut self,
        out: &[Buf],
        in_: &[Buf],
        token: T,
        lender: Option<u32>,
    ) -> Result<(), Error> {
        if self.gate.is_none() && out.iter().chain(in_).any(Buf::is_lease) {
            // Only a gate knows what a lease is.
            return Err(Error::DmaRefused { code: 0 });
        }
        if self.state != State::Ready {
            return Err(Error::QueueBroken);
        }
        let total = out.len() + in_.len();
        if total == 0 {
            return Err(Error::EmptyChain);
        }
        if total > usize::from(self.size) {
            return Err(Error::ChainTooLong);
        }
        // At most 32768 lengths below 2^32 each: the sums cannot overflow.
        // One pass over each side (the writable part is summed anyway).
        let readable: u64 = out.iter().map(|b| u64::from(b.len())).sum();
        let writable: u64 = in_.iter().map(|b| u64::from(b.len())).sum();
        if readable + writable > 1 << 32 {
            return Err(Error::ChainTooLong);
        }
        // Fits in u16: total <= size <= 32768.
        let total = total as u16;

        let indirect = match self.indirect {
            Some(ind) if self.indirect_desc && total > 1 && total <= ind.per_table => Some(ind),
            _ => None,
        };
        let descs = if indirect.is_some() { 1 } else { total };
        if self.num_free < descs {
            return Err(Error::QueueFull);
        }

        let head = self.free_head;
        let bufs = out
            .iter()
            .map(|b| (b, 0))
            .chain(in_.iter().map(|b| (b, VIRTQ_DESC_F_WRITE)));
        if let Some(gate) = self.gate {
            if usize::from(total) > MAX_GATED_CHAIN {
                return Err(Error::ChainTooLong);
            }
            // Not zeroed first: that was a 128-byte memset per request, for
            // entries past the chain that nobody reads. Only the entries
            // written below are ever looked at (`written`). (`Descriptor`
            // is 8-aligned, as the gate needs and so that its byte-array
            // fields are stored a word at a time.)
            let mut chain = [MaybeUninit::<Descriptor>::uninit(); MAX_GATED_CHAIN];
            let mut written = 0;
            let mut idx = head;
            for (i, (buf, write)) in (0u16..).zip(bufs) {
                let more = i + 1 < total;
                let after = self.next[usize::from(idx)];
                chain[usize::from(i)].write(Descriptor {
                    addr: U64::new(buf.addr()),
                    len: U32::new(buf.len()),
                    flags: U16::new(write | if more { VIRTQ_DESC_F_NEXT } else { 0 }),
                    next: U16::new(if more { after } else { 0 }),
                });
                written = usize::from(i) + 1;
                idx = after;
            }
            // SAFETY: the loop wrote entries 0..written in order (each
            // index once, from 0 up), so the first `written` entries are
            // initialised `Descriptor`s, which `MaybeUninit` lays out
            // alike; `written <= MAX_GATED_CHAIN` (the indexing above would
            // have stopped otherwise). The slice borrows `chain`.
            let chain: &[Descriptor] =
                unsafe { core::slice::from_raw_parts(chain.as_ptr().cast(), written) };
            // The gate writes the chain and publishes it (§2.7.13.2–3),
            // with a deferred `used_event`; refused, nothing changed on
            // either side.
            let event = self.deferred_event;
            gate.post(self.queue, chain, head, lender, event)?;
            if let Some(e) = self.deferred_event.take() {
                self.suppression[AvailField::UsedEvent as usize] = Some(e);
            }
            self.hand_over(
                head,
                idx,
                InFlight {
                    token,
                    descs,
                    writable,
                },
            );
            self.avail_idx = self.avail_idx.wrapping_add(1);
            return Ok(());
        }
        // A Vireo driver cannot write its rings (the kernel keeps them
        // read-only to it and writes them itself, through the gate), so on
        // the target a queue writing its own ring could only fault: the
        // path below is the host tests' (the device model's memory), and is
        // left out of every task's image.
        if cfg!(target_os = "none") {
            return Err(Error::DmaRefused { code: 0 });
        }
        let next_free = if let Some(ind) = indirect {
            let table = usize::from(head) * usize::from(ind.per_table) * size_of::<Descriptor>();
            for (i, (buf, write)) in (0u16..).zip(bufs) {
                let more = i + 1 < total;
                let desc = Descriptor {
                    addr: U64::new(buf.addr()),
                    len: U32::new(buf.len()),
                    flags: U16::new(write | if more { VIRTQ_DESC_F_NEXT } else { 0 }),
                    next: U16::new(if more { i + 1 } else { 0 }),
                };
                let at = table + usize::from(i) * size_of::<Descriptor>();
                // SAFETY: head < size <= N and i < total <= per_table = M, so
                // the descriptor lies inside the N·M-entry table area, which
                // is exclusively borrowed for 'a and all `UnsafeCell`.
                unsafe {
                    ind.base
                        .as_ptr()
                        .add(at)
                        .cast::<Descriptor>()
                        .write_volatile(desc)
                };
            }
            let table_addr = ind.base.as_ptr().expose_provenance() as u64 + table as u64;
            self.write_desc(
                head,
                Descriptor {
                    addr: U64::new(table_addr),
                    len: U32::new(u32::from(total) * size_of::<Descriptor>() as u32),
                    flags: U16::new(VIRTQ_DESC_F_INDIRECT),
                    next: U16::new(0),
                },
            );
            self.next[usize::from(head)]
        } else {
            let mut idx = head;
            for (i, (buf, write)) in (0u16..).zip(bufs) {
                let more = i + 1 < total;
                let after = self.next[usize::from(idx)];
                self.write_desc(
                    idx,
                    Descriptor {
                        addr: U64::new(buf.addr()),
                        len: U32::new(buf.len()),
                        flags: U16::new(write | if more { VIRTQ_DESC_F_NEXT } else { 0 }),
                        next: U16::new(if more { after } else { 0 }),
                    },
                );
                idx = after;
            }
            idx
        };
        self.hand_over(
            head,
            next_free,
            InFlight {
                token,
                descs,
                writable,
            },
        );

        // §2.7.13.2: place the head in the next ring slot, then (after a
        // barrier, §2.7.13.3) publish the new index.
        let slot = self.avail_idx & (self.size - 1);
        self.write_u16(self.offsets.avail_ring(slot), head);
        fence(Ordering::Release);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.write_u16(self.offsets.avail_idx(), self.avail_idx);
        Ok(())
    }

    /// Takes the next chain the device has finished with (§2.7.14): its
    /// token and the number of bytes the device wrote into its writable
    /// buffers. `Ok(None)` when there is none.
    ///
    /// Everything the device wrote is checked first. A used index that moved
    /// further than the chains in flight, an id out of range or not the head
    /// of a chain in flight, or a length larger than the chain's writable
    /// buffers is an error blamed on the device; the queue is then broken
    /// and the token of the offending chain (if any) comes back only from
    /// [`shutdown`](Self::shutdown) — never twice.
    pub fn get_buf(&mut self) -> Result<Option<(T, u32)>, Error> {
        if self.state != State::Ready {
            return Err(Error::QueueBroken);
        }
        let used_idx = self.read_u16(self.offsets.used_idx());
        if used_idx == self.last_used {
            return Ok(None);
        }
        if used_idx.wrapping_sub(self.last_used) > self.in_flight() {
            return self.broken(Error::UsedIndexJump {
                last_seen: self.last_used,
                used_idx,
            });
        }
        // §2.7.14: read idx, then the entries it covers.
        fence(Ordering::Acquire);
        let slot = self.last_used & (self.size - 1);
        let elem = self.read_used_elem(slot);
        let (id, len) = (elem.id.get(), elem.len.get());
        let Some(head) = u16::try_from(id).ok().filter(|&h| h < self.size) else {
            return self.broken(Error::UsedIdOutOfRange { id });
        };
        let Some(chain) = self.heads[usize::from(head)] else {
            return self.broken(Error::UsedIdNotInFlight { id });
        };
        if u64::from(len) > chain.writable {
            return self.broken(Error::UsedLengthTooLarge {
                id,
                len,
                writable: u32::try_from(chain.writable).unwrap_or(u32::MAX),
            });
        }

        self.heads[usize::from(head)] = None;
        self.free_chain(head, chain.descs);
        self.last_used = self.last_used.wrapping_add(1);
        if self.event_idx && self.callbacks {
            // Ask for an interrupt at the next completion (§2.7.10), visible
            // before the next read of used.idx: a caller that sleeps after
            // `get_buf` says `None` must not miss the completion in between.
            self.set_used_event(self.last_used);
            fence(Ordering::SeqCst);
        }
        Ok(Some((chain.token, len)))
    }

    /// Takes back every chain still on the ring (the seed's `shutdown`,
    /// "unadd all buffers"), yielding each outstanding token exactly once:
    /// those added and neither returned by `get_buf` nor already yielded.
    ///
    /// Call it only after the device was reset (or before the queue was ever
    /// attached): a live device could still use the buffers. When the
    /// iterator is dropped the queue is empty, its rings zeroed and indices
    /// back at 0, no longer broken, and ready to be attached again. If the
    /// iterator is leaked instead, the queue stays broken until `shutdown` is
    /// called again.
    pub fn shutdown(&mut self) -> Shutdown<'_, 'a, T, N> {
        self.state = State::Draining;
        Shutdown {
            queue: self,
            next: 0,
        }
    }

    /// Returns the queue to its freshly built state: rings zeroed, every
    /// descriptor free, indices 0, notifications enabled.
    fn reinit(&mut self) {
        let size = usize::from(self.size);
        if self.gate.is_none() {
            // SAFETY: `offsets.total()` bytes fit in the `QueueMemory<N>` at
            // `ring` (`size` <= N, see `new` and QueueMemory's layout
            // test), which is exclusively borrowed for 'a and all
            // `UnsafeCell`. (A gate's ring is the gate's to zero: it does
            // so at every `setup`.)
            unsafe { self.ring.as_ptr().write_bytes(0, self.offsets.total()) };
        }
        for (i, link) in self.next.iter_mut().enumerate().take(size) {
            // Each free descriptor links to the next; the last one's link
            // (`size`) is never followed: num_free says the list ends.
            *link = i as u16 + 1;
        }
        self.heads = [None; N];
        self.free_head = 0;
        self.num_free = self.size;
        self.avail_idx = 0;
        self.last_used = 0;
        self.kicked_idx = 0;
        self.suppression = [None; 2];
        self.deferred_event = None;
        self.callbacks = true;
        self.state = State::Ready;
    }

    /// Gives the device the chain at `head`: its descriptors leave the free
    /// list, which now starts at `next_free`, until `get_buf` or `shutdown`
    /// takes the chain back.
    fn hand_over(&mut self, head: u16, next_free: u16, chain: InFlight<T>) {
        self.free_head = next_free;
        self.num_free -= chain.descs;
        self.heads[usize::from(head)] = Some(chain);
    }

    /// Marks the queue broken by a device error and returns the error.
    fn broken<R>(&mut self, error: Error) -> Result<R, Error> {
        self.state = State::Broken;
        Err(error)
    }

    /// Puts the `descs` descriptors of the chain at `head` back on the free
    /// list, following the private links.
    fn free_chain(&mut self, head: u16, descs: u16) {
        let mut tail = head;
        for _ in 1..descs {
            tail = self.next[usize::from(tail)];
        }
        self.next[usize::from(tail)] = self.free_head;
        self.free_head = head;
        self.num_free += descs;
    }
}
