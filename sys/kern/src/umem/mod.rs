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

use crate::descs::{RegionDesc, REGION_DEVICE, REGION_READ, REGION_WRITE};
use crate::err::UserError;
use crate::task::Task;

mod copy;
mod ring;

#[cfg(test)]
pub(crate) use copy::bounds;
use copy::{copy_raw, copy_short};
#[cfg(test)]
pub use ring::kernel_ring;
pub use ring::{ring_in, KernelRing, RingU16s, RING_LEN};

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
    let covers = |r: &RegionDesc| {
        r.attributes & needed == needed
            && r.attributes & REGION_DEVICE == 0
            && r.contains(base, len)
    };
    // Nearly every pointer a task passes is into its RAM, its second
    // region (the image builder lays out text, RAM, then the rest): asked
    // first, it answers most checks in one look instead of two. Only the
    // order changes: any region that covers the range will do.
    if task.region(1).is_some_and(covers) || task.regions().iter().any(covers) {
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

/// Checks, without touching it, that `task` may access all of `slice` the
/// ways `needed` names (`REGION_READ` and/or `REGION_WRITE`), in one look
/// at its regions.
#[inline(always)]
pub fn check_access<T>(task: &Task, slice: &USlice<T>, needed: u32) -> Result<(), BadSlice> {
    check(task, slice, needed)
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
            if n != 0 {
                copy_short(src.base, dst.base, n);
            }
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

/// [`copy_bytes`] by the IPC fast path's routine (`copy_short`), for the
/// host tests of its bounds.
#[cfg(test)]
pub fn copy_bytes_short(s: &[u8], d: &mut [u8]) -> usize {
    let n = s.len().min(d.len());
    // SAFETY: as in `copy_bytes`.
    unsafe { copy_short(s.as_ptr() as usize, d.as_mut_ptr() as usize, n) };
    n
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
