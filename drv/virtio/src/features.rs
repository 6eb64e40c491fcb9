//! Feature bits (§2.2, §6).
//!
//! Bits 0–23 and 50–127 belong to the device type (a block device's
//! `VIRTIO_BLK_F_RO`, a network device's `VIRTIO_NET_F_MAC`, …) and are
//! defined by the driver crates; bits 24–49 are reserved for the queue and
//! negotiation mechanisms and are defined here (§6 "Reserved Feature Bits").
//! Only the low 64 bits exist on virtio-mmio (two 32-bit selector banks are
//! all this library reads).

use core::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign, Not};

/// A set of feature bits (§2.2), as offered by a device or accepted by a
/// driver.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Features(pub u64);

impl Features {
    /// The empty set.
    pub const NONE: Features = Features(0);

    /// `VIRTIO_F_INDIRECT_DESC` (bit 28): the driver may use indirect
    /// descriptor tables (§2.7.5.3).
    pub const VIRTIO_F_INDIRECT_DESC: Features = Features(1 << 28);
    /// `VIRTIO_F_EVENT_IDX` (bit 29): the `used_event` and `avail_event`
    /// fields replace the notification flags (§2.7.7, §2.7.10).
    pub const VIRTIO_F_EVENT_IDX: Features = Features(1 << 29);
    /// `VIRTIO_F_VERSION_1` (bit 32): the device complies with VIRTIO 1.x, not
    /// the legacy interface (§6.1). Required for a version 2 virtio-mmio device.
    pub const VIRTIO_F_VERSION_1: Features = Features(1 << 32);
    /// `VIRTIO_F_ACCESS_PLATFORM` (bit 33): the device sits behind an IOMMU
    /// or similar (§6.1). Not supported by Vireo.
    pub const VIRTIO_F_ACCESS_PLATFORM: Features = Features(1 << 33);
    /// `VIRTIO_F_RING_PACKED` (bit 34): packed virtqueues (§2.8). Not
    /// supported by this library.
    pub const VIRTIO_F_RING_PACKED: Features = Features(1 << 34);

    /// Bits whose meaning is specific to the device type: 0–23 and 50–63
    /// (§6, "Feature bits 0 to 23 and 50 to 127"), written out whole.
    pub const DEVICE_SPECIFIC: Features = Features(0xFFFC_0000_00FF_FFFF);

    /// The transport and ring features this library implements and may
    /// accept on the driver's behalf: bits 28 (`VIRTIO_F_INDIRECT_DESC`), 29
    /// (`VIRTIO_F_EVENT_IDX`) and 32 (`VIRTIO_F_VERSION_1`), written out
    /// whole.
    pub const LIBRARY_SUPPORTED: Features = Features(0x1_3000_0000);

    /// Builds a set holding only `bit` (bits 64 and above do not exist here
    /// and give the empty set).
    pub const fn bit(bit: u32) -> Features {
        if bit < 64 {
            Features(1 << bit)
        } else {
            Features(0)
        }
    }

    /// Whether every bit of `other` is in `self`.
    pub const fn contains(self, other: Features) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The low 32 bits: feature selector bank 0 (§4.2.2 DeviceFeaturesSel).
    pub const fn low(self) -> u32 {
        self.0 as u32
    }

    /// The high 32 bits: feature selector bank 1.
    pub const fn high(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// Reassembles a set from its two 32-bit banks.
    pub const fn from_banks(low: u32, high: u32) -> Features {
        // The high bank shifted clear of the low one: they cannot carry.
        Features(low as u64 + ((high as u64) << 32))
    }
}

impl BitOr for Features {
    type Output = Features;
    fn bitor(self, rhs: Features) -> Features {
        Features(self.0 | rhs.0)
    }
}

impl BitOrAssign for Features {
    fn bitor_assign(&mut self, rhs: Features) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Features {
    type Output = Features;
    fn bitand(self, rhs: Features) -> Features {
        Features(self.0 & rhs.0)
    }
}

impl BitAndAssign for Features {
    fn bitand_assign(&mut self, rhs: Features) {
        self.0 &= rhs.0;
    }
}

impl Not for Features {
    type Output = Features;
    fn not(self) -> Features {
        Features(!self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Features;

    #[test]
    fn banks_round_trip() {
        let f = Features::VIRTIO_F_VERSION_1 | Features::VIRTIO_F_EVENT_IDX | Features::bit(5);
        assert_eq!(Features::from_banks(f.low(), f.high()), f);
        assert_eq!(f.high(), 1);
    }

    #[test]
    fn reserved_bits_are_not_device_specific() {
        for bit in 24..50 {
            assert!(
                !Features::DEVICE_SPECIFIC.contains(Features::bit(bit)),
                "bit {bit}"
            );
        }
        for bit in (0..24).chain(50..64) {
            assert!(
                Features::DEVICE_SPECIFIC.contains(Features::bit(bit)),
                "bit {bit}"
            );
        }
        assert!(Features::bit(64).is_empty());
    }

    #[test]
    fn named_features_are_their_spec_bits() {
        // §6.1 "Reserved Feature Bits".
        for (f, bit) in [
            (Features::VIRTIO_F_INDIRECT_DESC, 28),
            (Features::VIRTIO_F_EVENT_IDX, 29),
            (Features::VIRTIO_F_VERSION_1, 32),
            (Features::VIRTIO_F_ACCESS_PLATFORM, 33),
            (Features::VIRTIO_F_RING_PACKED, 34),
        ] {
            assert_eq!(f.0, 1u64 << bit, "bit {bit}");
            assert_eq!(f, Features::bit(bit));
        }
        assert_eq!(
            Features::LIBRARY_SUPPORTED,
            Features::bit(28) | Features::bit(29) | Features::bit(32)
        );
    }

    #[test]
    fn set_operations_behave_as_sets() {
        let a = Features::bit(3) | Features::bit(40);
        let b = Features::bit(40) | Features::bit(7);
        assert_eq!(a | a, a, "union is idempotent");
        assert_eq!(a | b, Features(1 << 3 | 1 << 7 | 1 << 40));
        assert_eq!(a & b, Features::bit(40));
        let mut c = a;
        c |= b;
        assert_eq!(c, a | b);
        c &= b;
        assert_eq!(c, b);
        assert_eq!(!Features::NONE, Features(u64::MAX));
        assert!(Features::NONE.is_empty());
        assert!(!a.is_empty());
        assert!(a.contains(Features::bit(40)));
        assert!(!a.contains(b));
        assert_eq!((a.low(), a.high()), (1 << 3, 1 << 8));
    }
}
