//! Device initialisation (§3.1), both virtio-mmio versions, config space
//! and interrupts, against the model.

use virtio::config::{read_config_bytes, read_config_u32, read_config_u64};
use virtio::transport::mmio::{MmioTransport, MmioVersion};
use virtio::{Blame, DeviceStatus, Error, Features, InterruptStatus, QueueMemory, Transport};

use crate::model::{Kind, Regs, Rig, Setup, DISK_SECTORS};

fn leak<const N: usize>() -> &'static mut QueueMemory<N> {
    crate::model::arena::leak_zeroed()
}

#[test]
fn v2_full_init_sequence() {
    let setup = Setup {
        version: 2,
        event_idx: true,
        indirect: true,
        ..Setup::default()
    };
    let rig: Rig<64> = setup.build();
    assert_eq!(rig.transport.version(), MmioVersion::Modern);
    let dev = rig.dev.borrow();
    // reset, ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK: cumulative bits.
    assert_eq!(dev.status_writes, vec![0, 1, 3, 11, 15]);
    assert_eq!(dev.status(), 15);
    assert_eq!(
        Features(dev.driver_features),
        Features::VIRTIO_F_VERSION_1
            | Features::VIRTIO_F_EVENT_IDX
            | Features::VIRTIO_F_INDIRECT_DESC
            | Features::bit(5)
    );
    assert_eq!(rig.features, Features(dev.driver_features));
    let rings = dev.rings(0).expect("queue 0 is live");
    let layout = rig.queue.layout();
    assert_eq!(rig.queue.size(), 64);
    assert_eq!(rings.num, 64);
    assert_eq!(
        (rings.desc, rings.avail, rings.used),
        (layout.desc, layout.driver, layout.device)
    );
}

#[test]
fn v1_full_init_sequence() {
    let setup = Setup {
        version: 1,
        event_idx: true,
        ..Setup::default()
    };
    let rig: Rig<128> = setup.build();
    assert_eq!(rig.transport.version(), MmioVersion::Legacy);
    assert!(rig.transport.is_legacy());
    let dev = rig.dev.borrow();
    // No FEATURES_OK on a legacy device (§3.1.2).
    assert_eq!(dev.status_writes, vec![0, 1, 3, 7]);
    // VERSION_1 is never accepted on the legacy interface.
    assert_eq!(
        Features(dev.driver_features),
        Features::VIRTIO_F_EVENT_IDX | Features::bit(5)
    );
    // The model derived the rings from QueuePFN, GuestPageSize and
    // QueueAlign exactly where the queue put them.
    let rings = dev.rings(0).expect("queue 0 is live");
    let layout = rig.queue.layout();
    assert_eq!(layout.desc % 4096, 0);
    assert_eq!(
        (rings.desc, rings.avail, rings.used),
        (layout.desc, layout.driver, layout.device)
    );
}

#[test]
fn both_versions_round_trip_after_init() {
    for version in [1, 2] {
        let mut rig: Rig<16> = Setup {
            version,
            ..Setup::default()
        }
        .build();
        let bufs = rig.add_rng(1, 32, 7).unwrap();
        assert!(rig.kick());
        assert_eq!(rig.service(), 1);
        assert_eq!(rig.drain(), vec![(7, 32)]);
        assert_ne!(rig.read(bufs[0]), vec![0; 32]);
    }
}

#[test]
fn reset_waits_for_status_zero() {
    let setup = Setup::default();
    let mut dev = setup.device();
    dev.reset_delay = 50;
    let dev = dev.shared();
    let mut t = MmioTransport::new(Regs(dev.clone())).unwrap();
    t.negotiate(setup.understood()).unwrap();
    assert_eq!(dev.borrow().status_writes[0], 0);
    assert_eq!(t.status(), DeviceStatus(11));
}

#[test]
fn reset_timeout() {
    let setup = Setup::default();
    let mut dev = setup.device();
    dev.reset_delay = u32::MAX;
    let mut t = MmioTransport::new(Regs(dev.shared())).unwrap();
    assert_eq!(t.negotiate(setup.understood()), Err(Error::ResetTimeout));
    assert_eq!(Error::ResetTimeout.blame(), Blame::Device);
}

#[test]
fn v2_without_version_1_fails() {
    let mut dev = Setup::default().device();
    dev.offered &= !(1 << 32);
    let dev = dev.shared();
    let mut t = MmioTransport::new(Regs(dev.clone())).unwrap();
    assert_eq!(t.negotiate(Features::NONE), Err(Error::Version1NotOffered));
    assert!(DeviceStatus(dev.borrow().status()).contains(DeviceStatus::FAILED));
}

#[test]
fn features_ok_rejected() {
    let mut dev = Setup::default().device();
    dev.reject_features = true;
    let dev = dev.shared();
    let mut t = MmioTransport::new(Regs(dev.clone())).unwrap();
    assert_eq!(t.negotiate(Features::bit(5)), Err(Error::FeaturesRejected));
    let status = DeviceStatus(dev.borrow().status());
    assert!(status.contains(DeviceStatus::FAILED));
    assert!(!status.contains(DeviceStatus::FEATURES_OK));
}

#[test]
fn device_needs_reset_at_driver_ok() {
    let mut dev = Setup::default().device();
    dev.needs_reset_on_driver_ok = true;
    let mut t = MmioTransport::new(Regs(dev.shared())).unwrap();
    t.negotiate(Features::NONE).unwrap();
    assert_eq!(t.driver_ok(), Err(Error::DeviceNeedsReset));
}

#[test]
fn unimplemented_and_unwanted_features_are_not_accepted() {
    let mut dev = Setup::default().device();
    // Offers packed rings and ACCESS_PLATFORM; the driver "understands" them
    // but the library does not implement them.
    dev.offered |= 1 << 33 | 1 << 34 | 1 << 7;
    let dev = dev.shared();
    let mut t = MmioTransport::new(Regs(dev.clone())).unwrap();
    let understood =
        Features::VIRTIO_F_RING_PACKED | Features::VIRTIO_F_ACCESS_PLATFORM | Features::bit(3);
    let accepted = t.negotiate(understood).unwrap();
    assert_eq!(accepted, Features::VIRTIO_F_VERSION_1);
}

#[test]
fn identification_errors() {
    struct Fake(u32, u32, u32);
    impl virtio::RegisterAccess for Fake {
        fn read32(&self, offset: usize) -> u32 {
            match offset {
                0 => self.0,
                4 => self.1,
                8 => self.2,
                _ => 0,
            }
        }
        fn write32(&mut self, _: usize, _: u32) {}
        fn read16(&self, _: usize) -> u16 {
            0
        }
        fn write16(&mut self, _: usize, _: u16) {}
        fn read8(&self, _: usize) -> u8 {
            0
        }
        fn write8(&mut self, _: usize, _: u8) {}
    }
    let magic = 0x7472_6976;
    assert_eq!(
        MmioTransport::new(Fake(0x1234, 2, 1)).err(),
        Some(Error::BadMagic { magic: 0x1234 })
    );
    assert_eq!(
        MmioTransport::new(Fake(magic, 3, 1)).err(),
        Some(Error::UnsupportedVersion { version: 3 })
    );
    assert_eq!(
        MmioTransport::new(Fake(magic, 2, 0)).err(),
        Some(Error::NoDevice)
    );
    let t = MmioTransport::new(Fake(magic, 1, 4)).unwrap();
    assert_eq!(t.device_id(), 4);
}

#[test]
fn queue_size_is_largest_power_of_two_within_both_limits() {
    for (version, device_max, expect) in [(2, 100, 64), (2, 1024, 256), (1, 3, 2), (1, 256, 256)] {
        let rig: Rig<256> = Setup {
            version,
            queue_max: device_max,
            ..Setup::default()
        }
        .build();
        assert_eq!(rig.queue.size(), expect, "device max {device_max}");
        assert_eq!(rig.dev.borrow().rings(0).unwrap().num, expect);
    }
}

#[test]
fn queue_unavailable_and_in_use() {
    for version in [1, 2] {
        let setup = Setup {
            version,
            ..Setup::default()
        };
        let dev = setup.device().shared();
        let mut t = MmioTransport::new(Regs(dev.clone())).unwrap();
        let features = t.negotiate(setup.understood()).unwrap();
        // Queue 1 has QueueNumMax 0 in the model.
        let mem = leak::<8>();
        assert_eq!(
            t.setup_queue::<u32, 8>(1, mem, features).err(),
            Some(Error::QueueUnavailable { queue: 1 })
        );
        let q = t.setup_queue::<u32, 8>(0, leak::<8>(), features).unwrap();
        dev.borrow_mut()
            .mem
            .register(q.layout().desc, std::mem::size_of::<QueueMemory<8>>());
        assert_eq!(
            t.attach_queue(&q.layout()),
            Err(Error::QueueInUse { queue: 0 })
        );
        // A reset frees it again.
        t.reset().unwrap();
        t.negotiate(setup.understood()).unwrap();
        t.attach_queue(&q.layout()).unwrap();
    }
}

#[test]
fn legacy_layout_is_checked() {
    let setup = Setup {
        version: 1,
        ..Setup::default()
    };
    let dev = setup.device().shared();
    let mut t = MmioTransport::new(Regs(dev)).unwrap();
    let features = t.negotiate(setup.understood()).unwrap();
    let q = virtio::SplitQueue::<u32, 8>::new(0, 8, leak(), features).unwrap();
    let mut bad = q.layout();
    bad.device += 16;
    assert_eq!(t.attach_queue(&bad), Err(Error::LegacyLayout));
    bad = q.layout();
    bad.desc += 16;
    bad.driver += 16;
    bad.device += 16;
    assert_eq!(t.attach_queue(&bad), Err(Error::LegacyLayout));
    assert_eq!(Error::LegacyLayout.blame(), Blame::Driver);
}

#[test]
fn config_reads_v2_with_generation() {
    let rig: Rig<8> = Setup::blk(2).build();
    assert_eq!(read_config_u64(&rig.transport, 0), Ok(DISK_SECTORS as u64));
    assert_eq!(read_config_u32(&rig.transport, 0), Ok(DISK_SECTORS as u32));
    // The generation changes during the next few reads: retried.
    rig.dev.borrow_mut().config_churn = 5;
    assert_eq!(read_config_u64(&rig.transport, 0), Ok(DISK_SECTORS as u64));
    // It never settles: bounded, an error.
    rig.dev.borrow_mut().config_churn = u32::MAX;
    assert_eq!(
        read_config_u64(&rig.transport, 0),
        Err(Error::ConfigUnstable)
    );
    rig.dev.borrow_mut().config_churn = 0;
    let mut bytes = [0u8; 8];
    read_config_bytes(&rig.transport, 0, &mut bytes).unwrap();
    assert_eq!(u64::from_le_bytes(bytes), DISK_SECTORS as u64);
    assert_eq!(
        rig.transport.read_config32(2),
        Err(Error::ConfigOutOfRange { offset: 2 })
    );
    assert_eq!(
        rig.transport.read_config32(0x100),
        Err(Error::ConfigOutOfRange { offset: 0x100 })
    );
}

#[test]
fn config_reads_legacy_repeat_until_stable() {
    let rig: Rig<8> = Setup::blk(1).build();
    assert_eq!(rig.transport.config_generation(), None);
    assert_eq!(read_config_u64(&rig.transport, 0), Ok(DISK_SECTORS as u64));
    // The first byte changes on each of the next 3 accesses (6 per read of
    // two halves... the value settles after them).
    rig.dev.borrow_mut().config_churn = 3;
    let v = read_config_u64(&rig.transport, 0).unwrap();
    assert_eq!(v, DISK_SECTORS as u64 + 3);
    rig.dev.borrow_mut().config_churn = u32::MAX;
    assert_eq!(
        read_config_u64(&rig.transport, 0),
        Err(Error::ConfigUnstable)
    );
}

#[test]
fn interrupt_status_read_and_ack() {
    let mut rig: Rig<8> = Setup::default().build();
    assert!(rig.transport.take_interrupt().is_empty());
    rig.add_rng(1, 4, 1).unwrap();
    rig.kick();
    rig.service();
    let status = rig.transport.take_interrupt();
    assert!(status.contains(InterruptStatus::USED_BUFFER));
    assert!(rig.transport.interrupt_status().is_empty(), "acknowledged");
    assert_eq!(rig.drain(), vec![(1, 4)]);
}

#[test]
fn blk_device_id_and_kind() {
    let rig: Rig<8> = Setup::blk(2).build();
    assert_eq!(rig.transport.device_id(), 2);
    assert!(matches!(rig.dev.borrow().kind, Kind::Blk { .. }));
}
