//! Where the rings lie for every queue size, and the checks on a queue's
//! placement and size before the device is told about it (§2.7.2, §4.2.3.2,
//! §4.2.4).

use virtio::queue::layout::{RingOffsets, USED_ALIGN};
use virtio::{Error, QueueMemory, SplitQueue, Transport};

use std::cell::RefCell;
use std::rc::Rc;

use crate::model::{Device, Regs, Rig, Setup};
use virtio::transport::mmio::MmioTransport;

fn leak<const N: usize>() -> &'static mut QueueMemory<N> {
    crate::model::arena::leak_zeroed()
}

#[test]
fn legacy_offsets_follow_the_spec_formula_for_every_size() {
    // §2.7.2: used ring at ALIGN(16·n + 6 + 2·n, 4096) (no used_event
    // padding counted beyond the avail ring's own 2 bytes of it).
    for (n, used) in [
        (1u16, 4096),
        (8, 4096),
        (128, 4096),
        (256, 8192),
        (1024, 20480),
    ] {
        let o = RingOffsets::new(n);
        assert_eq!(o.avail(), 16 * n as usize, "size {n}");
        assert_eq!(o.used(), used, "size {n}");
        assert_eq!(o.used() % USED_ALIGN, 0);
        assert_eq!(o.used_event(), 16 * n as usize + 4 + 2 * n as usize);
        assert!(
            o.used_event() + 2 <= o.used(),
            "size {n}: used_event overlaps"
        );
        assert_eq!(o.total(), used + 6 + 8 * n as usize, "size {n}");
    }
}

#[test]
fn a_256_entry_legacy_queue_is_where_the_device_looks() {
    let mut rig: Rig<256> = Setup {
        version: 1,
        queue_max: 256,
        ..Setup::default()
    }
    .build();
    assert_eq!(rig.queue.size(), 256);
    let layout = rig.queue.layout();
    assert_eq!(layout.device - layout.desc, 8192);
    let rings = rig.dev.borrow().rings(0).expect("live");
    assert_eq!(
        (rings.num, rings.desc, rings.avail, rings.used),
        (256, layout.desc, layout.driver, layout.device)
    );
    // Traffic in both directions through the whole ring, wrapping it.
    for round in 0..3u32 {
        for t in 0..256u32 {
            rig.add_rng(1, 8, round * 1000 + t).unwrap();
        }
        rig.kick();
        assert_eq!(rig.service(), 256);
        let done = rig.drain();
        assert_eq!(done.len(), 256, "round {round}");
        assert!(done.iter().all(|&(_, len)| len == 8));
    }
}

/// A legacy transport with queue 0 negotiated but not attached, and a
/// correctly placed 8-entry layout for it.
fn legacy_unattached() -> (MmioTransport<Regs>, virtio::queue::QueueLayout) {
    let setup = Setup {
        version: 1,
        ..Setup::default()
    };
    let mut t = MmioTransport::new(Regs(setup.device().shared())).unwrap();
    let features = t.negotiate(setup.understood()).unwrap();
    let q = SplitQueue::<u32, 8>::new(0, 8, leak(), features).unwrap();
    (t, q.layout())
}

#[test]
fn each_legacy_placement_rule_is_checked_on_its_own() {
    let (mut t, good) = legacy_unattached();
    // Descriptor table off its page, the rings after it moved along.
    let mut bad = good;
    bad.desc += 16;
    bad.driver += 16;
    assert_eq!(t.attach_queue(&bad), Err(Error::LegacyLayout), "desc");
    // Only the available ring misplaced.
    let mut bad = good;
    bad.driver += 2;
    assert_eq!(t.attach_queue(&bad), Err(Error::LegacyLayout), "driver");
    // Only the used ring misplaced (a page further on).
    let mut bad = good;
    bad.device += 4096;
    assert_eq!(t.attach_queue(&bad), Err(Error::LegacyLayout), "device");
    // A table beyond what a 32-bit page number can name.
    let mut bad = good;
    let far = 1u64 << 44;
    bad.device = bad.device - bad.desc + far;
    bad.driver = bad.driver - bad.desc + far;
    bad.desc = far;
    assert_eq!(t.attach_queue(&bad), Err(Error::LegacyLayout), "pfn");
    // None of that reached the device; the right placement still attaches.
    t.attach_queue(&good).unwrap();
}

/// A device of `version` offering 8 entries, its queue 0 set up with 8,
/// then the device reset and its features negotiated again: the queue is
/// not attached yet.
fn a_queue_of_eight_after_a_reset(
    version: u32,
) -> (
    Rc<RefCell<Device>>,
    MmioTransport<Regs>,
    SplitQueue<'static, u32, 8>,
) {
    let setup = Setup {
        version,
        queue_max: 8,
        ..Setup::default()
    };
    let dev = setup.device().shared();
    let mut t = MmioTransport::new(Regs(dev.clone())).unwrap();
    let features = t.negotiate(setup.understood()).unwrap();
    let q = t.setup_queue::<u32, 8>(0, leak(), features).unwrap();
    assert_eq!(q.size(), 8);
    t.reset().unwrap();
    t.negotiate(setup.understood()).unwrap();
    (dev, t, q)
}

#[test]
fn a_queue_larger_than_queue_num_max_at_attach_is_refused() {
    for version in [1, 2] {
        let (dev, mut t, q) = a_queue_of_eight_after_a_reset(version);
        // The device now offers fewer entries than the queue has.
        dev.borrow_mut().set_queue_max(0, 4);
        assert_eq!(
            t.attach_queue(&q.layout()),
            Err(Error::LegacyLayout),
            "v{version}"
        );
        assert!(
            dev.borrow().rings(0).is_none(),
            "v{version}: nothing attached"
        );
        // Exactly QueueNumMax is fine.
        dev.borrow_mut().set_queue_max(0, 8);
        t.attach_queue(&q.layout()).unwrap();
    }
}

/// `reattach` after a reset asks the device again: fewer entries than the
/// queue has are refused, exactly as many are fine.
#[test]
fn reattach_needs_the_device_to_offer_the_queues_size() {
    for version in [1, 2] {
        let (dev, mut t, mut q) = a_queue_of_eight_after_a_reset(version);
        dev.borrow_mut().set_queue_max(0, 4);
        assert_eq!(
            q.reattach(&mut t),
            Err(Error::QueueUnavailable { queue: 0 }),
            "v{version}"
        );
        dev.borrow_mut().set_queue_max(0, 8);
        assert_eq!(
            q.reattach(&mut t),
            Ok(()),
            "v{version}: exactly QueueNumMax"
        );
    }
}

#[test]
fn a_zero_sized_layout_is_refused() {
    let (mut t, good) = legacy_unattached();
    let mut bad = good;
    bad.size = 0;
    assert_eq!(t.attach_queue(&bad), Err(Error::LegacyLayout));
}

#[test]
fn queue_num_max_beyond_the_split_ring_limit_is_clamped() {
    let setup = Setup {
        version: 2,
        queue_max: 65535,
        ..Setup::default()
    };
    let mut t = MmioTransport::new(Regs(setup.device().shared())).unwrap();
    t.negotiate(setup.understood()).unwrap();
    assert_eq!(t.queue_max_size(0), 32768);
}

#[test]
fn a_queue_remembers_its_index_for_queue_sel() {
    for index in [0u16, 1, 7] {
        let q = SplitQueue::<u32, 8>::new(index, 8, leak(), virtio::Features::NONE).unwrap();
        assert_eq!(q.queue_index(), index);
        assert_eq!(q.layout().queue, index);
    }
}

#[test]
fn large_legacy_queues_put_the_used_ring_where_the_device_derives_it() {
    fn check<const N: usize>() {
        let setup = Setup {
            version: 1,
            queue_max: N as u32,
            ..Setup::default()
        };
        let rig: Rig<N> = setup.build();
        assert_eq!(rig.queue.size() as usize, N);
        let rings = rig.dev.borrow().rings(0).expect("live");
        let layout = rig.queue.layout();
        assert_eq!(
            (rings.desc, rings.avail, rings.used),
            (layout.desc, layout.driver, layout.device),
            "N = {N}"
        );
        let used = RingOffsets::new(N as u16).used() as u64;
        assert_eq!(layout.device - layout.desc, used, "N = {N}");
    }
    check::<512>();
    check::<2048>();
}

#[test]
fn modern_queue_addresses_above_4_gib_keep_their_high_words() {
    let setup = Setup::default();
    let dev = setup.device().shared();
    let mut t = MmioTransport::new(Regs(dev.clone())).unwrap();
    t.negotiate(setup.understood()).unwrap();
    let layout = virtio::queue::QueueLayout {
        queue: 0,
        size: 8,
        desc: 0x0000_0001_2345_0000,
        driver: 0x0000_0002_0000_1000,
        device: 0x0000_0003_0000_2000,
    };
    t.attach_queue(&layout).unwrap();
    let rings = dev.borrow().rings(0).expect("live");
    assert_eq!(
        (rings.desc, rings.avail, rings.used),
        (layout.desc, layout.driver, layout.device)
    );
}

#[test]
fn the_vendor_id_is_read_from_the_device() {
    let rig: Rig<8> = Setup::default().build();
    // The model is QEMU's: "QEMU" in ASCII, little-endian.
    assert_eq!(rig.transport.vendor_id(), 0x554d_4551);
}
