//! Low guest memory for the model: one anonymous mapping below 4 GiB, handed
//! out by a bump allocator. Blocks are never freed, only given back
//! ([`give_back`]) for the next allocation of the same size on the same
//! thread: a rig built per property-test case reuses its predecessor's.
//!
//! Why: a legacy (version 1) virtio-mmio device learns where a queue is from
//! a 32-bit page number (QueuePFN, §4.2.4), so ring memory must lie below
//! 2^44; and Vireo's target has 32-bit addresses. A host heap address is
//! above both, so the tests place all DMA memory (rings, tables, buffers)
//! here, which also makes host runs look like the target (the High address
//! registers are 0).

use std::cell::RefCell;
use std::ffi::{c_int, c_long, c_void};
use std::sync::Mutex;

extern "C" {
    // From the C library that `std` links on Linux.
    fn mmap(
        addr: *mut c_void,
        len: usize,
        prot: c_int,
        flags: c_int,
        fd: c_int,
        offset: c_long,
    ) -> *mut c_void;
}

const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const MAP_PRIVATE: c_int = 0x02;
const MAP_ANONYMOUS: c_int = 0x20;
const MAP_NORESERVE: c_int = 0x4000;

/// Where to ask for the mapping, and how much to reserve (pages are only
/// backed when touched).
/// (Low enough to stay clear of AddressSanitizer's shadow at 0x7fff8000
/// when the fuzz target runs.) 1 GiB: the host tests never `reset`, and
/// with 256 MiB `PROPTEST_CASES=1000` (the README invites raising it)
/// exhausted it in virtio-blk's property test, which proptest then
/// "shrank" into a false failing input.
const HINT: usize = 0x1000_0000;
const ARENA_LEN: usize = 1 << 30;
const _: () = assert!(HINT + ARENA_LEN <= 0x7fff_8000, "clear of ASan's shadow");

struct Arena {
    base: usize,
    next: usize,
    end: usize,
}

static ARENA: Mutex<Option<Arena>> = Mutex::new(None);

thread_local! {
    /// Blocks this thread gave back (start, length), for its own next
    /// allocations of the same length. Per thread, not global: the host
    /// tests run in parallel, one per thread, and a test that checks the
    /// reuse must not see another test take its block. A thread that ends
    /// leaks its list, as the arena leaked every block before.
    static GIVEN_BACK: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
}

/// Returns `len` zeroed bytes aligned to `align` (a power of two), below
/// 4 GiB, valid and not handed out again for the rest of the process (unless
/// given back with [`give_back`], or [`reset`] is called).
pub fn alloc(len: usize, align: usize) -> *mut u8 {
    let len = len.max(1);
    let reused = GIVEN_BACK.with_borrow_mut(|blocks| {
        let i = blocks
            .iter()
            .position(|&(start, l)| l == len && start % align == 0)?;
        Some(blocks.swap_remove(i).0)
    });
    if let Some(start) = reused {
        let p = std::ptr::with_exposed_provenance_mut::<u8>(start);
        // SAFETY: [start, start + len) was handed out by `alloc` and given
        // back, whose caller promised nothing uses it any more; it is
        // inside the mapping, and taken off the list, so handed to nobody else.
        unsafe { p.write_bytes(0, len) };
        return p;
    }
    let mut arena = ARENA.lock().unwrap_or_else(|e| e.into_inner());
    let arena = arena.get_or_insert_with(|| {
        // SAFETY: an anonymous private mapping at a hint address: it never
        // replaces an existing mapping (no MAP_FIXED) and touches no memory
        // of ours.
        let p = unsafe {
            mmap(
                HINT as *mut c_void,
                ARENA_LEN,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                -1,
                0,
            )
        };
        let base = p as usize;
        assert!(
            base != usize::MAX && base + ARENA_LEN <= 1 << 32,
            "could not map the model's guest memory below 4 GiB (got {base:#x})"
        );
        Arena {
            base,
            next: base,
            end: base + ARENA_LEN,
        }
    });
    let start = arena.next.next_multiple_of(align);
    let end = start + len;
    assert!(
        end <= arena.end,
        "model guest memory exhausted ({ARENA_LEN} bytes, never freed in host tests): fewer PROPTEST_CASES"
    );
    arena.next = end;
    let p = std::ptr::with_exposed_provenance_mut::<u8>(start);
    // SAFETY: [start, end) is inside the mapping and handed out to nobody
    // else (see `reset` for reuse).
    unsafe { p.write_bytes(0, end - start) };
    p
}

/// Hands the `len` bytes at `p` to this thread's next [`alloc`] of `len`
/// bytes, so that a test building a rig per case (a property test with a
/// raised `PROPTEST_CASES`) does not exhaust the arena.
///
/// # Safety
///
/// `p` and `len` are those of one earlier [`alloc`] (or the size of the
/// type of one [`leak_zeroed`]), not given back since, and nothing uses
/// those bytes any more: the driver and device model that reached them
/// are dropped, as is any reference [`leak_zeroed`] returned for them.
pub unsafe fn give_back(p: *mut u8, len: usize) {
    let start = p.expose_provenance();
    GIVEN_BACK.with_borrow_mut(|blocks| blocks.push((start, len.max(1))));
}

/// Makes all arena memory available again, so that a long fuzzing run does
/// not exhaust it.
///
/// # Safety
///
/// Nothing allocated before may be used afterwards: every queue, table and
/// buffer from earlier allocations (including the `&'static mut` references
/// of [`leak_zeroed`]) must be dead. The host tests, which run in parallel,
/// never call this; the fuzz target calls it between inputs.
pub unsafe fn reset() {
    let mut arena = ARENA.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(arena) = arena.as_mut() {
        arena.next = arena.base;
    }
    // The blocks given back lie in what was just freed: handing them out
    // again would hand them out twice. (Only this thread's: `reset` is for
    // the fuzz target, where one thread uses the arena.)
    GIVEN_BACK.with_borrow_mut(Vec::clear);
}

/// A zeroed `T` in the arena, for ring memory and indirect tables.
///
/// Only for types for which all-zero bytes are a valid value (the virtio
/// memory types are arrays of bytes in `UnsafeCell`s).
pub fn leak_zeroed<T>() -> &'static mut T {
    let p = alloc(std::mem::size_of::<T>(), std::mem::align_of::<T>()).cast::<T>();
    // SAFETY: `p` is aligned for T, points to size_of::<T>() zeroed bytes
    // that are not handed out again (before a `reset`, whose caller promises
    // this reference is dead by then) or unmapped, and callers only
    // use types for which zero bytes are a valid value.
    unsafe { &mut *p }
}
