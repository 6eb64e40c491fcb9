//! DMA windows (`dma`): each rule of what a driver may expose to its
//! device, queue setup (registers written, ring zeroed, a live queue left
//! alone) and posting (descriptors written where the chain says, the
//! available ring published, nothing made available on a refusal).

use abi::{
    DmaOp, Sysnum, TaskId, UsageError, DMA_AVAIL_FLAGS, DMA_BAD_BUFFER, DMA_BAD_FLAGS,
    DMA_BAD_LEASE, DMA_BAD_QUEUE, DMA_LEASE, DMA_MAX_CHAIN, DMA_NO_DEVICE, DMA_PINNED,
    DMA_QUEUE_BUSY, DMA_RING_STRIDE, DMA_USED_EVENT, LEASE_READ, LEASE_WRITE, SUCCESS,
};
use zerocopy::IntoBytes;

use crate::descs::{
    protection_entries, RegionDesc, MAX_TASK_REGIONS, REGION_DEVICE, REGION_DMA_RING,
    REGION_EXECUTE, REGION_READ, REGION_VIRTIO, REGION_WRITE, VIRTIO_WINDOW_ENTRIES,
};
use crate::dma::{buffer_allowed, check_desc, queue_size, ring_slot, RawDesc, F_NEXT, F_WRITE};

use super::harness::*;
use crate::task::{SchedState, TaskState};

const DRV: usize = 1;

fn region(base: usize, size: usize, attributes: u32) -> RegionDesc {
    RegionDesc {
        base,
        size,
        attributes,
    }
}

/// A driver's regions: text, RAM, ring region, a granted virtio window.
fn driver() -> [RegionDesc; 4] {
    [
        region(0x8010_0000, 0x1000, REGION_READ | REGION_EXECUTE),
        region(0x8020_0000, 0x2000, REGION_READ | REGION_WRITE),
        region(0x8030_0000, 0x4000, REGION_READ | REGION_DMA_RING),
        region(
            0x1000_1000,
            0x1000,
            REGION_READ | REGION_WRITE | REGION_DEVICE | REGION_VIRTIO,
        ),
    ]
}

/// Only memory the driver may both read and write is its own RAM: a
/// read-only or write-only region is not.
#[test]
fn a_region_without_read_and_write_is_not_own_ram() {
    for (attributes, allowed) in [
        (REGION_READ | REGION_WRITE, true),
        (REGION_READ, false),
        (REGION_WRITE, false),
    ] {
        let r = [region(0x8020_0000, 0x1000, attributes)];
        assert_eq!(
            buffer_allowed(&r, 0x8020_0000, 16),
            allowed,
            "attributes {attributes:#x}"
        );
    }
}

#[test]
fn only_the_drivers_own_ram_may_be_exposed() {
    let r = driver();
    assert!(buffer_allowed(&r, 0x8020_0000, 0x2000), "all of its RAM");
    assert!(buffer_allowed(&r, 0x8020_1000, 16));
    assert!(buffer_allowed(&r, 0x8020_2000, 0), "empty, at its end");
    assert!(!buffer_allowed(&r, 0x8010_0000, 512), "its text");
    assert!(!buffer_allowed(&r, 0x8030_0000, 512), "its ring region");
    assert!(!buffer_allowed(&r, 0x1000_1000, 4), "its device window");
    assert!(!buffer_allowed(&r, 0x8000_0000, 512), "kernel text");
    assert!(!buffer_allowed(&r, 0x8001_0000, 12), "kernel RAM");
    assert!(!buffer_allowed(&r, 0x8040_0000, 512), "another task");
    assert!(
        !buffer_allowed(&r, 0x8020_1ff0, 32),
        "running off the end of its RAM"
    );
    assert!(
        !buffer_allowed(&r, 0x801f_fff0, 32),
        "starting below its RAM"
    );
    assert!(
        !buffer_allowed(&r, 0x1_8020_0000, 16),
        "above 4 GiB (a 64-bit address the device would take whole)"
    );
    assert!(
        !buffer_allowed(&r, u64::from(u32::MAX), 16),
        "wrapping the address space"
    );
}

fn desc(addr: u64, len: u32, flags: u16, next: u16) -> RawDesc {
    RawDesc {
        addr,
        len,
        flags,
        next,
    }
}

/// The words the kernel writes are the descriptor's bytes in the table
/// (§2.7.5's layout: addr, len, flags, next, little-endian).
#[test]
fn a_descriptor_is_written_as_its_own_bytes() {
    use zerocopy::IntoBytes;
    let d = desc(0x1122_3344_5566_7788, 0x99AA_BBCC, F_NEXT | F_WRITE, 0x0DEF);
    let bytes: Vec<u8> = d.words().iter().flat_map(|w| w.to_le_bytes()).collect();
    assert_eq!(bytes, d.as_bytes());
}

#[test]
fn descriptor_rules_flags_links_and_buffers() {
    let r = driver();
    let ram = 0x8020_0000;
    let ok = desc(ram, 16, F_NEXT, 1);
    assert_eq!(check_desc(&r, &ok, 0, 2, 8), Ok(()));
    assert_eq!(
        check_desc(&r, &desc(ram, 16, F_WRITE, 0), 1, 2, 8),
        Ok(()),
        "a device-writable last element"
    );
    assert_eq!(
        check_desc(&r, &desc(ram, 16, 4, 0), 0, 1, 8),
        Err(DMA_BAD_FLAGS),
        "INDIRECT is refused"
    );
    assert_eq!(
        check_desc(&r, &desc(ram, 16, 8, 0), 0, 1, 8),
        Err(DMA_BAD_FLAGS),
        "an unknown flag"
    );
    assert_eq!(
        check_desc(&r, &desc(ram, 16, 0, 0), 0, 2, 8),
        Err(DMA_BAD_FLAGS),
        "NEXT missing before the end of the chain"
    );
    assert_eq!(
        check_desc(&r, &desc(ram, 16, F_NEXT, 1), 1, 2, 8),
        Err(DMA_BAD_FLAGS),
        "NEXT on the last element"
    );
    assert_eq!(
        check_desc(&r, &desc(ram, 16, F_NEXT, 8), 0, 2, 8),
        Err(DMA_BAD_QUEUE),
        "next outside the table"
    );
    assert_eq!(
        check_desc(&r, &desc(0x8000_0000, 16, F_WRITE, 0), 0, 1, 8),
        Err(DMA_BAD_BUFFER),
        "kernel text"
    );
    // Length 0 names no memory, so no region check can refuse its address:
    // a zero-length lease at another task's address passed, and the
    // device was handed that address. QEMU marks a device given an empty
    // buffer broken; no driver of Vireo posts one.
    for (d, what) in [
        (desc(ram, 0, F_WRITE, 0), "empty, in its own RAM"),
        (desc(0x8001_0000, 0, F_WRITE, 0), "empty, in kernel RAM"),
        (leased(0, 0, 0, 0, 0), "empty, of a lease"),
    ] {
        assert_eq!(check_desc(&r, &d, 0, 1, 8), Err(DMA_BAD_BUFFER), "{what}");
    }
}

#[test]
fn ring_slots_and_sizes() {
    let r = driver();
    assert_eq!(ring_slot(&r, 0), Some(0x8030_0000));
    assert_eq!(ring_slot(&r, 1), Some(0x8030_0000 + DMA_RING_STRIDE));
    assert_eq!(ring_slot(&r, 2), None, "past the region");
    assert_eq!(ring_slot(&r, usize::MAX), None);
    assert_eq!(ring_slot(&r[..2], 0), None, "no ring region");
    assert_eq!(queue_size(256, 16), 16);
    assert_eq!(queue_size(1024, 1000), 128, "capped to fit one stride");
    assert_eq!(queue_size(12, 16), 8, "a power of two");
    assert_eq!(queue_size(0, 16), 0);
    assert_eq!(queue_size(16, 0), 0);
}

#[test]
fn a_granted_virtio_window_takes_four_protection_entries() {
    let r = driver();
    assert_eq!(protection_entries(&r), 3 + VIRTIO_WINDOW_ENTRIES);
    assert!(protection_entries(&r) <= MAX_TASK_REGIONS);
}

fn dma_harness() -> Harness {
    Builder::default()
        .task("sup", 0)
        .task("drv", 1)
        .dma()
        .task("cli", 2)
        .build()
}

/// Legacy device with QueueNumMax `max`; returns the window base.
fn legacy_device(h: &mut Harness, max: u32) -> usize {
    let w = h.mem[DRV].virtio.unwrap();
    h.sys.machine.mmio.insert(w + 0x004, 1);
    h.sys.machine.mmio.insert(w + 0x034, max);
    w
}

fn setup(h: &mut Harness, queue: usize, want: usize) {
    h.syscall(DRV, Sysnum::Dma, &[DmaOp::Setup as usize, queue, want]);
}

#[test]
fn setup_zeroes_the_ring_and_writes_the_legacy_registers() {
    let mut h = dma_harness();
    let w = legacy_device(&mut h, 256);
    let ring = h.mem[DRV].rings.unwrap();
    // SAFETY: the ring region block of the test arena.
    unsafe { std::ptr::write_bytes(ring as *mut u8, 0xEE, RINGS_SIZE) };
    // But no pin held (a pinned queue is another device's to release,
    // `a_pin_is_released_only_by_the_device_it_was_posted_to`).
    // SAFETY: as above.
    unsafe { std::ptr::write((ring + crate::dma::PINNED_OFFSET) as *mut u32, 0) };
    setup(&mut h, 0, 16);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!((h.ret(DRV, 1), h.ret(DRV, 2)), (ring, 16));
    assert_eq!(
        h.sys.machine.mmio_writes,
        vec![
            (w + 0x030, 0),
            (w + 0x028, 4096),
            (w + 0x038, 16),
            (w + 0x03c, 4096),
            (w + 0x040, (ring / 4096) as u32),
        ]
    );
    // SAFETY: as above.
    let bytes = unsafe { std::slice::from_raw_parts(ring as *const u8, DMA_RING_STRIDE - 4) };
    let window = crate::dma::WINDOW_OFFSET;
    assert!(
        bytes
            .iter()
            .enumerate()
            .all(|(i, &b)| b == 0 || (window..window + 4).contains(&i)),
        "queue 0's ring is zeroed"
    );
    assert_eq!(
        read_u16(ring, window),
        w as u16,
        "the device it was set up on"
    );
    // SAFETY: as above; queue 1's memory is not touched.
    assert_eq!(unsafe { *((ring + DMA_RING_STRIDE) as *const u8) }, 0xEE);
}

#[test]
fn setup_writes_the_version_2_addresses_and_ready() {
    let mut h = dma_harness();
    let w = h.mem[DRV].virtio.unwrap();
    h.sys.machine.mmio.insert(w + 0x004, 2);
    h.sys.machine.mmio.insert(w + 0x034, 64);
    let ring = h.mem[DRV].rings.unwrap() + DMA_RING_STRIDE;
    setup(&mut h, 1, 16);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    let r = ring as u32;
    assert_eq!(
        h.sys.machine.mmio_writes,
        vec![
            (w + 0x030, 1),
            (w + 0x038, 16),
            (w + 0x080, r),
            (w + 0x084, 0),
            (w + 0x090, r + 256),
            (w + 0x094, 0),
            (w + 0x0a0, r + 4096),
            (w + 0x0a4, 0),
            (w + 0x044, 1),
        ]
    );
}

#[test]
fn setup_leaves_a_live_queue_alone() {
    let mut h = dma_harness();
    let w = legacy_device(&mut h, 256);
    h.sys.machine.mmio.insert(w + 0x040, 0x1234);
    setup(&mut h, 0, 16);
    assert_eq!(h.ret(DRV, 0), DMA_QUEUE_BUSY as usize);
    assert_eq!(
        h.sys.machine.mmio_writes,
        vec![(w + 0x030, 0)],
        "only QueueSel"
    );
    // v2: QueueReady set.
    h.sys.machine.mmio.insert(w + 0x004, 2);
    h.sys.machine.mmio.insert(w + 0x044, 1);
    setup(&mut h, 0, 16);
    assert_eq!(h.ret(DRV, 0), DMA_QUEUE_BUSY as usize);
    // No such queue on the device.
    h.sys.machine.mmio.insert(w + 0x044, 0);
    h.sys.machine.mmio.insert(w + 0x034, 0);
    setup(&mut h, 0, 16);
    assert_eq!(h.ret(DRV, 0), DMA_QUEUE_BUSY as usize);
}

#[test]
fn setup_needs_a_ring_slot_and_a_granted_device() {
    let mut h = dma_harness();
    legacy_device(&mut h, 256);
    setup(&mut h, 2, 16);
    assert_eq!(
        h.ret(DRV, 0),
        DMA_BAD_QUEUE as usize,
        "queue past the region"
    );
    // A task without a ring region or window (the client).
    h.syscall(2, Sysnum::Dma, &[DmaOp::Setup as usize, 0, 16]);
    assert_eq!(h.ret(2, 0), DMA_BAD_QUEUE as usize);
    // Ring region but no virtio window.
    let mut h = Builder::default().task("sup", 0).task("drv", 1).build();
    let t = &mut h.sys.tasks[DRV];
    assert!(t.add_region(region(
        arena::alloc(RINGS_SIZE),
        RINGS_SIZE,
        REGION_READ | REGION_DMA_RING
    )));
    setup(&mut h, 0, 16);
    assert_eq!(h.ret(DRV, 0), DMA_NO_DEVICE as usize);
    assert!(h.sys.machine.mmio_writes.is_empty());
}

/// Sets up queue 0 (size 8) and returns the ring base.
fn ready(h: &mut Harness) -> usize {
    legacy_device(h, 8);
    setup(h, 0, 8);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    h.mem[DRV].rings.unwrap()
}

fn read_desc(ring: usize, i: usize) -> RawDesc {
    // SAFETY: inside the ring region block of the test arena.
    unsafe { std::ptr::read((ring + 16 * i) as *const RawDesc) }
}

fn read_u16(ring: usize, off: usize) -> u16 {
    // SAFETY: as above.
    unsafe { std::ptr::read((ring + off) as *const u16) }
}

const CHAIN: usize = 0x1800;

fn post(h: &mut Harness, chain: &[RawDesc], head: usize) {
    h.write(DRV, CHAIN, chain.as_bytes());
    let ptr = h.addr(DRV, CHAIN);
    h.syscall(
        DRV,
        Sysnum::Dma,
        &[DmaOp::Post as usize, 0, ptr, chain.len(), head],
    );
}

#[test]
fn post_writes_the_chain_where_its_links_say_and_publishes_the_head() {
    let mut h = dma_harness();
    let ring = ready(&mut h);
    let ram = h.addr(DRV, DATA) as u64;
    let chain = [
        desc(ram, 16, F_NEXT, 5),
        desc(ram + 16, 512, F_WRITE | F_NEXT, 2),
        desc(ram + 528, 1, F_WRITE, 0),
    ];
    post(&mut h, &chain, 3);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!(read_desc(ring, 3), chain[0]);
    assert_eq!(read_desc(ring, 5), chain[1]);
    assert_eq!(read_desc(ring, 2), chain[2]);
    // avail at 16 * 8 = 128: flags, idx, ring[0].
    assert_eq!(read_u16(ring, 128 + 2), 1, "avail.idx");
    assert_eq!(read_u16(ring, 128 + 4), 3, "avail.ring[0] = head");
    post(&mut h, &chain[2..], 7);
    assert_eq!(read_u16(ring, 128 + 2), 2);
    assert_eq!(read_u16(ring, 128 + 6), 7);
}

/// The available ring is a ring: post `i` goes to entry `i % size`, also
/// once the index has gone round. (The device gives each chain back
/// before its head comes round again: a head it still holds cannot be
/// posted again.)
#[test]
fn posts_fill_the_available_ring_round_and_round() {
    let mut h = dma_harness();
    let ring = ready(&mut h);
    let ram = h.addr(DRV, DATA) as u64;
    for i in 0..19u16 {
        let head = usize::from((3 * i + 1) % 8);
        post(&mut h, &[desc(ram, 16, 0, 0)], head);
        assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
        assert_eq!(read_u16(ring, 128 + 2), i + 1, "avail.idx");
        let entry = 128 + 4 + 2 * usize::from(i % 8);
        assert_eq!(read_u16(ring, entry), head as u16, "post {i}");
        device_gives_back(ring, i, head as u32);
    }
}

/// The device gives back the chain at `head` as its `n`th used entry (of
/// a queue of 8).
fn device_gives_back(ring: usize, n: u16, head: u32) {
    let at = ring + crate::dma::USED_OFFSET;
    // SAFETY: the ring region block of the test arena.
    unsafe {
        std::ptr::write((at + 4 + 8 * usize::from(n % 8)) as *mut u32, head);
        std::ptr::write((at + 2) as *mut u16, n.wrapping_add(1));
    }
}

#[test]
fn a_refused_chain_makes_nothing_available() {
    let mut h = dma_harness();
    let ring = ready(&mut h);
    let ram = h.addr(DRV, DATA) as u64;
    let other = h.addr(2, DATA) as u64;
    // The split read: 500 bytes of its own, 12 of another task's.
    let chain = [
        desc(ram, 500, F_WRITE | F_NEXT, 1),
        desc(other, 12, F_WRITE, 0),
    ];
    post(&mut h, &chain, 0);
    assert_eq!(h.ret(DRV, 0), DMA_BAD_BUFFER as usize);
    assert_eq!(read_u16(ring, 128 + 2), 0, "avail.idx unchanged");
    assert_eq!(
        read_desc(ring, 1),
        RawDesc::default(),
        "the bad one unwritten"
    );
    // Each rule, through the syscall.
    for (bad, code) in [
        ([desc(ram, 16, 4, 0)], DMA_BAD_FLAGS),
        ([desc(h.mem[DRV].text as u64, 16, 0, 0)], DMA_BAD_BUFFER),
        ([desc(ring as u64, 16, F_WRITE, 0)], DMA_BAD_BUFFER),
        (
            [desc(h.mem[DRV].virtio.unwrap() as u64, 16, F_WRITE, 0)],
            DMA_BAD_BUFFER,
        ),
    ] {
        post(&mut h, &bad, 0);
        assert_eq!(h.ret(DRV, 0), code as usize, "{bad:?}");
        assert_eq!(read_u16(ring, 128 + 2), 0);
    }
    // Head, count out of range.
    post(&mut h, &[desc(ram, 16, 0, 0)], 8);
    assert_eq!(h.ret(DRV, 0), DMA_BAD_QUEUE as usize);
    h.write(DRV, CHAIN, [desc(ram, 16, 0, 0); 9].as_bytes());
    let ptr = h.addr(DRV, CHAIN);
    h.syscall(DRV, Sysnum::Dma, &[DmaOp::Post as usize, 0, ptr, 9, 0]);
    assert_eq!(
        h.ret(DRV, 0),
        DMA_BAD_QUEUE as usize,
        "longer than the queue"
    );
}

/// Posts a straight chain of `count` 16-byte buffers of the driver's RAM
/// (descriptor `i` links to `i + 1`) at head 0.
fn post_chain_of(h: &mut Harness, count: usize) {
    let ram = h.addr(DRV, DATA) as u64;
    let chain: Vec<RawDesc> = (0..count)
        .map(|i| {
            let last = i + 1 == count;
            let flags = if last { 0 } else { F_NEXT };
            desc(
                ram + 16 * i as u64,
                16,
                flags,
                if last { 0 } else { i as u16 + 1 },
            )
        })
        .collect();
    h.write(DRV, CHAIN, chain.as_bytes());
    let ptr = h.addr(DRV, CHAIN);
    h.syscall(DRV, Sysnum::Dma, &[DmaOp::Post as usize, 0, ptr, count, 0]);
}

/// A chain may fill its queue and be as long as `DMA_MAX_CHAIN`, never
/// empty, longer than the queue or longer than the limit.
#[test]
fn chain_lengths_at_their_limits() {
    let mut h = dma_harness();
    ready(&mut h);
    post_chain_of(&mut h, 0);
    assert_eq!(h.ret(DRV, 0), DMA_BAD_QUEUE as usize, "an empty chain");
    post_chain_of(&mut h, 8);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize, "the whole queue of 8");

    let mut h = dma_harness();
    legacy_device(&mut h, 16);
    setup(&mut h, 0, 16);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    post_chain_of(&mut h, DMA_MAX_CHAIN);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize, "DMA_MAX_CHAIN elements");
    post_chain_of(&mut h, DMA_MAX_CHAIN + 1);
    assert_eq!(
        h.ret(DRV, 0),
        DMA_BAD_QUEUE as usize,
        "one more than DMA_MAX_CHAIN, though the queue has room"
    );
}

/// The queue size the kernel keeps in the ring region is only ever
/// written by `setup`; should it ever hold something `setup` cannot have
/// written (a size that is not a power of two, or above the largest
/// queue), posts are refused rather than trusted.
#[test]
fn a_queue_size_setup_cannot_have_written_refuses_posts() {
    for bad in [3u32, 256] {
        let mut h = dma_harness();
        let ring = ready(&mut h);
        // SAFETY: the size word is inside the ring region block of the
        // test arena.
        unsafe { std::ptr::write((ring + DMA_RING_STRIDE - 4) as *mut u32, bad) };
        post_chain_of(&mut h, 1);
        assert_eq!(h.ret(DRV, 0), DMA_BAD_QUEUE as usize, "size word {bad}");
    }
}

#[test]
fn post_before_setup_is_refused() {
    let mut h = dma_harness();
    let ram = h.addr(DRV, DATA) as u64;
    post(&mut h, &[desc(ram, 16, 0, 0)], 0);
    assert_eq!(h.ret(DRV, 0), DMA_BAD_QUEUE as usize);
}

#[test]
fn a_chain_outside_the_drivers_memory_faults_it() {
    let mut h = dma_harness();
    ready(&mut h);
    let other = h.addr(2, DATA);
    h.syscall(DRV, Sysnum::Dma, &[DmaOp::Post as usize, 0, other, 1, 0]);
    h.assert_usage_fault(DRV, UsageError::InvalidSlice);
}

/// The chain is read as a table of descriptors, so it must be aligned for
/// one: a chain 4 bytes off faults the driver and writes nothing, though
/// every descriptor in it would pass.
#[test]
fn a_misaligned_chain_faults_the_driver() {
    let mut h = dma_harness();
    let ring = ready(&mut h);
    let own = h.addr(DRV, DATA) as u64;
    h.write(DRV, CHAIN + 4, desc(own, 16, 0, 0).as_bytes());
    let ptr = h.addr(DRV, CHAIN + 4);
    h.syscall(DRV, Sysnum::Dma, &[DmaOp::Post as usize, 0, ptr, 1, 0]);
    h.assert_usage_fault(DRV, UsageError::InvalidSlice);
    assert_eq!(read_desc(ring, 0), RawDesc::default());
}

#[test]
fn avail_writes_the_suppression_fields() {
    let mut h = dma_harness();
    let ring = ready(&mut h);
    h.syscall(
        DRV,
        Sysnum::Dma,
        &[DmaOp::Avail as usize, 0, DMA_AVAIL_FLAGS as usize, 1],
    );
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!(read_u16(ring, 128), 1);
    h.syscall(
        DRV,
        Sysnum::Dma,
        &[DmaOp::Avail as usize, 0, DMA_USED_EVENT as usize, 0x1234],
    );
    assert_eq!(read_u16(ring, 128 + 4 + 16), 0x1234, "after ring[8]");
    h.syscall(DRV, Sysnum::Dma, &[DmaOp::Avail as usize, 0, 7, 0]);
    assert_eq!(h.ret(DRV, 0), DMA_BAD_QUEUE as usize);
}

#[test]
fn an_unknown_op_faults_the_caller() {
    let mut h = dma_harness();
    h.syscall(DRV, Sysnum::Dma, &[9, 0]);
    h.assert_usage_fault(DRV, UsageError::BadSyscallNumber);
}

#[test]
fn the_ring_region_is_never_a_copy_target() {
    // recv into the descriptor table would forge descriptors.
    let h = dma_harness();
    let ring = h.mem[DRV].rings.unwrap();
    let slice = crate::umem::USlice::<u8>::from_raw(ring, 16).unwrap();
    assert!(crate::umem::check_writable(h.task(DRV), &slice).is_err());
    assert!(crate::umem::check_readable(h.task(DRV), &slice).is_ok());
}

// ---- zero-copy: leases as DMA buffers, and the pins they put on the lender

/// The client (task 2) calls the driver with `attributes` over 512 bytes
/// at its DATA; the driver's queue 0 is set up (size 8). Returns the ring.
fn lent(attributes: u32) -> (Harness, usize) {
    let mut h = dma_harness();
    let ring = ready(&mut h);
    client_calls_lending(&mut h, attributes);
    (h, ring)
}

/// The driver waits in `recv` and the client calls it, lending 512 bytes
/// at its DATA with `attributes`; returns the client's id.
fn client_calls_lending(h: &mut Harness, attributes: u32) -> TaskId {
    h.recv(DRV, 16, 0);
    let drv = h.id(DRV);
    let l = lease(attributes, h.addr(CLI, DATA), 512);
    h.send(CLI, drv, 1, b"", 0, &[l]);
    assert_eq!(h.sched(CLI), SchedState::InReply(drv));
    h.id(CLI)
}

fn post_lent(h: &mut Harness, chain: &[RawDesc], head: usize, lender: TaskId) {
    post_lent_on(h, 0, chain, head, lender);
}

/// [`post_lent`] on queue `queue`.
fn post_lent_on(h: &mut Harness, queue: usize, chain: &[RawDesc], head: usize, lender: TaskId) {
    h.write(DRV, CHAIN, chain.as_bytes());
    let ptr = h.addr(DRV, CHAIN);
    h.syscall(
        DRV,
        Sysnum::Dma,
        &[
            DmaOp::Post as usize,
            queue,
            ptr,
            chain.len(),
            head,
            lender.0 as usize,
        ],
    );
}

/// A lease descriptor: lease `index`, `offset` into it.
fn leased(index: u64, offset: u64, len: u32, flags: u16, next: u16) -> RawDesc {
    desc(DMA_LEASE | index << 32 | offset, len, flags, next)
}

/// The device gives back the chain at `head` (used ring entry `slot`).
fn device_uses(ring: usize, slot: u16, head: u32) {
    let at = ring + crate::dma::USED_OFFSET;
    // SAFETY: the ring region block of the test arena.
    unsafe {
        std::ptr::write((at + 4 + 8 * usize::from(slot)) as *mut u32, head);
        std::ptr::write((at + 2) as *mut u16, slot + 1);
    }
}

fn reply(h: &mut Harness, to: TaskId) {
    h.reply(DRV, to, 0, b"");
}

#[test]
fn a_lease_is_posted_at_the_lenders_address_and_pins_it_until_used() {
    let (mut h, ring) = lent(LEASE_READ | LEASE_WRITE);
    let cli = h.id(CLI);
    let own = h.addr(DRV, DATA) as u64;
    let chain = [
        desc(own, 16, F_NEXT, 1),
        leased(0, 256, 256, F_WRITE | F_NEXT, 2),
        desc(own + 16, 1, F_WRITE, 0),
    ];
    post_lent(&mut h, &chain, 0, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!(read_desc(ring, 1).addr, h.addr(CLI, DATA + 256) as u64);
    // The reply is refused while the device holds the lease.
    reply(&mut h, cli);
    assert_eq!(h.ret(DRV, 0), DMA_PINNED as usize);
    assert_eq!(h.sched(CLI), SchedState::InReply(h.id(DRV)));
    // Nor may the pinned chain be rewritten.
    post(&mut h, &[desc(own, 16, 0, 0)], 1);
    assert_eq!(h.ret(DRV, 0), DMA_PINNED as usize);
    // Once the device gave it back, the reply goes through.
    device_uses(ring, 0, 0);
    reply(&mut h, cli);
    assert_eq!(h.sched(CLI), SchedState::Runnable);
}

#[test]
fn a_lease_must_grant_what_the_device_does_and_be_lent_now() {
    let (mut h, ring) = lent(LEASE_READ);
    let cli = h.id(CLI);
    for (bad, why) in [
        (
            leased(0, 0, 512, F_WRITE, 0),
            "device write into a read-only lease",
        ),
        (leased(0, 256, 512, 0, 0), "past the end of the lease"),
        (leased(1, 0, 16, 0, 0), "no such lease"),
    ] {
        post_lent(&mut h, &[bad], 0, cli);
        assert_eq!(h.ret(DRV, 0), DMA_BAD_LEASE as usize, "{why}");
        assert_eq!(read_u16(ring, 128 + 2), 0, "{why}: nothing made available");
    }
    // A device read of it is fine; the answered call's lease is not.
    post_lent(&mut h, &[leased(0, 0, 512, 0, 0)], 0, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    device_uses(ring, 0, 0);
    reply(&mut h, cli);
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    post_lent(&mut h, &[leased(0, 0, 16, 0, 0)], 1, cli);
    assert_eq!(
        h.ret(DRV, 0),
        DMA_BAD_LEASE as usize,
        "the call was answered"
    );
    // Naming someone who is not calling us.
    let sup = h.id(SUP);
    post_lent(&mut h, &[leased(0, 0, 16, 0, 0)], 1, sup);
    assert_eq!(h.ret(DRV, 0), DMA_BAD_LEASE as usize);
}

/// The client's read-write lease posted whole to the driver's device
/// (512 device-writable bytes); returns the harness and the base of the
/// device's window.
fn lease_on_the_device() -> (Harness, usize) {
    let (mut h, _) = lent(LEASE_READ | LEASE_WRITE);
    let cli = h.id(CLI);
    let w = h.mem[DRV].virtio.unwrap();
    post_lent(&mut h, &[leased(0, 0, 512, F_WRITE, 0)], 0, cli);
    (h, w)
}

#[test]
fn a_driver_dying_with_a_lease_resets_its_device_before_the_lender_hears() {
    let (mut h, w) = lease_on_the_device();
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    h.sys.machine.mmio_writes.clear();
    // The driver faults (a bad syscall number) with the lease on its device.
    h.syscall_n(DRV, 99, &[]);
    assert!(
        h.sys.machine.mmio_writes.contains(&(w + 0x070, 0)),
        "the kernel reset the device: {:?}",
        h.sys.machine.mmio_writes
    );
    assert!(
        abi::dead_generation(h.ret(CLI, 0) as u32).is_some(),
        "the client got DEAD"
    );
    assert_eq!(h.sched(CLI), SchedState::Runnable);
}

#[test]
fn a_device_that_does_not_reset_keeps_the_lender_blocked() {
    let (mut h, _) = lent(LEASE_READ | LEASE_WRITE);
    let cli = h.id(CLI);
    h.sys.machine.stuck = true;
    post_lent(&mut h, &[leased(0, 0, 512, F_WRITE, 0)], 0, cli);
    h.syscall_n(DRV, 99, &[]);
    assert!(
        matches!(
            h.task(CLI).state(),
            TaskState::Healthy(SchedState::InReply(_))
        ),
        "the lender must not run while the device may still write its memory"
    );
}

#[test]
fn restarting_a_lender_resets_the_device_holding_its_lease_first() {
    let (mut h, w) = lease_on_the_device();
    h.sys.machine.mmio_writes.clear();
    assert!(crate::faults::restart_task(&mut h.sys, CLI));
    assert!(h.sys.machine.mmio_writes.contains(&(w + 0x070, 0)));
    assert!(!crate::dma::pins(&mut h.sys, DRV, CLI));
}

fn pinned(ring: usize) -> u32 {
    // SAFETY: inside the ring region block of the test arena.
    unsafe { std::ptr::read((ring + crate::dma::PINNED_OFFSET) as *const u32) }
}

/// The pin of descriptor `i`.
fn pin_at(ring: usize, i: usize) -> u16 {
    // SAFETY: as in `pinned`: the pins lie inside the ring memory.
    unsafe { std::ptr::read((ring + crate::dma::PINS_OFFSET + 2 * i) as *const u16) }
}

/// Checks the queue's pin count against its pins (every descriptor's, of
/// a queue of `size`): the count is what the fast paths trust, so it must
/// be exactly the number of descriptors holding a lease's pin (not
/// `OWN`). Returns the count.
fn pins_agree(ring: usize, size: usize) -> u32 {
    let held = (0..size)
        .filter(|&i| !matches!(pin_at(ring, i), 0 | crate::dma::OWN))
        .count() as u32;
    assert_eq!(pinned(ring), held, "the pin count disagrees with the pins");
    held
}

/// How many descriptors of a queue of `size` a chain of the driver's own
/// buffers holds.
fn own_held(ring: usize, size: usize) -> usize {
    (0..size)
        .filter(|&i| pin_at(ring, i) == crate::dma::OWN)
        .count()
}

#[test]
fn pins_are_counted_and_a_reply_after_the_device_is_done_reads_no_register() {
    let (mut h, ring) = lent(LEASE_READ | LEASE_WRITE);
    let cli = h.id(CLI);
    assert_eq!(pins_agree(ring, 8), 0);
    // Two chains hold different bytes of the lease: descriptors 0 -> 1,
    // and 2.
    let first = [
        leased(0, 0, 256, F_WRITE | F_NEXT, 1),
        leased(0, 256, 128, F_WRITE, 0),
    ];
    post_lent(&mut h, &first, 0, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    post_lent(&mut h, &[leased(0, 384, 16, 0, 0)], 2, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!(pins_agree(ring, 8), 3);
    // The device gave back the first chain only: the second still pins the
    // lender, and the kernel asks the (live) device before refusing.
    device_uses(ring, 0, 0);
    reply(&mut h, cli);
    assert_eq!(h.ret(DRV, 0), DMA_PINNED as usize);
    assert_eq!(h.sched(CLI), SchedState::InReply(h.id(DRV)));
    assert_eq!(pins_agree(ring, 8), 1);
    // Both back: the reply goes through on the ring alone, without a
    // device register access, and nothing is pinned any more.
    device_uses(ring, 1, 2);
    h.sys.machine.mmio_writes.clear();
    reply(&mut h, cli);
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert!(
        h.sys.machine.mmio_writes.is_empty(),
        "{:?}",
        h.sys.machine.mmio_writes
    );
    assert_eq!(pins_agree(ring, 8), 0);
    // A reset device releases every pin and the count with them.
    let (mut h, ring) = lent(LEASE_READ | LEASE_WRITE);
    let cli = h.id(CLI);
    post_lent(&mut h, &first, 0, cli);
    assert_eq!(pins_agree(ring, 8), 2);
    crate::dma::quiesce(&mut h.sys, DRV);
    assert_eq!(pins_agree(ring, 8), 0);
    assert!(!crate::dma::pins(&mut h.sys, DRV, CLI));
}

/// A lease's bytes are on the device once at a time: a second chain
/// overlapping bytes a chain in flight holds is refused when either one
/// is a device write (two transfers would race for the lender's buffer),
/// and allowed once the first is given back; other bytes of the lease,
/// and two device reads of the same bytes, are fine.
#[test]
fn a_lease_range_already_on_the_device_for_a_write_is_refused() {
    let (mut h, ring) = lent(LEASE_READ | LEASE_WRITE);
    let cli = h.id(CLI);
    // The device writes bytes 128..384 (descriptor 0).
    post_lent(&mut h, &[leased(0, 128, 256, F_WRITE, 0)], 0, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    for (offset, len, flags, what) in [
        (128, 256, F_WRITE, "the same bytes written again"),
        (0, 129, F_WRITE, "a write ending on its first byte"),
        (383, 16, F_WRITE, "a write starting on its last byte"),
        (200, 8, 0, "a read of bytes it writes"),
        (0, 512, 0, "a read of the whole lease"),
    ] {
        post_lent(&mut h, &[leased(0, offset, len, flags, 0)], 1, cli);
        assert_eq!(h.ret(DRV, 0), DMA_PINNED as usize, "{what}");
    }
    assert_eq!(pins_agree(ring, 8), 1, "a refused chain pinned nothing");
    // Bytes around it are the lender's to lend again.
    post_lent(&mut h, &[leased(0, 0, 128, F_WRITE, 0)], 1, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize, "the bytes before");
    post_lent(&mut h, &[leased(0, 384, 128, F_WRITE, 0)], 2, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize, "the bytes after");
    // Once the device gave the first chain back, its bytes may go again.
    device_uses(ring, 0, 0);
    post_lent(&mut h, &[leased(0, 128, 256, F_WRITE, 0)], 3, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize, "after the device is done");
    assert_eq!(pins_agree(ring, 8), 3);

    // Reads only: the device may read the same bytes twice.
    let (mut h, _) = lent(LEASE_READ);
    let cli = h.id(CLI);
    post_lent(&mut h, &[leased(0, 0, 512, 0, 0)], 0, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    post_lent(&mut h, &[leased(0, 0, 512, 0, 0)], 1, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize, "two reads of the lease");
}

#[test]
fn post_writes_a_deferred_used_event_with_the_chain() {
    let mut h = dma_harness();
    let ring = ready(&mut h);
    let own = h.addr(DRV, DATA) as u64;
    // Queue size 8: used_event after the 8-entry available ring.
    let used_event = 16 * 8 + 4 + 2 * 8;
    post(&mut h, &[desc(own, 16, 0, 0)], 0);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!(read_u16(ring, used_event), 0, "a6 = 0 leaves it alone");
    let post_with_event = |h: &mut Harness, d: RawDesc, head: usize, event: u16| {
        h.write(DRV, CHAIN, [d].as_bytes());
        let ptr = h.addr(DRV, CHAIN);
        let args = [
            DmaOp::Post as usize,
            0,
            ptr,
            1,
            head,
            usize::MAX,
            usize::from(event) + 1,
        ];
        h.syscall(DRV, Sysnum::Dma, &args);
    };
    post_with_event(&mut h, desc(own, 16, 0, 0), 1, 7);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!(read_u16(ring, used_event), 7);
    assert_eq!(read_u16(ring, 128 + 2), 2, "both chains made available");
    // A refused chain writes nothing, used_event included.
    post_with_event(&mut h, desc(0x8000_0000, 16, 0, 0), 2, 9);
    assert_eq!(h.ret(DRV, 0), DMA_BAD_BUFFER as usize);
    assert_eq!(read_u16(ring, used_event), 7);
    assert_eq!(read_u16(ring, 128 + 2), 2);
}

/// `Injection::Fingerprint` of a driver's ring region (`arg` 1): the whole
/// region is covered, and a device's write into it (a used-ring entry, as a
/// late DMA of a dead incarnation would make) changes the fingerprint.
#[test]
fn fingerprint_covers_the_ring_region_and_sees_a_device_write() {
    let mut h = dma_harness();
    let ring = ready(&mut h);
    let fingerprint = |h: &mut Harness| {
        let mut msg = [0u8; 12];
        for (i, w) in [DRV as u32, abi::Injection::Fingerprint as u32, 1]
            .iter()
            .enumerate()
        {
            msg[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
        }
        let (code, bytes) = h.kipc_bytes(0, abi::Kipc::Inject as u32, &msg);
        assert_eq!(code, SUCCESS);
        let w = |i: usize| u32::from_le_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap());
        (w(0), w(1), w(2))
    };
    let (base, before, size) = fingerprint(&mut h);
    assert_eq!((base as usize, size as usize), (ring, RINGS_SIZE));
    assert_eq!(fingerprint(&mut h).1, before);
    // The device writes the last word of the region (kernel-readable only
    // to the task: the task itself could not have done it).
    let last = ring + RINGS_SIZE - 4;
    // SAFETY: inside the ring region block of the test arena.
    unsafe { std::ptr::write(last as *mut u32, 0x5a5a_0001) };
    assert_ne!(fingerprint(&mut h).1, before);
}

/// The fast reply path never skips the pin check: a driver answering, with
/// `reply_recv`, a call whose lease is still on its device is refused as a
/// plain reply is, and the lender stays blocked; once the device gave the
/// chain back, the fast path answers.
#[test]
fn reply_recv_never_skips_the_pin_check() {
    let (mut h, ring) = lent(LEASE_READ | LEASE_WRITE);
    let cli = h.id(CLI);
    post_lent(&mut h, &[leased(0, 0, 512, F_WRITE, 0)], 0, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    h.stage_reply_recv(DRV, cli, 0, b"", 16, 0);
    assert!(
        !crate::fastpath::reply_recv(&mut h.sys, DRV),
        "fast path took a reply whose lease is pinned"
    );
    crate::syscalls::syscall(&mut h.sys, DRV);
    assert_eq!(h.ret(DRV, 0), DMA_PINNED as usize);
    assert_eq!(h.sched(CLI), SchedState::InReply(h.id(DRV)));
    // Given back, the same reply goes through, on the fast path: the
    // zero-copy read's usual end.
    device_uses(ring, 0, 0);
    h.stage_reply_recv(DRV, cli, 0, b"", 16, 0);
    assert!(
        crate::fastpath::reply_recv(&mut h.sys, DRV),
        "fast path declined a reply whose lease the device gave back"
    );
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!(pins_agree(ring, 8), 0);
}

/// Having rings costs a driver the fast path only for calls that lent it
/// something: a lease-less call is answered by the fast path.
#[test]
fn a_driver_answers_a_call_without_leases_on_the_fast_path() {
    let mut h = dma_harness();
    ready(&mut h);
    h.recv(DRV, 16, 0);
    let drv = h.id(DRV);
    h.send(CLI, drv, 1, b"ping", 16, &[]);
    assert_eq!(h.sched(CLI), SchedState::InReply(drv));
    let cli = h.id(CLI);
    h.stage_reply_recv(DRV, cli, 0, b"pong", 16, 0);
    assert!(
        crate::fastpath::reply_recv(&mut h.sys, DRV),
        "fast path declined a driver's lease-less reply"
    );
    assert_eq!(h.sched(CLI), SchedState::Runnable);
    assert_eq!(h.ret(CLI, 1), 4);
}

/// A grant must fit the memory protection, not only the region table: a
/// driver whose virtio window takes four PMP entries has room for one more
/// plain device window, not two, though its table has slots left.
#[test]
fn a_grant_must_fit_the_protection_entries() {
    let mut h = dma_harness();
    let entries = |h: &Harness| protection_entries(h.task(DRV).regions());
    assert_eq!(entries(&h), MAX_TASK_REGIONS - 1, "test premise");
    assert_eq!(h.grant(SUP, DRV, 0, 1), SUCCESS);
    assert_eq!(entries(&h), MAX_TASK_REGIONS);
    assert_eq!(h.grant(SUP, DRV, 1, 2), crate::kipc::KIPC_BAD_GRANT);
    assert_eq!(entries(&h), MAX_TASK_REGIONS);
    assert!(
        h.task(DRV).regions().len() < MAX_TASK_REGIONS,
        "the region table had room: the entries refused it"
    );
}

/// A lender left blocked because the faulted driver's device would not
/// reset hears DEAD when the driver is restarted and its device does
/// reset then: the restart finishes what the fault could not. So too if
/// the driver was left stopped in between (`Kipc::StopTask`, its restart
/// limit reached) and an operator restarts it (the restart of a stopped
/// task told nobody: only a task that never started was thought to be
/// stopped).
#[test]
fn a_lender_left_blocked_by_a_stuck_device_hears_dead_at_the_restart() {
    for left_stopped in [false, true] {
        let (mut h, _) = lent(LEASE_READ | LEASE_WRITE);
        let (cli, drv) = (h.id(CLI), h.id(DRV));
        h.sys.machine.stuck = true;
        post_lent(&mut h, &[leased(0, 0, 512, F_WRITE, 0)], 0, cli);
        h.syscall_n(DRV, 99, &[]);
        assert_eq!(h.task(DRV).state(), TaskState::Faulted);
        if left_stopped {
            let (code, _) = h.kipc(SUP, abi::Kipc::StopTask as u32, Some(DRV as u32));
            assert_eq!(code, SUCCESS);
            assert_eq!(h.task(DRV).state(), TaskState::Stopped);
        }
        assert_eq!(
            h.sched(CLI),
            SchedState::InReply(drv),
            "left stopped: {left_stopped}"
        );
        h.sys.machine.stuck = false;
        assert!(crate::faults::restart_task(&mut h.sys, DRV));
        assert_eq!(
            h.sched(CLI),
            SchedState::Runnable,
            "left stopped: {left_stopped}"
        );
        assert!(
            abi::dead_generation(h.ret(CLI, 0) as u32).is_some(),
            "the client got DEAD (left stopped: {left_stopped})"
        );
    }
}

/// The same ordering on a version 2 device, whose live queue shows in
/// QueueReady: a device that does not reset keeps the lender blocked, one
/// that does lets it hear DEAD.
#[test]
fn a_version_2_device_holds_the_lender_until_its_queue_is_not_ready() {
    for stuck in [true, false] {
        let mut h = dma_harness();
        let w = h.mem[DRV].virtio.unwrap();
        h.sys.machine.mmio.insert(w + 0x004, 2);
        h.sys.machine.mmio.insert(w + 0x034, 8);
        setup(&mut h, 0, 8);
        assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
        let cli = client_calls_lending(&mut h, LEASE_READ | LEASE_WRITE);
        let drv = h.id(DRV);
        post_lent(&mut h, &[leased(0, 0, 512, F_WRITE, 0)], 0, cli);
        assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
        h.sys.machine.stuck = stuck;
        h.syscall_n(DRV, 99, &[]);
        if stuck {
            assert_eq!(h.sched(CLI), SchedState::InReply(drv), "stuck device");
        } else {
            assert_eq!(h.sched(CLI), SchedState::Runnable, "reset device");
            assert!(abi::dead_generation(h.ret(CLI, 0) as u32).is_some());
        }
    }
}

/// A chain of several lent descriptors is released whole when the device
/// gives back its head, also once the used ring has gone round.
#[test]
fn a_lent_chain_is_released_whole_round_and_round() {
    let (mut h, ring) = lent(LEASE_READ | LEASE_WRITE);
    let own = h.addr(DRV, DATA) as u64;
    for round in 0..11u16 {
        let (cli, drv) = (h.id(CLI), h.id(DRV));
        let head = (round * 3) % 8;
        let chain = [
            leased(0, 0, 256, F_NEXT, (head + 1) % 8),
            leased(0, 256, 256, F_WRITE | F_NEXT, (head + 5) % 8),
            desc(own, 1, F_WRITE, 0),
        ];
        post_lent(&mut h, &chain, usize::from(head), cli);
        assert_eq!(h.ret(DRV, 0), SUCCESS as usize, "round {round}");
        assert_eq!(
            pins_agree(ring, 8),
            3,
            "round {round}: the whole chain pinned"
        );
        let used = ring + crate::dma::USED_OFFSET;
        // SAFETY: the ring region block of the test arena.
        unsafe {
            std::ptr::write(
                (used + 4 + 8 * usize::from(round % 8)) as *mut u32,
                head.into(),
            );
            std::ptr::write((used + 2) as *mut u16, round + 1);
        }
        reply(&mut h, cli);
        assert_eq!(h.sched(CLI), SchedState::Runnable, "round {round}");
        assert_eq!(
            pins_agree(ring, 8),
            0,
            "round {round}: the whole chain released"
        );
        h.recv(DRV, 16, 0);
        let l = lease(LEASE_READ | LEASE_WRITE, h.addr(CLI, DATA), 512);
        h.send(CLI, drv, 1, b"", 0, &[l]);
    }
}

/// Only the chain the device gives back is released: not a pinned chain
/// that an unpinned chain's head or the last descriptor's unused `next`
/// field happens to name.
#[test]
fn giving_back_one_chain_leaves_the_others_pinned() {
    let (mut h, ring) = lent(LEASE_READ | LEASE_WRITE);
    let cli = h.id(CLI);
    let own = h.addr(DRV, DATA) as u64;
    // C: one lent descriptor at 4. A: 0 -> 1, whose last `next` names 4.
    post_lent(&mut h, &[leased(0, 0, 16, 0, 0)], 4, cli);
    let a = [leased(0, 16, 16, F_NEXT, 1), leased(0, 32, 16, 0, 4)];
    post_lent(&mut h, &a, 0, cli);
    // B: the driver's own memory at 6, pinning nothing.
    post(&mut h, &[desc(own, 16, 0, 0)], 6);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!(pins_agree(ring, 8), 3);
    // The device gives back B, then A; C stays on it.
    let used = ring + crate::dma::USED_OFFSET;
    // SAFETY: the ring region block of the test arena.
    unsafe {
        std::ptr::write((used + 4) as *mut u32, 6);
        std::ptr::write((used + 12) as *mut u32, 0);
        std::ptr::write((used + 2) as *mut u16, 2);
    }
    reply(&mut h, cli);
    assert_eq!(
        h.ret(DRV, 0),
        DMA_PINNED as usize,
        "C still holds the lender"
    );
    assert_eq!(pins_agree(ring, 8), 1);
    assert_eq!(h.sched(CLI), SchedState::InReply(h.id(DRV)));
}

/// A blk read of the driver's own buffers at `own` (header, 512 bytes,
/// status), its second and third descriptors at `second` and `third`.
fn own_read(own: u64, second: u16, third: u16) -> [RawDesc; 3] {
    [
        desc(own, 16, F_NEXT, second),
        desc(own + 16, 512, F_WRITE | F_NEXT, third),
        desc(own + 528, 1, F_WRITE, 0),
    ]
}

/// A head the device holds cannot be made available again, not even by
/// rewriting its chain of the driver's own buffers as a lease chain: the
/// device would run the lease chain once per time the head was made
/// available, and the first completion would release every pin while the
/// second transfer still wrote the lender's buffer (found by a red-team
/// driver: the client's 64 KiB changed after the reply).
#[test]
fn a_head_the_device_holds_cannot_be_made_available_again() {
    let (mut h, ring) = lent(LEASE_READ | LEASE_WRITE);
    let cli = h.id(CLI);
    let own = h.addr(DRV, DATA) as u64;
    let own_read = own_read(own, 1, 2);
    post(&mut h, &own_read, 0);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!(own_held(ring, 8), 3, "the driver's own chain is held");
    assert_eq!(pins_agree(ring, 8), 0, "and pins nobody");
    let lease_read = [
        own_read[0],
        leased(0, 0, 512, F_WRITE | F_NEXT, 2),
        own_read[2],
    ];
    post_lent(&mut h, &lease_read, 0, cli);
    assert_eq!(
        h.ret(DRV, 0),
        DMA_PINNED as usize,
        "head 0 is on the device"
    );
    assert_eq!(read_u16(ring, 128 + 2), 1, "made available once");
    assert_eq!(read_desc(ring, 1), own_read[1], "its chain unchanged");
    assert_eq!(pins_agree(ring, 8), 0);
    // The same again with the own chain posted twice first: refused too.
    post(&mut h, &own_read, 0);
    assert_eq!(h.ret(DRV, 0), DMA_PINNED as usize);
    // Once the device gave the chain back, head 0 is free again.
    device_gives_back(ring, 0, 0);
    post_lent(&mut h, &lease_read, 0, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!((own_held(ring, 8), pins_agree(ring, 8)), (0, 3));
    assert_eq!(read_u16(ring, 128 + 2), 2);
}

/// A chain may not take over descriptors of another chain on the device,
/// of the driver's own buffers or not: the device may follow the old
/// chain's links into them (a lease written through a chain that pins
/// nothing, still written after the lease chain was given back).
#[test]
fn a_chain_cannot_take_over_descriptors_another_one_holds() {
    let (mut h, ring) = lent(LEASE_READ | LEASE_WRITE);
    let cli = h.id(CLI);
    let own = h.addr(DRV, DATA) as u64;
    // Own chain 0 -> 4 -> 5; a lease chain 3 -> 4 -> 5, and an own one
    // 6 -> 5, on its tail.
    let own_read = own_read(own, 4, 5);
    post(&mut h, &own_read, 0);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    let lease_read = [
        desc(own + 600, 16, F_NEXT, 4),
        leased(0, 0, 512, F_WRITE | F_NEXT, 5),
        desc(own + 640, 1, F_WRITE, 0),
    ];
    post_lent(&mut h, &lease_read, 3, cli);
    assert_eq!(h.ret(DRV, 0), DMA_PINNED as usize);
    post(
        &mut h,
        &[
            desc(own + 700, 16, F_NEXT, 5),
            desc(own + 720, 1, F_WRITE, 0),
        ],
        6,
    );
    assert_eq!(h.ret(DRV, 0), DMA_PINNED as usize);
    assert_eq!(read_u16(ring, 128 + 2), 1, "only the first made available");
    assert_eq!(read_desc(ring, 4), own_read[1]);
    assert_eq!((own_held(ring, 8), pins_agree(ring, 8)), (3, 0));
    // Given back, the chain's every descriptor is free (the walk follows
    // the links the kernel wrote): the lease chain goes on.
    device_gives_back(ring, 0, 0);
    post_lent(&mut h, &lease_read, 3, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!((own_held(ring, 8), pins_agree(ring, 8)), (0, 3));
}

/// A chain of the driver's own buffers visits each descriptor once, as a
/// lease chain must: a descriptor it wrote twice would be left off the
/// chain the device gives back, and held for good.
#[test]
fn a_chain_of_own_buffers_visiting_a_descriptor_twice_is_refused() {
    let mut h = dma_harness();
    let ring = ready(&mut h);
    let own = h.addr(DRV, DATA) as u64;
    let looping = [
        desc(own, 16, F_NEXT, 1),
        desc(own + 16, 16, F_NEXT, 0),
        desc(own + 32, 1, F_WRITE, 0),
    ];
    post(&mut h, &looping, 0);
    assert_eq!(h.ret(DRV, 0), DMA_BAD_QUEUE as usize);
    assert_eq!(read_u16(ring, 128 + 2), 0);
    assert_eq!(own_held(ring, 8), 0, "nothing held");
}

/// A device reset releases what the driver's own chains held: `setup`
/// zeroes the queue's memory once the device has it idle.
#[test]
fn a_reset_and_setup_release_the_drivers_own_chains() {
    let mut h = dma_harness();
    let ring = ready(&mut h);
    let own = h.addr(DRV, DATA) as u64;
    post(&mut h, &[desc(own, 16, 0, 0)], 2);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!(own_held(ring, 8), 1);
    // The device is reset: QueuePFN reads 0, the queue is idle.
    let window = h.mem[DRV].virtio.unwrap();
    h.sys.machine.mmio.insert(window + 0x040, 0);
    setup(&mut h, 0, 8);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!(own_held(ring, 8), 0);
    post(&mut h, &[desc(own, 16, 0, 0)], 2);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
}

/// The client's read-write lease (512 bytes at its DATA) in a call to the
/// driver, which may then receive again.
fn lend_to_the_driver(h: &mut Harness, client: usize) -> TaskId {
    h.recv(DRV, 16, 0);
    let drv = h.id(DRV);
    let l = lease(LEASE_READ | LEASE_WRITE, h.addr(client, DATA), 512);
    h.send(client, drv, 1, b"", 0, &[l]);
    assert_eq!(h.sched(client), SchedState::InReply(drv));
    h.id(client)
}

/// [`dma_harness`] with a second client, `other` (3).
fn two_clients() -> Harness {
    Builder::default()
        .task("sup", 0)
        .task("drv", 1)
        .dma()
        .task("cli", 2)
        .task("other", 2)
        .build()
}

/// A driver's device holding one caller's lease stops the driver from
/// answering that caller only: another caller, whose lease it gave back or
/// never had, gets its answer.
#[test]
fn a_lease_on_the_device_holds_only_its_lender() {
    let mut h = two_clients();
    let ring = ready(&mut h);
    let cli = lend_to_the_driver(&mut h, CLI);
    post_lent(&mut h, &[leased(0, 0, 512, F_WRITE, 0)], 0, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    let other = lend_to_the_driver(&mut h, 3);
    post_lent(&mut h, &[leased(0, 0, 512, F_WRITE, 0)], 1, other);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    // The device gives back the other caller's chain only.
    device_uses(ring, 0, 1);
    reply(&mut h, other);
    assert_eq!(
        h.sched(3),
        SchedState::Runnable,
        "the other caller is answered"
    );
    reply(&mut h, cli);
    assert_eq!(h.ret(DRV, 0), DMA_PINNED as usize);
    assert_eq!(h.sched(CLI), SchedState::InReply(h.id(DRV)));
}

/// Restarting a task whose lease no device holds resets no device, even
/// with another task's lease on one.
#[test]
fn restarting_a_task_that_lent_nothing_leaves_the_devices_alone() {
    let mut h = two_clients();
    ready(&mut h);
    let cli = lend_to_the_driver(&mut h, CLI);
    post_lent(&mut h, &[leased(0, 0, 512, F_WRITE, 0)], 0, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    h.sys.machine.mmio_writes.clear();
    assert!(crate::faults::restart_task(&mut h.sys, 3));
    assert!(
        !h.sys
            .machine
            .mmio_writes
            .iter()
            .any(|&(a, _)| a & 0xfff == 0x070),
        "a device was reset: {:?}",
        h.sys.machine.mmio_writes
    );
    assert!(
        crate::dma::pins(&mut h.sys, DRV, CLI),
        "the lease is still on the device"
    );
}

/// A reset device gives every pinned descriptor back to the driver: a
/// chain may be posted where the lent one was.
#[test]
fn a_reset_device_frees_every_pinned_descriptor() {
    let (mut h, ring) = lent(LEASE_READ | LEASE_WRITE);
    let cli = h.id(CLI);
    // Descriptors 6 -> 7.
    let lent_chain = [leased(0, 0, 8, F_NEXT, 7), leased(0, 8, 8, 0, 0)];
    post_lent(&mut h, &lent_chain, 6, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    let own = h.addr(DRV, DATA) as u64;
    post(&mut h, &[desc(own, 16, 0, 0)], 7);
    assert_eq!(h.ret(DRV, 0), DMA_PINNED as usize, "test premise");
    crate::dma::quiesce(&mut h.sys, DRV);
    assert_eq!(pins_agree(ring, 8), 0);
    for head in [6, 7] {
        post(&mut h, &[desc(own, 16, 0, 0)], head);
        assert_eq!(h.ret(DRV, 0), SUCCESS as usize, "descriptor {head}");
    }
}

/// Before the kernel asks a device whether a queue holding a lease is
/// still live, it selects that queue (QueueSel), and only then reads.
#[test]
fn asking_the_device_about_a_queue_selects_it_first() {
    let mut h = dma_harness();
    let w = legacy_device(&mut h, 8);
    setup(&mut h, 1, 8);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    let cli = lend_to_the_driver(&mut h, CLI);
    post_lent_on(&mut h, 1, &[leased(0, 0, 512, F_WRITE, 0)], 0, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    h.sys.machine.mmio_writes.clear();
    reply(&mut h, cli);
    assert_eq!(h.ret(DRV, 0), DMA_PINNED as usize);
    assert_eq!(h.sys.machine.mmio_writes, vec![(w + 0x030, 1)]);
}

/// A chain visits each descriptor once. One whose links come back to a
/// descriptor it already holds would have the kernel write that
/// descriptor twice (the second over the first) and pin the chain's
/// descriptors once per visit: the count would then disagree with the
/// pins, and a descriptor left off the chain would stay pinned.
#[test]
fn a_chain_visiting_a_descriptor_twice_is_refused() {
    let (mut h, ring) = lent(LEASE_READ | LEASE_WRITE);
    let cli = h.id(CLI);
    let own = h.addr(DRV, DATA) as u64;
    for (chain, head, why) in [
        (
            vec![
                leased(0, 0, 256, F_WRITE | F_NEXT, 4),
                leased(0, 256, 16, F_WRITE, 0),
            ],
            4,
            "the head linking to itself",
        ),
        (
            vec![
                desc(own, 16, F_NEXT, 1),
                leased(0, 0, 256, F_WRITE | F_NEXT, 0),
                desc(own + 16, 1, F_WRITE, 0),
            ],
            0,
            "the second linking back to the head",
        ),
        (
            vec![
                desc(own, 16, F_NEXT, 1),
                leased(0, 0, 256, F_WRITE | F_NEXT, 2),
                desc(own + 16, 16, F_NEXT, 1),
                desc(own + 32, 1, F_WRITE, 0),
            ],
            0,
            "the third linking back to the second",
        ),
    ] {
        post_lent(&mut h, &chain, head, cli);
        assert_eq!(h.ret(DRV, 0), DMA_BAD_QUEUE as usize, "{why}");
        assert_eq!(read_u16(ring, 128 + 2), 0, "{why}: avail.idx unchanged");
        assert_eq!(pins_agree(ring, 8), 0, "{why}");
        assert!(
            (0..8).all(|i| read_desc(ring, i) == RawDesc::default()),
            "{why}: a descriptor was written"
        );
    }
    // The last descriptor's link is no link: naming the head is fine.
    let chain = [
        leased(0, 0, 256, F_WRITE | F_NEXT, 1),
        leased(0, 256, 16, F_WRITE, 0),
    ];
    post_lent(&mut h, &chain, 0, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!(pins_agree(ring, 8), 2);
}

/// sup 0, drv 1 (its ring region only, no device granted), cli 2; the
/// ring region's base.
fn driver_with_rings_only() -> (Harness, usize) {
    let h = Builder::default()
        .task("sup", 0)
        .task("drv", 1)
        .task("cli", 2)
        .build();
    let ring = arena::alloc(RINGS_SIZE);
    assert!(h.sys.tasks[DRV].add_region(region(ring, RINGS_SIZE, REGION_READ | REGION_DMA_RING)));
    (h, ring)
}

/// A ring outlives its window (a restarted driver keeps the ring its
/// predecessor set up, and the bus revokes the slot): a post with no
/// granted window is refused, so no lease is pinned where no device will
/// ever give it back (a red-team driver's second incarnation, never
/// registered, pinned its client for good that way).
#[test]
fn a_post_without_a_granted_window_is_refused_and_pins_nothing() {
    let (mut h, ring) = driver_with_rings_only();
    // The queue as the predecessor's setup left it: size 8.
    // SAFETY: the ring region block of the test arena.
    unsafe { std::ptr::write((ring + abi::DMA_RING_STRIDE - 4) as *mut u32, 8) };
    let cli = client_calls_lending(&mut h, LEASE_READ | LEASE_WRITE);
    post_lent(&mut h, &[leased(0, 0, 512, F_WRITE, 0)], 0, cli);
    assert_eq!(h.ret(DRV, 0), DMA_NO_DEVICE as usize);
    assert_eq!(pinned(ring), 0);
    assert_eq!(pin_at(ring, 0), 0);
    // Nothing holds the client: the driver may answer it.
    reply(&mut h, cli);
    assert_eq!(h.sched(CLI), SchedState::Runnable);
}

fn features(h: &mut Harness, task: usize, bank: usize, value: u32) {
    h.syscall(
        task,
        Sysnum::Dma,
        &[DmaOp::Features as usize, bank, value as usize],
    );
}

/// The feature registers are the kernel's (out of the window, `arch::pmp`):
/// a driver's features reach its device only as far as
/// `DMA_FEATURES_ALLOWED` lets them, so no driver can accept a ring layout
/// the kernel does not check (a packed ring made a red-team driver's one
/// checked descriptor an indirect table naming kernel text).
#[test]
fn only_the_features_whose_rings_the_kernel_checks_reach_the_device() {
    let mut h = dma_harness();
    let w = legacy_device(&mut h, 8);
    // Bank 1: VERSION_1 (32) stays; RING_PACKED (34), IN_ORDER (35),
    // RING_RESET (40) and every later transport bit do not.
    features(&mut h, DRV, 1, 0xFFFF_FFFF);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!(h.ret(DRV, 1), 0xFFFC_0001);
    features(&mut h, DRV, 1, 1 << 2 | 1 << 3 | 1 << 8);
    assert_eq!(h.ret(DRV, 1), 0, "packed, in-order, ring reset");
    // Bank 0: the device-type bits and 24, 27, 28, 29.
    features(&mut h, DRV, 0, 0xFFFF_FFFF);
    assert_eq!(h.ret(DRV, 1), 0x39FF_FFFF);
    assert_eq!(
        h.sys.machine.mmio_writes,
        vec![
            (w + 0x024, 1),
            (w + 0x020, 0xFFFC_0001),
            (w + 0x024, 1),
            (w + 0x020, 0),
            (w + 0x024, 0),
            (w + 0x020, 0x39FF_FFFF),
        ]
    );
    // No third bank; a task without a granted window has no device.
    h.sys.machine.mmio_writes.clear();
    features(&mut h, DRV, 2, 1);
    assert_eq!(h.ret(DRV, 0), DMA_BAD_QUEUE as usize);
    features(&mut h, CLI, 0, 1);
    assert_eq!(h.ret(CLI, 0), DMA_NO_DEVICE as usize);
    assert!(h.sys.machine.mmio_writes.is_empty());
}

/// A device holding only chains of the driver's own buffers is reset too
/// before the driver's window is revoked or its RAM re-initialised: the
/// kernel, not the supervisor, keeps a live device off memory being
/// reused (before, only a lease chain made the kernel reset it).
#[test]
fn a_device_holding_only_the_drivers_own_chains_is_reset_at_its_restart() {
    let mut h = dma_harness();
    let ring = ready(&mut h);
    let w = h.mem[DRV].virtio.unwrap();
    let own = h.addr(DRV, DATA) as u64;
    post(&mut h, &own_read(own, 1, 2), 0);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    assert_eq!(own_held(ring, 8), 3);
    h.sys.machine.mmio_writes.clear();
    assert!(crate::faults::restart_task(&mut h.sys, DRV));
    assert!(
        h.sys.machine.mmio_writes.contains(&(w + 0x070, 0)),
        "the kernel reset the device: {:?}",
        h.sys.machine.mmio_writes
    );
}

mod hostile;

/// A lease's bytes are on the device once at a time across all of the
/// driver's queues, not only in the queue they were first posted to: a
/// driver with two queues (net0: receive and transmit) could give the
/// device the bytes it is writing through queue 0 again through queue 1,
/// which held no pins, and so was never looked at.
#[test]
fn a_lease_range_on_the_device_in_another_queue_is_refused() {
    let (mut h, ring) = lent(LEASE_READ | LEASE_WRITE);
    let cli = h.id(CLI);
    // Queue 1 as well (the mock has one QueuePFN for all queues: idle it).
    let w = h.mem[DRV].virtio.unwrap();
    h.sys.machine.mmio.remove(&(w + 0x040));
    setup(&mut h, 1, 8);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    let ring1 = ring + DMA_RING_STRIDE;
    // The device writes bytes 0..256 through queue 0.
    post_lent(&mut h, &[leased(0, 0, 256, F_WRITE, 0)], 0, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    for (flags, what) in [(F_WRITE, "written again"), (0, "read while written")] {
        post_lent_on(&mut h, 1, &[leased(0, 0, 256, flags, 0)], 0, cli);
        assert_eq!(h.ret(DRV, 0), DMA_PINNED as usize, "{what} through queue 1");
    }
    assert_eq!(pinned(ring1), 0, "a refused chain pinned nothing");
    // Other bytes of the lease may go through queue 1.
    post_lent_on(&mut h, 1, &[leased(0, 256, 256, F_WRITE, 0)], 0, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
}

/// A lender is re-initialised only once no device can write its memory:
/// restarting it while a device that does not finish its reset still
/// holds its lease is refused (`DMA_PINNED`), as its DEAD is held back
/// (`a_device_that_does_not_reset_keeps_the_lender_blocked`). Before, the
/// restart reset the device, went ahead when the reset did not take, and
/// the device could go on writing the fresh incarnation's memory (and its
/// stale pin refused the new incarnation's replies).
#[test]
fn a_lender_a_stuck_device_holds_is_not_restarted() {
    let (mut h, _) = lent(LEASE_READ | LEASE_WRITE);
    let (cli, drv) = (h.id(CLI), h.id(DRV));
    post_lent(&mut h, &[leased(0, 0, 512, F_WRITE, 0)], 0, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    h.sys.machine.stuck = true;
    let (code, _) = h.kipc(SUP, abi::Kipc::RestartTask as u32, Some(CLI as u32));
    assert_eq!(code, DMA_PINNED, "the restart is refused");
    assert_eq!(h.id(CLI), cli, "the same incarnation");
    assert_eq!(h.sched(CLI), SchedState::InReply(drv), "still blocked");
    // Once the device resets, the restart goes ahead.
    h.sys.machine.stuck = false;
    let (code, _) = h.kipc(SUP, abi::Kipc::RestartTask as u32, Some(CLI as u32));
    assert_eq!(code, SUCCESS);
    assert_ne!(h.id(CLI), cli);
    assert!(!crate::dma::pins(&mut h.sys, DRV, CLI));
}

/// A pin belongs to the device its chain was posted to. A driver whose
/// device did not finish its reset keeps the lease pinned when its window
/// is taken away (revoke and restart drop it, quiesced or not); if it is
/// then given another device of its class (the bus binds the lowest free
/// one), that device's idle queue says nothing about the first one. Before,
/// the kernel asked the new device, found the queue idle and released the
/// pins (and the new device's setup zeroed them): the lender could then be
/// restarted while the first device might still write its memory.
#[test]
fn a_pin_is_released_only_by_the_device_it_was_posted_to() {
    // The driver's ring region, and device A granted as the bus grants.
    let (mut h, _) = driver_with_rings_only();
    let window = |base| {
        region(
            base,
            0x1000,
            REGION_READ | REGION_WRITE | REGION_DEVICE | REGION_VIRTIO,
        )
    };
    let device = |h: &mut Harness| {
        let w = arena::alloc(0x1000);
        h.sys.machine.mmio.insert(w + 0x004, 1);
        h.sys.machine.mmio.insert(w + 0x034, 8);
        assert!(h.sys.tasks[DRV].add_region(window(w)));
        w
    };
    let a = device(&mut h);
    setup(&mut h, 0, 8);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    let cli = client_calls_lending(&mut h, LEASE_READ | LEASE_WRITE);
    post_lent(&mut h, &[leased(0, 0, 512, F_WRITE, 0)], 0, cli);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
    // Device A does not reset; its window is taken away all the same.
    h.sys.machine.stuck = true;
    crate::dma::quiesce(&mut h.sys, DRV);
    assert!(h.sys.tasks[DRV].remove_region(&window(a)));
    assert!(
        crate::dma::pins(&mut h.sys, DRV, CLI),
        "no device: the pin stays"
    );
    // Device B, idle, is granted.
    device(&mut h);
    assert!(
        crate::dma::pins(&mut h.sys, DRV, CLI),
        "device B released device A's pin"
    );
    setup(&mut h, 0, 8);
    assert_eq!(
        h.ret(DRV, 0),
        DMA_QUEUE_BUSY as usize,
        "setup over the pinned queue"
    );
    assert!(crate::dma::pins(&mut h.sys, DRV, CLI));
    let (code, _) = h.kipc(SUP, abi::Kipc::RestartTask as u32, Some(CLI as u32));
    assert_eq!(code, DMA_PINNED, "the lender restarted under device A");
}

/// A reboot keeps RAM: the kernel zeroes every ring at boot, so that pins
/// the last boot left do not refuse the first setup on another device.
#[test]
fn the_rings_the_last_boot_left_are_zeroed_at_boot() {
    let mut h = dma_harness();
    legacy_device(&mut h, 8);
    let ring = h.mem[DRV].rings.unwrap();
    // SAFETY: the ring region block of the test arena.
    unsafe { std::ptr::write_bytes(ring as *mut u8, 0xEE, RINGS_SIZE) };
    crate::dma::clear_rings(h.sys.tasks.iter());
    // SAFETY: as above.
    let bytes = unsafe { std::slice::from_raw_parts(ring as *const u8, RINGS_SIZE) };
    assert!(bytes.iter().all(|&b| b == 0));
    setup(&mut h, 0, 8);
    assert_eq!(h.ret(DRV, 0), SUCCESS as usize);
}
