//! Trace rings: a fixed number of typed entries kept in a task's own RAM, so
//! that what a task did last can be read out of a memory dump after it
//! faulted or hung.
//!
//! This crate must never panic, never allocate and never block: recording an
//! entry is called from the code paths being debugged, so it must not be able
//! to change their behaviour beyond a few instructions.
//!
//! # Tutorial
//!
//! Declare a ring once per module (or once per task), naming its entry type,
//! its number of slots and the value the slots start with:
//!
//! ```
//! use ringbuf::{ringbuf, ringbuf_entry};
//!
//! #[derive(Copy, Clone, PartialEq, Debug)]
//! enum Trace {
//!     None,
//!     Kick(u16),
//!     Interrupt,
//! }
//!
//! ringbuf!(TRACE, Trace, 16, Trace::None);
//!
//! fn on_interrupt() {
//!     ringbuf_entry!(TRACE, Trace::Interrupt);
//! }
//!
//! ringbuf_entry!(TRACE, Trace::Kick(3));
//! on_interrupt();
//! on_interrupt(); // same as the last entry: its count becomes 2
//! # #[cfg(not(feature = "disabled"))]
//! # {
//! let newest_first: Vec<_> = TRACE.snapshot().into_iter().flatten().collect();
//! # assert_eq!(newest_first[0].payload, Trace::Interrupt);
//! # assert_eq!(newest_first[0].count, 2);
//! # }
//! ```
//!
//! * **Repeat counting.** An entry equal to the newest one does not take a
//!   slot: the newest entry's `count` goes up instead. A loop that polls and
//!   records the same thing a million times leaves one entry, not a ring full
//!   of identical ones hiding what came before.
//! * **Found by symbol name.** Each ring is a `#[used]` static exported as
//!   `__RINGBUF_<module path>::<NAME>` (for example
//!   `__RINGBUF_virtio_blk::queue::TRACE`). A dump tool finds it in the ELF
//!   symbol table and decodes the [`Ringbuf`] layout below: it is `repr(C)`.
//! * **Zero cost when compiled out.** With the crate feature `disabled`,
//!   `ringbuf!` declares only a zero-sized placeholder and `ringbuf_entry!`
//!   expands to code that type-checks its value but never evaluates it.
//!
//! # Memory layout (what a dump reader decodes)
//!
//! ```text
//! Ringbuf<T, N> (repr C):
//!   newest: u32            index of the newest entry, u32::MAX while empty
//!   busy:   u8             1 while an entry is being recorded
//!   (padding to the alignment of Entry<T>)
//!   entries: [Entry<T>; N]
//! Entry<T> (repr C):
//!   count:   u32           how many consecutive times `payload` was recorded
//!   payload: T
//! ```
//!
//! Entries are oldest-to-newest starting just after `newest` (wrapping); a
//! slot with `count == 0` was never written.
//!
//! # Reading a ring from inside
//!
//! Every ring is also listed, with its name, in the task's
//! `.vireo_ringbufs` section ([`registered`], on the target), so the task
//! itself can show its rings as text ([`Show`]): the shell's
//! `ringbuf <task>` asks the task (userlib answers for it) and prints the
//! entries in the layout `cargo xtask dump` uses — slot, count, entry.
//!
//! # Why recording cannot panic
//!
//! The ring index is always reduced modulo `N` with `N > 0` checked first, every
//! slot access goes through `get_mut` (an out-of-range index would be skipped,
//! not a panic), and the repeat count saturates: at `u32::MAX` the next repeat
//! takes a new slot instead of overflowing.

#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]

use core::cell::UnsafeCell;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

/// One slot of a ring.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Entry<T> {
    /// How many consecutive times `payload` was recorded; 0 for a slot never
    /// written.
    pub count: u32,
    /// The recorded value.
    pub payload: T,
}

/// Marks an empty ring in [`Ringbuf`]'s `newest` field.
const EMPTY: u32 = u32::MAX;

/// A ring of `N` entries of type `T`, declared by [`ringbuf!`] and written by
/// [`ringbuf_entry!`].
///
/// # Why this is `Sync`
///
/// A `static` must be `Sync`, and a ring is written through `&self`. Vireo
/// tasks are single-threaded and receive interrupts as notifications, not as
/// handlers, so on the target nothing can run concurrently with a
/// recording — except the recording itself re-entering through `T`'s
/// `PartialEq`. On the host, tests do run in threads. Rather than rest
/// soundness on either assumption, [`Ringbuf::record`] takes the `busy` flag
/// with an atomic swap first and drops the entry if the flag was already set.
/// The flag is what makes the `UnsafeCell` access exclusive; in a task it is
/// never contended, so no entry is ever dropped there in practice.
#[repr(C)]
pub struct Ringbuf<T, const N: usize> {
    newest: UnsafeCell<u32>,
    busy: AtomicBool,
    entries: UnsafeCell<[Entry<T>; N]>,
}

// SAFETY: all access to the `UnsafeCell` fields happens in `record` and
// `snapshot` while holding the `busy` flag (acquired with an atomic swap,
// released with a release store), so no two threads or re-entrant calls ever
// touch them at once. `T: Send` because entries are written by one thread and
// may be copied out by another (host tests).
unsafe impl<T: Copy + Send, const N: usize> Sync for Ringbuf<T, N> {}

impl<T: Copy + PartialEq, const N: usize> Ringbuf<T, N> {
    /// A ring whose slots all hold `init` with a count of zero.
    pub const fn new(init: T) -> Self {
        Ringbuf {
            newest: UnsafeCell::new(EMPTY),
            busy: AtomicBool::new(false),
            entries: UnsafeCell::new(
                [Entry {
                    count: 0,
                    payload: init,
                }; N],
            ),
        }
    }

    /// Records `payload`: bumps the newest entry's count if it is equal,
    /// otherwise overwrites the oldest slot. Dropped silently if the ring is
    /// already being recorded into (re-entrancy, or another thread on the
    /// host) — see the type's documentation.
    pub fn record(&self, payload: T) {
        self.record_inline(payload);
    }

    /// [`record`](Self::record), always inlined: for the few entries on a
    /// hot path. Built in place at the call site, an entry is a few stores
    /// into its slot, where a call passes anything larger than two
    /// registers by pointer and copies it (`memcpy`, in a size-optimised
    /// build) into the argument and again into the slot. Each call site
    /// costs its own copy of the recording code.
    #[inline(always)]
    pub fn record_inline(&self, payload: T) {
        if N == 0 || self.busy.swap(true, Ordering::Acquire) {
            return;
        }
        // SAFETY: we hold the busy flag, so these are the only references to
        // the cells' contents until the release store below (see the `Sync`
        // impl). `T: PartialEq` may run user code, but if that code records
        // into this ring it finds the flag set and returns without touching
        // the cells.
        let (newest, entries) = unsafe { (&mut *self.newest.get(), &mut *self.entries.get()) };
        Self::insert(newest, entries, payload);
        self.busy.store(false, Ordering::Release);
    }

    #[inline(always)]
    fn insert(newest: &mut u32, entries: &mut [Entry<T>; N], payload: T) {
        if let Some(last) = entries.get_mut(*newest as usize) {
            if last.payload == payload && last.count < u32::MAX {
                last.count += 1;
                return;
            }
        }
        // `N > 0` was checked by the caller; `N` fits a u32 because a task's
        // RAM could not hold more entries.
        let next = if *newest == EMPTY {
            0
        } else {
            (*newest as usize + 1) % N
        };
        if let Some(slot) = entries.get_mut(next) {
            *slot = Entry { count: 1, payload };
            *newest = next as u32;
        }
    }

    /// A copy of the ring's entries, newest first (`None` for slots never
    /// written). For host tests and for tasks that report their own trace; a
    /// dump tool reads the memory directly instead. Returns all `None` if
    /// called while an entry is being recorded.
    pub fn snapshot(&self) -> [Option<Entry<T>>; N] {
        let mut out = [None; N];
        if N == 0 || self.busy.swap(true, Ordering::Acquire) {
            return out;
        }
        // SAFETY: we hold the busy flag (see `record`); only shared reads
        // happen and no user code runs while they exist.
        let (newest, entries) = unsafe { (*self.newest.get(), &*self.entries.get()) };
        if newest != EMPTY {
            for (k, slot) in out.iter_mut().enumerate() {
                let i = (newest as usize + N - k % N) % N;
                *slot = entries.get(i).copied().filter(|e| e.count > 0);
            }
        }
        self.busy.store(false, Ordering::Release);
        out
    }
}

/// A ring that can show its entries as text: the same lines as `cargo
/// xtask dump` prints (slot, repeat count, entry by its `Debug`), oldest
/// first.
pub trait Show: Sync {
    /// Writes one line per entry.
    fn show(&self, out: &mut dyn fmt::Write) -> fmt::Result;
}

impl<T: Copy + PartialEq + Send + fmt::Debug, const N: usize> Show for Ringbuf<T, N> {
    fn show(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let newest_first = self.snapshot();
        // `snapshot` is newest first; the slot of its k-th entry is
        // `newest - k` (mod N). A recording between the two reads can only
        // shift the slot column, never an entry.
        let newest = self.newest_slot();
        for (k, e) in newest_first.iter().enumerate().rev() {
            if let Some(e) = e {
                let slot = (newest + N - k % N) % N;
                writeln!(out, "{slot:>5} {:>5}x {:?}", e.count, e.payload)?;
            }
        }
        Ok(())
    }
}

impl<T: Copy + PartialEq, const N: usize> Ringbuf<T, N> {
    /// The slot of the newest entry (0 when empty).
    fn newest_slot(&self) -> usize {
        if N == 0 || self.busy.swap(true, Ordering::Acquire) {
            return 0;
        }
        // SAFETY: we hold the busy flag (see `record`).
        let newest = unsafe { *self.newest.get() };
        self.busy.store(false, Ordering::Release);
        if newest == EMPTY {
            0
        } else {
            newest as usize % N
        }
    }
}

/// One ring as listed in `.vireo_ringbufs`.
pub struct Registered {
    /// The ring's name: `<module path>::<NAME>`, as in its symbol.
    pub name: &'static str,
    /// The ring.
    pub ring: &'static dyn Show,
}

/// Every ring of this task, from the `.vireo_ringbufs` section the task
/// linker script gathers (`__vireo_ringbufs_start`/`_end`).
#[cfg(all(target_os = "none", not(feature = "disabled")))]
pub fn registered() -> &'static [Registered] {
    extern "C" {
        // Only their addresses are used: markers, not values.
        static __vireo_ringbufs_start: u8;
        static __vireo_ringbufs_end: u8;
    }
    let start = core::ptr::addr_of!(__vireo_ringbufs_start).cast::<Registered>();
    let end = core::ptr::addr_of!(__vireo_ringbufs_end) as usize;
    let n = end.saturating_sub(start as usize) / core::mem::size_of::<Registered>();
    // SAFETY: the linker script puts exactly the `Registered` statics that
    // `ringbuf!` emits between the two symbols, aligned and initialised,
    // in read-only memory that lives as long as the task.
    unsafe { core::slice::from_raw_parts(start, n) }
}

/// No rings are kept when the crate is `disabled`, nor on the host.
#[cfg(not(all(target_os = "none", not(feature = "disabled"))))]
pub fn registered() -> &'static [Registered] {
    &[]
}

/// What [`ringbuf!`] declares when the crate feature `disabled` is on: no
/// storage at all.
pub struct Disabled<T>(core::marker::PhantomData<fn(T)>);

impl<T> Disabled<T> {
    /// The placeholder.
    pub const fn new() -> Self {
        Disabled(core::marker::PhantomData)
    }

    /// Does nothing; exists so `ringbuf_entry!` still type-checks its value.
    #[inline(always)]
    pub fn record(&self, _payload: T) {}

    /// Does nothing, as [`record`](Self::record).
    #[inline(always)]
    pub fn record_inline(&self, _payload: T) {}
}

impl<T> Default for Disabled<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Declares a ring: `ringbuf!(NAME, Type, N, init)` makes a static `NAME`
/// holding `N` entries of `Type`, each starting as `init` (a constant
/// expression). `Type` must be `Copy + PartialEq + Debug`.
///
/// The static is exported as `__RINGBUF_<module path>::<NAME>` and kept even
/// if unused, so a dump tool can always find it.
#[cfg(not(feature = "disabled"))]
#[macro_export]
macro_rules! ringbuf {
    ($name:ident, $t:ty, $n:expr, $init:expr) => {
        #[used]
        #[export_name = concat!("__RINGBUF_", module_path!(), "::", stringify!($name))]
        static $name: $crate::Ringbuf<$t, { $n }> = $crate::Ringbuf::new($init);
        #[cfg(target_os = "none")]
        const _: () = {
            #[used]
            #[link_section = ".vireo_ringbufs"]
            static REGISTERED: $crate::Registered = $crate::Registered {
                name: concat!(module_path!(), "::", stringify!($name)),
                ring: &$name,
            };
        };
    };
}

/// Declares a ring (compiled out: the `disabled` feature is on). The
/// initial value is still type-checked.
#[cfg(feature = "disabled")]
#[macro_export]
macro_rules! ringbuf {
    ($name:ident, $t:ty, $n:expr, $init:expr) => {
        #[allow(dead_code)]
        static $name: $crate::Disabled<$t> = {
            let _: $t = $init;
            let _: usize = $n;
            $crate::Disabled::new()
        };
    };
}

/// Records `value` in the ring `NAME` declared by [`ringbuf!`].
#[cfg(not(feature = "disabled"))]
#[macro_export]
macro_rules! ringbuf_entry {
    ($name:path, $value:expr) => {
        $name.record($value)
    };
}

/// Records nothing (the `disabled` feature is on): `value` is type-checked
/// against the ring's entry type but never evaluated.
#[cfg(feature = "disabled")]
#[macro_export]
macro_rules! ringbuf_entry {
    ($name:path, $value:expr) => {
        if false {
            $name.record($value)
        }
    };
}

#[cfg(test)]
extern crate std;

#[cfg(test)]
mod tests {
    use super::{Entry, Ringbuf};
    use std::string::String;

    #[test]
    fn empty_ring_snapshots_nothing() {
        let ring: Ringbuf<u8, 4> = Ringbuf::new(0);
        assert_eq!(ring.snapshot(), [None; 4]);
    }

    #[test]
    fn entries_come_back_newest_first_and_wrap() {
        let ring: Ringbuf<u8, 3> = Ringbuf::new(0);
        for v in 1..=5 {
            ring.record(v);
        }
        let got = ring.snapshot().map(|e| e.map(|e| e.payload));
        assert_eq!(got, [Some(5), Some(4), Some(3)]);
    }

    #[test]
    fn repeats_bump_the_count_instead_of_taking_slots() {
        let ring: Ringbuf<u8, 3> = Ringbuf::new(0);
        ring.record(7);
        ring.record(9);
        ring.record(9);
        ring.record(9);
        let got = ring.snapshot();
        assert_eq!(
            got[0],
            Some(Entry {
                count: 3,
                payload: 9
            })
        );
        assert_eq!(
            got[1],
            Some(Entry {
                count: 1,
                payload: 7
            })
        );
        assert_eq!(got[2], None);
    }

    #[test]
    fn a_saturated_count_takes_a_new_slot() {
        let ring: Ringbuf<u8, 2> = Ringbuf::new(0);
        ring.record(1);
        // SAFETY: test-only direct access; nothing else uses this ring.
        unsafe { (*ring.entries.get())[0].count = u32::MAX };
        ring.record(1);
        let got = ring.snapshot();
        assert_eq!(
            got[0],
            Some(Entry {
                count: 1,
                payload: 1
            })
        );
        assert_eq!(
            got[1],
            Some(Entry {
                count: u32::MAX,
                payload: 1
            })
        );
    }

    #[test]
    fn a_ring_shows_its_entries_oldest_first_with_slots_and_counts() {
        use super::Show;
        let ring: Ringbuf<u8, 3> = Ringbuf::new(0);
        let mut text = String::new();
        ring.show(&mut text).unwrap();
        assert_eq!(text, "");
        for v in [1, 2, 2, 3, 4] {
            ring.record(v);
        }
        let mut text = String::new();
        ring.show(&mut text).unwrap();
        // 1 went to slot 0, 2 (twice) to 1, 3 to 2, 4 over 1's slot 0.
        assert_eq!(text, "    1     2x 2\n    2     1x 3\n    0     1x 4\n");
    }

    #[test]
    fn a_zero_sized_ring_records_nothing() {
        let ring: Ringbuf<u8, 0> = Ringbuf::new(0);
        ring.record(1);
        assert_eq!(ring.snapshot().len(), 0);
    }

    /// A payload whose equality test records into the ring being recorded
    /// into: the inner entry must be dropped, not alias the outer one.
    #[derive(Copy, Clone, Debug)]
    struct Reentrant(u8);
    static REENTRANT: Ringbuf<Reentrant, 4> = Ringbuf::new(Reentrant(0));
    impl PartialEq for Reentrant {
        fn eq(&self, other: &Self) -> bool {
            REENTRANT.record(Reentrant(99));
            self.0 == other.0
        }
    }

    #[test]
    fn re_entrant_recording_is_dropped() {
        REENTRANT.record(Reentrant(1));
        REENTRANT.record(Reentrant(2));
        let got = REENTRANT.snapshot().map(|e| e.map(|e| e.payload.0));
        assert_eq!(got, [Some(2), Some(1), None, None]);
    }
}
