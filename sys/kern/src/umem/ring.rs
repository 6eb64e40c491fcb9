//! The kernel's accesses to a task's DMA ring region ([`KernelRing`]).

use core::marker::PhantomData;

use crate::descs::{RegionDesc, REGION_DMA_RING};
#[cfg(test)]
use crate::task::Task;

/// A piece of a task's DMA ring region (app.toml `queues`): memory of the
/// image that the task may read but only the kernel writes, where `dma`
/// lays out a virtqueue for the task's device. Exists only once the range
/// was found inside such a region ([`ring_in`]); every access is
/// volatile (the device reads and writes it concurrently) and checked to
/// lie inside and be aligned, and one that is not is refused (a read gives
/// 0) rather than made.
#[derive(Debug)]
pub struct KernelRing {
    base: usize,
}

/// The length of every [`KernelRing`]: one queue's stride of the ring
/// region. A constant, so that an access at a constant offset (most of
/// them) is checked when the kernel is compiled, not when it runs.
pub const RING_LEN: usize = abi::DMA_RING_STRIDE;

/// The [`RING_LEN`] bytes at `base` as a [`KernelRing`], if they lie
/// inside one of `task`'s DMA ring regions ([`ring_in`] over each region).
/// The kernel itself always has the ring region in hand; the host tests
/// ask by task.
#[cfg(test)]
pub fn kernel_ring(task: &Task, base: usize) -> Option<KernelRing> {
    task.regions().iter().find_map(|r| ring_in(r, base))
}

/// The [`RING_LEN`] bytes at `base` as a [`KernelRing`], if `region` — one
/// of a task's regions, which the caller has already found — is a DMA
/// ring region and they lie inside it.
pub fn ring_in(region: &RegionDesc, base: usize) -> Option<KernelRing> {
    (region.attributes & REGION_DMA_RING != 0 && region.contains(base, RING_LEN))
        .then_some(KernelRing { base })
}

impl KernelRing {
    /// First address.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Whether a `size`-byte field at `offset` lies inside and is aligned.
    ///
    /// The accessors below are inline: with the length a constant, a field
    /// at a constant offset needs no check at run time, and one at a
    /// computed offset a compare or two — less than a call.
    #[inline(always)]
    fn fits(offset: usize, size: usize) -> bool {
        offset.is_multiple_of(size) && offset <= RING_LEN - size
    }

    /// The little-endian 16-bit field at `offset` (0 if outside).
    #[inline(always)]
    pub fn read_u16(&self, offset: usize) -> u16 {
        if !Self::fits(offset, 2) {
            return 0;
        }
        // SAFETY: inside a DMA ring region of the task (checked when this
        // was made), 2-aligned (the region and `offset`), memory of this
        // image; a volatile read of plain bits.
        u16::from_le(unsafe { core::ptr::read_volatile((self.base + offset) as *const u16) })
    }

    /// The little-endian 32-bit field at `offset` (0 if outside).
    #[inline(always)]
    pub fn read_u32(&self, offset: usize) -> u32 {
        if !Self::fits(offset, 4) {
            return 0;
        }
        // SAFETY: as in `read_u16`, 4-aligned.
        u32::from_le(unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) })
    }

    /// Writes the little-endian 16-bit field at `offset` (nothing if
    /// outside).
    #[inline(always)]
    pub fn write_u16(&mut self, offset: usize, value: u16) {
        if Self::fits(offset, 2) {
            // SAFETY: as in `read_u16`; the ring region is the kernel's to
            // write (the task's PMP entry for it is read-only).
            unsafe { core::ptr::write_volatile((self.base + offset) as *mut u16, value.to_le()) };
        }
    }

    /// Writes the little-endian 32-bit field at `offset` (nothing if
    /// outside).
    #[inline(always)]
    pub fn write_u32(&mut self, offset: usize, value: u32) {
        if Self::fits(offset, 4) {
            // SAFETY: as in `write_u16`, 4-aligned.
            unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value.to_le()) };
        }
    }

    /// The `len` 16-bit fields from `offset` on as a [`RingU16s`], if they
    /// lie inside and `offset` is 2-aligned: a walk over many fields (the
    /// pins, the descriptors' links) checks the range once, then each
    /// access only its index.
    pub fn u16s(&self, offset: usize, len: usize) -> Option<RingU16s<'_>> {
        let end = len.checked_mul(2).and_then(|n| n.checked_add(offset))?;
        (offset.is_multiple_of(2) && end <= RING_LEN).then_some(RingU16s {
            base: self.base + offset,
            len,
            _ring: PhantomData,
        })
    }

    /// Writes `words` from `offset` on, little-endian (`offset` must be
    /// word-aligned and the whole run inside; nothing is written
    /// otherwise).
    pub fn write_words(&mut self, offset: usize, words: &[u32]) {
        let end = words
            .len()
            .checked_mul(4)
            .and_then(|n| n.checked_add(offset));
        if !(offset.is_multiple_of(4) && end.is_some_and(|end| end <= RING_LEN)) {
            return;
        }
        let at = self.base + offset;
        for (i, &word) in words.iter().enumerate() {
            // SAFETY: as in `write_u32`: the whole run was checked inside
            // and 4-aligned above, so each word is (one check, not one per
            // word: a descriptor is four of them).
            unsafe { core::ptr::write_volatile((at + 4 * i) as *mut u32, word.to_le()) };
        }
    }
}

/// Consecutive little-endian 16-bit fields of a [`KernelRing`], checked
/// inside it once ([`KernelRing::u16s`]). Like the ring's own accessors,
/// every access is volatile through a raw pointer — no Rust reference to
/// ring memory is ever made, so handles to different fields of one ring
/// may read and write side by side.
#[derive(Clone, Copy)]
pub struct RingU16s<'a> {
    base: usize,
    len: usize,
    _ring: PhantomData<&'a KernelRing>,
}

impl RingU16s<'_> {
    /// Field `i` (0 beyond the end).
    #[inline(always)]
    pub fn get(&self, i: usize) -> u16 {
        if i >= self.len {
            return 0;
        }
        // SAFETY: inside the ring and 2-aligned (checked when this was
        // made, and `i < len`); memory of this image, read volatile.
        u16::from_le(unsafe { core::ptr::read_volatile((self.base + 2 * i) as *const u16) })
    }

    /// Writes field `i` (nothing beyond the end).
    #[inline(always)]
    pub fn set(&self, i: usize, value: u16) {
        if i < self.len {
            // SAFETY: as in `get`; the ring region is the kernel's to write.
            unsafe { core::ptr::write_volatile((self.base + 2 * i) as *mut u16, value.to_le()) };
        }
    }
}
