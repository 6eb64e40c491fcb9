//! User memory: slices a task names in a syscall are allegations until
//! checked.
//!
//! A [`USlice`] is built from a task's raw pointer and length; it only
//! guarantees the range does not wrap. Before any byte is touched it must be
//! checked against the task's regions with [`can_read`] or [`can_write`]; the
//! copying functions here take the checked tasks' word for it and are the
//! only place the kernel dereferences task memory.

use crate::descs::{RegionDesc, REGION_DEVICE, REGION_READ, REGION_WRITE};
use crate::task::Task;

/// A range of a task's address space, `[base, base + len)`, known not to wrap.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct USlice {
    base: usize,
    len: usize,
}

impl USlice {
    /// Checks that `base + len` does not wrap the address space.
    pub fn from_raw(base: usize, len: usize) -> Option<Self> {
        base.checked_add(len)?;
        Some(USlice { base, len })
    }

    /// The empty slice.
    pub const EMPTY: USlice = USlice { base: 0, len: 0 };

    /// First address.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-length slice.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sub-slice `[offset, offset + len)`, if it lies inside this one.
    pub fn subslice(&self, offset: usize, len: usize) -> Option<USlice> {
        let end = offset.checked_add(len)?;
        if end > self.len {
            return None;
        }
        Some(USlice {
            base: self.base + offset,
            len,
        })
    }

    /// The first `len` bytes (or all of it if shorter).
    pub fn prefix(&self, len: usize) -> USlice {
        USlice {
            base: self.base,
            len: len.min(self.len),
        }
    }
}

/// Whether one of `regions` with all of `needed` attributes covers `slice`.
/// Device windows never qualify: the kernel does not copy to or from MMIO.
#[inline(always)]
fn covered(regions: &[RegionDesc], slice: &USlice, needed: u32) -> bool {
    // Empty slices (register-only messages, no reply buffer) are the
    // common case on the IPC fast path: answer without the walk.
    if slice.is_empty() {
        return true;
    }
    covered_by_any(regions, slice, needed)
}

fn covered_by_any(regions: &[RegionDesc], slice: &USlice, needed: u32) -> bool {
    regions.iter().any(|r| {
        r.attributes & needed == needed
            && r.attributes & REGION_DEVICE == 0
            && r.contains(slice.base, slice.len)
    })
}

/// Whether `task` may read all of `slice`.
#[inline(always)]
pub fn can_read(task: &Task, slice: &USlice) -> bool {
    covered(task.regions(), slice, REGION_READ)
}

/// Whether `task` may write all of `slice`.
#[inline(always)]
pub fn can_write(task: &Task, slice: &USlice) -> bool {
    covered(task.regions(), slice, REGION_WRITE)
}

/// Copies `min(from.len(), to.len())` bytes from one task's memory to
/// another's and returns the count.
///
/// # Safety
///
/// `from` must have passed [`can_read`] for its task and `to` [`can_write`]
/// for its task, against regions that describe real memory of this machine
/// (the image's RAM, or host buffers in tests).
pub unsafe fn copy(from: &USlice, to: &USlice) -> usize {
    let n = from.len.min(to.len);
    // A word at a time when both ends and the length allow it, else a byte
    // at a time, front to back (the two ranges belong to different tasks,
    // which never share RAM). Volatile accesses keep these loops loops: the
    // compiler would otherwise call the library's memmove, a kilobyte of
    // kernel text for what this does.
    if (from.base | to.base | n).is_multiple_of(4) {
        // Four words per turn while they last (a 4 KiB lease is 1024 words:
        // the loop's own instructions matter), then one at a time.
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: `i + 16 <= n`, inside both checked ranges (caller's
            // promise), and both addresses are word-aligned.
            unsafe {
                let (f, t) = ((from.base + i) as *const u32, (to.base + i) as *mut u32);
                let (a, b) = (
                    core::ptr::read_volatile(f),
                    core::ptr::read_volatile(f.add(1)),
                );
                let (c, d) = (
                    core::ptr::read_volatile(f.add(2)),
                    core::ptr::read_volatile(f.add(3)),
                );
                core::ptr::write_volatile(t, a);
                core::ptr::write_volatile(t.add(1), b);
                core::ptr::write_volatile(t.add(2), c);
                core::ptr::write_volatile(t.add(3), d);
            }
            i += 16;
        }
        while i < n {
            // SAFETY: `i + 4 <= n` (n is a multiple of 4), inside both
            // checked ranges, word-aligned.
            unsafe {
                let w = core::ptr::read_volatile((from.base + i) as *const u32);
                core::ptr::write_volatile((to.base + i) as *mut u32, w);
            }
            i += 4;
        }
    } else {
        for i in 0..n {
            // SAFETY: `i < n`, inside both checked ranges.
            unsafe {
                let b = core::ptr::read_volatile((from.base + i) as *const u8);
                core::ptr::write_volatile((to.base + i) as *mut u8, b);
            }
        }
    }
    n
}

/// Copies a short message (the IPC fast path's, at most a few words):
/// `min(from.len(), to.len())` bytes, one at a time, without the general
/// copy routine. Returns the count.
///
/// # Safety
///
/// As for [`copy`].
#[inline]
pub unsafe fn copy_short(from: &USlice, to: &USlice) -> usize {
    let n = from.len.min(to.len);
    for i in 0..n {
        // SAFETY: `i < n`, inside both checked ranges (caller's promise).
        // Volatile accesses keep the loop a loop: the compiler would
        // otherwise call the general routine this exists to avoid.
        unsafe {
            let b = core::ptr::read_volatile((from.base + i) as *const u8);
            core::ptr::write_volatile((to.base + i) as *mut u8, b);
        }
    }
    n
}

/// Reads a plain-data value of type `T` from task memory.
///
/// # Safety
///
/// `slice` must have passed [`can_read`] and be at least `size_of::<T>()`
/// long; `T` must be valid for any bit pattern.
pub unsafe fn read_value<T: zerocopy::FromBytes>(slice: &USlice) -> Option<T> {
    if slice.len < core::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: checked readable and long enough by the caller and above;
    // `read_unaligned` because tasks owe us no alignment; any bit pattern is
    // a valid `T` (FromBytes).
    Some(unsafe { core::ptr::read_unaligned(slice.base as *const T) })
}

/// Copies kernel bytes into task memory; returns the count copied.
///
/// # Safety
///
/// `to` must have passed [`can_write`].
pub unsafe fn write_bytes(to: &USlice, bytes: &[u8]) -> usize {
    let n = bytes.len().min(to.len);
    // SAFETY: `to` is checked writable task memory (caller's promise); the
    // kernel's own `bytes` cannot overlap task memory.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), to.base as *mut u8, n) };
    n
}

/// Reads task memory into a kernel buffer; returns the count copied.
///
/// # Safety
///
/// `from` must have passed [`can_read`].
pub unsafe fn read_bytes(from: &USlice, bytes: &mut [u8]) -> usize {
    let n = bytes.len().min(from.len);
    // SAFETY: as in `write_bytes`, the other way round.
    unsafe { core::ptr::copy_nonoverlapping(from.base as *const u8, bytes.as_mut_ptr(), n) };
    n
}
