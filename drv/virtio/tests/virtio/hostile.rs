//! A device that breaks the used-ring protocol (§2.7.8): each case yields
//! the error naming what it did, blamed on the device; the queue is then
//! broken, and `shutdown` after a reset returns every outstanding token
//! exactly once.

use virtio::{Blame, Error, Features};

use crate::model::{Rig, Setup};

/// After a device error: everything refuses, and reset + shutdown gives
/// back exactly `outstanding`; then the queue works again.
fn assert_broken_then_recovers(rig: &mut Rig<8>, outstanding: &[u32]) {
    assert!(rig.queue.is_broken());
    assert_eq!(rig.queue.get_buf(), Err(Error::QueueBroken));
    assert_eq!(rig.add_rng(1, 4, 100).err(), Some(Error::QueueBroken));
    assert!(!rig.queue.restart());
    assert!(!rig.kick());
    assert_eq!(rig.reset_and_shutdown(), outstanding);
    assert_eq!(rig.queue.num_free(), 8);
    rig.reattach(Features::bit(5));
    rig.add_rng(2, 4, 50).unwrap();
    rig.kick();
    rig.service();
    assert_eq!(rig.drain(), vec![(50, 8)]);
}

/// A rig whose device has fetched these chains (`(buffers, token)`, each
/// buffer 4 writable bytes), kicked in this order.
fn fetched(chains: &[(usize, u32)]) -> Rig<8> {
    let mut rig = rig();
    for &(buffers, token) in chains {
        rig.add_rng(buffers, 4, token).unwrap();
    }
    rig.kick();
    rig.fetch();
    rig
}

/// The device sets its used index to `used_idx` where the driver last saw
/// `last_seen`: the next `get_buf` reports the jump.
fn assert_used_index_jump(rig: &mut Rig<8>, last_seen: u16, used_idx: u16) {
    rig.dev.borrow_mut().set_used_idx(0, used_idx);
    assert_eq!(
        rig.queue.get_buf(),
        Err(Error::UsedIndexJump {
            last_seen,
            used_idx
        })
    );
}

fn rig() -> Rig<8> {
    Setup::default().build()
}

#[test]
fn used_id_out_of_range() {
    let mut rig = fetched(&[(1, 1)]);
    rig.dev.borrow_mut().push_used(0, 8, 0);
    let err = rig.queue.get_buf().unwrap_err();
    assert_eq!(err, Error::UsedIdOutOfRange { id: 8 });
    assert_eq!(err.blame(), Blame::Device);
    assert_broken_then_recovers(&mut rig, &[1]);

    let mut rig = self::rig();
    rig.add_rng(1, 4, 1).unwrap();
    rig.dev.borrow_mut().push_used(0, u32::MAX, 0);
    assert_eq!(
        rig.queue.get_buf(),
        Err(Error::UsedIdOutOfRange { id: u32::MAX })
    );
}

#[test]
fn used_id_not_a_head_in_flight() {
    // A chain of 3 takes descriptors 0, 1, 2 with head 0.
    let mut rig = fetched(&[(3, 1)]);
    // Descriptor 1 is in the chain but not its head.
    rig.dev.borrow_mut().push_used(0, 1, 0);
    assert_eq!(rig.queue.get_buf(), Err(Error::UsedIdNotInFlight { id: 1 }));
    assert_broken_then_recovers(&mut rig, &[1]);

    // Descriptor 5 was never used.
    let mut rig = self::rig();
    rig.add_rng(1, 4, 1).unwrap();
    rig.dev.borrow_mut().push_used(0, 5, 0);
    assert_eq!(rig.queue.get_buf(), Err(Error::UsedIdNotInFlight { id: 5 }));
    assert_eq!(Error::UsedIdNotInFlight { id: 5 }.blame(), Blame::Device);
}

#[test]
fn used_id_returned_twice_is_not_returned_twice() {
    let mut rig = fetched(&[(1, 1), (1, 2)]);
    let head = rig.complete(0);
    assert_eq!(rig.queue.get_buf(), Ok(Some((1, 4))));
    // The device completes the same head again.
    rig.dev.borrow_mut().push_used(0, u32::from(head), 4);
    assert_eq!(
        rig.queue.get_buf(),
        Err(Error::UsedIdNotInFlight {
            id: u32::from(head)
        })
    );
    // Token 1 is gone for good; only 2 is outstanding.
    assert_broken_then_recovers(&mut rig, &[2]);
}

#[test]
fn used_length_larger_than_writable_buffers() {
    // Two writable buffers of 4 bytes: at most 8 may be claimed.
    let mut rig = fetched(&[(2, 1), (1, 2)]);
    let head = rig.dev.borrow_mut().complete_with_len(0, 0, 9);
    assert_eq!(
        rig.queue.get_buf(),
        Err(Error::UsedLengthTooLarge {
            id: u32::from(head),
            len: 9,
            writable: 8
        })
    );
    assert_eq!(
        Error::UsedLengthTooLarge {
            id: 0,
            len: 9,
            writable: 8
        }
        .blame(),
        Blame::Device
    );
    // The lying chain's token was not handed out: shutdown returns it.
    assert_broken_then_recovers(&mut rig, &[1, 2]);

    // A chain with no writable buffer at all may claim nothing.
    let mut rig = self::rig();
    let out = rig.buf(16);
    rig.add(&[out], &[], 3).unwrap();
    rig.kick();
    rig.fetch();
    rig.dev.borrow_mut().complete_with_len(0, 0, 1);
    assert!(matches!(
        rig.queue.get_buf(),
        Err(Error::UsedLengthTooLarge {
            len: 1,
            writable: 0,
            ..
        })
    ));
    // Exactly the writable total is fine.
    let mut rig = self::rig();
    rig.add_rng(2, 4, 4).unwrap();
    rig.kick();
    rig.fetch();
    rig.dev.borrow_mut().complete_with_len(0, 0, 8);
    assert_eq!(rig.queue.get_buf(), Ok(Some((4, 8))));
}

#[test]
fn used_index_jumps_past_the_queue_size() {
    let mut rig = fetched(&[(1, 1)]);
    rig.dev.borrow_mut().set_used_idx(0, 9);
    let err = rig.queue.get_buf().unwrap_err();
    assert_eq!(
        err,
        Error::UsedIndexJump {
            last_seen: 0,
            used_idx: 9
        }
    );
    assert_eq!(err.blame(), Blame::Device);
    assert_broken_then_recovers(&mut rig, &[1]);
}

#[test]
fn used_index_runs_ahead_of_what_is_in_flight() {
    // Within the queue size, but more completions than chains in flight.
    let mut rig = fetched(&[(1, 1), (1, 2)]);
    assert_used_index_jump(&mut rig, 0, 3);
    assert_broken_then_recovers(&mut rig, &[1, 2]);
}

#[test]
fn used_index_goes_backwards() {
    let mut rig = fetched(&[(1, 1), (1, 2), (1, 3)]);
    rig.complete(0);
    rig.complete(0);
    assert_eq!(rig.drain(), vec![(1, 4), (2, 4)]);
    assert_used_index_jump(&mut rig, 2, 1);
    assert_broken_then_recovers(&mut rig, &[3]);
}
