//! The bus state machine, event by event.

extern crate std;

use std::vec::Vec;

use super::*;

const BLK: u32 = 2;
const RNG: u32 = 4;

fn dev(device_id: u32) -> Option<DeviceIdent> {
    Some(DeviceIdent {
        device_id,
        vendor_id: 0x554d_4551,
        version: 2,
    })
}

fn reg(task: u16, id: u32) -> Registration {
    Registration {
        task,
        ids: [id, 0, 0, 0],
        irq_bits: 1,
        remove_bits: 2,
        probe_bits: 4,
    }
}

/// Slots as QEMU fills them: the last `-device` in the lowest slot.
fn bus() -> Bus {
    let mut d = [None; SLOTS];
    d[6] = dev(RNG);
    d[7] = dev(BLK);
    d[5] = dev(BLK);
    Bus::new(d)
}

fn state(b: &Bus, slot: usize) -> SlotState {
    SlotState::from_u32(b.table().slots[slot].state)
}

#[test]
fn enumeration_reports_exactly_the_devices_present() {
    let t = bus().table();
    for (i, e) in t.slots.iter().enumerate() {
        let expected = match i {
            5 | 7 => BLK,
            6 => RNG,
            _ => 0,
        };
        assert_eq!(e.device_id, expected, "slot {i}");
        assert_eq!(e.driver, NO_DRIVER);
    }
    assert_eq!(state(&bus(), 0), SlotState::Empty);
    assert_eq!(state(&bus(), 6), SlotState::Free);
}

#[test]
fn the_nth_driver_of_a_kind_finds_the_nth_device_whoever_registers_first() {
    // blk1 (the second block driver) starts first: it still gets the
    // second disk, and blk0 the first.
    let mut b = bus();
    assert_eq!(b.register_ranked(reg(2, BLK), 1).map(|p| p.slot), Ok(7));
    assert_eq!(b.register_ranked(reg(1, BLK), 0).map(|p| p.slot), Ok(5));
    // In order, the same.
    let mut b = bus();
    assert_eq!(b.register_ranked(reg(1, BLK), 0).map(|p| p.slot), Ok(5));
    assert_eq!(b.register_ranked(reg(2, BLK), 1).map(|p| p.slot), Ok(7));
    // A driver whose own device is taken, or missing, takes the lowest
    // free one it matches.
    let mut b = bus();
    assert_eq!(b.register_ranked(reg(1, BLK), 1).map(|p| p.slot), Ok(7));
    assert_eq!(b.register_ranked(reg(2, BLK), 1).map(|p| p.slot), Ok(5));
    let mut b = bus();
    assert_eq!(b.register_ranked(reg(3, RNG), 2).map(|p| p.slot), Ok(6));
}

#[test]
fn a_surplus_driver_starting_first_takes_no_device_of_a_peer_still_to_come() {
    // Three block drivers (tasks 1, 2, 3) for two disks; the third starts
    // first, on a loaded host.
    let peers = [1, 2, 3];
    let mut b = bus();
    assert_eq!(
        b.register_among(reg(3, BLK), &peers),
        Err(BusError::NoDevice),
        "the surplus driver took a disk of a driver not yet started"
    );
    assert_eq!(b.register_among(reg(1, BLK), &peers).map(|p| p.slot), Ok(5));
    assert_eq!(b.register_among(reg(2, BLK), &peers).map(|p| p.slot), Ok(7));
    // A peer that registered and gave its disk back (the operator's
    // unbind and bind) no longer keeps it from the others.
    let mut b = bus();
    assert_eq!(b.register_among(reg(1, BLK), &peers).map(|p| p.slot), Ok(5));
    assert_eq!(
        b.register_among(reg(3, BLK), &peers),
        Err(BusError::NoDevice)
    );
    b.driver_died(1);
    assert_eq!(b.unbind(5), Ok(Unbind::Done));
    assert!(b.bind(5).is_ok());
    assert_eq!(b.register_among(reg(3, BLK), &peers).map(|p| p.slot), Ok(5));
    // Nor does one the supervisor gave up on before it ever registered.
    let mut b = bus();
    b.gave_up(2);
    assert_eq!(b.register_among(reg(3, BLK), &peers).map(|p| p.slot), Ok(7));
    // A driver past the peers the supervisor can list is the last of them.
    let mut b = bus();
    assert_eq!(
        b.register_among(reg(9, BLK), &peers),
        Err(BusError::NoDevice)
    );
    b.gave_up(1);
    assert_eq!(b.register_among(reg(9, BLK), &peers).map(|p| p.slot), Ok(5));
}

#[test]
fn a_driver_is_probed_with_the_first_free_matching_device() {
    let mut b = bus();
    let p = b.register(reg(3, BLK)).unwrap();
    assert_eq!((p.slot, p.device_id, p.version), (5, BLK, 2));
    assert_eq!(state(&b, 5), SlotState::Bound);
    assert_eq!(b.table().slots[5].driver, 3);
    // A second instance gets the other disk, independently.
    let p2 = b.register(reg(4, BLK)).unwrap();
    assert_eq!(p2.slot, 7);
    assert_eq!(b.slot_of(3), Some(5));
    assert_eq!(b.slot_of(4), Some(7));
}

#[test]
fn a_driver_without_a_free_device_waits_and_is_poked_on_bind() {
    let mut b = bus();
    b.register(reg(3, RNG)).unwrap();
    assert_eq!(b.register(reg(4, RNG)), Err(BusError::NoDevice));
    // The operator unbinds the rng from driver 3...
    assert_eq!(b.unbind(6), Ok(Unbind::AskDriver { task: 3, bits: 2 }));
    assert_eq!(state(&b, 6), SlotState::Removing);
    assert_eq!(b.removed(3), Ok(6));
    assert_eq!(state(&b, 6), SlotState::Unbound);
    // ...nobody gets it while unbound...
    assert_eq!(b.register(reg(4, RNG)), Err(BusError::NoDevice));
    // ...and bind pokes a waiting driver, which then registers and is probed.
    let poke = b.bind(6).unwrap().unwrap();
    assert!(poke.task == 3 || poke.task == 4);
    assert_eq!(b.register(reg(poke.task, RNG)).unwrap().slot, 6);
}

#[test]
fn unbinding_a_free_slot_needs_no_driver() {
    let mut b = bus();
    assert_eq!(b.unbind(6), Ok(Unbind::Done));
    assert_eq!(state(&b, 6), SlotState::Unbound);
    assert_eq!(b.register(reg(3, RNG)), Err(BusError::NoDevice));
    assert_eq!(b.bind(6), Ok(Some(Poke { task: 3, bits: 4 })));
}

#[test]
fn bad_requests_get_errors_not_panics() {
    let mut b = bus();
    assert_eq!(b.unbind(8), Err(BusError::NoSuchSlot));
    assert_eq!(b.unbind(usize::MAX), Err(BusError::NoSuchSlot));
    assert_eq!(b.bind(99), Err(BusError::NoSuchSlot));
    // Slot 0 exists and holds no device: said so, not "no such slot".
    assert_eq!(b.bind(0), Err(BusError::NoDevice), "empty slot");
    assert_eq!(b.unbind(0), Err(BusError::NoDevice), "empty slot");
    assert_eq!(b.removed(3), Err(BusError::NotRegistered));
    assert_eq!(
        b.register(Registration {
            ids: [0; 4],
            ..reg(3, 0)
        }),
        Err(BusError::BadIdTable)
    );
    b.register(reg(3, BLK)).unwrap();
    assert_eq!(
        b.removed(3),
        Err(BusError::NotBound),
        "removed without a remove request"
    );
    assert_eq!(b.register(reg(3, BLK)), Err(BusError::AlreadyBound));
    assert_eq!(b.bind(5), Err(BusError::AlreadyBound));
}

#[test]
fn the_registry_has_a_limit() {
    let mut b = bus();
    for t in 0..MAX_DRIVERS as u16 {
        let _ = b.register(reg(10 + t, 99));
    }
    assert_eq!(b.register(reg(50, 99)), Err(BusError::TooManyDrivers));
    // Re-registering an existing driver still works.
    assert_eq!(b.register(reg(10, 99)), Err(BusError::NoDevice));
}

#[test]
fn a_dead_driver_frees_its_slot_for_the_next_incarnation() {
    let mut b = bus();
    b.register(reg(3, BLK)).unwrap();
    assert_eq!(b.driver_died(3), Some(5));
    assert_eq!(state(&b, 5), SlotState::Free);
    assert_eq!(b.table().slots[5].driver, NO_DRIVER);
    assert_eq!(b.register(reg(3, BLK)).unwrap().slot, 5);
    // A driver that held nothing dies quietly.
    assert_eq!(b.driver_died(9), None);
}

#[test]
fn only_a_release_the_bus_asked_for_is_a_removal() {
    let mut b = bus();
    assert_eq!(b.unasked_release(3), None, "not registered");
    b.register(reg(3, BLK)).unwrap();
    b.register(reg(4, 0xdead)).unwrap_err(); // registered, no device
    assert_eq!(b.unasked_release(4), None, "holds no slot");
    // Bound and not asked: the driver has lost track of its binding.
    assert_eq!(b.unasked_release(3), Some(5));
    // Asked (an unbind in progress): a removal like any other.
    b.unbind(5).unwrap();
    assert_eq!(b.unasked_release(3), None);
    assert_eq!(b.removed(3), Ok(5));
    assert_eq!(b.unasked_release(3), None, "released");
}

#[test]
fn a_driver_dying_during_an_unbind_leaves_the_slot_unbound() {
    let mut b = bus();
    b.register(reg(3, BLK)).unwrap();
    b.unbind(5).unwrap();
    assert_eq!(b.driver_died(3), Some(5));
    assert_eq!(state(&b, 5), SlotState::Unbound);
}

#[test]
fn a_removal_that_times_out_names_the_driver_to_restart() {
    let mut b = bus();
    b.register(reg(3, BLK)).unwrap();
    assert_eq!(b.removal_timed_out(5), None, "no removal in progress");
    b.unbind(5).unwrap();
    assert_eq!(b.removing().collect::<Vec<_>>(), [5]);
    assert_eq!(b.removal_timed_out(5), Some(3));
    assert_eq!(state(&b, 5), SlotState::Unbound);
    assert_eq!(b.slot_of(3), None);
}

#[test]
fn failed_slots_wait_for_the_operator() {
    let mut b = bus();
    b.register(reg(3, BLK)).unwrap();
    b.driver_died(3);
    b.mark_failed(5);
    assert_eq!(state(&b, 5), SlotState::Failed);
    // The other disk is still offered; the failed one is not.
    assert_eq!(b.register(reg(3, BLK)).unwrap().slot, 7);
    assert_eq!(b.register(reg(4, BLK)), Err(BusError::NoDevice));
    assert_eq!(b.bind(5), Ok(Some(Poke { task: 4, bits: 4 })));
}

#[test]
fn a_failed_grant_undoes_the_binding() {
    let mut b = bus();
    b.register(reg(3, BLK)).unwrap();
    b.grant_failed(3);
    assert_eq!(state(&b, 5), SlotState::Free);
    assert_eq!(b.slot_of(3), None);
}

/// A dead driver's slot is kept for its next incarnation: a red team's
/// second block driver, registering every 2 ms, took blk0's disk during
/// blk0's backoff and kept it (blk0 came back to `NoDevice`).
#[test]
fn a_dead_drivers_slot_is_kept_for_its_next_incarnation() {
    let mut d = [None; SLOTS];
    d[6] = dev(BLK);
    let mut b = Bus::new(d);
    assert_eq!(b.register_ranked(reg(1, BLK), 0).map(|p| p.slot), Ok(6));
    assert_eq!(b.driver_died(1), Some(6));
    assert_eq!(state(&b, 6), SlotState::Free);
    // The thief (another block driver, first or second of its kind) asks
    // during the backoff: nothing for it.
    assert_eq!(b.register_ranked(reg(3, BLK), 1), Err(BusError::NoDevice));
    assert_eq!(b.register_ranked(reg(3, BLK), 0), Err(BusError::NoDevice));
    // The restarted driver gets its disk back.
    assert_eq!(b.register_ranked(reg(1, BLK), 0).map(|p| p.slot), Ok(6));
    // Given up on (the restart limit, or a device that did not reset):
    // failed, for nobody until the operator binds it; then for whoever
    // waits.
    assert_eq!(b.driver_died(1), Some(6));
    b.mark_failed(6);
    assert_eq!(b.register_ranked(reg(3, BLK), 0), Err(BusError::NoDevice));
    assert!(b.bind(6).is_ok());
    assert_eq!(b.register_ranked(reg(3, BLK), 0).map(|p| p.slot), Ok(6));
    // The operator's bind of a kept slot hands it on too.
    assert_eq!(b.driver_died(3), Some(6));
    assert_eq!(b.register_ranked(reg(1, BLK), 1), Err(BusError::NoDevice));
    assert!(b.bind(6).is_ok());
    assert_eq!(b.register_ranked(reg(1, BLK), 1).map(|p| p.slot), Ok(6));
}
