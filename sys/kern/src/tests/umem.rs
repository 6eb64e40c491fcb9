//! Typed user memory: slices are checked before they are handed out, a copy
//! names the side that lied, and IPC faults that side instead of delivering
//! a wrong length.

use abi::{dead_code, FaultKind, Sysnum, UsageError};

use super::harness::*;
use crate::descs::{RegionDesc, REGION_READ, REGION_WRITE};
use crate::task::{SchedState, TaskState};
use crate::umem::{self, BadSlice, InteractFault, USlice};

const CLI2: usize = 3;

/// Read-write RAM of `size` bytes no task holds yet, to grant and revoke.
fn grant(size: usize) -> RegionDesc {
    RegionDesc {
        base: arena::alloc(size),
        size,
        attributes: REGION_READ | REGION_WRITE,
    }
}

#[test]
fn typed_slices_are_aligned_and_never_wrap() {
    assert!(USlice::<u32>::from_raw(0x1001, 1).is_none(), "misaligned");
    assert!(
        USlice::<u32>::from_raw(0x1002, 0).is_none(),
        "misaligned even if empty"
    );
    let s = USlice::<u32>::from_raw(0x1000, 4).unwrap();
    assert_eq!((s.base(), s.len(), s.byte_len()), (0x1000, 4, 16));
    // Sub-slices count in elements, not bytes.
    let sub = s.subslice(1, 2).unwrap();
    assert_eq!((sub.base(), sub.len()), (0x1004, 2));
    assert!(s.subslice(3, 2).is_none());
    assert_eq!(s.prefix(9).len(), 4);
    // The end wraps, or the byte length overflows.
    assert!(USlice::<u32>::from_raw(usize::MAX - 3, 1).is_none());
    assert!(USlice::<u32>::from_raw(0, usize::MAX / 2).is_none());
    assert!(USlice::<u8>::from_raw(usize::MAX, 1).is_none());
    assert!(USlice::<u8>::from_raw(usize::MAX, 0).is_some());
}

#[test]
fn try_read_and_try_write_hand_out_only_what_the_task_owns() {
    let mut h = Builder::default()
        .task("sup", 0)
        .task("srv", 1)
        .device()
        .build();
    h.write(SRV, DATA, b"owned bytes");
    let owned = USlice::<u8>::from_raw(h.addr(SRV, DATA), 11).unwrap();
    assert_eq!(umem::try_read(h.task(SRV), &owned).unwrap(), b"owned bytes");
    umem::try_write(&mut h.sys.tasks[SRV], &owned)
        .unwrap()
        .copy_from_slice(b"OWNED BYTES");
    assert_eq!(h.read(SRV, DATA, 11), b"OWNED BYTES");

    // Memory of nobody, and another task's RAM: refused, naming the base.
    let elsewhere = foreign(0x100);
    let theirs = USlice::<u8>::from_raw(elsewhere, 4).unwrap();
    assert_eq!(
        umem::try_read(h.task(SRV), &theirs),
        Err(BadSlice { base: elsewhere })
    );
    let sups = USlice::<u8>::from_raw(h.addr(SUP, DATA), 4).unwrap();
    assert!(umem::try_write(&mut h.sys.tasks[SRV], &sups).is_err());
    // Running off the end of owned RAM.
    let over = USlice::<u8>::from_raw(h.addr(SRV, RAM_SIZE - 2), 4).unwrap();
    assert!(umem::try_read(h.task(SRV), &over).is_err());
    // Text is readable, not writable.
    let text = USlice::<u8>::from_raw(h.mem[SRV].text, 4).unwrap();
    assert!(umem::try_read(h.task(SRV), &text).is_ok());
    assert_eq!(
        umem::try_write(&mut h.sys.tasks[SRV], &text),
        Err(BadSlice {
            base: h.mem[SRV].text
        })
    );
    // A device window is the task's, but never the kernel's to copy.
    let window = USlice::<u8>::from_raw(h.mem[SRV].device.unwrap(), 4).unwrap();
    assert!(umem::try_read(h.task(SRV), &window).is_err());
    assert!(umem::try_write(&mut h.sys.tasks[SRV], &window).is_err());
    // Nothing is always fine, wherever it claims to be.
    let nothing = USlice::<u8>::from_raw(elsewhere, 0).unwrap();
    assert_eq!(umem::try_read(h.task(SRV), &nothing), Ok(&[][..]));
    // Typed reads see the task's words.
    h.write(SRV, DATA, &[1, 0, 0, 0, 2, 0, 0, 0]);
    let words = USlice::<u32>::from_raw(h.addr(SRV, DATA), 2).unwrap();
    assert_eq!(umem::try_read(h.task(SRV), &words).unwrap(), [1, 2]);
}

#[test]
fn safe_copy_names_the_side_that_lied_and_copies_nothing() {
    let mut h = Harness::three();
    h.write(CLI, MSG_OUT, b"message");
    h.write(SRV, RECV_BUF, b"untouched");
    let good_src = USlice::<u8>::from_raw(h.addr(CLI, MSG_OUT), 7).unwrap();
    let good_dst = USlice::<u8>::from_raw(h.addr(SRV, RECV_BUF), 9).unwrap();
    let bad = foreign(0x100);
    let bad_slice = USlice::<u8>::from_raw(bad, 7).unwrap();
    let copy = |h: &mut Harness, src: &USlice, dst: &USlice| {
        umem::safe_copy(h.task(CLI), src, h.task(SRV), dst)
    };
    let lie = Some(BadSlice { base: bad });
    assert_eq!(
        copy(&mut h, &bad_slice, &good_dst),
        Err(InteractFault {
            src: lie,
            dst: None
        })
    );
    assert_eq!(
        copy(&mut h, &good_src, &bad_slice),
        Err(InteractFault {
            src: None,
            dst: lie
        })
    );
    assert_eq!(
        copy(&mut h, &bad_slice, &bad_slice),
        Err(InteractFault { src: lie, dst: lie })
    );
    assert_eq!(
        h.read(SRV, RECV_BUF, 9),
        b"untouched",
        "a failed copy copies nothing"
    );
    // The shorter side decides the count.
    assert_eq!(copy(&mut h, &good_src, &good_dst), Ok(7));
    assert_eq!(h.read(SRV, RECV_BUF, 9), b"messageed");
    let (s, d) = (h.task(CLI), h.task(SRV));
    assert_eq!(
        umem::safe_copy_short(s, &good_src, d, &good_dst.prefix(3)),
        Ok(3)
    );
    assert_eq!(
        umem::safe_copy_short(s, &bad_slice, d, &good_dst),
        Err(InteractFault {
            src: lie,
            dst: None
        })
    );
}

#[test]
fn values_are_read_unaligned_and_short_slices_give_none() {
    let mut h = Harness::three();
    h.write(CLI, DATA, &[0xAA, 1, 0, 0, 0, 2, 0, 0, 0]);
    let at = |len| USlice::<u8>::from_raw(h.addr(CLI, DATA + 1), len).unwrap();
    assert_eq!(
        umem::read_value::<[u32; 2]>(h.task(CLI), &at(8)),
        Ok(Some([1, 2]))
    );
    assert_eq!(umem::read_value::<[u32; 2]>(h.task(CLI), &at(7)), Ok(None));
    let bad = USlice::<u8>::from_raw(foreign(0x10), 8).unwrap();
    assert!(umem::read_value::<u32>(h.task(CLI), &bad).is_err());
}

/// The `a6` of a `send` of operation `n` without leases.
fn op(n: u16) -> usize {
    abi::send_op_leases(n, 0) as usize
}

/// Asserts that task `t` was faulted for naming `base`, which it does not
/// own, at the `ecall` of the syscall it was blocked in.
fn assert_faulted_for(h: &Harness, t: usize, base: usize, ecall: usize) {
    h.assert_usage_fault(t, UsageError::InvalidSlice);
    let f = h.fault(t);
    assert_eq!(f.kind(), FaultKind::SyscallUsage);
    assert_eq!(f.address, base as u32, "the address of the bad slice");
    assert_eq!(f.pc, ecall as u32, "the ecall of the syscall it waited in");
}

/// CLI sends SRV a 5-byte message from granted memory (SRV is not
/// receiving, so CLI queues), then loses the grant. The grant, and the pc
/// of CLI's `ecall`.
fn send_from_revoked_grant(h: &mut Harness) -> (RegionDesc, usize) {
    let srv = h.id(SRV);
    let g = grant(0x100);
    assert!(h.sys.tasks[CLI].add_region(g));
    let ecall = h.task(CLI).save().pc();
    let reply = h.addr(CLI, REPLY_BUF);
    h.syscall(
        CLI,
        Sysnum::Send,
        &[srv.0 as usize, g.base, 5, reply, 8, 0, op(9)],
    );
    assert_eq!(h.sched(CLI), SchedState::InSend(srv));
    assert!(h.sys.tasks[CLI].remove_region(&g));
    (g, ecall)
}

#[test]
fn a_queued_sender_whose_message_is_revoked_is_faulted_and_the_next_served() {
    let mut h = Harness::new(&[("sup", 0), ("srv", 1), ("cli", 2), ("cli2", 3)]);
    let srv = h.id(SRV);
    let (g, ecall) = send_from_revoked_grant(&mut h);
    h.send(CLI2, srv, 4, b"honest", 8, &[]);

    h.recv(SRV, 64, 0);
    assert_faulted_for(&h, CLI, g.base, ecall);
    // The server got the honest message, with its own length, not the
    // liar's length over nothing.
    h.assert_delivered(SRV, CLI2, 4, 6, 8, b"honest");
}

#[test]
fn a_receiver_that_only_waited_for_a_liar_is_told_it_is_dead() {
    let mut h = Harness::three();
    let cli = h.id(CLI);
    send_from_revoked_grant(&mut h);
    h.recv_from(SRV, 64, 0, cli);
    assert_eq!(h.task(CLI).state(), TaskState::Faulted);
    // Nothing was delivered: the server learns its only sender died.
    assert_eq!(h.sched(SRV), SchedState::Runnable);
    assert_eq!(h.ret(SRV, 0), dead_code(h.task(CLI).generation()) as usize);
}

#[test]
fn a_receiver_whose_buffer_is_revoked_is_faulted_and_the_sender_told() {
    // Twice: once through the fast path's preconditions (a short message),
    // once through the general path (too long for the fast path).
    for msg in [&b"tiny"[..], &[7u8; 40][..]] {
        let (mut h, srv) = Harness::three_and_server();
        let g = grant(0x100);
        assert!(h.sys.tasks[SRV].add_region(g));
        let ecall = h.task(SRV).save().pc();
        h.syscall(SRV, Sysnum::Recv, &[g.base, 64, 0, abi::RECV_OPEN as usize]);
        assert_eq!(h.sched(SRV), SchedState::InRecv(None));
        assert!(h.sys.tasks[SRV].remove_region(&g));

        h.send(CLI, srv, 1, msg, 8, &[]);
        assert_faulted_for(&h, SRV, g.base, ecall);
        // The sender is not left waiting on a dead server.
        assert_eq!(h.sched(CLI), SchedState::Runnable);
        assert_eq!(h.ret(CLI, 0), dead_code(h.task(SRV).generation()) as usize);
    }
}

#[test]
fn a_client_whose_reply_buffer_is_revoked_is_faulted_not_told_zero_bytes() {
    // `reply`, and `reply_recv` (whose fast path must fall back).
    for via_reply_recv in [false, true] {
        let (mut h, srv) = Harness::three_and_server();
        h.recv(SRV, 64, 0);
        let g = grant(0x100);
        assert!(h.sys.tasks[CLI].add_region(g));
        let ecall = h.task(CLI).save().pc();
        h.syscall(
            CLI,
            Sysnum::Send,
            &[
                srv.0 as usize,
                h.addr(CLI, MSG_OUT),
                0,
                g.base,
                16,
                0,
                op(3),
            ],
        );
        assert_eq!(h.sched(CLI), SchedState::InReply(srv));
        assert!(h.sys.tasks[CLI].remove_region(&g));

        let cli = h.id(CLI);
        if via_reply_recv {
            h.reply_recv(SRV, cli, 0, b"answer", 64, 0);
            assert_eq!(h.sched(SRV), SchedState::InRecv(None));
        } else {
            h.reply(SRV, cli, 0, b"answer");
            assert_eq!(h.sched(SRV), SchedState::Runnable);
        }
        assert_faulted_for(&h, CLI, g.base, ecall);
        assert_eq!(h.task(SRV).fault_count(), 0, "the server is not to blame");
        assert_eq!(h.task(SRV).replies(), 0, "nothing was replied");
    }
}

#[test]
fn kernel_rings_exist_only_in_ring_regions_and_refuse_stray_accesses() {
    use crate::descs::REGION_DMA_RING;
    use crate::umem::RING_LEN;
    let h = Harness::three();
    let ring_region = RegionDesc {
        base: arena::alloc(0x4000),
        size: 0x4000,
        attributes: REGION_READ | REGION_DMA_RING,
    };
    assert!(h.sys.tasks[SRV].add_region(ring_region));
    // Plain RAM of the task, as large as a ring region.
    let ram = RegionDesc {
        base: arena::alloc(0x4000),
        size: 0x4000,
        attributes: REGION_READ | REGION_WRITE,
    };
    assert!(h.sys.tasks[SRV].add_region(ram));
    // Not a ring region (plain RAM), not the task's, running off the end.
    assert!(umem::kernel_ring(h.task(SRV), h.addr(SRV, DATA)).is_none());
    assert!(umem::kernel_ring(h.task(SRV), ram.base).is_none());
    assert!(umem::kernel_ring(h.task(CLI), ring_region.base).is_none());
    assert!(umem::kernel_ring(h.task(SRV), ring_region.base + 0x4000 - RING_LEN + 2).is_none());
    assert!(umem::kernel_ring(h.task(SRV), ring_region.base + 0x4000 - RING_LEN).is_some());

    let mut ring = umem::kernel_ring(h.task(SRV), ring_region.base + 0x100).unwrap();
    assert_eq!(ring.base(), ring_region.base + 0x100);
    ring.write_u32(4, 0x1234_5678);
    ring.write_u16(8, 0xBEEF);
    ring.write_words(16, &[0x0403_0201, 0x0807_0605]);
    assert_eq!(ring.read_u32(4), 0x1234_5678);
    assert_eq!(ring.read_u16(8), 0xBEEF);
    assert_eq!(
        (ring.read_u32(16), ring.read_u32(20)),
        (0x0403_0201, 0x0807_0605)
    );
    // Outside, or misaligned: nothing written, and reads give 0. (The
    // offsets go through `black_box`: as they would at run time, not
    // folded by the compiler.)
    let at = std::hint::black_box;
    ring.write_u32(at(RING_LEN), 7);
    ring.write_u32(at(RING_LEN - 2), 7);
    ring.write_u32(at(usize::MAX - 1), 7);
    ring.write_u32(at(6), 7);
    ring.write_u16(at(RING_LEN - 1), 7);
    ring.write_u16(at(RING_LEN), 7);
    ring.write_words(at(RING_LEN - 4), &[9; 2]);
    ring.write_words(at(usize::MAX - 3), &[9; 2]);
    assert_eq!(ring.read_u32(at(RING_LEN)), 0);
    assert_eq!(ring.read_u16(at(RING_LEN)), 0);
    assert_eq!(ring.read_u32(at(6)), 0);
    assert_eq!(ring.read_u32(at(RING_LEN - 4)), 0);
    // A misaligned run: nothing written either.
    ring.write_words(0x22, &[1, 2]);
    assert_eq!(
        (ring.read_u32(0x20), ring.read_u32(0x24)),
        (0, 0),
        "a misaligned run was written"
    );
    // Fields and words ending exactly at the end of the ring are written.
    ring.write_words(RING_LEN - 8, &[1, 2]);
    assert_eq!(
        (ring.read_u32(RING_LEN - 8), ring.read_u32(RING_LEN - 4)),
        (1, 2)
    );
    ring.write_u16(at(RING_LEN - 10), 3);
    assert_eq!(ring.read_u16(at(RING_LEN - 10)), 3);
    // SAFETY: test memory of 0x4000 bytes that only this test uses.
    let raw = unsafe { std::slice::from_raw_parts(ring_region.base as *const u8, 0x4000) };
    assert!(
        raw[0x100 + RING_LEN..].iter().all(|&b| b == 0),
        "wrote past the ring"
    );
    assert!(
        raw[..0x100].iter().all(|&b| b == 0),
        "wrote before the ring"
    );
    assert_eq!(ring.read_u32(4), 0x1234_5678, "a misaligned write landed");
    assert_eq!(ring.read_u16(8), 0xBEEF, "a misaligned write landed");
}

/// The kernel never writes a task's memory from bytes that overlap the
/// destination (the source is a `&[u8]`, which must not change under
/// it): such a source is refused and nothing is written, while one that
/// ends right before the destination or starts right after it is copied.
#[test]
fn write_bytes_refuses_a_source_overlapping_the_destination() {
    let mut h = Harness::three();
    let dst = h.addr(SRV, DATA + 16);
    let to = USlice::<u8>::from_raw(dst, 8).unwrap();
    for (src, copies) in [
        (dst - 8, true),
        (dst + 8, true),
        (dst - 7, false),
        (dst + 7, false),
    ] {
        let fill: Vec<u8> = (1..=48).collect();
        h.write(SRV, DATA, &fill);
        // SAFETY: 8 bytes of the server's RAM block in the test arena;
        // `write_bytes` writes only where it does not overlap them.
        let bytes = unsafe { std::slice::from_raw_parts(src as *const u8, 8) };
        let want = bytes.to_vec();
        let result = umem::write_bytes(h.task(SRV), &to, bytes);
        let written = h.read(SRV, DATA + 16, 8);
        if copies {
            assert_eq!(result, Ok(8), "source at {:+}", src as isize - dst as isize);
            assert_eq!(written, want);
        } else {
            assert_eq!(
                result,
                Err(BadSlice { base: dst }),
                "source at {:+}",
                src as isize - dst as isize
            );
            assert_eq!(written, fill[16..24], "written though refused");
        }
    }
}

/// The kernel's copy reads only the source's bytes and writes only the
/// destination's, byte-exact, whatever the alignment of either end and the
/// length: in host tests every load and store of the copy routine is
/// checked against the ranges it was given (`umem::bounds`: a stray
/// access panics, even one inside a word the slice only partly covers),
/// and the bytes around the destination are checked untouched. Lengths
/// cover the byte-only copies, the switch to words, every tail, and
/// Ethernet frame sizes; the IPC fast path's short copy (words while both
/// ends are aligned, then bytes) is run on every length it takes too.
#[test]
fn copy_touches_no_byte_outside_either_slice() {
    const ROOM: usize = 0x800;
    let (src, dst) = (arena::alloc(ROOM), arena::alloc(ROOM));
    let lens = (0..80).chain([127, 128, 129, 1513, 1514, 1515, 1536]);
    let short = (0..=crate::fastpath::FAST_MESSAGE).map(|len| (len, true));
    for (len, short) in lens.map(|len| (len, false)).chain(short) {
        for from_skew in 0..4 {
            for to_skew in 0..4 {
                let (from, to) = (src + 8 + from_skew, dst + 8 + to_skew);
                // SAFETY: both blocks are test memory of ROOM bytes that
                // only this test uses; the slices lie inside them.
                let (s, d, page) = unsafe {
                    let all_s = std::slice::from_raw_parts_mut(src as *mut u8, ROOM);
                    for (i, b) in all_s.iter_mut().enumerate() {
                        *b = (i as u8).wrapping_mul(13).wrapping_add(5);
                    }
                    std::slice::from_raw_parts_mut(dst as *mut u8, ROOM).fill(0xEE);
                    (
                        std::slice::from_raw_parts(from as *const u8, len),
                        std::slice::from_raw_parts_mut(to as *mut u8, len),
                        std::slice::from_raw_parts(dst as *const u8, ROOM),
                    )
                };
                let copy = if short {
                    umem::copy_bytes_short
                } else {
                    umem::copy_bytes
                };
                assert_eq!(copy(s, d), len);
                let case = format!(
                    "len {len}, from skew {from_skew}, to skew {to_skew}, short copy {short}"
                );
                let want: Vec<u8> = (0..len)
                    .map(|i| ((8 + from_skew + i) as u8).wrapping_mul(13).wrapping_add(5))
                    .collect();
                assert_eq!(&page[8 + to_skew..][..len], &want[..], "{case}");
                assert!(
                    page[..8 + to_skew]
                        .iter()
                        .chain(&page[8 + to_skew + len..])
                        .all(|&b| b == 0xEE),
                    "{case}: wrote outside the destination"
                );
            }
        }
    }
}

#[test]
#[should_panic(expected = "outside the source")]
fn the_copy_bounds_check_catches_a_stray_read() {
    // The check itself can fail: a word read that starts one byte before a
    // source.
    let src = arena::alloc(16);
    umem::bounds::enter(src + 1, 8, src, 8);
    umem::bounds::load(src, 4);
}

/// A view of a ring's 16-bit fields (`KernelRing::u16s`) is made only
/// inside the ring and 2-aligned, reads and writes exactly its fields, and
/// beyond its length reads 0 and writes nothing.
#[test]
fn ring_u16_views_stay_inside_their_fields() {
    use crate::descs::REGION_DMA_RING;
    let h = Harness::three();
    let region = RegionDesc {
        base: arena::alloc(0x4000),
        size: 0x4000,
        attributes: REGION_READ | REGION_DMA_RING,
    };
    assert!(h.sys.tasks[SRV].add_region(region));
    let ring = umem::kernel_ring(h.task(SRV), region.base + 0x100).unwrap();
    let end = umem::RING_LEN;
    // Running off the end, misaligned, or a length that overflows: none.
    assert!(ring.u16s(end - 2, 2).is_none());
    assert!(ring.u16s(0x21, 1).is_none());
    assert!(ring.u16s(2, usize::MAX).is_none());
    // Exactly up to the end: made.
    assert!(ring.u16s(end - 2, 1).is_some());
    let mut ring = ring;
    // The field just past the view holds something: not the view's.
    ring.write_u16(0x18, 0x5555);
    let view = ring.u16s(0x10, 4).unwrap();
    view.set(0, 0xA1B2);
    view.set(3, 7);
    view.set(4, 0xFFFF); // beyond: nothing
    assert_eq!((view.get(0), view.get(3), view.get(4)), (0xA1B2, 7, 0));
    assert_eq!(ring.read_u16(0x10), 0xA1B2);
    assert_eq!(ring.read_u16(0x16), 7);
    assert_eq!(
        ring.read_u16(0x18),
        0x5555,
        "a write beyond the view landed"
    );
    // SAFETY: test memory of 0x4000 bytes that only this test uses.
    let raw = unsafe { std::slice::from_raw_parts(region.base as *const u8, 0x4000) };
    assert!(
        raw.iter()
            .enumerate()
            .all(|(i, &b)| b == 0 || (0x110..0x11A).contains(&i)),
        "wrote outside the view"
    );
}
