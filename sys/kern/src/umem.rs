//! User memory: slices a task names in a syscall are allegations until
//! checked.
//!
//! A [`USlice`] is built from a task's raw pointer and length; it only
//! guarantees the range is aligned for its element type and does not wrap.
//! The only way to touch the memory behind it is to ask this module:
//! [`try_read`] and [`try_write`] hand back a Rust slice only after checking
//! the range against the task's regions, and [`safe_copy`] moves bytes
//! between two tasks and, when it cannot, says which side lied
//! ([`InteractFault`]) so that the caller can fault the task that deserves
//! it. (The pattern is Hubris's `sys/kern/src/umem.rs`.)
//!
//! This is the kernel's only portable module with `unsafe`: everything
//! that dereferences task memory is here, each block next to the check that
//! makes it sound. It must never hand out a slice it has not checked, nor
//! one covering a device window (the kernel does not copy to or from MMIO).

use core::marker::PhantomData;

use abi::{FaultKind, FaultRecord, UsageError};

use crate::descs::{REGION_DEVICE, REGION_DMA_RING, REGION_READ, REGION_WRITE};
use crate::err::UserError;
use crate::task::Task;

/// A range of a task's address space holding `len` values of type `T`,
/// starting at `base`: aligned for `T`, and known not to wrap. Not yet
/// known to be the task's: see [`try_read`] and [`try_write`].
#[derive(Debug, PartialEq, Eq)]
pub struct USlice<T = u8> {
    base: usize,
    len: usize,
    _element: PhantomData<*const T>,
}

// By hand: derived impls would demand `T: Copy`, but a `USlice` only
// describes `T`s, it holds none.
impl<T> Clone for USlice<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for USlice<T> {}

impl<T> USlice<T> {
    /// The empty slice.
    pub const EMPTY: Self = USlice {
        base: 0,
        len: 0,
        _element: PhantomData,
    };

    /// `len` values of `T` at `base`, if `base` is aligned for `T` and the
    /// range neither overflows nor wraps the address space.
    #[inline(always)]
    pub fn from_raw(base: usize, len: usize) -> Option<Self> {
        if !base.is_multiple_of(core::mem::align_of::<T>()) {
            return None;
        }
        base.checked_add(len.checked_mul(core::mem::size_of::<T>())?)?;
        Some(USlice {
            base,
            len,
            _element: PhantomData,
        })
    }

    /// First address.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Length in values of `T`.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Length in bytes (cannot overflow: checked by `from_raw`).
    pub fn byte_len(&self) -> usize {
        self.len * core::mem::size_of::<T>()
    }

    /// True for a zero-length slice.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The values `[offset, offset + len)`, if they lie inside this slice.
    pub fn subslice(&self, offset: usize, len: usize) -> Option<Self> {
        let end = offset.checked_add(len)?;
        if end > self.len {
            return None;
        }
        Some(USlice {
            base: self.base + offset * core::mem::size_of::<T>(),
            len,
            _element: PhantomData,
        })
    }

    /// The first `len` values (or all of them if fewer).
    pub fn prefix(&self, len: usize) -> Self {
        USlice {
            len: len.min(self.len),
            ..*self
        }
    }
}

/// A slice a task named that is not memory it owns with the access needed
/// (or is a device window). The task that named it is the one to blame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BadSlice {
    /// First address of the slice.
    pub base: usize,
}

impl BadSlice {
    /// The fault the task that named the slice gets: a syscall usage fault
    /// (`InvalidSlice`) at the slice's address; the dispatcher or
    /// `faults::fault_task` fills in the pc.
    pub fn record(self) -> FaultRecord {
        FaultRecord {
            kind: FaultKind::SyscallUsage as u32,
            address: self.base as u32,
            pc: 0,
            detail: UsageError::InvalidSlice as u32,
        }
    }
}

impl From<BadSlice> for UserError {
    #[inline(always)]
    fn from(b: BadSlice) -> Self {
        UserError::BadSlice(b.base)
    }
}

/// A copy between two tasks that could not happen, naming the side (or
/// sides) whose slice was bad. `safe_copy` checks both before copying
/// anything, so both are filled in when both lied.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct InteractFault {
    /// The source task's slice, if it was not readable by its task.
    pub src: Option<BadSlice>,
    /// The destination task's slice, if it was not writable by its task.
    pub dst: Option<BadSlice>,
}

/// Whether one of `task`'s regions with all of `needed` attributes covers
/// `slice`. Device windows never qualify.
#[inline(always)]
fn check<T>(task: &Task, slice: &USlice<T>, needed: u32) -> Result<(), BadSlice> {
    // Empty slices (register-only messages, no reply buffer) are the
    // common case on the IPC fast path: answer without the walk, and
    // without even looking the regions up. Only this test is inlined at
    // the two dozen callers; the walk is one shared call.
    if slice.is_empty() {
        Ok(())
    } else {
        check_covered(task, slice.base, slice.byte_len(), needed)
    }
}

/// [`check`] of the `len` bytes at `base` (`len > 0`).
#[inline(never)]
fn check_covered(task: &Task, base: usize, len: usize, needed: u32) -> Result<(), BadSlice> {
    let covered = task.regions().iter().any(|r| {
        r.attributes & needed == needed
            && r.attributes & REGION_DEVICE == 0
            && r.contains(base, len)
    });
    if covered {
        Ok(())
    } else {
        Err(BadSlice { base })
    }
}

/// Checks, without touching it, that `task` may read all of `slice` (for
/// arguments the kernel will only use later, re-checking them then).
#[inline(always)]
pub fn check_readable<T>(task: &Task, slice: &USlice<T>) -> Result<(), BadSlice> {
    check(task, slice, REGION_READ)
}

/// Checks, without touching it, that `task` may write all of `slice`.
#[inline(always)]
pub fn check_writable<T>(task: &Task, slice: &USlice<T>) -> Result<(), BadSlice> {
    check(task, slice, REGION_WRITE)
}

/// `task`'s memory behind `slice`, to read, if `task` may read all of it.
///
/// `T: FromBytes` because a task may have put any bits there.
#[inline(always)]
pub fn try_read<'a, T>(task: &'a Task, slice: &USlice<T>) -> Result<&'a [T], BadSlice>
where
    T: zerocopy::FromBytes + zerocopy::Immutable,
{
    check(task, slice, REGION_READ)?;
    if slice.is_empty() {
        return Ok(&[]);
    }
    // SAFETY: the range is aligned for `T` and does not wrap (`from_raw`),
    // and lies inside a readable, non-device region of `task`: real RAM of
    // this machine (or a host buffer in tests) that no kernel object
    // occupies. Any bits are a valid `T` (`FromBytes`). The task is not
    // running while the kernel holds `&Task`, so nothing changes the bytes
    // while the slice lives.
    Ok(unsafe { core::slice::from_raw_parts(slice.base as *const T, slice.len) })
}

/// `task`'s memory behind `slice`, to write, if `task` may write all of it.
///
/// `T: IntoBytes` as well, because the task will read back whatever the
/// kernel writes.
#[inline(always)]
pub fn try_write<'a, T>(task: &'a mut Task, slice: &USlice<T>) -> Result<&'a mut [T], BadSlice>
where
    T: zerocopy::FromBytes + zerocopy::IntoBytes,
{
    check(task, slice, REGION_WRITE)?;
    if slice.is_empty() {
        return Ok(&mut []);
    }
    // SAFETY: as in `try_read`, for a writable region; `&mut Task` makes
    // this the only slice of this task's memory for as long as it lives,
    // and tasks never share RAM, so no other task's slice overlaps it.
    Ok(unsafe { core::slice::from_raw_parts_mut(slice.base as *mut T, slice.len) })
}

/// Checks `src` readable by `from` and `dst` writable by `to`; else which
/// side lied (both, if both did).
#[inline(always)]
fn check_pair(from: &Task, src: &USlice, to: &Task, dst: &USlice) -> Result<(), InteractFault> {
    match (check_readable(from, src), check_writable(to, dst)) {
        (Ok(()), Ok(())) => Ok(()),
        (s, d) => Err(InteractFault {
            src: s.err(),
            dst: d.err(),
        }),
    }
}

/// Copies `min(src.len(), dst.len())` bytes from task `from`'s memory to
/// task `to`'s and returns the count, after checking `src` readable by
/// `from` and `dst` writable by `to`. If either check fails nothing is
/// copied and the error says which side (or both) named memory it does not
/// own: the caller faults that task, never quietly copies less.
///
/// `to` is borrowed shared, not `&mut` as by [`try_write`]: no Rust slice
/// of its memory is made, the bytes go through raw pointers, and IPC can
/// name two tasks of one table without splitting it.
pub fn safe_copy(from: &Task, src: &USlice, to: &Task, dst: &USlice) -> Copied {
    copy_checked::<false>(from, src, to, dst)
}

/// [`safe_copy`] for a short message (the IPC fast path's, at most a few
/// words): a byte loop without the general routine's set-up.
#[inline(always)]
pub fn safe_copy_short(from: &Task, src: &USlice, to: &Task, dst: &USlice) -> Copied {
    copy_checked::<true>(from, src, to, dst)
}

/// What a copy between two tasks did: the count copied, or who lied.
pub type Copied = Result<usize, InteractFault>;

/// The body of [`safe_copy`] (`SHORT`: [`safe_copy_short`]).
#[inline(always)]
fn copy_checked<const SHORT: bool>(from: &Task, src: &USlice, to: &Task, dst: &USlice) -> Copied {
    check_pair(from, src, to, dst)?;
    let n = src.len.min(dst.len);
    // SAFETY: `[src.base, +n)` is readable memory of `from` and
    // `[dst.base, +n)` writable memory of `to`, both just checked; two
    // tasks never share RAM, so the ranges do not overlap.
    unsafe {
        if SHORT {
            copy_bytewise(src.base, dst.base, n);
        } else {
            copy_raw(src.base, dst.base, n);
        }
    }
    Ok(n)
}

/// Copies `min(s.len(), d.len())` bytes between kernel-held slices and
/// returns the count (see [`copy_raw`] for how).
pub fn copy_bytes(s: &[u8], d: &mut [u8]) -> usize {
    let n = s.len().min(d.len());
    // SAFETY: `n` bytes are inside both slices, which (one shared, one
    // exclusive) cannot overlap.
    unsafe { copy_raw(s.as_ptr() as usize, d.as_mut_ptr() as usize, n) };
    n
}

/// Host tests only: the ranges the running copy was given, against which
/// each of its loads and stores is checked, so that a test sees a stray
/// access even inside a word the slice only partly covers (which no guard
/// page or PMP entry could show).
#[cfg(test)]
pub(crate) mod bounds {
    use std::cell::Cell;

    std::thread_local! {
        static RANGES: Cell<Option<(usize, usize, usize, usize)>> = const { Cell::new(None) };
    }

    /// The copy of `n` bytes from `from` to `to` begins.
    pub(crate) fn enter(from: usize, n: usize, to: usize, m: usize) {
        RANGES.set(Some((from, n, to, m)));
    }

    /// It ended.
    pub(crate) fn leave() {
        RANGES.set(None);
    }

    fn inside(at: usize, size: usize, base: usize, len: usize) -> bool {
        at >= base && at + size <= base + len
    }

    /// A load of `size` bytes at `at`.
    pub(crate) fn load(at: usize, size: usize) {
        if let Some((from, n, ..)) = RANGES.get() {
            assert!(
                inside(at, size, from, n),
                "read {size} at {at:#x}: outside the source {from:#x}+{n}"
            );
        }
    }

    /// A store of `size` bytes at `at`.
    pub(crate) fn store(at: usize, size: usize) {
        if let Some((.., to, m)) = RANGES.get() {
            assert!(
                inside(at, size, to, m),
                "wrote {size} at {at:#x}: outside the destination {to:#x}+{m}"
            );
        }
    }
}

/// Reads the `T` at `at` (volatile: see [`copy_raw`]).
///
/// # Safety
///
/// `at` must be readable memory, aligned for `T`.
#[inline(always)]
unsafe fn load<T>(at: usize) -> T {
    #[cfg(test)]
    bounds::load(at, core::mem::size_of::<T>());
    // SAFETY: the caller's promise.
    unsafe { core::ptr::read_volatile(at as *const T) }
}

/// Writes `value` at `at` (volatile: see [`copy_raw`]).
///
/// # Safety
///
/// `at` must be writable memory, aligned for `T`, that no live Rust
/// reference covers.
#[inline(always)]
unsafe fn store<T>(at: usize, value: T) {
    #[cfg(test)]
    bounds::store(at, core::mem::size_of::<T>());
    // SAFETY: the caller's promise.
    unsafe { core::ptr::write_volatile(at as *mut T, value) }
}

/// Copies shorter than this go byte by byte: the word loops' set-up (a
/// byte head, and in the misaligned case a carried word) costs more than
/// it saves on a few bytes.
const WORD_COPY_MIN: usize = 16;

/// Copies `n` bytes from address `from` to address `to`.
///
/// Bytes until the destination is word-aligned, then words, then the last
/// few bytes. When the source is aligned too, the words are copied as they
/// are, four per turn while they last (a 4 KiB lease is 1024 words: the
/// loop's own instructions matter). When it is not (an Ethernet frame
/// after a 14-byte header, a lease at any byte offset), each word written
/// is put together from two aligned words read, the top of one and the
/// bottom of the next; the bytes before the source's first word boundary
/// are read one by one, and only whole words inside the source are ever
/// read, so no byte outside either range is touched (RV32 has no
/// misaligned accesses to rely on, and the kernel must not read what the
/// task did not lend). Volatile accesses keep these loops loops: the
/// compiler would otherwise call the library's memmove, a kilobyte of
/// kernel text for what this does.
///
/// # Safety
///
/// `[from, from + n)` must be readable and `[to, to + n)` writable memory,
/// not overlapping, and not referenced by any live Rust `&mut`.
unsafe fn copy_raw(from: usize, to: usize, n: usize) {
    #[cfg(test)]
    bounds::enter(from, n, to, n);
    // SAFETY: the caller's promise, passed on.
    unsafe { copy_words(from, to, n) };
    #[cfg(test)]
    bounds::leave();
}

/// The body of [`copy_raw`].
///
/// # Safety
///
/// As for [`copy_raw`].
#[inline(always)]
unsafe fn copy_words(from: usize, to: usize, n: usize) {
    // Address arithmetic wraps rather than checks: the ranges do not wrap
    // (caller's promise), and the checks would cost a branch and a panic
    // site per access in the loops.
    if n < WORD_COPY_MIN {
        // SAFETY: the caller's promise, passed on.
        unsafe { copy_bytewise(from, to, n) };
        return;
    }
    // Bytes up to the destination's first word boundary (0 to 3; fewer
    // than `n`, which is at least 16).
    let head = to.wrapping_neg() & 3;
    // SAFETY: `head < n`: inside both ranges.
    unsafe { copy_bytewise(from, to, head) };
    // Next byte to read, next to write, bytes not yet written.
    let (mut s, mut d, mut left) = (from.wrapping_add(head), to.wrapping_add(head), n - head);
    let skew = s & 3;
    if skew == 0 {
        while left >= 16 {
            // SAFETY: 16 bytes at `s` and at `d` are inside the ranges
            // (`left` of them remain in each), both word-aligned.
            unsafe {
                let (a, b) = (load::<u32>(s), load::<u32>(s.wrapping_add(4)));
                let (c, e) = (
                    load::<u32>(s.wrapping_add(8)),
                    load::<u32>(s.wrapping_add(12)),
                );
                store(d, a);
                store(d.wrapping_add(4), b);
                store(d.wrapping_add(8), c);
                store(d.wrapping_add(12), e);
            }
            (s, d, left) = (s.wrapping_add(16), d.wrapping_add(16), left - 16);
        }
        while left >= 4 {
            // SAFETY: a word at `s` and at `d`, inside, aligned.
            unsafe { store(d, load::<u32>(s)) };
            (s, d, left) = (s.wrapping_add(4), d.wrapping_add(4), left - 4);
        }
    } else {
        // The source's bytes up to its next word boundary, carried in the
        // low end of `carry` (little-endian: the first byte lowest).
        let carried = 4 - skew;
        let mut carry = 0u32;
        for k in 0..carried {
            // SAFETY: `carried < left`: inside the source.
            carry |= u32::from(unsafe { load::<u8>(s.wrapping_add(k)) }) << (8 * k);
        }
        s = s.wrapping_add(carried);
        // `left - carried` bytes are unread, from the aligned `s`; each
        // turn writes the carried bytes and the bottom of the next word,
        // and carries its top.
        while left - carried >= 4 {
            // SAFETY: the word at `s` is aligned and its 4 bytes are
            // unread bytes of the source; the word at `d` is aligned and 4
            // of the `left` bytes still to write.
            let w = unsafe { load::<u32>(s) };
            // SAFETY: as just said.
            unsafe { store(d, carry | w << (8 * carried)) };
            carry = w >> (8 * skew);
            (s, d, left) = (s.wrapping_add(4), d.wrapping_add(4), left - 4);
        }
        for k in 0..carried {
            // SAFETY: `carried <= left`: inside the destination.
            unsafe { store(d.wrapping_add(k), (carry >> (8 * k)) as u8) };
        }
        (d, left) = (d.wrapping_add(carried), left - carried);
    }
    // SAFETY: the last `left` (< 4) bytes of both ranges.
    unsafe { copy_bytewise(s, d, left) };
}

/// [`copy_raw`] a byte at a time (for unaligned ends, and for the fast
/// path's few bytes, where the word loops' set-up costs more than it saves).
///
/// # Safety
///
/// As for [`copy_raw`].
#[inline(always)]
unsafe fn copy_bytewise(from: usize, to: usize, n: usize) {
    for i in 0..n {
        // Volatile keeps the loop a loop: the compiler would otherwise call
        // the library's memcpy.
        // SAFETY: `i < n`, inside both ranges (caller's promise).
        unsafe { store(to.wrapping_add(i), load::<u8>(from.wrapping_add(i))) };
    }
}

/// Reads a plain-data value from the start of `task`'s `slice` (tasks owe
/// the kernel no alignment). `Ok(None)` if the slice is too short for one.
pub fn read_value<T>(task: &Task, slice: &USlice) -> Result<Option<T>, BadSlice>
where
    T: zerocopy::FromBytes,
{
    let bytes = try_read(task, slice)?;
    Ok(T::read_from_prefix(bytes).ok().map(|(v, _)| v))
}

/// Copies `bytes` (the kernel's, or another task's got from [`try_read`])
/// into `task`'s `slice` after checking it writable; the count copied (the
/// shorter of the two). Shared `&Task` as in [`safe_copy`].
pub fn write_bytes(task: &Task, slice: &USlice, bytes: &[u8]) -> Result<usize, BadSlice> {
    check_writable(task, slice)?;
    let n = bytes.len().min(slice.len);
    let from = bytes.as_ptr() as usize;
    // Writing under a live `&[u8]` would be undefined behaviour: refuse a
    // source that overlaps the destination (only a kernel bug could pass
    // one: tasks never share RAM).
    if from < slice.base + n && slice.base < from + n {
        return Err(BadSlice { base: slice.base });
    }
    // SAFETY: `[slice.base, +n)` was just checked writable by `task`, and
    // does not overlap `bytes`.
    unsafe { copy_raw(from, slice.base, n) };
    Ok(n)
}

/// Reads `task`'s `slice` into a kernel buffer; the count copied (the
/// shorter of the two).
pub fn read_bytes(task: &Task, slice: &USlice, bytes: &mut [u8]) -> Result<usize, BadSlice> {
    let from = try_read(task, slice)?;
    Ok(copy_bytes(from, bytes))
}

/// A piece of a task's DMA ring region (app.toml `queues`): memory of the
/// image that the task may read but only the kernel writes, where `dma`
/// lays out a virtqueue for the task's device. Exists only once the range
/// was found inside such a region ([`kernel_ring`]); every access is
/// volatile (the device reads and writes it concurrently) and checked to
/// lie inside and be aligned, and one that is not is refused (a read gives
/// 0) rather than made.
#[derive(Debug)]
pub struct KernelRing {
    base: usize,
    len: usize,
}

/// The `len` bytes at `base` as a [`KernelRing`], if they lie inside one of
/// `task`'s DMA ring regions.
pub fn kernel_ring(task: &Task, base: usize, len: usize) -> Option<KernelRing> {
    task.regions()
        .iter()
        .any(|r| r.attributes & REGION_DMA_RING != 0 && r.contains(base, len))
        .then_some(KernelRing { base, len })
}

impl KernelRing {
    /// First address.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Whether a `size`-byte field at `offset` lies inside and is aligned.
    ///
    /// The accessors below are out of line: `dma` reads and writes ring
    /// fields in dozens of places, and a copy of this check at each costs
    /// more than the calls.
    fn fits(&self, offset: usize, size: usize) -> bool {
        offset.is_multiple_of(size) && offset.checked_add(size).is_some_and(|end| end <= self.len)
    }

    /// The little-endian 16-bit field at `offset` (0 if outside).
    #[inline(never)]
    pub fn read_u16(&self, offset: usize) -> u16 {
        if !self.fits(offset, 2) {
            return 0;
        }
        // SAFETY: inside a DMA ring region of the task (checked when this
        // was made), 2-aligned (the region and `offset`), memory of this
        // image; a volatile read of plain bits.
        u16::from_le(unsafe { core::ptr::read_volatile((self.base + offset) as *const u16) })
    }

    /// The little-endian 32-bit field at `offset` (0 if outside).
    #[inline(never)]
    pub fn read_u32(&self, offset: usize) -> u32 {
        if !self.fits(offset, 4) {
            return 0;
        }
        // SAFETY: as in `read_u16`, 4-aligned.
        u32::from_le(unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) })
    }

    /// Writes the little-endian 16-bit field at `offset` (nothing if
    /// outside).
    #[inline(never)]
    pub fn write_u16(&mut self, offset: usize, value: u16) {
        if self.fits(offset, 2) {
            // SAFETY: as in `read_u16`; the ring region is the kernel's to
            // write (the task's PMP entry for it is read-only).
            unsafe { core::ptr::write_volatile((self.base + offset) as *mut u16, value.to_le()) };
        }
    }

    /// Writes the little-endian 32-bit field at `offset` (nothing if
    /// outside).
    #[inline(never)]
    pub fn write_u32(&mut self, offset: usize, value: u32) {
        if self.fits(offset, 4) {
            // SAFETY: as in `write_u16`, 4-aligned.
            unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value.to_le()) };
        }
    }

    /// Writes `bytes` at `offset` a 32-bit word at a time (so both must be
    /// word-aligned and inside; nothing is written otherwise).
    pub fn write_words(&mut self, offset: usize, bytes: &[u8]) {
        if !(bytes.len().is_multiple_of(4) && self.fits(offset, 4))
            || offset
                .checked_add(bytes.len())
                .is_none_or(|end| end > self.len)
        {
            return;
        }
        for (i, w) in bytes.chunks_exact(4).enumerate() {
            let word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            self.write_u32(offset + 4 * i, word);
        }
    }
}
