//! Hostile-device tests: a device whose queue sizes, config
//! space and used rings are wrong, and a seeded random device that does
//! anything to either ring. What must hold: no panic, every fault is a
//! `DeviceFault` with a reset, frames handed out are frames the device
//! completed (never longer than MAX_RECV), and once the device behaves the
//! driver works again.

use super::*;
use fault_inject::plan::Rng;

fn probe_dev(dev: &Rc<RefCell<Device>>) -> Result<TestNet, crate::ProbeError> {
    let mem = memory(dev);
    Net::probe(Regs(dev.clone()), mem, [2, 0, 0, 0, 0, 9], None)
}

/// A smaller transmit queue than the driver's 16 slots x 2 descriptors:
/// a legal device (QueueNumMax 16 is a fine power of two). The 9th frame in
/// flight does not fit the ring: the driver must say `QueueFull`, not
/// reset a device that did nothing wrong.
#[test]
fn a_small_transmit_queue_is_full_not_a_device_fault() {
    for version in [1, 2] {
        let dev = net_device(version, F_MAC | F_STATUS);
        dev.borrow_mut().set_queue_max(TX, 16);
        let mut net = probe_dev(&dev).expect("probe with tx QueueNumMax 16");
        let mut results = Vec::new();
        for i in 0..TX_SLOTS {
            results.push(send(&mut net, &frame(64, i as u8), 0));
        }
        assert_eq!(
            net.status().resets,
            0,
            "v{version}: a legal device with a 16-entry tx queue was reset: {results:?}"
        );
        assert!(
            results
                .iter()
                .all(|r| r.is_ok() || *r == Err(SendError::QueueFull)),
            "v{version}: {results:?}"
        );
    }
}

/// Same for the receive queue: 16 slots x 2 descriptors do not fit an
/// 8- or 16-entry ring. Probe should post what fits (or refuse with a
/// clear error naming the queue size), not fail with the driver-blamed
/// `QueueFull`.
#[test]
fn a_small_receive_queue_still_probes() {
    for max in [4u32, 8, 16] {
        let dev = net_device(2, F_MAC | F_STATUS);
        dev.borrow_mut().set_queue_max(RX, max);
        let r = probe_dev(&dev);
        assert!(r.is_ok(), "rx QueueNumMax {max}: {:?}", r.err());
    }
}

/// Queue sizes a device may not offer (0: no queue; not a power of two;
/// above what the driver supports) or tiny ones: a clear probe error or a
/// working device (a frame each way, no reset), never a panic.
#[test]
fn odd_queue_sizes_probe_or_refuse_cleanly() {
    let mut bad = Vec::new();
    for max in [0u32, 1, 2, 3, 33, 48, 100, 255, 65535, u32::MAX] {
        for q in [RX, TX] {
            let dev = net_device(2, F_MAC | F_STATUS);
            dev.borrow_mut().set_queue_max(q, max);
            match probe_dev(&dev) {
                Ok(mut net) => {
                    let f = frame(80, 1);
                    let rx_ok = deliver(&dev, &f) && {
                        net.interrupt(0);
                        take(&mut net) == Ok(f)
                    };
                    let tx = send(&mut net, &frame(64, 2), 0);
                    let sent = transmit_all(&dev).len();
                    if !rx_ok || tx.is_err() || sent != 1 || net.status().resets != 0 {
                        bad.push(format!(
                            "q{q} max {max}: probed, rx ok {rx_ok}, send {tx:?}, resets {}",
                            net.status().resets
                        ));
                    }
                }
                Err(e) => {
                    let s = dev.borrow().status();
                    if s != 0 && s & 0x80 == 0 {
                        bad.push(format!("q{q} max {max}: {e:?}, left at status {s:#x}"));
                    }
                }
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

/// Config space that never settles while the MAC or link is read at
/// probe: a clear error, and the device left reset or FAILED (the probe's
/// own contract), not half brought up with its queues live.
#[test]
fn unstable_config_at_probe_leaves_the_device_failed() {
    let mut bad = Vec::new();
    for version in [1, 2] {
        for offered in [F_MAC | F_STATUS, F_STATUS] {
            let dev = net_device(version, offered);
            dev.borrow_mut().config_churn = u32::MAX;
            let r = probe_dev(&dev);
            let s = dev.borrow().status();
            if r.is_err() && s != 0 && s & 0x80 == 0 {
                bad.push(format!(
                    "v{version} offered {offered:#x}: probe failed ({:?}) but left the device at status {s:#x}",
                    r.err()
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

/// A device that changes its MAC under the driver: with a config
/// interrupt, and again across a reset it asked for. The driver keeps the
/// address it probed, which the stack took for its own (its ARP answers
/// and every frame it sends carry it; ethernet's `mac` is asked once);
/// the change is no fault, and frames flow on both ways.
#[test]
fn a_mac_changed_under_the_driver_is_not_taken_up() {
    const OTHER: [u8; 6] = [0x02, 0xde, 0xad, 0xbe, 0xef, 0x01];
    for version in [1, 2] {
        let (dev, mut net) = probe(version);
        assert_eq!(net.mac(), MAC);
        {
            let mut d = dev.borrow_mut();
            d.config[..6].copy_from_slice(&OTHER);
            d.raise_config_change();
        }
        let ev = net.interrupt(0);
        assert_eq!(ev.fault, None, "v{version}: {ev:?}");
        assert_eq!(net.mac(), MAC, "v{version}: after the config change");
        dev.borrow_mut().set_needs_reset();
        assert_eq!(net.tick(1).fault, Some(DeviceFault::NeedsReset));
        assert!(net.is_live(), "v{version}: up again");
        assert_eq!(net.mac(), MAC, "v{version}: after the reset");
        let f = frame(80, 7);
        assert!(deliver(&dev, &f));
        net.interrupt(2);
        assert_eq!(take(&mut net).unwrap(), f, "v{version}");
        send(&mut net, &frame(64, 1), 2).unwrap();
        assert_eq!(transmit_all(&dev), [frame(64, 1)], "v{version}");
    }
}

/// Features withdrawn between incarnations (the device offers MAC at
/// probe, not after the reset): the bring-up is refused, and the driver
/// keeps saying so on every tick without panicking; once the device
/// offers them again it comes back.
#[test]
fn features_withdrawn_after_a_reset_then_restored() {
    let (dev, mut net) = probe(2);
    let offered = dev.borrow().offered;
    dev.borrow_mut().offered = offered & !F_MAC;
    dev.borrow_mut().set_needs_reset();
    let ev = net.tick(0);
    assert!(ev.fault.is_some(), "{ev:?}");
    assert!(!net.is_live());
    for t in 1..5 {
        assert!(net.tick(t).fault.is_some());
        assert_eq!(send(&mut net, &frame(64, 0), t), Err(SendError::DeviceDown));
    }
    dev.borrow_mut().offered = offered;
    let ev = net.tick(10);
    assert!(ev.fault.is_none() && net.is_live(), "{ev:?}");
    send(&mut net, &frame(64, 0), 10).unwrap();
    assert_eq!(transmit_all(&dev).len(), 1);
}

/// A seeded random device: honest deliveries and transmits mixed with
/// forged used entries (any id, any length), used-index jumps either way,
/// config churn, needs-reset, link flaps, and the client sending and
/// receiving through it. Whatever happens: no panic; a frame handed out is
/// at most MAX_RECV bytes; the driver stays live or comes back at the next
/// tick; after the hostility stops, a full round trip works.
#[test]
fn seeded_hostile_device_never_panics_and_recovers() {
    for seed in 1..=120u64 {
        for version in [1, 2] {
            let (dev, mut net) = probe(version);
            let mut rng = Rng::new(seed, version.into());
            let mut now = 0u64;
            for _step in 0..200 {
                now += rng.below(50);
                // The model refuses to play a device that is not up; a
                // device that is down does nothing this step.
                let up = dev.borrow().status() & 4 != 0;
                let q = if rng.below(2) == 0 { RX } else { TX };
                match rng.below(14) {
                    0 | 1 if up => {
                        let n = 14 + rng.below(1500) as usize;
                        deliver(&dev, &frame(n, seed as u8));
                    }
                    2 if up => {
                        let len = match rng.below(4) {
                            0 => rng.below(30) as u32,
                            1 => 12 + MAX_RECV as u32 + rng.below(3) as u32 - 1,
                            2 => u32::MAX - rng.below(4) as u32,
                            _ => rng.next_u64() as u32,
                        };
                        deliver_len(&dev, &frame(64, 0), len);
                    }
                    3 if up => {
                        let id = match rng.below(3) {
                            0 => rng.below(32) as u32,
                            1 => rng.below(70) as u32,
                            _ => rng.next_u64() as u32,
                        };
                        let len = rng.next_u64() as u32 % 2000;
                        dev.borrow_mut().hostile = true;
                        dev.borrow_mut().forge_used(q, id, len);
                    }
                    4 if up => {
                        let idx = dev.borrow().rings(q).map(|_| rng.next_u64() as u16);
                        if let Some(idx) = idx {
                            dev.borrow_mut().hostile = true;
                            dev.borrow_mut().set_used_idx(q, idx);
                        }
                    }
                    5 if up => {
                        transmit_all(&dev);
                    }
                    6 => {
                        dev.borrow_mut().set_needs_reset();
                    }
                    7 => {
                        let mut d = dev.borrow_mut();
                        d.config[6] = rng.below(2) as u8;
                        d.raise_config_change();
                    }
                    8 => {
                        dev.borrow_mut().config_churn = rng.below(40) as u32;
                        dev.borrow_mut().raise_config_change();
                    }
                    9 | 10 => {
                        let _ = send(&mut net, &frame(14 + rng.below(1500) as usize, 1), now);
                    }
                    11 => {
                        let mut got = None;
                        let _ = net.recv(MAX_RECV, |f| {
                            got = Some(f.len());
                            Ok::<(), ()>(())
                        });
                        if let Some(n) = got {
                            assert!((14..=MAX_RECV).contains(&n), "seed {seed}: frame of {n}");
                        }
                    }
                    12 => {
                        net.interrupt(now);
                    }
                    _ => {
                        net.tick(now);
                    }
                }
            }
            // The device behaves from here on.
            {
                let mut d = dev.borrow_mut();
                d.hostile = false;
                d.config_churn = 0;
                d.config[6] = 1;
            }
            // Drain whatever is waiting, then reset the device through a
            // transmit deadline if need be, and do a full round trip.
            while net.recv(MAX_RECV, |_| Ok::<(), ()>(())).is_ok() {}
            let mut ok = false;
            for _ in 0..4 {
                now += 2 * TX_DEADLINE_MS;
                if dev.borrow().status() & 4 != 0 {
                    dev.borrow_mut().set_needs_reset();
                }
                net.tick(now);
                net.tick(now + 1);
                if !net.is_live() {
                    continue;
                }
                transmit_all(&dev);
                net.interrupt(now + 1);
                while net.recv(MAX_RECV, |_| Ok::<(), ()>(())).is_ok() {}
                let f = frame(100, 42);
                if !deliver(&dev, &f) {
                    continue;
                }
                let ev = net.interrupt(now + 2);
                if ev.fault.is_some() {
                    continue;
                }
                if take(&mut net) != Ok(f.clone()) {
                    continue;
                }
                if send(&mut net, &frame(64, 3), now + 2).is_err() {
                    continue;
                }
                if transmit_all(&dev).len() != 1 {
                    continue;
                }
                ok = true;
                break;
            }
            assert!(ok, "seed {seed} v{version}: the driver did not recover");
        }
    }
}
