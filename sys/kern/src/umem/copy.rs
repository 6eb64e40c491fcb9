//! The copy routines behind every transfer of task memory: word loops
//! that touch no byte outside the two ranges, and (host tests) the check
//! that they do not. Only `umem` calls them, after its checks.

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
pub(super) unsafe fn copy_raw(from: usize, to: usize, n: usize) {
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

/// The IPC fast path's few bytes (`umem::safe_copy_short`), out of line:
/// a word at a time while both ends are word-aligned (a message of
/// words, as the typed stubs and the blk calls send: five instructions a
/// byte cost an 8-byte message 42, now 20), then by bytes. Inline, the
/// loop ran in the trap handler with every register taken by values live
/// across it, and kept both of its pointers on the stack: nine
/// instructions a byte. Callers skip the call for `n == 0`, the null
/// message's case.
///
/// # Safety
///
/// As for [`copy_raw`].
#[inline(never)]
pub(super) unsafe fn copy_short(from: usize, to: usize, n: usize) {
    #[cfg(test)]
    bounds::enter(from, n, to, n);
    let (mut s, mut d, mut left) = (from, to, n);
    if (from | to) & 3 == 0 {
        while left >= 4 {
            // SAFETY: a word at `s` and at `d`, inside both ranges (`left`
            // bytes remain in each) and aligned.
            unsafe { store(d, load::<u32>(s)) };
            (s, d, left) = (s.wrapping_add(4), d.wrapping_add(4), left - 4);
        }
    }
    // SAFETY: the last `left` bytes of both ranges.
    unsafe { copy_bytewise(s, d, left) };
    #[cfg(test)]
    bounds::leave();
}

/// [`copy_raw`] a byte at a time (for unaligned ends, and for the fast
/// path's few bytes, where the word loops' set-up costs more than it saves).
///
/// # Safety
///
/// As for [`copy_raw`].
#[inline(always)]
pub(super) unsafe fn copy_bytewise(from: usize, to: usize, n: usize) {
    for i in 0..n {
        // Volatile keeps the loop a loop: the compiler would otherwise call
        // the library's memcpy.
        // SAFETY: `i < n`, inside both ranges (caller's promise).
        unsafe { store(to.wrapping_add(i), load::<u8>(from.wrapping_add(i))) };
    }
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
