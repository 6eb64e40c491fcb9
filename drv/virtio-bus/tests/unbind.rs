//! Operator unbinds repeated or interleaved with the driver's own reports:
//! a second request never changes where the first one is heading.

use virtio_bus::{Bus, DeviceIdent, Registration, Unbind};
use virtio_bus_api::{BusError, SlotState, SLOTS};

const BLK: u32 = 2;

fn bus_with_one_disk(slot: usize) -> Bus {
    let mut d = [None; SLOTS];
    d[slot] = Some(DeviceIdent {
        device_id: BLK,
        vendor_id: 0x554d_4551,
        version: 1,
    });
    Bus::new(d)
}

fn reg(task: u16) -> Registration {
    Registration {
        task,
        ids: [BLK, 0, 0, 0],
        irq_bits: 1,
        remove_bits: 2,
        probe_bits: 4,
    }
}

fn state(b: &Bus, slot: usize) -> SlotState {
    SlotState::from_u32(b.table().slots[slot].state)
}

#[test]
fn unbinding_a_bound_slot_twice_asks_the_driver_once() {
    let mut b = bus_with_one_disk(7);
    assert_eq!(b.register(reg(3)).map(|p| p.slot), Ok(7));
    assert_eq!(b.unbind(7), Ok(Unbind::AskDriver { task: 3, bits: 2 }));
    // Already on its way out: nothing more to ask.
    assert_eq!(b.unbind(7), Ok(Unbind::Done));
    assert_eq!(state(&b, 7), SlotState::Removing);
    assert_eq!(b.removing().collect::<Vec<_>>(), vec![7]);
    // The driver's report completes the one removal, to Unbound.
    assert_eq!(b.removed(3), Ok(7));
    assert_eq!(state(&b, 7), SlotState::Unbound);
    assert_eq!(b.slot_of(3), None);
    // A second report of the same removal is an error, not a state change.
    assert_eq!(b.removed(3), Err(BusError::NotBound));
    assert_eq!(state(&b, 7), SlotState::Unbound);
}

#[test]
fn unbinding_an_unbound_slot_is_refused_and_changes_nothing() {
    let mut b = bus_with_one_disk(2);
    assert_eq!(b.unbind(2), Ok(Unbind::Done));
    assert_eq!(state(&b, 2), SlotState::Unbound);
    assert_eq!(b.unbind(2), Err(BusError::NotBound));
    assert_eq!(state(&b, 2), SlotState::Unbound);
    // A driver registering now is not given the unbound slot.
    assert_eq!(b.register(reg(4)), Err(BusError::NoDevice));
    assert_eq!(b.slot_of(4), None);
    // Binding it again pokes that waiting driver.
    assert_eq!(
        b.bind(2).map(|p| p.map(|p| (p.task, p.bits))),
        Ok(Some((4, 4)))
    );
    assert_eq!(state(&b, 2), SlotState::Free);
}

#[test]
fn a_removal_timeout_after_a_double_unbind_restarts_the_driver_once() {
    let mut b = bus_with_one_disk(5);
    b.register(reg(6)).unwrap();
    b.unbind(5).unwrap();
    b.unbind(5).unwrap();
    assert_eq!(b.removal_timed_out(5), Some(6));
    assert_eq!(state(&b, 5), SlotState::Unbound);
    assert_eq!(b.removal_timed_out(5), None);
    assert_eq!(b.table().slots[5].driver, virtio_bus_api::NO_DRIVER);
}

#[test]
fn unbind_and_bind_outside_the_table_are_errors() {
    let mut b = bus_with_one_disk(0);
    assert_eq!(b.unbind(SLOTS), Err(BusError::NoSuchSlot));
    assert_eq!(b.bind(SLOTS), Err(BusError::NoSuchSlot));
    assert_eq!(b.unbind(usize::MAX), Err(BusError::NoSuchSlot));
    // An empty slot can be neither unbound nor bound: it has no device.
    assert_eq!(b.unbind(1), Err(BusError::NoDevice));
    assert_eq!(b.bind(1), Err(BusError::NoDevice));
}
