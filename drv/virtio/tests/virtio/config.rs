//! The device configuration space at every access width, its limits, and
//! configuration change interrupts (§2.5, §4.2.2).

use virtio::config::{read_config_bytes, read_config_u32, read_config_u64};
use virtio::{Error, InterruptStatus, Transport};

use crate::model::{Rig, Setup};

/// A rig whose device has `len` bytes of config space holding 0, 1, 2, …
fn rig_with_config(version: u32, len: usize) -> Rig<8> {
    let rig: Rig<8> = Setup::blk(version).build();
    rig.dev.borrow_mut().config = (0..len).map(|i| i as u8).collect();
    rig
}

#[test]
fn both_halves_of_a_64_bit_field_are_read() {
    for version in [1, 2] {
        let rig = rig_with_config(version, 8);
        // A disk of more than 2^32 sectors: the high word matters.
        let capacity: u64 = 0x0000_0012_8000_0400;
        rig.dev.borrow_mut().config = capacity.to_le_bytes().to_vec();
        assert_eq!(
            read_config_u64(&rig.transport, 0),
            Ok(capacity),
            "v{version}"
        );
        assert_eq!(
            read_config_u32(&rig.transport, 4),
            Ok(0x12),
            "v{version}: high word alone"
        );
    }
}

#[test]
fn narrow_reads_and_writes_reach_the_right_bytes() {
    for version in [1, 2] {
        let mut rig = rig_with_config(version, 16);
        assert_eq!(rig.transport.read_config8(3), Ok(3));
        assert_eq!(
            rig.transport.read_config16(6),
            Ok(u16::from_le_bytes([6, 7]))
        );
        assert_eq!(
            rig.transport.read_config32(8),
            Ok(u32::from_le_bytes([8, 9, 10, 11]))
        );
        rig.transport.write_config8(1, 0xA1).unwrap();
        rig.transport.write_config16(2, 0xB3B2).unwrap();
        rig.transport.write_config32(12, 0xC7C6_C5C4).unwrap();
        assert_eq!(
            rig.dev.borrow().config,
            [0, 0xA1, 0xB2, 0xB3, 4, 5, 6, 7, 8, 9, 10, 11, 0xC4, 0xC5, 0xC6, 0xC7],
            "v{version}"
        );
    }
}

#[test]
fn misaligned_and_out_of_window_accesses_are_refused_before_the_device_sees_them() {
    let mut rig = rig_with_config(2, 16);
    // Unaligned for their width.
    assert_eq!(
        rig.transport.read_config16(1),
        Err(Error::ConfigOutOfRange { offset: 1 })
    );
    assert_eq!(
        rig.transport.write_config16(3, 0),
        Err(Error::ConfigOutOfRange { offset: 3 })
    );
    assert_eq!(
        rig.transport.write_config32(2, 0),
        Err(Error::ConfigOutOfRange { offset: 2 })
    );
    // Past the end of the register window (0x100 + offset > 4 KiB).
    let past = 0x1000 - 0x100;
    for (width, r) in [
        (1, rig.transport.read_config8(past).map(u32::from)),
        (2, rig.transport.read_config16(past).map(u32::from)),
        (4, rig.transport.read_config32(past)),
    ] {
        assert_eq!(
            r,
            Err(Error::ConfigOutOfRange { offset: past }),
            "width {width}"
        );
    }
    assert_eq!(
        rig.transport.write_config8(past, 0),
        Err(Error::ConfigOutOfRange { offset: past })
    );
    // An offset that would overflow the address is refused too.
    assert_eq!(
        rig.transport.write_config8(usize::MAX, 0),
        Err(Error::ConfigOutOfRange { offset: usize::MAX })
    );
    assert_eq!(
        rig.dev.borrow().config,
        (0..16).collect::<Vec<u8>>(),
        "untouched"
    );
}

#[test]
fn byte_arrays_are_read_up_to_64_bytes_and_no_more() {
    for version in [1, 2] {
        let rig = rig_with_config(version, 80);
        let mut all = [0u8; 64];
        read_config_bytes(&rig.transport, 10, &mut all).unwrap();
        assert_eq!(all.to_vec(), (10..74).collect::<Vec<u8>>(), "v{version}");
        let mut too_many = [0u8; 65];
        assert_eq!(
            read_config_bytes(&rig.transport, 10, &mut too_many),
            Err(Error::ConfigOutOfRange { offset: 74 })
        );
        assert_eq!(too_many, [0; 65], "nothing read");
        let mut none = [0u8; 0];
        read_config_bytes(&rig.transport, 10, &mut none).unwrap();
    }
}

#[test]
fn a_config_change_alone_is_reported_and_acknowledged() {
    let mut rig = rig_with_config(2, 8);
    rig.dev.borrow_mut().raise_config_change();
    let status = rig.transport.take_interrupt();
    assert!(
        status.contains(InterruptStatus::CONFIG_CHANGE),
        "{status:?}"
    );
    assert!(!status.contains(InterruptStatus::USED_BUFFER), "{status:?}");
    assert!(!status.is_empty());
    assert!(rig.transport.interrupt_status().is_empty(), "acknowledged");
    // Nothing completed on the queue.
    assert_eq!(rig.drain(), vec![]);
}
