//! Seeded random events against the bus state machine:
//! devices with any ids (including 0 and u32::MAX, hostile versions),
//! drivers with any task index and id tables, and every event with
//! arguments in and out of range. What must hold after every event: no
//! panic; a slot is Bound or Removing exactly when a registered driver
//! names it, and no driver holds two slots; an Empty slot has no device.

use fault_inject::plan::Rng;
use virtio_bus::{Bus, DeviceIdent, Registration};
use virtio_bus_api::{SlotState, NO_DRIVER, SLOTS};

fn check(bus: &Bus, seed: u64, step: usize, what: &str) {
    let t = bus.table();
    let mut holders = std::collections::BTreeMap::new();
    for (slot, e) in t.slots.iter().enumerate() {
        let st = SlotState::from_u32(e.state);
        match st {
            SlotState::Bound | SlotState::Removing => {
                assert_ne!(
                    e.driver, NO_DRIVER,
                    "seed {seed} step {step} ({what}): slot {slot} {st:?} without driver"
                );
                let prev = holders.insert(e.driver, slot);
                assert!(
                    prev.is_none(),
                    "seed {seed} step {step} ({what}): driver {} holds slots {prev:?} and {slot}",
                    e.driver
                );
                assert_eq!(
                    bus.slot_of(e.driver as u16),
                    Some(slot),
                    "seed {seed} step {step} ({what}): slot_of disagrees"
                );
            }
            SlotState::Empty => {
                assert_eq!(
                    e.device_id, 0,
                    "seed {seed} step {step} ({what}): empty slot {slot} with a device"
                );
            }
            _ => {}
        }
    }
}

#[test]
fn seeded_bus_events_keep_the_invariants() {
    for seed in 1..=1000u64 {
        let mut rng = Rng::new(seed, 0);
        let ids = [0u32, 1, 2, 4, 2, 2, u32::MAX, 0x8000_0000];
        let mut devices = [None; SLOTS];
        for d in devices.iter_mut() {
            if rng.below(3) != 0 {
                *d = Some(DeviceIdent {
                    device_id: ids[rng.below(ids.len() as u64) as usize],
                    vendor_id: rng.next_u64() as u32,
                    version: [0, 1, 2, 3, u32::MAX][rng.below(5) as usize],
                });
            }
        }
        let mut bus = Bus::new(devices);
        check(&bus, seed, 0, "new");
        let tasks = [0u16, 1, 2, 3, 4, 5, 9, 15, u16::MAX];
        for step in 1..200 {
            let task = tasks[rng.below(tasks.len() as u64) as usize];
            let slot = if rng.below(8) == 0 {
                rng.next_u64() as usize
            } else {
                rng.below(SLOTS as u64 + 1) as usize
            };
            let what = match rng.below(10) {
                0 | 1 => {
                    let mut reg_ids = [0u32; 4];
                    for i in reg_ids.iter_mut() {
                        *i = ids[rng.below(ids.len() as u64) as usize];
                    }
                    let r = Registration {
                        task,
                        ids: reg_ids,
                        irq_bits: rng.next_u64() as u32,
                        remove_bits: rng.next_u64() as u32,
                        probe_bits: rng.next_u64() as u32,
                    };
                    if rng.below(2) == 0 {
                        let _ = bus.register(r);
                    } else {
                        let _ = bus.register_ranked(r, rng.next_u64() as usize);
                    }
                    "register"
                }
                2 => {
                    let _ = bus.removed(task);
                    "removed"
                }
                3 => {
                    let _ = bus.unbind(slot);
                    "unbind"
                }
                4 => {
                    let _ = bus.bind(slot);
                    "bind"
                }
                5 => {
                    let _ = bus.driver_died(task);
                    "driver_died"
                }
                6 => {
                    bus.mark_failed(slot);
                    "mark_failed"
                }
                7 => {
                    let _ = bus.removal_timed_out(slot);
                    "removal_timed_out"
                }
                8 => {
                    bus.grant_failed(task);
                    "grant_failed"
                }
                _ => {
                    let _ = bus.unasked_release(task);
                    let _: Vec<usize> = bus.removing().collect();
                    "unasked_release"
                }
            };
            check(&bus, seed, step, what);
        }
    }
}
