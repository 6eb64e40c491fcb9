//! The split virtqueue's operations against the model: round trips, order,
//! fullness, index wrap-around, notification suppression both ways, and
//! shutdown.

use virtio::{Blame, Buf, Error, Features, Transport};

use crate::model::device::{BLK_T_IN, BLK_T_OUT, SECTOR};
use crate::model::{Rig, Setup, INDIRECT_LEN};

/// Every combination of transport version and the two ring features.
fn setups() -> Vec<Setup> {
    let mut all = Vec::new();
    for version in [1, 2] {
        for event_idx in [false, true] {
            for indirect in [false, true] {
                all.push(Setup {
                    version,
                    event_idx,
                    indirect,
                    ..Setup::default()
                });
            }
        }
    }
    all
}

#[test]
fn chains_of_1_to_n_descriptors_round_trip() {
    for setup in setups() {
        let mut rig: Rig<16> = setup.build();
        let size = rig.queue.size();
        assert_eq!(size, 16);
        for n in 1..=usize::from(size) {
            let len = 8 + n as u32;
            let bufs = rig.add_rng(n, len, n as u32).unwrap();
            let indirect = setup.indirect && n > 1 && n <= INDIRECT_LEN;
            let descs = if indirect { 1 } else { n as u16 };
            assert_eq!(rig.queue.num_free(), size - descs);
            rig.kick();
            assert_eq!(rig.fetch(), 1);
            {
                let dev = rig.dev.borrow();
                let chain = &dev.pending(0)[0];
                assert_eq!(chain.indirect, indirect, "n = {n}");
                assert_eq!(chain.descs.len(), usize::from(descs));
                assert_eq!(chain.writable.len(), n);
                assert!(chain.readable.is_empty());
            }
            rig.complete(0);
            assert_eq!(rig.drain(), vec![(n as u32, n as u32 * len)]);
            assert_eq!(rig.queue.num_free(), size);
            for b in bufs {
                assert_ne!(rig.read(b), vec![0; len as usize], "device filled it");
            }
        }
    }
}

fn blk_header(kind: u32, sector: u64) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&kind.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&sector.to_le_bytes());
    h
}

#[test]
fn blk_write_then_read_back() {
    for setup in setups() {
        let mut rig: Rig<16> = Setup {
            blk: true,
            ..setup.clone()
        }
        .build();
        // Write sector 3: header and two halves of data device-readable,
        // status device-writable.
        let header = rig.buf(16);
        rig.write(header, &blk_header(BLK_T_OUT, 3));
        let data: Vec<u8> = (0..SECTOR).map(|i| (i % 251) as u8).collect();
        let (d0, d1) = (rig.buf(256), rig.buf(256));
        rig.write(d0, &data[..256]);
        rig.write(d1, &data[256..]);
        let status = rig.buf(1);
        rig.write(status, &[0xff]);
        rig.add(&[header, d0, d1], &[status], 1).unwrap();
        rig.kick();
        rig.service();
        assert_eq!(rig.drain(), vec![(1, 1)]);
        assert_eq!(rig.read(status), vec![0]);

        // Read it back into three device-writable buffers + status.
        let header = rig.buf(16);
        rig.write(header, &blk_header(BLK_T_IN, 3));
        let parts = [rig.buf(100), rig.buf(300), rig.buf(112)];
        let status = rig.buf(1);
        rig.add(&[header], &[parts[0], parts[1], parts[2], status], 2)
            .unwrap();
        rig.kick();
        rig.service();
        assert_eq!(rig.drain(), vec![(2, SECTOR as u32 + 1)]);
        let back: Vec<u8> = parts.iter().flat_map(|&p| rig.read(p)).collect();
        assert_eq!(back, data);
        assert_eq!(rig.read(status), vec![0]);
    }
}

/// A 16-entry queue of `setup` with six chains of 1, 2, 3, 1, 2, 3
/// buffers (4 writable bytes each; tokens 0 to 5) made available.
fn six_chains(setup: &Setup) -> Rig<16> {
    let mut rig = setup.build();
    for t in 0..6 {
        rig.add_rng(1 + t as usize % 3, 4, t).unwrap();
    }
    rig.kick();
    rig
}

#[test]
fn out_of_order_and_delayed_completion() {
    for setup in setups() {
        let mut rig = six_chains(&setup);
        assert_eq!(rig.fetch(), 6);
        // Nothing completed yet: delayed.
        assert_eq!(rig.queue.get_buf(), Ok(None));
        // Complete tokens 4, 1, 5 (pending indices shift as chains leave).
        rig.complete(4);
        rig.complete(1);
        rig.complete(3);
        assert_eq!(rig.drain(), vec![(4, 8), (1, 8), (5, 12)]);
        rig.dev.borrow_mut().complete_all(0);
        assert_eq!(rig.drain(), vec![(0, 4), (2, 12), (3, 4)]);
        assert_eq!(rig.queue.num_free(), 16);
        assert_eq!(rig.queue.in_flight(), 0);
    }
}

#[test]
fn queue_full_direct() {
    let mut rig: Rig<8> = Setup::default().build();
    rig.add_rng(3, 4, 1).unwrap();
    rig.add_rng(3, 4, 2).unwrap();
    assert_eq!(rig.add_rng(3, 4, 3).err(), Some(Error::QueueFull));
    assert_eq!(Error::QueueFull.blame(), Blame::Driver);
    rig.add_rng(2, 4, 3).unwrap();
    assert_eq!(rig.queue.num_free(), 0);
    assert_eq!(rig.add_rng(1, 4, 4).err(), Some(Error::QueueFull));
    rig.kick();
    rig.fetch();
    rig.complete(1);
    assert_eq!(rig.drain(), vec![(2, 12)]);
    rig.add_rng(3, 4, 4).unwrap();
    rig.kick();
    rig.service();
    let mut got: Vec<u32> = rig.drain().into_iter().map(|(t, _)| t).collect();
    got.sort_unstable();
    assert_eq!(got, vec![1, 3, 4]);
}

#[test]
fn queue_full_indirect() {
    let mut rig: Rig<8> = Setup {
        indirect: true,
        ..Setup::default()
    }
    .build();
    for t in 0..8 {
        rig.add_rng(4, 4, t).unwrap();
    }
    assert_eq!(rig.add_rng(2, 4, 8).err(), Some(Error::QueueFull));
    rig.kick();
    assert_eq!(rig.service(), 8);
    assert_eq!(rig.drain().len(), 8);
    assert_eq!(rig.queue.num_free(), 8);
}

#[test]
fn bad_chains_are_refused() {
    let mut rig: Rig<8> = Setup::default().build();
    assert_eq!(rig.add(&[], &[], 1), Err(Error::EmptyChain));
    assert_eq!(rig.add_rng(9, 4, 1).err(), Some(Error::ChainTooLong));
    let huge = [Buf::new(0x1000, u32::MAX), Buf::new(0x2000, u32::MAX)];
    assert_eq!(rig.add(&huge, &[], 1), Err(Error::ChainTooLong));
    // Nothing was made available.
    assert_eq!(rig.queue.num_free(), 8);
    assert!(!rig.kick());
    assert_eq!(rig.fetch(), 0);
}

#[test]
fn indirect_only_when_negotiated() {
    // The driver wants indirect tables and provides them, the device does
    // not offer the feature: chains stay direct (the model panics on an
    // INDIRECT descriptor without the feature).
    let setup = Setup {
        indirect: true,
        ..Setup::default()
    };
    let mut dev = setup.device();
    dev.offered &= !(1 << 28);
    let mut rig: Rig<8> = Rig::bring_up(dev.shared(), setup.understood(), true);
    assert!(!rig.features.contains(Features::VIRTIO_F_INDIRECT_DESC));
    rig.add_rng(4, 4, 1).unwrap();
    assert_eq!(rig.queue.num_free(), 4);
    rig.kick();
    rig.service();
    assert_eq!(rig.drain(), vec![(1, 16)]);
}

/// Runs `ops` add/kick/complete/get cycles of varying batch sizes on a
/// queue of 4, so both 16-bit indices wrap (more than once for `avail`'s
/// slot arithmetic).
fn wrap_around(setup: Setup) {
    let mut rig: Rig<4> = setup.build();
    let bufs: Vec<Buf> = (0..4).map(|_| rig.buf(2)).collect();
    let mut token = 0u32;
    let mut done = 0u64;
    let mut round = 0usize;
    while token < 70_000 {
        let batch = 1 + round % 4;
        round += 1;
        for b in bufs.iter().take(batch) {
            rig.add(&[], &[*b], token).unwrap();
            token += 1;
        }
        assert!(rig.kick(), "the model always wants a notification");
        rig.dev.borrow_mut().fetch(0);
        // Reverse order every other round.
        if round.is_multiple_of(2) {
            for i in (0..batch).rev() {
                rig.complete(i);
            }
        } else {
            rig.dev.borrow_mut().complete_all(0);
        }
        let got = rig.drain();
        assert_eq!(got.len(), batch);
        for (t, len) in got {
            assert!(
                t < token && t + batch as u32 >= token,
                "token {t} from this batch"
            );
            assert_eq!(len, 2);
        }
        done += batch as u64;
        assert!(rig.queue.restart());
    }
    assert!(done > 65_536);
    assert_eq!(rig.dev.borrow().avail_idx(0), (token % 65_536) as u16);
    assert_eq!(rig.queue.num_free(), 4);
    assert_eq!(rig.dev.borrow().notifications.len(), round);
}

#[test]
fn wrap_around_past_65536_operations() {
    wrap_around(Setup::default());
}

#[test]
fn wrap_around_past_65536_operations_event_idx() {
    wrap_around(Setup {
        event_idx: true,
        indirect: true,
        version: 1,
        ..Setup::default()
    });
}

#[test]
fn restart_false_when_a_completion_raced_in() {
    for setup in setups() {
        let mut rig: Rig<8> = setup.build();
        rig.queue.disable_callbacks();
        rig.add_rng(1, 4, 1).unwrap();
        rig.kick();
        rig.service();
        // Suppressed: the device did not interrupt.
        assert_eq!(rig.dev.borrow().interrupts, 0, "{}", setup.event_idx);
        // The completion is already there: not safe to sleep.
        assert!(!rig.queue.restart());
        // ... and notifications stay off meanwhile (the seed's contract).
        rig.add_rng(1, 4, 2).unwrap();
        rig.kick();
        rig.service();
        assert_eq!(rig.dev.borrow().interrupts, 0);
        assert_eq!(rig.drain(), vec![(1, 4), (2, 4)]);
        assert!(rig.queue.restart());
        // Enabled: the next completion interrupts.
        rig.add_rng(1, 4, 3).unwrap();
        rig.kick();
        rig.service();
        assert_eq!(rig.dev.borrow().interrupts, 1);
        assert_eq!(rig.drain(), vec![(3, 4)]);
        // Still enabled after get_buf (event idx re-armed by get_buf).
        rig.add_rng(1, 4, 4).unwrap();
        rig.kick();
        rig.service();
        assert_eq!(rig.dev.borrow().interrupts, 2);
        assert_eq!(rig.drain(), vec![(4, 4)]);
    }
}

/// `nothing_used` lets a driver wait for the interrupt without `restart`
/// (virtio-blk's poll right after a kick): whenever it says so, the next
/// completion interrupts; with notifications off, or a completion not yet
/// taken, it says no.
#[test]
fn nothing_used_only_when_the_next_completion_interrupts() {
    for setup in setups() {
        let mut rig: Rig<8> = setup.build();
        let ev = setup.event_idx;
        for token in 1..=3 {
            rig.add_rng(1, 4, token).unwrap();
            rig.kick();
            assert!(rig.queue.nothing_used(), "{ev}: {token}");
            rig.service();
            assert_eq!(rig.dev.borrow().interrupts, token, "{ev}");
            assert!(!rig.queue.nothing_used(), "{ev}: a completion waits");
            assert_eq!(rig.drain(), vec![(token, 4)]);
        }
        // Off: not safe to wait, however quiet the device.
        rig.queue.disable_callbacks();
        rig.add_rng(1, 4, 4).unwrap();
        rig.kick();
        assert!(!rig.queue.nothing_used(), "{ev}: notifications off");
        rig.service();
        assert_eq!(rig.dev.borrow().interrupts, 3, "{ev}");
        assert_eq!(rig.drain(), vec![(4, 4)]);
        assert!(rig.queue.restart());
        assert!(rig.queue.nothing_used(), "{ev}: on again");
        rig.add_rng(1, 4, 5).unwrap();
        rig.kick();
        rig.service();
        assert_eq!(rig.dev.borrow().interrupts, 4, "{ev}");
    }
}

#[test]
fn kick_honours_no_notify() {
    let mut rig: Rig<8> = Setup::default().build();
    rig.dev.borrow_mut().set_no_notify(0, true);
    rig.add_rng(1, 4, 1).unwrap();
    assert!(!rig.kick());
    assert!(rig.dev.borrow().notifications.is_empty());
    rig.dev.borrow_mut().set_no_notify(0, false);
    rig.add_rng(1, 4, 2).unwrap();
    assert!(rig.kick());
    assert_eq!(rig.dev.borrow().notifications, vec![0]);
    // Nothing new: no notification.
    assert!(!rig.kick());
    rig.service();
    assert_eq!(rig.drain().len(), 2);
}

#[test]
fn kick_honours_avail_event() {
    let mut rig: Rig<8> = Setup {
        event_idx: true,
        ..Setup::default()
    }
    .build();
    // avail_event starts at 0: the first buffer (idx 0 -> 1) crosses it.
    rig.add_rng(1, 4, 1).unwrap();
    assert!(rig.kick());
    // The device has not fetched, so avail_event is still 0: no notify.
    rig.add_rng(1, 4, 2).unwrap();
    assert!(!rig.kick());
    // The device asks to be told when index 3 is made available (the 4th
    // buffer): adding the 3rd does not cross it, the 4th does.
    rig.dev.borrow_mut().set_avail_event(0, 3);
    rig.add_rng(1, 4, 3).unwrap();
    assert!(!rig.kick());
    rig.add_rng(1, 4, 4).unwrap();
    assert!(rig.kick());
    // Several buffers in one kick across the event also notify.
    rig.dev.borrow_mut().set_avail_event(0, 5);
    rig.add_rng(1, 4, 5).unwrap();
    rig.add_rng(1, 4, 6).unwrap();
    rig.add_rng(1, 4, 7).unwrap();
    assert!(rig.kick());
    assert_eq!(rig.dev.borrow().notifications.len(), 3);
    rig.service();
    assert_eq!(rig.drain().len(), 7);
}

#[test]
fn shutdown_returns_exactly_the_outstanding_tokens() {
    for setup in setups() {
        let mut rig = six_chains(&setup);
        rig.fetch();
        // Tokens 1 and 3 complete and are taken; 4 completes but is not
        // taken; 0, 2, 5 stay with the device; 6 and 7 are never fetched.
        rig.complete(1);
        rig.complete(2);
        rig.complete(2);
        assert_eq!(rig.queue.get_buf().unwrap(), Some((1, 8)));
        assert_eq!(rig.queue.get_buf().unwrap(), Some((3, 4)));
        rig.add_rng(2, 4, 6).unwrap();
        rig.add_rng(1, 4, 7).unwrap();
        rig.kick();
        assert_eq!(rig.reset_and_shutdown(), vec![0, 2, 4, 5, 6, 7]);
        assert_eq!(rig.queue.num_free(), 16);
        assert_eq!(rig.queue.in_flight(), 0);
        assert!(!rig.queue.is_broken());
        // Nothing left: a second shutdown yields nothing.
        assert_eq!(rig.queue.shutdown().count(), 0);

        // The queue works again once the device is brought back up.
        rig.reattach(setup.understood());
        rig.add_rng(3, 4, 9).unwrap();
        rig.kick();
        rig.service();
        assert_eq!(rig.drain(), vec![(9, 12)]);
    }
}

#[test]
fn leaked_shutdown_iterator_keeps_the_queue_refusing() {
    let mut rig: Rig<8> = Setup::default().build();
    rig.add_rng(1, 4, 1).unwrap();
    rig.add_rng(1, 4, 2).unwrap();
    rig.transport.reset().unwrap();
    let mut it = rig.queue.shutdown();
    assert_eq!(it.next(), Some(1));
    std::mem::forget(it);
    assert!(rig.queue.is_broken());
    assert_eq!(rig.add_rng(1, 4, 3).err(), Some(Error::QueueBroken));
    // Shutting down again finishes the job: token 2, once.
    assert_eq!(rig.queue.shutdown().collect::<Vec<_>>(), vec![2]);
    assert!(!rig.queue.is_broken());
}

#[test]
fn used_event_is_left_alone_while_callbacks_are_disabled() {
    use virtio::queue::layout::RingOffsets;
    let mut rig: Rig<8> = Setup {
        event_idx: true,
        ..Setup::default()
    }
    .build();
    let used_event = rig.queue.layout().desc + RingOffsets::new(8).used_event() as u64;
    let read = |rig: &Rig<8>| rig.dev.borrow().mem.read_u16(used_event);

    rig.queue.disable_callbacks();
    let parked = read(&rig);
    // Completions drained with callbacks off must not move used_event
    // forward: that would ask the device for the interrupts just declined.
    for t in 0..5 {
        rig.add_rng(1, 4, t).unwrap();
        rig.kick();
        rig.service();
        assert_eq!(rig.drain(), vec![(t, 4)]);
        assert_eq!(read(&rig), parked, "after completion {t}");
    }
    // Re-enabled (nothing pending), it points at the next completion again.
    assert!(rig.queue.restart());
    assert_eq!(read(&rig), 5);
}

#[test]
fn bufs_describe_exactly_the_memory_given() {
    let bytes = [0u8; 24];
    let b = Buf::from_slice(&bytes).expect("24 bytes fit a descriptor");
    assert_eq!(b.addr(), bytes.as_ptr().expose_provenance() as u64);
    assert_eq!(b.len(), 24);
    assert!(!b.is_empty());
    let empty = Buf::from_slice(&bytes[..0]).unwrap();
    assert!(empty.is_empty());
    assert!(Buf::new(0x8000_0000, 0).is_empty());
    assert!(!Buf::new(0x8000_0000, 1).is_empty());
}

#[test]
fn status_and_interrupt_bits_combine_as_sets() {
    use virtio::{DeviceStatus, InterruptStatus};
    let ack = DeviceStatus::ACKNOWLEDGE;
    assert_eq!(ack | ack, ack);
    let up = ack | DeviceStatus::DRIVER | DeviceStatus::DRIVER_OK;
    assert_eq!(up, DeviceStatus(7));
    assert!(up.contains(DeviceStatus::DRIVER));
    assert!(!up.contains(DeviceStatus::FAILED));
    assert!(!DeviceStatus::RESET.contains(ack));

    let both = InterruptStatus(3);
    assert!(both.contains(InterruptStatus::USED_BUFFER));
    assert!(both.contains(InterruptStatus::CONFIG_CHANGE));
    assert!(!InterruptStatus::default().contains(InterruptStatus::USED_BUFFER));
    assert!(!InterruptStatus::CONFIG_CHANGE.contains(both));
    assert!(InterruptStatus::default().is_empty());
    assert!(!both.is_empty());
}
