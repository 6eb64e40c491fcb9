//! The driver library without IPC (`BlkDevice::transfer_blocking`), as a
//! benchmark or boot loader links it.

use std::cell::RefCell;
use std::rc::Rc;

use block_api::BlockError;
use virtio_blk::{BlkDevice, DmaMemory, Geometry, ProbeError, Request};

use crate::model::device::{Device, Kind, Regs};
use crate::{pattern, Disk, DISK_SECTORS};

fn memory_for(dev: &Rc<RefCell<Device>>) -> &'static mut DmaMemory {
    let memory: &'static mut DmaMemory = crate::model::arena::leak_zeroed();
    dev.borrow_mut().mem.register(
        std::ptr::from_ref(memory).addr() as u64,
        std::mem::size_of::<DmaMemory>(),
    );
    memory
}

#[test]
fn probe_reads_the_geometry_with_both_transports() {
    for version in [1, 2] {
        for read_only in [false, true] {
            let dev = Disk {
                version,
                read_only,
                block_size: 4096,
                ..Disk::default()
            }
            .device()
            .shared();
            let blk = BlkDevice::probe(Regs(dev.clone()), memory_for(&dev), None).unwrap();
            assert_eq!(
                blk.geometry(),
                Geometry {
                    capacity: DISK_SECTORS as u64,
                    block_size: 4096,
                    read_only,
                    flush: true
                }
            );
            drop(blk);
            assert_eq!(dev.borrow().status(), 0, "dropping resets the device");
        }
    }
}

#[test]
fn probe_refuses_a_device_that_is_not_a_disk() {
    let dev = Device::new(2, Kind::Rng { state: 1 }, 1 << 32, &[16]).shared();
    assert_eq!(
        BlkDevice::probe(Regs(dev.clone()), memory_for(&dev), None).err(),
        Some(ProbeError::NotABlockDevice { device_id: 4 })
    );
}

#[test]
fn probe_survives_config_churn_or_gives_up_cleanly() {
    let mut d = Disk::default().device();
    d.config_churn = u32::MAX;
    let dev = d.shared();
    assert_eq!(
        BlkDevice::probe(Regs(dev.clone()), memory_for(&dev), None).err(),
        Some(ProbeError::Virtio(virtio::Error::ConfigUnstable))
    );
    assert_ne!(dev.borrow().status() & 128, 0, "FAILED set");
}

#[test]
fn blocking_transfers_round_trip() {
    for version in [1, 2] {
        let dev = Disk::of_version(version).device().shared();
        let mut blk = BlkDevice::probe(Regs(dev.clone()), memory_for(&dev), None).unwrap();
        let service = |_: &mut BlkDevice<'_, Regs>| {
            dev.borrow_mut().service(0);
        };
        let mut data = pattern(4, 65536);
        let expected = data.clone();
        blk.transfer_blocking(
            Request::Write {
                sector: 10,
                len: 65536,
            },
            &mut data,
            service,
        )
        .unwrap();
        let mut back = vec![0u8; 65536];
        blk.transfer_blocking(
            Request::Read {
                sector: 10,
                len: 65536,
            },
            &mut back,
            service,
        )
        .unwrap();
        assert_eq!(back, expected);
        let mut id = [0u8; 20];
        blk.transfer_blocking(Request::GetId, &mut id, service)
            .unwrap();
        assert_eq!(&id[..12], b"vireo-disk-7");
        assert_eq!(
            blk.transfer_blocking(
                Request::Read {
                    sector: 511,
                    len: 1024
                },
                &mut back,
                service
            ),
            Err(BlockError::OutOfRange)
        );
        assert_eq!(blk.in_flight(), 0);
        assert!(blk.has_free_slot());
    }
}
