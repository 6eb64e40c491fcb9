//! The driver through IPC: round trips, errors, concurrency, info, flush,
//! remove and re-probe, a device that breaks the protocol.

use abi::ReplyFaultReason;
use block_api::{BlockError, BlockOp, MAX_TRANSFER};
use idol_runtime::mock::{MockLease, Outcome};
use virtio_blk::{Corrupt, Event, PROBE_BIT, REMOVE_BIT, SLOTS};

use crate::{block_info, client, pattern, Disk, Rig, DISK_SECTORS};

#[test]
fn round_trips_of_every_size_at_the_start_the_end_and_the_middle() {
    for version in [1, 2] {
        for event_idx in [false, true] {
            let mut rig = Rig::new(&Disk {
                version,
                event_idx,
                ..Disk::default()
            });
            assert!(rig.driver.is_bound());
            let last = DISK_SECTORS as u64;
            for (n, len) in [512usize, 8 * 512, MAX_TRANSFER].into_iter().enumerate() {
                let sectors = (len / 512) as u64;
                for (m, sector) in [0, last - sectors, last / 2 - sectors / 2]
                    .into_iter()
                    .enumerate()
                {
                    let data = pattern((n * 3 + m) as u8 + 1, len);
                    assert_eq!(
                        rig.round_trip(sector, &data),
                        data,
                        "v{version} {len} bytes at {sector}"
                    );
                    assert_eq!(rig.disk(sector as usize, len), data, "on the disk");
                }
            }
        }
    }
}

/// Disks of any size, odd counts of sectors and a single sector among
/// them (the QEMU suites' disks are all about 1 MiB): every transfer size
/// that fits ends at the last sector and comes back, one sector further
/// is refused before the device, and a transfer larger than the disk too.
#[test]
fn disks_of_one_sector_and_odd_sizes_serve_up_to_their_last_sector() {
    for version in [1, 2] {
        for sectors in [1usize, 3, 127, 128, 129, 2049] {
            let mut rig = Rig::new(&Disk {
                version,
                sectors,
                ..Disk::default()
            });
            let last = sectors as u64;
            let what = |len| format!("v{version}, {sectors}-sector disk, {len} bytes");
            for len in [512usize, 8 * 512, MAX_TRANSFER] {
                let n = (len / 512) as u64;
                if n > last {
                    rig.read(client(1), 0, len);
                    assert_eq!(
                        rig.expect(client(1)),
                        Err(BlockError::OutOfRange),
                        "{}",
                        what(len)
                    );
                    continue;
                }
                let data = pattern(sectors as u8 ^ n as u8, len);
                assert_eq!(rig.round_trip(last - n, &data), data, "{}", what(len));
                assert_eq!(rig.disk((last - n) as usize, len), data, "{}", what(len));
                rig.read(client(1), last - n + 1, len);
                assert_eq!(
                    rig.expect(client(1)),
                    Err(BlockError::OutOfRange),
                    "{}",
                    what(len)
                );
                rig.write(client(1), last - n + 1, data);
                assert_eq!(
                    rig.expect(client(1)),
                    Err(BlockError::OutOfRange),
                    "{}",
                    what(len)
                );
            }
            rig.read(client(1), last, 0);
            assert_eq!(rig.expect(client(1)), Ok(vec![]), "zero bytes at the end");
            rig.read(client(1), last + 1, 0);
            assert_eq!(
                rig.expect(client(1)),
                Err(BlockError::OutOfRange),
                "zero bytes past it"
            );
            assert_eq!(rig.driver.in_flight(), 0);
        }
    }
}

#[test]
fn out_of_range_unaligned_and_read_only_requests_get_their_errors() {
    let mut rig = Rig::new(&Disk::default());
    let c = client(1);
    let end = DISK_SECTORS as u64;
    rig.read(c, end, 512);
    assert_eq!(rig.expect(c), Err(BlockError::OutOfRange));
    rig.read(c, end - 1, 1024);
    assert_eq!(rig.expect(c), Err(BlockError::OutOfRange));
    rig.write(c, u64::MAX, vec![0; 512]);
    assert_eq!(rig.expect(c), Err(BlockError::OutOfRange));
    rig.read(c, 0, 100);
    assert_eq!(rig.expect(c), Err(BlockError::UnalignedLength));
    rig.write(c, 0, vec![0; 513]);
    assert_eq!(rig.expect(c), Err(BlockError::UnalignedLength));
    // Nothing reached the device.
    assert_eq!(rig.dev.borrow_mut().fetch(0), 0);
    // Zero bytes inside the disk: nothing to do.
    rig.read(c, end, 0);
    assert_eq!(rig.expect(c), Ok(vec![]));

    let mut ro = Rig::new(&Disk {
        read_only: true,
        ..Disk::default()
    });
    ro.write(c, 0, vec![1; 512]);
    assert_eq!(ro.expect(c), Err(BlockError::ReadOnly));
    ro.read(c, 0, 512);
    ro.device_completes_all();
    assert!(ro.expect(c).is_ok());
}

/// QEMU's `logical_block_size=4096` fails every read or write that does
/// not start and end on a 4 KiB boundary (VIRTIO_BLK_S_IOERR): the shell's
/// `blk 0 read 3` said "the device reported an error", and so did
/// `blk 0 read 0` (512 bytes), on such a disk. The driver refuses them
/// itself, with the error that says what to change.
#[test]
fn requests_not_aligned_to_the_block_size_are_refused_before_the_device() {
    for version in [1, 2] {
        let mut rig = Rig::new(&Disk {
            version,
            block_size: 4096,
            ..Disk::default()
        });
        let c = client(1);
        for (sector, len) in [(0, 512), (3, 4096), (8, 4096 + 512), (1, 8 * 4096)] {
            rig.read(c, sector, len);
            assert_eq!(
                rig.dev.borrow_mut().fetch(0),
                0,
                "read {len} at {sector} reached the device"
            );
            assert_eq!(
                rig.expect(c),
                Err(BlockError::UnalignedLength),
                "read {len} at {sector}"
            );
            rig.write(c, sector, vec![7; len]);
            assert_eq!(
                rig.dev.borrow_mut().fetch(0),
                0,
                "write {len} at {sector} reached the device"
            );
            assert_eq!(
                rig.expect(c),
                Err(BlockError::UnalignedLength),
                "write {len} at {sector}"
            );
        }
        // Whole blocks work, the last one too.
        let last = DISK_SECTORS as u64 - 8;
        for (sector, len) in [(0, 4096), (8, 2 * 4096), (last, 4096)] {
            let data = pattern(sector as u8 + 3, len);
            assert_eq!(
                rig.round_trip(sector, &data),
                data,
                "v{version} {len} at {sector}"
            );
        }
    }
}

#[test]
fn a_lease_longer_than_64_kib_faults_the_client_at_dispatch() {
    let mut rig = Rig::new(&Disk::default());
    let c = client(1);
    rig.kernel.queue_message(
        c,
        BlockOp::Read as u32,
        &0u64.to_le_bytes(),
        0,
        vec![MockLease {
            attributes: abi::LEASE_WRITE,
            data: vec![0; MAX_TRANSFER + 512],
        }],
    );
    rig.turn();
    assert_eq!(
        rig.kernel.take_answer(c).unwrap().outcome,
        Some(Outcome::Fault(ReplyFaultReason::BadLeases))
    );
}

#[test]
fn several_clients_are_in_flight_at_once_and_answered_in_completion_order() {
    let mut rig = Rig::new(&Disk::default());
    for i in 0..SLOTS as u16 {
        rig.write(client(i), u64::from(i) * 16, pattern(i as u8, 8 * 512));
    }
    assert_eq!(rig.driver.in_flight(), SLOTS);
    assert!(
        !rig.driver.accepts_requests(),
        "every slot taken: notifications only"
    );
    assert_eq!(rig.kernel.waiting().len(), SLOTS);
    // The device takes them all and completes the third first.
    assert_eq!(rig.dev.borrow_mut().fetch(0), SLOTS);
    rig.dev.borrow_mut().complete(0, 2);
    rig.interrupt();
    assert_eq!(rig.expect(client(2)), Ok(pattern(2, 8 * 512)));
    assert!(rig.answer(client(0)).is_none());
    assert!(rig.driver.accepts_requests());
    // A read from a new client queues behind the others.
    rig.read(client(9), 2 * 16, 8 * 512);
    rig.device_completes_all();
    for i in [0u16, 1, 3] {
        assert_eq!(rig.expect(client(i)), Ok(pattern(i as u8, 8 * 512)));
    }
    assert_eq!(rig.expect(client(9)), Ok(pattern(2, 8 * 512)));
    for i in 0..SLOTS {
        assert_eq!(rig.disk(i * 16, 8 * 512), pattern(i as u8, 8 * 512));
    }
    assert_eq!(rig.driver.in_flight(), 0);
}

#[test]
fn info_reports_geometry_and_the_serial_from_get_id() {
    let mut rig = Rig::new(&Disk {
        read_only: true,
        block_size: 4096,
        ..Disk::default()
    });
    let c = client(1);
    rig.info(c);
    assert!(rig.answer(c).is_none(), "GET_ID goes to the device");
    rig.device_completes_all();
    let info = block_info(&rig.expect(c).unwrap());
    assert_eq!(info.capacity_sectors, DISK_SECTORS as u64);
    assert_eq!(info.block_size, 4096);
    assert_eq!(info.read_only, 1);
    assert_eq!(&info.serial[..12], b"vireo-disk-7");
    assert!(info.serial[12..].iter().all(|&b| b == 0));
    // Cached: answered at once.
    rig.info(c);
    assert_eq!(block_info(&rig.expect(c).unwrap()), info);

    // A device without GET_ID: zeros.
    let mut plain = Rig::new(&Disk {
        serial: None,
        flush: false,
        ..Disk::default()
    });
    plain.info(c);
    plain.device_completes_all();
    let info = block_info(&plain.expect(c).unwrap());
    assert_eq!(info.serial, [0; 20]);
    assert_eq!(info.read_only, 0);
}

#[test]
fn flush_goes_to_a_device_with_a_cache_and_is_immediate_without() {
    let mut rig = Rig::new(&Disk::default());
    let c = client(1);
    rig.flush(c);
    assert!(rig.answer(c).is_none());
    rig.device_completes_all();
    assert_eq!(rig.expect(c), Ok(vec![]));

    let mut plain = Rig::new(&Disk {
        flush: false,
        ..Disk::default()
    });
    plain.flush(c);
    assert_eq!(plain.expect(c), Ok(vec![]));
}

#[test]
fn device_io_errors_reach_the_client() {
    let mut rig = Rig::new(&Disk::default());
    rig.dev.borrow_mut().blk_ioerr = true;
    let c = client(1);
    rig.read(c, 0, 512);
    rig.device_completes_all();
    assert_eq!(rig.expect(c), Err(BlockError::DeviceError));
    rig.dev.borrow_mut().blk_ioerr = false;
    rig.read(c, 0, 512);
    rig.device_completes_all();
    assert!(rig.expect(c).is_ok());
}

#[test]
fn remove_fails_in_flight_requests_resets_and_tells_the_bus() {
    for mut rig in Rig::of_both_versions() {
        rig.write(client(1), 0, vec![7; 512]);
        rig.read(client(2), 8, 4096);
        // The device fetched one, not the other; neither completes.
        rig.dev.borrow_mut().fetch(0);
        rig.notify(REMOVE_BIT);
        assert_eq!(rig.expect(client(1)), Err(BlockError::Removed));
        assert_eq!(rig.expect(client(2)), Err(BlockError::Removed));
        assert_eq!(rig.dev.borrow().status(), 0, "device reset");
        assert_eq!(rig.driver.platform().removed, 1);
        assert!(matches!(
            rig.driver.platform().events.last(),
            Some(Event::Removed { in_flight: 2 })
        ));
        assert!(!rig.driver.is_bound());
        // Requests are answered, never left waiting.
        rig.read(client(3), 0, 512);
        assert_eq!(rig.expect(client(3)), Err(BlockError::Removed));
        // Bound again (the operator's `bind`): the probe bit re-registers.
        rig.driver.platform().available = true;
        rig.notify(PROBE_BIT);
        assert!(rig.driver.is_bound());
        let data = pattern(9, 1024);
        assert_eq!(rig.round_trip(4, &data), data);
    }
}

#[test]
fn without_a_device_requests_get_no_device_until_a_probe() {
    let mut rig = Rig::with_bus(&Disk::default(), false);
    assert!(!rig.driver.is_bound());
    assert_eq!(rig.driver.platform().registers, 1);
    rig.info(client(1));
    assert_eq!(rig.expect(client(1)), Err(BlockError::NoDevice));
    rig.flush(client(1));
    assert_eq!(rig.expect(client(1)), Err(BlockError::NoDevice));
    // A probe bit with still nothing free: registered again, still waiting.
    rig.notify(PROBE_BIT);
    assert_eq!(rig.driver.platform().registers, 2);
    rig.driver.platform().available = true;
    rig.notify(PROBE_BIT);
    assert!(rig.driver.is_bound());
    let data = pattern(3, 512);
    assert_eq!(rig.round_trip(DISK_SECTORS as u64 - 1, &data), data);
}

#[test]
fn a_device_that_breaks_the_protocol_fails_in_flight_requests_and_is_reinitialised() {
    for mut rig in Rig::of_both_versions() {
        rig.read(client(1), 0, 512);
        rig.read(client(2), 1, 512);
        rig.dev.borrow_mut().fetch(0);
        // A used entry naming a descriptor that is not a chain head.
        rig.dev.borrow_mut().hostile = true;
        rig.dev.borrow_mut().forge_used(0, 13, 0);
        rig.interrupt();
        assert_eq!(rig.expect(client(1)), Err(BlockError::DeviceError));
        assert_eq!(rig.expect(client(2)), Err(BlockError::DeviceError));
        assert!(matches!(
            rig.driver.platform().events[1],
            Event::DeviceFault(_)
        ));
        assert!(rig.driver.is_bound(), "brought up again");
        assert_eq!(rig.dev.borrow().status() & 4, 4, "DRIVER_OK again");
        rig.dev.borrow_mut().hostile = false;
        let data = pattern(5, 2048);
        assert_eq!(rig.round_trip(100, &data), data);

        // A used length larger than the chain could hold.
        rig.read(client(1), 0, 512);
        rig.dev.borrow_mut().fetch(0);
        rig.dev.borrow_mut().complete_with_len(0, 0, 100_000);
        rig.interrupt();
        assert_eq!(rig.expect(client(1)), Err(BlockError::DeviceError));
        assert_eq!(rig.round_trip(100, &data), data);
    }
}

#[test]
fn a_status_the_device_never_wrote_is_an_error() {
    let mut rig = Rig::new(&Disk::default());
    rig.read(client(1), 0, 512);
    rig.dev.borrow_mut().fetch(0);
    // Gives the chain back claiming nothing was written.
    let head = rig.dev.borrow().pending(0)[0].head;
    rig.dev.borrow_mut().forge_used(0, u32::from(head), 0);
    rig.interrupt();
    assert_eq!(rig.expect(client(1)), Err(BlockError::DeviceError));
}

/// A device done by the time the kick returns is answered in the same
/// turn (the poll right after the kick); its interrupt, which stays asked
/// for (a second gate call per request to turn it off would cost more on
/// the usual request the device is not done with), answers nobody twice.
#[test]
fn a_request_the_device_finished_by_the_kick_is_answered_at_once_and_once() {
    for version in [1, 2] {
        let mut rig = Rig::new(&Disk {
            version,
            ..Disk::default()
        });
        rig.dev.borrow_mut().complete_on_notify = true;
        let interrupts = rig.dev.borrow().interrupts;
        for (who, sector) in [(client(1), 3u64), (client(2), 40)] {
            rig.read(who, sector, 4096);
            assert_eq!(
                rig.expect(who),
                Ok(rig.disk(sector as usize, 4096)),
                "answered in the turn that submitted it"
            );
            assert_eq!(
                rig.driver.platform().timer,
                None,
                "v{version}: a deadline for nothing in flight"
            );
            rig.interrupt();
            assert_eq!(rig.answer(who), None, "v{version}: answered twice");
        }
        assert!(
            rig.dev.borrow().interrupts > interrupts,
            "v{version}: the device was asked for no interrupt"
        );
        // A device that takes its time interrupts, and is answered
        // then.
        rig.dev.borrow_mut().complete_on_notify = false;
        rig.read(client(1), 9, 512);
        assert_eq!(rig.answer(client(1)), None);
        let before = rig.dev.borrow().interrupts;
        rig.device_completes_all();
        assert_eq!(rig.dev.borrow().interrupts, before + 1);
        assert_eq!(rig.expect(client(1)), Ok(rig.disk(9, 512)));
    }
}

#[test]
fn the_irq_is_reenabled_after_each_interrupt() {
    let mut rig = Rig::new(&Disk::default());
    rig.read(client(1), 0, 512);
    rig.device_completes_all();
    assert!(rig.expect(client(1)).is_ok());
    assert_eq!(rig.driver.platform().irq_enables, 1);
}

#[test]
fn a_read_the_device_reports_short_never_hands_out_stale_bytes() {
    for mut rig in Rig::of_both_versions() {
        let (a, b) = (client(1), client(2));
        // A's read leaves its data in slot 0's bounce buffer.
        rig.read(a, 3, 4096);
        rig.device_completes_all();
        assert_eq!(rig.expect(a), Ok(rig.disk(3, 4096)));
        // B's read goes to the same slot; the device writes only an OK
        // status and says so (used length 1): B must not get A's bytes.
        rig.dev.borrow_mut().blk_status_only = true;
        rig.read(b, 9, 4096);
        rig.device_completes_all();
        assert_eq!(rig.expect(b), Err(BlockError::DeviceError));
        rig.dev.borrow_mut().blk_status_only = false;
        // Data and status written, but a used length short of them: the
        // driver cannot know what was written, so it is an error too.
        rig.read(b, 9, 4096);
        rig.dev.borrow_mut().fetch(0);
        rig.dev.borrow_mut().complete_with_len(0, 0, 4096);
        rig.interrupt();
        assert_eq!(rig.expect(b), Err(BlockError::DeviceError));
        // Exactly data + status is a success; a write needs only its status.
        rig.read(b, 9, 4096);
        rig.dev.borrow_mut().fetch(0);
        rig.dev.borrow_mut().complete_with_len(0, 0, 4097);
        rig.interrupt();
        assert_eq!(rig.expect(b), Ok(rig.disk(9, 4096)));
        let data = pattern(3, 1024);
        assert_eq!(rig.round_trip(20, &data), data);
    }
}

#[test]
fn the_deadline_runs_from_submission_and_only_progress_moves_it() {
    let mut rig = Rig::new(&Disk::default());
    let (a, b) = (client(1), client(2));
    rig.read(a, 0, 512);
    assert_eq!(rig.driver.platform().timer, Some(1000));
    // The device interrupts every 300 ms but completes nothing: the
    // deadline stays where the submission put it.
    for t in [300, 600, 900] {
        rig.driver.platform().now = t;
        rig.interrupt();
        assert_eq!(rig.answer(a), None);
        assert_eq!(rig.driver.platform().timer, Some(1000), "at {t} ms");
    }
    rig.driver.platform().now = 1000;
    rig.notify(virtio_blk::TIMER_BIT);
    // A slow disk is told apart from a broken one: QEMU's
    // `throttling.bps-total=200` made every `blk 0 read` miss its deadline
    // and the shell said "the device reported an error".
    assert_eq!(rig.expect(a), Err(BlockError::TimedOut));
    assert!(rig.driver.platform().events.contains(&Event::Timeout));
    assert!(rig.driver.is_bound(), "reset and brought up again");
    assert_eq!(rig.driver.platform().timer, None, "nothing in flight");

    // Progress re-arms: a at 2000, b at 2500, a completes at 2900; b's
    // clock then runs from that progress.
    rig.driver.platform().now = 2000;
    rig.read(a, 0, 512);
    rig.driver.platform().now = 2500;
    rig.read(b, 1, 512);
    assert_eq!(rig.driver.platform().timer, Some(3000));
    rig.driver.platform().now = 2900;
    rig.dev.borrow_mut().fetch(0);
    rig.dev.borrow_mut().complete(0, 0);
    rig.interrupt();
    assert!(rig.expect(a).is_ok());
    assert_eq!(rig.driver.platform().timer, Some(3900));
    rig.driver.platform().now = 3800;
    rig.notify(virtio_blk::TIMER_BIT);
    assert_eq!(rig.answer(b), None, "not yet");
    rig.device_completes_all();
    assert!(rig.expect(b).is_ok());
}

#[test]
fn deadlines_are_kept_in_the_platforms_clock_ticks() {
    // The task's clock: 10,000 ticks to the ms. The deadline (1000 ms) is
    // converted once; the timer is armed and checked in ticks.
    const TICKS: u64 = 10_000;
    let mut rig = Rig::with_ticks_per_ms(&Disk::default(), TICKS);
    let a = client(1);
    rig.driver.platform().now = 5 * TICKS;
    rig.read(a, 0, 512);
    assert_eq!(rig.driver.platform().timer, Some(1005 * TICKS));
    // One tick early: not yet.
    rig.driver.platform().now = 1005 * TICKS - 1;
    rig.notify(virtio_blk::TIMER_BIT);
    assert_eq!(rig.answer(a), None, "not yet");
    assert_eq!(rig.driver.platform().timer, Some(1005 * TICKS));
    rig.driver.platform().now = 1005 * TICKS;
    rig.notify(virtio_blk::TIMER_BIT);
    assert_eq!(rig.expect(a), Err(BlockError::TimedOut));
    assert!(rig.driver.platform().events.contains(&Event::Timeout));
}

#[test]
fn a_timer_that_fires_before_the_deadline_is_armed_again() {
    let mut rig = Rig::new(&Disk::default());
    let a = client(1);
    rig.read(a, 0, 512);
    assert_eq!(rig.driver.platform().timer, Some(1000));
    // The task's timer may fire early (`LazyTimer`: it was armed for an
    // earlier deadline) and is then gone: the driver must ask again for
    // the deadline it still has, unchanged.
    rig.driver.platform().timer = None;
    rig.driver.platform().now = 400;
    rig.notify(virtio_blk::TIMER_BIT);
    assert_eq!(rig.answer(a), None, "not yet");
    assert_eq!(rig.driver.platform().timer, Some(1000));
    rig.device_completes_all();
    assert!(rig.expect(a).is_ok());
}

#[test]
fn device_needs_reset_fails_in_flight_requests_and_reinitialises() {
    for mut rig in Rig::of_both_versions() {
        rig.read(client(1), 0, 512);
        rig.dev.borrow_mut().need_reset();
        rig.interrupt();
        assert_eq!(rig.expect(client(1)), Err(BlockError::DeviceError));
        assert!(rig.driver.platform().events.contains(&Event::NeedsReset));
        assert_eq!(
            rig.dev.borrow().status() & 0x44,
            4,
            "DRIVER_OK, NEEDS_RESET gone"
        );
        let data = pattern(8, 1024);
        assert_eq!(rig.round_trip(30, &data), data);
    }
}

#[test]
fn a_resized_disk_is_seen_at_the_configuration_change() {
    for mut rig in Rig::of_both_versions() {
        let far = DISK_SECTORS as u64 + 100;
        rig.read(client(1), far, 512);
        assert_eq!(rig.expect(client(1)), Err(BlockError::OutOfRange));
        rig.dev.borrow_mut().resize(2 * DISK_SECTORS as u64);
        rig.interrupt();
        assert!(rig.driver.platform().events.contains(&Event::Resized {
            capacity: 2 * DISK_SECTORS as u64
        }));
        rig.info(client(1));
        rig.device_completes_all();
        let info = block_info(&rig.expect(client(1)).unwrap());
        assert_eq!(info.capacity_sectors, 2 * DISK_SECTORS as u64);
        let data = pattern(9, 512);
        assert_eq!(rig.round_trip(far, &data), data);
    }
}

#[test]
fn a_sector_is_refused_only_after_the_capacity_is_read_again() {
    for mut rig in Rig::of_both_versions() {
        let far = DISK_SECTORS as u64 + 100;
        // Grown, and the configuration-change interrupt not taken yet.
        rig.dev.borrow_mut().resize(2 * DISK_SECTORS as u64);
        let data = pattern(10, 512);
        assert_eq!(rig.round_trip(far, &data), data);
        assert!(rig.driver.platform().events.contains(&Event::Resized {
            capacity: 2 * DISK_SECTORS as u64
        }));
        // Past the end of the grown disk: refused all the same.
        rig.read(client(1), 2 * DISK_SECTORS as u64, 512);
        assert_eq!(rig.expect(client(1)), Err(BlockError::OutOfRange));
    }
}

/// QEMU takes an image that is no whole number of logical blocks
/// (66,048 bytes of 4 KiB blocks: `capacity` says 129 sectors), but no
/// request reaches sector 128: its block ends past the disk. The driver
/// reports, and checks requests against, the whole blocks only, at probe
/// and at each resize; the cut tail is past the end, as any sector is.
#[test]
fn a_last_block_the_disk_end_cuts_short_is_past_the_end() {
    for version in [1, 2] {
        let mut rig = Rig::new(&Disk {
            version,
            block_size: 4096,
            sectors: 129,
            ..Disk::default()
        });
        let c = client(1);
        assert!(rig.driver.platform().events.contains(&Event::Probed {
            slot: 7,
            capacity: 128,
            version
        }));
        rig.info(c);
        rig.device_completes_all();
        let info = block_info(&rig.expect(c).unwrap());
        assert_eq!((info.capacity_sectors, info.block_size), (128, 4096));
        // The last whole block is served; the cut one is refused before
        // the device, as past the end.
        let data = pattern(12, 4096);
        assert_eq!(rig.round_trip(120, &data), data);
        rig.read(c, 128, 4096);
        assert_eq!(rig.expect(c), Err(BlockError::OutOfRange));
        // The end is sector 128: nothing (a zero-length read) is there,
        // and 129 is past it.
        rig.read(c, 128, 0);
        assert_eq!(rig.expect(c), Ok(vec![]));
        rig.read(c, 129, 0);
        assert_eq!(rig.expect(c), Err(BlockError::OutOfRange));

        // Resized to 1027 sectors: 1024 of them whole blocks.
        rig.dev.borrow_mut().resize(1027);
        rig.interrupt();
        let resized = |rig: &mut Rig| {
            let events = &rig.driver.platform().events;
            events
                .iter()
                .filter_map(|e| match *e {
                    Event::Resized { capacity } => Some(capacity),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(resized(&mut rig), [1024]);
        assert_eq!(rig.round_trip(1016, &data), data);
        rig.read(c, 1024, 4096);
        assert_eq!(rig.expect(c), Err(BlockError::OutOfRange));
        // Grown within the cut block: no sector more to reach, no resize.
        rig.dev.borrow_mut().resize(1030);
        rig.interrupt();
        assert_eq!(resized(&mut rig), [1024]);
        // A block size that is nonsense at the resize: the one read at
        // probe is kept, and the capacity is whole blocks of it.
        rig.dev.borrow_mut().config[20..24].copy_from_slice(&0u32.to_le_bytes());
        rig.dev.borrow_mut().resize(1043);
        rig.interrupt();
        assert_eq!(resized(&mut rig), [1024, 1040]);
        rig.info(c);
        let info = block_info(&rig.expect(c).unwrap());
        assert_eq!((info.capacity_sectors, info.block_size), (1040, 4096));
    }
}

/// `blk_size` exists only if VIRTIO_BLK_F_BLK_SIZE is offered (§5.2.4).
/// The driver read it at every configuration change all the same, so a
/// device without it whose config space held 4096 there had its block
/// size turn to 4096 at a resize: 512-byte requests were then refused
/// (`UnalignedLength`) and the capacity cut to whole 4 KiB blocks.
#[test]
fn a_block_size_not_offered_is_not_read_at_a_resize() {
    for version in [1, 2] {
        let mut rig = Rig::new(&Disk::of_version(version));
        // Brought up again without BLK_SIZE (a reset, then probe).
        rig.dev.borrow_mut().offered &= !(1 << 6);
        rig.dev.borrow_mut().need_reset();
        rig.interrupt();
        let c = client(1);
        rig.dev.borrow_mut().config[20..24].copy_from_slice(&4096u32.to_le_bytes());
        rig.dev.borrow_mut().resize(515);
        rig.interrupt();
        assert!(rig
            .driver
            .platform()
            .events
            .contains(&Event::Resized { capacity: 515 }));
        rig.info(c);
        rig.device_completes_all();
        let info = block_info(&rig.expect(c).unwrap());
        assert_eq!((info.capacity_sectors, info.block_size), (515, 512));
        let data = pattern(13, 512);
        assert_eq!(rig.round_trip(514, &data), data);
    }
}

#[test]
fn a_device_that_does_not_reset_is_given_up_and_its_buffers_never_reused() {
    let mut rig = Rig::new(&Disk::default());
    rig.read(client(1), 0, 512);
    rig.read(client(2), 1, 512);
    // The device needs a reset and then never finishes one.
    rig.dev.borrow_mut().reset_delay = u32::MAX;
    rig.dev.borrow_mut().need_reset();
    rig.interrupt();
    assert_eq!(rig.expect(client(1)), Err(BlockError::DeviceError));
    assert_eq!(rig.expect(client(2)), Err(BlockError::DeviceError));
    assert!(rig.driver.platform().events.contains(&Event::ResetFailed));
    assert_eq!(rig.driver.platform().failed, 1, "the platform was told");
    // The task stops when told: by then both answers are out, none held
    // back for a receive that never comes.
    assert_eq!(rig.driver.platform().waiting_when_failed, Some(vec![]));
    assert!(!rig.driver.is_bound());
    // From now on: errors at once, nothing reaches the device, and the
    // driver does not register for another device with this memory.
    let kicks = rig.dev.borrow().notifications.len();
    let registers = rig.driver.platform().registers;
    rig.read(client(1), 0, 512);
    assert_eq!(rig.expect(client(1)), Err(BlockError::DeviceError));
    rig.notify(virtio_blk::PROBE_BIT);
    assert_eq!(rig.dev.borrow().notifications.len(), kicks);
    assert_eq!(rig.driver.platform().registers, registers);
}

#[test]
fn resets_that_bring_no_completion_stop_the_driver_and_say_why() {
    let mut rig = Rig::new(&Disk::default());
    let a = client(1);
    // Each request outlives its deadline; the device never completes one.
    for k in 1..=virtio_blk::server::RECOVERIES_WITHOUT_PROGRESS {
        let t = u64::from(k) * 10_000;
        rig.driver.platform().now = t;
        rig.read(a, 0, 512);
        rig.driver.platform().now = t + 1000;
        rig.notify(virtio_blk::TIMER_BIT);
        assert_eq!(rig.expect(a), Err(BlockError::TimedOut));
        let stopped = &rig.driver.platform().corrupt;
        if k < virtio_blk::server::RECOVERIES_WITHOUT_PROGRESS {
            assert!(
                stopped.is_empty(),
                "stopped after {k} reset(s): {stopped:?}"
            );
        } else {
            assert_eq!(stopped, &[Corrupt::NoProgress]);
        }
    }
    // A completion in between starts the count again.
    let mut rig = Rig::new(&Disk::default());
    for k in 1..=2 * virtio_blk::server::RECOVERIES_WITHOUT_PROGRESS {
        let t = u64::from(k) * 10_000;
        rig.driver.platform().now = t;
        rig.read(a, 0, 512);
        if k % 2 == 0 {
            rig.device_completes_all();
            assert!(rig.expect(a).is_ok());
        } else {
            rig.driver.platform().now = t + 1000;
            rig.notify(virtio_blk::TIMER_BIT);
            assert_eq!(rig.expect(a), Err(BlockError::TimedOut));
        }
    }
    assert_eq!(rig.driver.platform().corrupt, []);
}

/// A driver that cannot hand requests to its device — here every slot is
/// taken, as a flipped bit in its slot table would have it — answers each
/// `DeviceError`, and after `REFUSED_IN_A_ROW` of them stops and says why
/// (a fault campaign found one answering every request so until an
/// operator restarted it). One request handed over in between starts the
/// count again.
#[test]
fn requests_the_device_never_gets_stop_the_driver_and_say_why() {
    use virtio_blk::server::REFUSED_IN_A_ROW;
    let mut rig = Rig::new(&Disk::default());
    // Every slot in flight, the device completing none. (The task's loop
    // would receive only notifications now; the refusals below stand for a
    // slot table that says full when it is not.)
    for i in 0..SLOTS {
        rig.read(client(10 + i as u16), 0, 512);
    }
    assert!(!rig.driver.accepts_requests());
    let a = client(1);
    for k in 1..=REFUSED_IN_A_ROW {
        read_with_no_slot(&mut rig, a);
        assert_eq!(rig.expect(a), Err(BlockError::DeviceError));
        let stopped = &rig.driver.platform().corrupt;
        if k < REFUSED_IN_A_ROW {
            assert!(stopped.is_empty(), "stopped after {k} refusal(s)");
        } else {
            assert_eq!(stopped, &[Corrupt::RefusesRequests]);
        }
    }
    // A request handed over in between starts the count again.
    let mut rig = Rig::new(&Disk::default());
    for round in 0..3 {
        for i in 0..SLOTS {
            rig.read(client(10 + i as u16), 0, 512);
        }
        for _ in 1..REFUSED_IN_A_ROW {
            read_with_no_slot(&mut rig, a);
            assert_eq!(rig.expect(a), Err(BlockError::DeviceError));
        }
        rig.device_completes_all();
        for i in 0..SLOTS {
            assert!(rig.expect(client(10 + i as u16)).is_ok(), "round {round}");
        }
    }
    assert_eq!(rig.driver.platform().corrupt, []);
}

/// A request "from" a caller whose own request is still in flight is never
/// acted on: the kernel cannot deliver one (a caller waits in its send
/// until its reply), so the header the driver read is not the message it
/// received. A fault campaign's flip of blk0's x18 (where its `recv` stub
/// stores the header) had it act on such a mix: an earlier caller's write
/// header with a new caller's body, posting the earlier caller's lease,
/// still lent, as data for the new request's sector (64 there). The driver
/// stops and says why, with nothing handed to the device; the first call
/// is answered as it would have been.
#[test]
fn a_request_from_a_caller_already_waiting_is_not_acted_on() {
    use idol_runtime::Ipc;
    let mut rig = Rig::new(&Disk::default());
    let mut buffer = [0u8; virtio_blk::BLOCK_BUFFER_SIZE];
    let (a, b) = (client(1), client(2));
    let sector_64 = rig.disk(64, 512);
    rig.kernel.queue_message(
        a,
        BlockOp::Write as u32,
        &0u64.to_le_bytes(),
        0,
        vec![MockLease {
            attributes: abi::LEASE_READ,
            data: pattern(1, 1024),
        }],
    );
    let header_a = rig.ipc.recv(&mut buffer, rig.driver.mask(), None);
    rig.driver.handle(&buffer, &header_a);
    assert_eq!(rig.driver.in_flight(), 1);
    // b's read of sector 64 arrives; the driver reads a's header with it.
    rig.kernel.queue_message(
        b,
        BlockOp::Read as u32,
        &64u64.to_le_bytes(),
        0,
        vec![MockLease {
            attributes: abi::LEASE_WRITE,
            data: vec![0; 512],
        }],
    );
    let header_b = rig.ipc.recv(&mut buffer, rig.driver.mask(), None);
    assert_eq!(header_b.sender, b);
    rig.driver.handle(&buffer, &header_a);
    assert_eq!(
        rig.driver.in_flight(),
        1,
        "a's lease went to the device a second time"
    );
    assert_eq!(
        rig.driver.platform().corrupt,
        [Corrupt::CallerAlreadyWaiting]
    );
    rig.device_completes_all();
    assert_eq!(rig.expect(a), Ok(pattern(1, 1024)), "a's write answered");
    assert_eq!(rig.disk(0, 1024), pattern(1, 1024));
    assert_eq!(rig.disk(64, 512), sector_64, "sector 64 was written");
    assert!(rig.answer(b).is_none(), "b answered with a's answer");
}

/// Hands the driver a read though it has no slot free (its loop would not
/// receive one then; a corrupt slot table would think so).
fn read_with_no_slot(rig: &mut Rig, who: abi::TaskId) {
    use idol_runtime::Ipc;
    rig.kernel.queue_message(
        who,
        BlockOp::Read as u32,
        &0u64.to_le_bytes(),
        0,
        vec![MockLease {
            attributes: abi::LEASE_WRITE,
            data: vec![0; 512],
        }],
    );
    let mut buffer = [0u8; virtio_blk::BLOCK_BUFFER_SIZE];
    let msg = rig.ipc.recv(&mut buffer, rig.driver.mask(), None);
    rig.driver.handle(&buffer, &msg);
}

/// Every length a client may lend, at offsets the other tests do not use,
/// read and written: served exactly (the bytes on the disk and in the
/// lease are the ones asked for) or refused with the error that says why,
/// with nothing reaching the device and the disk unchanged.
#[test]
fn every_length_and_offset_is_served_exactly_or_refused_with_its_error() {
    const LENGTHS: [usize; 10] = [0, 1, 511, 512, 513, 4095, 4096, 4608, 65535, MAX_TRANSFER];
    let end = DISK_SECTORS as u64;
    for version in [1, 2] {
        let mut rig = Rig::new(&Disk {
            version,
            ..Disk::default()
        });
        let c = client(1);
        for (n, len) in LENGTHS.into_iter().enumerate() {
            let sectors = len.div_ceil(512) as u64;
            for sector in [
                0,
                1,
                3,
                end - sectors,
                end - sectors + 1,
                end,
                end + 1,
                u64::MAX,
            ] {
                let want = if len % 512 != 0 {
                    Err(BlockError::UnalignedLength)
                } else if sector.checked_add(sectors).is_none_or(|e| e > end) {
                    Err(BlockError::OutOfRange)
                } else {
                    Ok(())
                };
                let what = format!("v{version} {len} bytes at sector {sector}");
                // The disk as it was, to see that a refusal changes nothing.
                let before = rig.disk(0, DISK_SECTORS * 512);
                let data = pattern(n as u8 ^ sector as u8 ^ 0x5A, len);
                rig.write(c, sector, data.clone());
                rig.device_completes_all();
                let wrote = rig.expect(c);
                match want {
                    Ok(()) => {
                        assert_eq!(wrote, Ok(data.clone()), "{what}: write");
                        let at = sector as usize;
                        assert_eq!(rig.disk(at, len), data, "{what}: on the disk");
                        let mut rest = before.clone();
                        rest[at * 512..at * 512 + len].copy_from_slice(&data);
                        assert!(
                            rig.disk(0, DISK_SECTORS * 512) == rest,
                            "{what}: other sectors changed"
                        );
                    }
                    Err(e) => {
                        assert_eq!(wrote, Err(e), "{what}: write");
                        assert!(
                            rig.disk(0, DISK_SECTORS * 512) == before,
                            "{what}: refused write changed the disk"
                        );
                    }
                }
                rig.read(c, sector, len);
                rig.device_completes_all();
                let read = rig.expect(c);
                match want {
                    Ok(()) => assert_eq!(read, Ok(data), "{what}: read"),
                    Err(e) => assert_eq!(read, Err(e), "{what}: read"),
                }
            }
        }
        // A lease one byte or one sector past 64 KiB is refused at
        // dispatch, before the driver sees it, and nothing reaches the disk.
        for len in [MAX_TRANSFER + 1, MAX_TRANSFER + 512] {
            let before = rig.disk(0, DISK_SECTORS * 512);
            for (op, attributes) in [
                (BlockOp::Read, abi::LEASE_WRITE),
                (BlockOp::Write, abi::LEASE_READ),
            ] {
                rig.call(
                    c,
                    op,
                    &0u64.to_le_bytes(),
                    0,
                    vec![MockLease {
                        attributes,
                        data: vec![0xA5; len],
                    }],
                );
                rig.device_completes_all();
                assert_eq!(
                    rig.kernel.take_answer(c).unwrap().outcome,
                    Some(Outcome::Fault(ReplyFaultReason::BadLeases)),
                    "v{version} {op:?} of {len} bytes"
                );
            }
            assert!(
                rig.disk(0, DISK_SECTORS * 512) == before,
                "{len}-byte lease changed the disk"
            );
        }
    }
}
